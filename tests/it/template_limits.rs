//! `--templates DIR` overrides are the deployer's own code, but a mistake in one must
//! not hang tierform, fill memory or copy a file from elsewhere into the output: an
//! override runs on a fuel budget (instructions per render), every rendered file has a
//! size limit, and nothing under DIR is read through a symbolic link (nor anything but
//! a regular file).

use std::path::Path;
use std::time::{Duration, Instant};

use tierform::Templates;
use tierform::{render, Selection};

const BLUEPRINT: &str = r#"
version: 1
name: demo
balancer:
  engine: nginx
  routes:
    - { path: /, service: api }
services:
  api: { kind: http, image: demo/api:1, port: 8000 }
"#;

fn with_override(dir: &Path, text: &str) -> Result<Templates, String> {
    let nginx = dir.join("nginx");
    std::fs::create_dir_all(&nginx).unwrap();
    std::fs::write(nginx.join("nginx.conf.j2"), text).unwrap();
    Templates::with_overrides(dir).map_err(|e| e.to_string())
}

fn render_with(templates: &Templates) -> Result<(), String> {
    let v = tierform::validate_str(BLUEPRINT);
    assert_eq!(v.errors(), 0, "{:#?}", v.diagnostics);
    render(&v.phases, &Selection::default(), templates)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn a_nested_loop_in_an_override_runs_out_of_fuel() {
    let dir = tempfile::tempdir().unwrap();
    let templates = with_override(
        dir.path(),
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}\n",
    )
    .unwrap();
    let start = Instant::now();
    let err = render_with(&templates).expect_err("the loop is stopped");
    assert!(err.contains("fuel"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn an_override_cannot_write_past_the_output_limit() {
    let dir = tempfile::tempdir().unwrap();
    // 100 MB per iteration (minijinja's largest repeated string), a few hundred times.
    let templates = with_override(
        dir.path(),
        "{% for a in range(1000) %}{{ 'x' * 100000000 }}{% endfor %}\n",
    )
    .unwrap();
    let err = render_with(&templates).expect_err("the output is cut off");
    assert!(err.contains("MiB"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_under_the_templates_folder_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("passwd");
    std::fs::write(&secret, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let nginx = dir.path().join("nginx");
    std::fs::create_dir_all(&nginx).unwrap();
    std::os::unix::fs::symlink(&secret, nginx.join("nginx.conf.j2")).unwrap();
    let err = Templates::with_overrides(dir.path())
        .err()
        .expect("a linked override is refused");
    let text = err.to_string();
    assert!(text.contains("symbolic link"), "{text}");

    // A linked folder of overrides is refused too, not silently skipped.
    let dir = tempfile::tempdir().unwrap();
    let real = outside.path().join("redis");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::write(real.join("redis.conf.j2"), "x\n").unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("redis")).unwrap();
    let err = Templates::with_overrides(dir.path())
        .err()
        .expect("a linked folder is refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_fifo_override_is_refused_without_opening_it() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = dir.path().join("nginx");
    std::fs::create_dir_all(&nginx).unwrap();
    let fifo = nginx.join("nginx.conf.j2");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let err = Templates::with_overrides(dir.path())
        .err()
        .expect("a FIFO is refused");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}
