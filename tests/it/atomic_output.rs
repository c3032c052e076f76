//! An interrupted render never leaves a partial file in place: `render` is killed
//! (SIGKILL, nothing to clean up with) at moments spread over a whole run, and after
//! each kill every file in the output folder is whole, either as the last complete
//! render wrote it or as the interrupted one meant to; the manifest still claims every
//! file tierform put there; and the next render completes and leaves exactly its
//! output, with no staged file behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A blueprint with `services` HTTP services (one left out in `drop`), on every
/// platform, with images at `tag`.
fn blueprint(services: usize, tag: &str, drop: Option<usize>) -> String {
    let mut y = String::from(
        "version: 1\nname: many\ntargets: [compose, hosts, kubernetes]\ntiers:\n  app: { machine: { cpu: 64, memory: 256Gi }, hosts: [10.5.0.1, 10.5.0.2] }\nbalancer:\n  engine: nginx\n  tier: app\n  listen: 80\n  routes:\n",
    );
    let kept: Vec<usize> = (0..services).filter(|i| Some(*i) != drop).collect();
    for (n, i) in kept.iter().enumerate() {
        let path = if n == 0 { "/".into() } else { format!("/s{i}") };
        y.push_str(&format!("    - {{ path: {path}, service: s{i} }}\n"));
    }
    y.push_str("services:\n");
    for i in &kept {
        y.push_str(&format!(
            "  s{i}: {{ kind: http, tier: app, image: \"demo/s{i}:{tag}\", port: {}, health: {{ path: /health }}, scaling: {{ replicas: 2 }} }}\n",
            10000 + 10 * i
        ));
    }
    y.push_str("phases:\n  - name: one\n  - name: two\n    patch: { services: { s0: { scaling: { replicas: 3 } } } }\n");
    y
}

fn tierform() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("tierform"))
}

fn render(bp: &Path, out: &Path) {
    let status = tierform()
        .arg("render")
        .arg(bp)
        .arg("-o")
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every file below `dir`, by relative path, without following links.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                all.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    all
}

/// Whether a file staged by tierform is anywhere below `dir` yet.
fn any_staged(dir: &Path) -> bool {
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else if staged(&e.file_name().to_string_lossy()) {
                return true;
            }
        }
    }
    false
}

/// Starts rendering `bp` into `out`, waits until it starts staging files, and returns
/// the child and when that was.
fn start_writing(bp: &Path, out: &Path) -> (std::process::Child, Instant) {
    let mut child = tierform()
        .arg("render")
        .arg(bp)
        .arg("-o")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if any_staged(out) || child.try_wait().unwrap().is_some() {
            return (child, Instant::now());
        }
    }
}

fn staged(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap();
    file.starts_with('.') && file.contains(".tierform-") && file.ends_with(".tmp")
}

fn manifest(files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    String::from_utf8_lossy(&files[".tierform-manifest"])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_render_killed_at_any_moment_leaves_only_whole_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.yaml"), tmp.path().join("b.yaml"));
    std::fs::write(&a, blueprint(40, "1", Some(7))).unwrap();
    std::fs::write(&b, blueprint(40, "2", Some(3))).unwrap();
    let (ref_a, ref_b) = (tmp.path().join("ref-a"), tmp.path().join("ref-b"));
    render(&a, &ref_a);
    render(&b, &ref_b);
    let (want_a, want_b) = (files(&ref_a), files(&ref_b));
    assert!(
        want_a.keys().any(|k| !want_b.contains_key(k)),
        "B removes files"
    );
    let added = want_b
        .keys()
        .find(|k| !want_a.contains_key(*k))
        .expect("B adds files");

    // How long a whole run spends writing, from its first staged file to its exit.
    let out = tmp.path().join("out");
    render(&a, &out);
    let (mut child, writing) = start_writing(&b, &out);
    assert!(child.wait().unwrap().success());
    let window = writing.elapsed();
    assert_eq!(files(&out), want_b);

    let mut interrupted = 0;
    let mut with_staged = 0;
    const KILLS: u32 = 12;
    for k in 0..KILLS {
        // Back to A, then B, killed k/KILLS of the way through its writing.
        render(&a, &out);
        assert_eq!(files(&out), want_a);
        let (mut child, writing) = start_writing(&b, &out);
        if k == 0 {
            // The narrowest moment: a file new in B is in place, its run not done.
            while !out.join(added).exists() && child.try_wait().unwrap().is_none() {
                std::hint::spin_loop();
            }
        }
        let at = window.mul_f64(f64::from(k) / f64::from(KILLS));
        while writing.elapsed() < at {
            std::hint::spin_loop();
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
        let now = files(&out);
        if now != want_a && now != want_b {
            interrupted += 1;
        }
        for (path, bytes) in &now {
            if staged(path) {
                with_staged += 1;
                continue;
            }
            let ok = want_a.get(path) == Some(bytes)
                || want_b.get(path) == Some(bytes)
                || path == ".tierform-manifest";
            assert!(
                ok,
                "after a kill at {k}/{KILLS}, {path} is neither A's nor B's"
            );
        }
        // Every file tierform put in place is claimed by the manifest, so the next
        // render owns it rather than refusing it as someone else's.
        let claimed = manifest(&now);
        for path in now
            .keys()
            .filter(|p| !staged(p) && *p != ".tierform-manifest")
        {
            assert!(
                claimed.contains(path),
                "{path} is not in the manifest after a kill at {k}/{KILLS}"
            );
        }
        if finished {
            assert_eq!(now, want_b);
        }
        render(&b, &out);
        assert_eq!(
            files(&out),
            want_b,
            "the render after a kill at {k}/{KILLS}"
        );
    }
    // Most kills must land inside the write, or this test proves little.
    assert!(
        interrupted + 2 >= KILLS as usize / 2,
        "only {interrupted} of {KILLS} kills interrupted the write (window {window:?})"
    );
    eprintln!(
        "writing took {window:?}; {interrupted} of {KILLS} kills left a mix of A and B; {with_staged} staged files were swept"
    );
}

#[test]
fn staged_files_of_a_recorded_run_are_swept_and_look_alikes_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let bp = tmp.path().join("bp.yaml");
    std::fs::write(&bp, blueprint(3, "1", None)).unwrap();
    let out = tmp.path().join("out");
    render(&bp, &out);
    let folder = out.join("one/compose");
    // A run the manifest records as staging (pid 4242) was killed: what it staged
    // beside the files the manifest lists goes, and so does any staged manifest (the
    // name tierform stages it under, `..tierform-manifest.tierform-PID.tmp`, is its own).
    let leftovers = [
        folder.join(".docker-compose.yml.tierform-4242.tmp"),
        out.join("..tierform-manifest.tierform-18.tmp"),
    ];
    // Files that only look staged are someone else's: a name tierform never renders
    // here, one beside a rendered file by a run no manifest records, and a manifest
    // look-alike tierform never stages (one dot).
    let look_alikes = [
        out.join(".tierform-manifest.tierform-17.tmp"),
        folder.join(".notes.tierform-4242.tmp"),
        folder.join(".docker-compose.yml.tierform-12345.tmp"),
        folder.join("notes.tierform.txt"),
    ];
    for l in leftovers.iter().chain(&look_alikes) {
        std::fs::write(l, "half a fi").unwrap();
    }
    let manifest = out.join(".tierform-manifest");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let (header, files) = text.split_once('\n').unwrap();
    std::fs::write(&manifest, format!("{header}\n# staging 4242\n{files}")).unwrap();
    render(&bp, &out);
    for l in &leftovers {
        assert!(!l.exists(), "{} is left", l.display());
    }
    for l in &look_alikes {
        assert_eq!(
            std::fs::read_to_string(l).ok().as_deref(),
            Some("half a fi"),
            "{} was removed",
            l.display()
        );
    }
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), text);
}
