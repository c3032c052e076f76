//! `render --lint`: each rendered balancer config judged by the real checker, in a
//! private namespace where its addresses and names exist. The checkers are the lines
//! tierform renders for: nginx 1.30 (Debian testing root) and HAProxy 3.0 (Debian 13
//! root), run from their roots through the root's own dynamic loader; a machine's
//! older nginx (Debian 12's 1.22) is refused as a judge, with the reason.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tierform_lab as lab;

use crate::common;

/// A script that runs `binary` of `root` with the root's loader and libraries, kept
/// outside /tmp (the check replaces /tmp with a private one).
fn from_root(root: &Path, binary: &str, dir: &Path) -> PathBuf {
    let name = Path::new(binary)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let script = dir.join(name);
    let r = root.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {r}/lib64/ld-linux-x86-64.so.2 --library-path {r}/usr/lib/x86_64-linux-gnu:{r}/lib/x86_64-linux-gnu {r}{binary} \"$@\"\n"
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    script
}

/// The checkers of the lines tierform renders for, or `None` (skipped outside CI).
fn checkers(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let forky = lab::ServerSet::forky()?;
    let trixie = lab::ServerSet::trixie()?;
    if !lab::require_isolation() {
        return None;
    }
    Some((
        from_root(forky.root()?, "/usr/sbin/nginx", dir),
        from_root(trixie.root()?, "/usr/sbin/haproxy", dir),
    ))
}

fn tierform(nginx: &Path, haproxy: &Path) -> Command {
    let mut c = Command::cargo_bin("tierform").unwrap();
    c.env("TIERFORM_NGINX", nginx)
        .env("TIERFORM_HAPROXY", haproxy);
    c
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Every balancer config of every render blueprint passes its checker, none is left
/// unchecked: compose, hosts (addresses on lo) and Kubernetes (resolver names), TLS
/// (a stand-in certificate) included.
#[test]
fn every_rendered_config_passes_lint() {
    let bin = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let Some((nginx, haproxy)) = checkers(bin.path()) else {
        return;
    };
    let mut passed = 0;
    for path in common::render_blueprints() {
        let out = tempfile::tempdir().unwrap();
        let a = tierform(&nginx, &haproxy)
            .args(["render", "--lint", "-o"])
            .arg(out.path())
            .arg(&path)
            .assert();
        let err = stderr(&a);
        assert_eq!(
            a.get_output().status.code(),
            Some(0),
            "{}:\n{err}",
            path.display()
        );
        assert!(
            !err.contains("refused") || err.contains(" 0 refused"),
            "{err}"
        );
        assert!(err.contains(" 0 not checked"), "{}:\n{err}", path.display());
        let summary = err.lines().find(|l| l.starts_with("lint: ")).unwrap();
        passed += summary["lint: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap();
    }
    assert!(passed >= 40, "{passed} configs linted");
}

/// A template override that breaks nginx is refused by nginx itself, named with its
/// file and nginx's message; the render is still written, and the exit code is 1.
#[test]
fn a_broken_override_is_refused_by_the_real_checker() {
    let bin = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let Some((nginx, haproxy)) = checkers(bin.path()) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let templates = work.path().join("templates");
    tierform(&nginx, &haproxy)
        .args(["templates", "eject", "nginx/nginx.conf.j2", "--dir"])
        .arg(&templates)
        .assert()
        .code(0);
    let file = templates.join("nginx/nginx.conf.j2");
    let text = std::fs::read_to_string(&file).unwrap();
    let broken = text.replacen("events {", "bogus_directive on;\nevents {", 1);
    assert_ne!(broken, text);
    std::fs::write(&file, broken).unwrap();
    let out = work.path().join("out");
    let a = tierform(&nginx, &haproxy)
        .args([
            "render",
            "-q",
            "--lint",
            "--phase",
            "vertical",
            "--platform",
            "compose",
            "--templates",
        ])
        .arg(&templates)
        .arg("-o")
        .arg(&out)
        .arg("blueprints/medhasakthi.yaml")
        .assert()
        .code(1);
    let err = stderr(&a);
    assert!(
        err.contains("vertical/compose/nginx/nginx.conf refused"),
        "{err}"
    );
    assert!(
        err.contains("unknown directive \"bogus_directive\""),
        "{err}"
    );
    assert!(out.join("vertical/compose/nginx/nginx.conf").is_file());
    // As JSON: the same verdict as data.
    let a = tierform(&nginx, &haproxy)
        .args([
            "render",
            "--lint",
            "--format",
            "json",
            "--phase",
            "vertical",
            "--platform",
            "compose",
            "--templates",
        ])
        .arg(&templates)
        .arg("-o")
        .arg(&out)
        .arg("blueprints/medhasakthi.yaml")
        .assert()
        .code(1);
    let doc: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(
        doc["lint"]["refused"][0]["file"],
        "vertical/compose/nginx/nginx.conf"
    );
    assert!(doc["lint"]["refused"][0]["output"]
        .as_str()
        .unwrap()
        .contains("bogus_directive"));
}

/// A checker older than the line a config is for is not used: the config is listed
/// as not checked with both versions, and the run fails (exit 1), even with
/// `--quiet`: a green `--lint` checked every config.
#[test]
fn an_older_checker_is_not_a_judge() {
    let Some(old) = lab::require("nginx") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let a = Command::cargo_bin("tierform")
        .unwrap()
        .env("TIERFORM_NGINX", &old)
        .args([
            "render",
            "-q",
            "--lint",
            "--phase",
            "vertical",
            "--platform",
            "compose",
            "-o",
        ])
        .arg(out.path())
        .arg("blueprints/medhasakthi.yaml")
        .assert()
        .code(1);
    let err = stderr(&a);
    assert!(
        err.contains("not checked: nginx 1.22") && err.contains("older than 1.30"),
        "{err}"
    );
    assert!(
        err.contains("lint: 0 passed, 0 refused, 1 not checked"),
        "{err}"
    );
    // --lint needs a folder.
    Command::cargo_bin("tierform")
        .unwrap()
        .args(["render", "--lint", "-o", "-", "blueprints/medhasakthi.yaml"])
        .assert()
        .code(2);
}
