//! The command line end to end: exit codes, formats, files, standard input.

use assert_cmd::Command;

fn tierform() -> Command {
    Command::cargo_bin("tierform").unwrap()
}

const VALID: &str =
    "version: 1\nname: app\nservices:\n  api: {kind: http, image: 'app:1', port: 8000}\n";
const INVALID: &str = "version: 1\nname: app\nservices:\n  api: {kind: http, image: 'app:1', port: 8000, replica: 2}\n";
const WARNING: &str = "version: 1\nname: app\nservices:\n  api:\n    kind: http\n    image: 'app:1'\n    port: 8000\n    env: {API_TOKEN: abc}\n";

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn validate_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(&dir, "ok.yaml", VALID);
    let bad = write(&dir, "bad.yaml", INVALID);
    let out = tierform().arg("validate").arg(&ok).assert().code(0);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("ok.yaml: valid (1 phase)"), "{stdout}");
    let out = tierform()
        .arg("validate")
        .arg(&ok)
        .arg(&bad)
        .assert()
        .code(1);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("error[unknown-field]: unknown field `replica`"),
        "{stdout}"
    );
    assert!(stdout.contains("bad.yaml:4:49"), "{stdout}");
    assert!(
        stdout.contains("hint: did you mean `scaling.replicas`?"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bad.yaml: invalid, 1 error, 0 warnings"),
        "{stdout}"
    );
    // A missing file or a directory is an I/O error, whatever the other files hold.
    tierform()
        .arg("validate")
        .arg(&ok)
        .arg(dir.path().join("nope.yaml"))
        .assert()
        .code(2);
    let out = tierform().arg("validate").arg(dir.path()).assert().code(2);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("is a directory"), "{stderr}");
    // Usage errors.
    tierform().arg("validate").assert().code(2);
    tierform().arg("frobnicate").assert().code(2);
}

#[test]
fn warnings_fail_only_when_denied() {
    let dir = tempfile::tempdir().unwrap();
    let warn = write(&dir, "warn.yaml", WARNING);
    let out = tierform().arg("validate").arg(&warn).assert().code(0);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("warning[secret-in-env]"), "{stdout}");
    assert!(stdout.contains("valid (1 phase), 1 warning"), "{stdout}");
    tierform()
        .args(["validate", "--deny-warnings"])
        .arg(&warn)
        .assert()
        .code(1);
}

#[test]
fn validate_json_format() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, "bad.yaml", INVALID);
    let out = tierform()
        .args(["validate", "--format", "json"])
        .arg(&bad)
        .assert()
        .code(1);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["valid"], false);
    let d = &doc["files"][0]["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "unknown-field");
    assert_eq!(d["line"], 4);
    assert_eq!(d["column"], 49);
    assert_eq!(d["pointer"], "/services/api/replica");
    assert_eq!(d["hint"], "did you mean `scaling.replicas`?");
    assert_eq!(doc["files"][0]["errors"], 1);
}

#[test]
fn validate_reads_standard_input() {
    tierform()
        .args(["validate", "-"])
        .write_stdin(INVALID)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("<stdin>:4:49"));
    tierform()
        .args(["validate", "-"])
        .write_stdin(VALID)
        .assert()
        .code(0);
}

#[test]
fn init_writes_a_valid_starter_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    tierform().arg("init").arg(&file).assert().code(0);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# yaml-language-server: $schema=tierform.schema.json"));
    assert!(dir.path().join("tierform.schema.json").exists());
    tierform().arg("validate").arg(&file).assert().code(0);
    std::fs::write(&file, "mine").unwrap();
    let out = tierform().arg("init").arg(&file).assert().code(2);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("already exists; pass --force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    tierform()
        .arg("init")
        .arg(&file)
        .arg("--force")
        .assert()
        .code(0);
    assert_ne!(std::fs::read_to_string(&file).unwrap(), "mine");
}

#[test]
fn schema_command_matches_the_committed_schema() {
    let committed = std::fs::read_to_string("schema/blueprint.schema.json").unwrap();
    tierform()
        .arg("schema")
        .assert()
        .code(0)
        .stdout(committed.clone());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.json");
    tierform()
        .arg("schema")
        .arg("-o")
        .arg(&out)
        .assert()
        .code(0);
    assert_eq!(std::fs::read_to_string(out).unwrap(), committed);
}

#[test]
fn help_and_version() {
    tierform()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(predicates::str::contains("tierform 0.1.0"));
    tierform()
        .args(["validate", "--help"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("Exit codes: 0 valid"));
}

#[test]
fn endless_input_is_refused_by_size() {
    tierform()
        .args(["validate", "/dev/zero"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("error[too-large]"));
}

#[test]
fn an_unreadable_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, "bad.yaml", INVALID);
    let out = tierform()
        .args(["validate", "--format", "json"])
        .arg(dir.path().join("missing.yaml"))
        .arg(&bad)
        .assert()
        .code(2);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["files"][0]["errors"], 1);
    assert!(doc["unreadable"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("missing.yaml"));
}

#[test]
fn denied_warnings_say_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let warn = write(&dir, "warn.yaml", WARNING);
    tierform()
        .args(["validate", "--deny-warnings"])
        .arg(&warn)
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "warn.yaml: invalid (warnings denied), 1 warning",
        ));
}

#[test]
fn init_to_stdout_and_into_a_directory() {
    tierform()
        .args(["init", "-"])
        .assert()
        .code(0)
        .stdout(tierform::STARTER);
    let dir = tempfile::tempdir().unwrap();
    tierform()
        .arg("init")
        .arg(dir.path())
        .arg("--force")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is a directory"));
}

#[test]
fn an_over_committed_tier_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let bp = tmp.path().join("tight.yaml");
    std::fs::write(
        &bp,
        "version: 1\nname: tight\ntiers:\n  app: { machine: { cpu: 2, memory: 4Gi }, count: 1 }\nservices:\n  api:\n    kind: worker\n    tier: app\n    image: tight:1\n    resources: { cpu: 1500m, memory: 1Gi }\n    scaling: { replicas: 2 }\n",
    )
    .unwrap();
    let out = Command::cargo_bin("tierform")
        .unwrap()
        .arg("validate")
        .arg(&bp)
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains(
            "warning[over-capacity]: tier `app` does not fit what runs on it: 3 CPU requested of 2"
        ),
        "{stdout}"
    );
    Command::cargo_bin("tierform")
        .unwrap()
        .args(["validate", "--deny-warnings"])
        .arg(&bp)
        .assert()
        .code(1);
}

/// A reader that stops early (`tierform diff … | head`) ends the command quietly, as
/// it ends `cat`: exit 0, nothing on standard error (it said `error: Broken pipe`
/// and exited 2).
#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    for args in [
        vec![
            "diff",
            "tests/fixtures/render/gpu-pools.yaml",
            "one-box",
            "cluster",
        ],
        vec!["plan", "blueprints/showcase.yaml"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tierform"))
            .args(&args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is gone: the rest of the output meets a closed pipe.
        let out = child.wait_with_output().unwrap();
        assert!(!first.is_empty(), "{args:?}");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}
