//! `tierform render` and `tierform templates` end to end: the output folder, the
//! manifest, `--check`, `--phase` / `--platform`, overrides and exit codes.

use crate::common;

use std::path::Path;

use assert_cmd::Command;

const BP: &str = "blueprints/medhasakthi.yaml";

fn tierform() -> Command {
    Command::cargo_bin("tierform").unwrap()
}

fn render(out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    tierform()
        .args(["render", BP, "-o"])
        .arg(out)
        .args(extra)
        .assert()
}

/// Every file under `dir` with its bytes, for before/after comparisons.
fn snapshot_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    common::files_under(dir)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().to_string();
            (rel, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn render_then_check_is_clean_and_a_hand_edit_is_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&out, &[]).success();
    let conf = out.join("horizontal/hosts/10.0.1.10/nginx/nginx.conf");
    assert!(conf.is_file());
    render(&out, &["--check"]).code(0);

    let original = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, original.replace("max_fails=0;", "max_fails=9;")).unwrap();
    let assert = render(&out, &["--check"]).code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(
        stdout.contains("--- a/horizontal/hosts/10.0.1.10/nginx/nginx.conf"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-        server 10.0.1.11:8000 max_fails=9;"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+        server 10.0.1.11:8000 max_fails=0;"),
        "{stdout}"
    );
    // --check wrote nothing.
    assert!(std::fs::read_to_string(&conf)
        .unwrap()
        .contains("max_fails=9"));

    render(&out, &[]).success();
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), original);
    render(&out, &["--check"]).code(0);
}

#[test]
fn check_of_a_missing_folder_is_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never-rendered");
    let assert = render(&out, &["--check"]).code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(stdout.contains("--- /dev/null"), "{stdout}");
    assert!(!out.exists(), "--check must not create the folder");
}

#[test]
fn foreign_files_are_never_touched_and_stale_files_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("vertical")).unwrap();
    std::fs::write(out.join("NOTES.md"), "mine").unwrap();
    std::fs::write(out.join("vertical/keep.txt"), "mine too").unwrap();
    render(&out, &[]).success();

    // A file tierform wrote that it no longer renders is removed: pretend an old
    // render wrote one more file by listing it in the manifest.
    let stale = out.join("vertical/compose/haproxy/haproxy.cfg");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, "# old\n").unwrap();
    let manifest = out.join(".tierform-manifest");
    let mut m = std::fs::read_to_string(&manifest).unwrap();
    m.push_str("vertical/compose/haproxy/haproxy.cfg\n");
    std::fs::write(&manifest, m).unwrap();

    let assert = render(&out, &["--check"]).code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(stdout.contains("+++ /dev/null"), "{stdout}");
    render(&out, &[]).success();
    assert!(!stale.exists());
    assert!(
        !out.join("vertical/compose/haproxy").exists(),
        "empty folders go too"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("NOTES.md")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("vertical/keep.txt")).unwrap(),
        "mine too"
    );
    let m = std::fs::read_to_string(&manifest).unwrap();
    assert!(!m.contains("haproxy.cfg") && !m.contains("NOTES.md"), "{m}");
}

#[test]
fn a_foreign_file_in_the_way_stops_the_render_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mine = out.join("vertical/compose/nginx/nginx.conf");
    std::fs::create_dir_all(mine.parent().unwrap()).unwrap();
    std::fs::write(&mine, "# hand-written\n").unwrap();
    let before = snapshot_dir(&out);
    let assert = render(&out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("was not written by tierform"), "{stderr}");
    assert_eq!(
        snapshot_dir(&out),
        before,
        "the folder must be left as it was"
    );
}

#[test]
fn a_failing_render_leaves_the_folder_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&out, &[]).success();
    let before = snapshot_dir(&out);
    // An override that fails only for the last phase's hosts bundle.
    let templates = tmp.path().join("templates/nginx");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("nginx.conf.j2"),
        "# {{ generated }}\n{% if platform == \"hosts\" %}{{ missing }}{% endif %}\n",
    )
    .unwrap();
    let assert = render(
        &out,
        &[
            "--templates",
            tmp.path().join("templates").to_str().unwrap(),
        ],
    )
    .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("undefined"), "{stderr}");
    assert_eq!(snapshot_dir(&out), before);
}

#[test]
fn phase_and_platform_selection_own_only_their_part() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&out, &["--phase", "horizontal", "--platform", "hosts"]).success();
    assert!(out
        .join("horizontal/hosts/10.0.1.10/nginx/nginx.conf")
        .is_file());
    assert!(!out.join("horizontal/compose").exists());
    assert!(!out.join("vertical").exists());
    // Rendering another phase keeps this one.
    render(&out, &["--phase", "vertical"]).success();
    assert!(out
        .join("horizontal/hosts/10.0.1.10/nginx/nginx.conf")
        .is_file());
    assert!(out.join("vertical/compose/nginx/nginx.conf").is_file());
    // The whole render owns everything and is then current.
    render(&out, &[]).success();
    render(&out, &["--check"]).code(0);
}

#[test]
fn unknown_phase_and_unrendered_platform_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let a = render(&out, &["--phase", "horizontl"]).code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(stderr.contains("did you mean `horizontal`"), "{stderr}");
    let a = render(&out, &["--phase", "vertical", "--platform", "kubernetes"]).code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        stderr.contains("no selected phase is rendered for kubernetes"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn an_invalid_blueprint_exits_2_with_its_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let bp = tmp.path().join("bad.yaml");
    std::fs::write(&bp, "version: 1\nname: x\nservices: {}\n").unwrap();
    let out = tmp.path().join("out");
    let a = tierform()
        .args(["render"])
        .arg(&bp)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(stderr.contains("bad.yaml:3:"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn a_symlink_inside_the_output_folder_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("vertical")).unwrap();
    let a = render(&out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn templates_list_eject_and_override() {
    let listed = tierform().args(["templates", "list"]).assert().success();
    let stdout = String::from_utf8_lossy(&listed.get_output().stdout).to_string();
    let names: Vec<&str> = stdout.lines().collect();
    let embedded: Vec<&str> = tierform::templates::EMBEDDED
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(names, embedded);
    assert!(names.contains(&"nginx/nginx.conf.j2") && names.contains(&"redis/redis.conf.j2"));

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mine");
    tierform()
        .args(["templates", "eject", "nginx/nginx.conf.j2", "--dir"])
        .arg(&dir)
        .assert()
        .success();
    let ejected = dir.join("nginx/nginx.conf.j2");
    let text = std::fs::read_to_string(&ejected).unwrap();
    assert_eq!(
        text,
        tierform::templates::embedded("nginx/nginx.conf.j2").unwrap()
    );
    tierform()
        .args(["templates", "eject", "nginx/nginx.conf.j2", "--dir"])
        .arg(&dir)
        .assert()
        .code(2);

    // An edited override is used.
    std::fs::write(
        &ejected,
        text.replace("worker_connections 8192;", "worker_connections 1024;"),
    )
    .unwrap();
    let out = tmp.path().join("out");
    render(&out, &["--templates", dir.to_str().unwrap()]).success();
    let conf = std::fs::read_to_string(out.join("vertical/compose/nginx/nginx.conf")).unwrap();
    assert!(conf.contains("worker_connections 1024;"));

    for bad in [
        "../etc/passwd",
        "/etc/passwd",
        "nginx/../x",
        "nginx/ngnix.conf.j2",
    ] {
        tierform()
            .args(["templates", "eject", bad])
            .assert()
            .code(2);
    }
}

#[test]
fn the_output_folder_may_be_a_link_but_not_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("deploy");
    std::fs::create_dir_all(&real).unwrap();
    let link = tmp.path().join("out");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    render(&link, &[]).success();
    assert!(real.join("vertical/compose/nginx/nginx.conf").is_file());

    let file = tmp.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    let a = render(&file, &[]).code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

#[test]
fn a_stale_file_that_cannot_be_removed_stays_in_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&out, &[]).success();
    // An old render wrote this file; a non-empty folder now stands at its path, so
    // removing it fails (as a read-only folder would, for a user other than root).
    let stale = out.join("vertical/compose/haproxy/haproxy.cfg");
    std::fs::create_dir_all(stale.join("blocker")).unwrap();
    let manifest = out.join(".tierform-manifest");
    let mut m = std::fs::read_to_string(&manifest).unwrap();
    m.push_str("vertical/compose/haproxy/haproxy.cfg\n");
    std::fs::write(&manifest, m).unwrap();
    render(&out, &[]).code(2);
    let m = std::fs::read_to_string(&manifest).unwrap();
    assert!(m.contains("vertical/compose/haproxy/haproxy.cfg"), "{m}");
    std::fs::remove_dir_all(&stale).unwrap();
    std::fs::write(&stale, "# old\n").unwrap();
    render(&out, &[]).success();
    assert!(!stale.exists());
    assert!(!std::fs::read_to_string(&manifest)
        .unwrap()
        .contains("haproxy.cfg"));
}
