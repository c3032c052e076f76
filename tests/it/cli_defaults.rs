//! The command line's conventions for a new user: the blueprint found without naming
//! it (`./blueprint.yaml`, `TIERFORM_BLUEPRINT`), the output folder from
//! `TIERFORM_OUTPUT`, the bundled examples from `init --example`, `version` as JSON, and
//! colour forced by FORCE_COLOR / CLICOLOR_FORCE.

use assert_cmd::Command;

fn tierform(dir: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("tierform").unwrap();
    c.current_dir(dir)
        .env_remove("TIERFORM_BLUEPRINT")
        .env_remove("TIERFORM_OUTPUT")
        .env_remove("FORCE_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("NO_COLOR");
    c
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// With no blueprint named, every command that reads one reads ./blueprint.yaml, or
/// the file TIERFORM_BLUEPRINT names; with neither, it says what to do and exits 2.
#[test]
fn commands_find_the_blueprint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let none = tierform(d).arg("validate").assert().code(2);
    let text = stderr(none.get_output());
    assert!(
        text.contains("TIERFORM_BLUEPRINT") && text.contains("tierform init"),
        "{text}"
    );
    for cmd in [
        &["render"][..],
        &["plan"],
        &["diff", "single", "horizontal"],
    ] {
        tierform(d).args(cmd).assert().code(2);
    }

    // `init` writes ./blueprint.yaml; the commands read it.
    tierform(d)
        .args(["init", "--example", "showcase"])
        .assert()
        .code(0);
    tierform(d).arg("validate").assert().code(0);
    tierform(d).arg("plan").assert().code(0);
    tierform(d).args(["render", "-q"]).assert().code(0);
    assert!(d.join("out/.tierform-manifest").exists());
    let phases = d.join("out");
    let mut names: Vec<String> = std::fs::read_dir(&phases)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n != "ARCHITECTURE.md")
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    // `diff FROM TO` reads it too (exit 1: the phases differ), and `diff BLUEPRINT FROM TO`.
    tierform(d)
        .args(["diff", &names[0], &names[1], "--format", "summary"])
        .assert()
        .code(1);
    tierform(d)
        .args([
            "diff",
            "blueprint.yaml",
            &names[0],
            &names[1],
            "--format",
            "summary",
        ])
        .assert()
        .code(1);

    // TIERFORM_BLUEPRINT names another; TIERFORM_OUTPUT the folder; arguments win.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(d.join("blueprint.yaml"), other.path().join("app.yaml")).unwrap();
    std::fs::remove_file(d.join("blueprint.yaml")).unwrap();
    tierform(d)
        .env("TIERFORM_BLUEPRINT", other.path().join("app.yaml"))
        .env("TIERFORM_OUTPUT", "deploy")
        .args(["render", "-q"])
        .assert()
        .code(0);
    assert!(d.join("deploy/.tierform-manifest").exists());
    tierform(d)
        .env("TIERFORM_OUTPUT", "deploy")
        .args(["render", "-q", "-o", "mine"])
        .arg(other.path().join("app.yaml"))
        .assert()
        .code(0);
    assert!(d.join("mine/.tierform-manifest").exists());
}

/// `init --example NAME` writes each bundled blueprint, valid, with the schema beside
/// it; `init - --example NAME` prints it as bundled.
#[test]
fn init_writes_each_bundled_example() {
    for name in [
        "aqi-monitor",
        "bet-intel",
        "fastapi-celery",
        "medhasakthi",
        "showcase",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        tierform(d)
            .args(["init", "--example", name, "app.yaml"])
            .assert()
            .code(0);
        let text = std::fs::read_to_string(d.join("app.yaml")).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=tierform.schema.json"),
            "{name}"
        );
        assert!(d.join("tierform.schema.json").exists());
        tierform(d).args(["validate", "app.yaml"]).assert().code(0);
        let bundled = std::fs::read_to_string(format!("blueprints/{name}.yaml")).unwrap();
        tierform(d)
            .args(["init", "-", "--example", name])
            .assert()
            .code(0)
            .stdout(bundled);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tierform(dir.path())
        .args(["init", "--example", "nope"])
        .assert()
        .code(2);
    assert!(stderr(out.get_output()).contains("showcase"));
}

#[test]
fn version_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = tierform(dir.path())
        .args(["version", "--format", "json"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["name"], "tierform");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["blueprint_versions"], serde_json::json!([1]));
    tierform(dir.path())
        .arg("version")
        .assert()
        .code(0)
        .stdout(format!("tierform {}\n", env!("CARGO_PKG_VERSION")));
}

/// Findings are coloured off a terminal when FORCE_COLOR or CLICOLOR_FORCE asks
/// (not when it is `0`), and never with `--color never`.
#[test]
fn colour_can_be_forced_by_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("blueprint.yaml"),
        "version: 1\nname: app\nservices: {}\nbogus: 1\n",
    )
    .unwrap();
    let run = |env: &[(&str, &str)], args: &[&str]| -> String {
        let mut c = tierform(d);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.arg("validate").args(args).assert().code(1);
        String::from_utf8_lossy(&out.get_output().stdout).into_owned()
    };
    assert!(!run(&[], &[]).contains('\x1b'));
    assert!(run(&[("FORCE_COLOR", "1")], &[]).contains('\x1b'));
    assert!(run(&[("CLICOLOR_FORCE", "1")], &[]).contains('\x1b'));
    assert!(!run(&[("CLICOLOR_FORCE", "0")], &[]).contains('\x1b'));
    assert!(!run(&[("FORCE_COLOR", "1")], &["--color", "never"]).contains('\x1b'));
}
