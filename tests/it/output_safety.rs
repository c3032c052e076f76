//! The output folder under pressure (issue 18, items 2, 6 and 7): a render already
//! writing it, a FIFO where a file goes, a disk that fills up mid-write.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

const BP: &str = "blueprints/aqi-monitor.yaml";

fn tierform() -> Command {
    let mut c = Command::cargo_bin("tierform").unwrap();
    // A hang is a failure, not a stuck test run.
    c.timeout(Duration::from_secs(120));
    c
}

fn render(out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    tierform()
        .args(["render", BP, "-q", "-o"])
        .arg(out)
        .args(extra)
        .assert()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Every path below `dir` (folders too), with the bytes of each file.
fn tree(dir: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut all = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
                all.push((rel, None));
            } else {
                all.push((rel, Some(std::fs::read(e.path()).unwrap())));
            }
        }
    }
    all.sort();
    all
}

/// Asserts two trees are the same, naming the paths that differ.
fn assert_same(now: &[(String, Option<Vec<u8>>)], want: &[(String, Option<Vec<u8>>)], what: &str) {
    let differ: Vec<&String> = now
        .iter()
        .filter(|e| !want.contains(e))
        .chain(want.iter().filter(|e| !now.contains(e)))
        .map(|(p, _)| p)
        .collect();
    assert!(differ.is_empty(), "{what}: these differ: {differ:?}");
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn a_second_render_into_a_folder_being_written_fails_and_names_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&out, &[]).success();
    let before = tree(&out);
    // This test process holds the lock a writing render holds.
    let held = std::fs::File::open(&out).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let a = render(&out, &["--phase", "single"]).code(2);
    let err = stderr(&a);
    assert!(
        err.contains("being written by another tierform render")
            && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert_same(&tree(&out), &before, "the refused render wrote nothing");
    drop(held);
    render(&out, &["--phase", "single"]).success();
    assert_same(&tree(&out), &before, "the next render");
}

/// `render --check` reads the folder whole: while a render writes it, the check fails
/// (exit 2, naming the writer) instead of comparing a folder half renamed; beside
/// another reader it runs.
#[test]
fn a_check_waits_for_no_writer_and_runs_beside_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&out, &[]).success();
    let held = std::fs::File::open(&out).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let a = render(&out, &["--check"]).code(2);
    let err = stderr(&a);
    assert!(
        err.contains("being written by another tierform render")
            && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(held);
    let reader = std::fs::File::open(&out).unwrap();
    rustix::fs::flock(&reader, rustix::fs::FlockOperation::NonBlockingLockShared).unwrap();
    render(&out, &["--check"]).success();
    // A render may not write while the check reads.
    render(&out, &["--phase", "single"]).code(2);
    drop(reader);
    render(&out, &["--phase", "single"]).success();
}

#[test]
fn a_fifo_at_an_output_path_or_at_the_manifest_is_refused_without_opening_it() {
    let tmp = tempfile::tempdir().unwrap();
    for at in ["single/compose/docker-compose.yml", ".tierform-manifest"] {
        let out = tmp.path().join(format!("out-{}", at.len()));
        render(&out, &[]).success();
        let path = out.join(at);
        std::fs::remove_file(&path).unwrap();
        mkfifo(&path);
        for extra in [&[][..], &["--check"][..]] {
            let a = render(&out, extra).code(2);
            let err = stderr(&a);
            assert!(
                err.contains("FIFO") && err.contains(at),
                "{at} {extra:?}: {err}"
            );
        }
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_fifo());
    }
}

/// `render` with a file-size limit of 8 KiB: the manifest fits, the largest files do
/// not (EFBIG, as a full disk gives ENOSPC, part way through staging).
fn render_on_a_small_disk(out: &Path) -> assert_cmd::assert::Assert {
    let script = format!(
        "ulimit -f 8; trap '' XFSZ; exec '{}' render {BP} -q -o '{}'",
        assert_cmd::cargo::cargo_bin!("tierform").display(),
        out.display()
    );
    bash(&script)
}

fn bash(script: &str) -> assert_cmd::assert::Assert {
    let mut c = Command::new("bash");
    c.args(["-c", script]).timeout(Duration::from_secs(120));
    c.assert()
}

#[test]
fn a_write_that_fails_part_way_leaves_the_folder_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    // A fresh folder (and its missing parent) is not left behind.
    let fresh = tmp.path().join("new/out");
    let a = render_on_a_small_disk(&fresh).code(2);
    assert!(stderr(&a).contains("File too large"), "{}", stderr(&a));
    assert_same(&tree(tmp.path()), &[], "a fresh folder");

    // A folder with one phase written: the failed render of every phase leaves it
    // exactly as it was, files, folders and manifest.
    let out = tmp.path().join("out");
    render(&out, &["--phase", "single"]).success();
    let before = tree(&out);
    let a = render_on_a_small_disk(&out).code(2);
    assert!(stderr(&a).contains("File too large"), "{}", stderr(&a));
    assert_same(&tree(&out), &before, "a folder with one phase");
    render(&out, &[]).success();
}

/// Two writes that fail: the render reports the one for the file that comes first, as
/// it did when it wrote one file at a time (staging now makes every folder first, then
/// writes the files on every core). Here `aa/ARCHITECTURE.md` cannot be staged (its
/// folder is read-only) and `bb/compose` cannot be made: the first is told. A
/// differential check of the two versions found the second told instead. The render
/// runs as `nobody` when the tests run as root, whom no mode stops.
#[test]
fn of_two_failed_writes_the_first_in_file_order_is_told() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    mode(dir, 0o755);
    // The binary and the blueprint where another user can reach them.
    let bin = dir.join("tierform");
    std::fs::copy(assert_cmd::cargo::cargo_bin!("tierform"), &bin).unwrap();
    mode(&bin, 0o755);
    let bp = dir.join("t.yaml");
    std::fs::write(
        &bp,
        "version: 1\nname: shop\nservices:\n  api:\n    kind: http\n    image: shop/api:1\n    port: 8000\nphases:\n  - name: aa\n  - name: bb\n    patch:\n      services:\n        api: { image: shop/api:2 }\n",
    )
    .unwrap();
    mode(&bp, 0o644);
    let out = dir.join("out");
    for d in ["out", "out/aa", "out/aa/compose", "out/bb"] {
        std::fs::create_dir(dir.join(d)).unwrap();
        mode(&dir.join(d), 0o777);
    }
    mode(&dir.join("out/aa"), 0o555);
    mode(&dir.join("out/bb"), 0o555);
    let as_root = rustix::process::geteuid().is_root();
    let script = format!(
        "{}'{}' --color never render '{}' -q -o '{}'",
        if as_root {
            "exec runuser -u nobody -- "
        } else {
            "exec "
        },
        bin.display(),
        bp.display(),
        out.display()
    );
    let a = bash(&script).code(2);
    let told = stderr(&a);
    mode(&dir.join("out/aa"), 0o755);
    mode(&dir.join("out/bb"), 0o755);
    assert!(
        told.contains("out/aa/.ARCHITECTURE.md.tierform-") && told.contains("Permission denied"),
        "{told}"
    );
}
