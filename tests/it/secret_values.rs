//! Secret-shaped values under neutral names: an AWS key, a URL with a password, a PEM
//! private key, a Stripe, GitHub or Slack token written as an environment value or an
//! argument would land in compose files and Kubernetes manifests, in plain text, in
//! every clone. Each is an error at its value unless the service lists the variable
//! in `not_secrets`; a secret-looking name keeps its warning, which
//! `render --deny-warnings` turns into a refusal (exit 2, nothing written).

use std::process::Command;

use tierform::Severity;

fn blueprint(env_value: &str, arg: &str, not_secrets: &str) -> String {
    format!(
        r#"
version: 1
name: demo
services:
  api:
    kind: http
    image: demo/api:1
    port: 8000
    command: [serve, {arg}]
    env: {{ UPSTREAM: {env_value}, LOG_LEVEL: info }}
    not_secrets: [{not_secrets}]
"#,
        env_value = serde_json::to_string(env_value).unwrap(),
        arg = serde_json::to_string(arg).unwrap(),
    )
}

/// Values of each rule's shape (made up, not live credentials).
const SHAPED: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "postgres://app:hunter2@db.internal:5432/app",
    "redis://:s3cret@cache:6379/0",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "AIzaSyA-1234567890abcdefghijklmnopqrstu",
];

fn errors_at(text: &str, pointer: &str) -> usize {
    tierform::validate_str(text)
        .diagnostics
        .iter()
        .filter(|d| {
            d.severity == Severity::Error
                && d.pointer == pointer
                && d.code == "secret-value"
                && d.line.is_some()
        })
        .count()
}

#[test]
fn secret_shaped_values_are_errors_at_their_value() {
    let mut failures = Vec::new();
    for value in SHAPED {
        let text = blueprint(value, "--quiet", "");
        if errors_at(&text, "/services/api/env/UPSTREAM") != 1 {
            failures.push(format!("env value {value:?} passes"));
        }
        let text = blueprint("x", &format!("--url={value}"), "");
        if errors_at(&text, "/services/api/command/1") != 1 {
            failures.push(format!("argument {value:?} passes"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_variable_listed_in_not_secrets_is_allowed_and_ordinary_values_pass() {
    for value in SHAPED {
        let v = tierform::validate_str(&blueprint(value, "--quiet", "UPSTREAM"));
        assert_eq!(v.errors(), 0, "{value}: {:#?}", v.diagnostics);
    }
    for value in [
        "https://example.com/api",
        "postgres://db.internal:5432/app",
        "http://user@host/",
        "AKIA-not-a-key",
        "sk_live_short",
        "mailto:a@b.c",
        "-----BEGIN PUBLIC KEY-----",
    ] {
        let v = tierform::validate_str(&blueprint(value, value, ""));
        assert_eq!(v.errors(), 0, "{value}: {:#?}", v.diagnostics);
    }
    // A name in `not_secrets` that is not a variable of the service is a mistake.
    let v = tierform::validate_str(&blueprint("x", "--quiet", "UPSTREEM"));
    assert!(
        v.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error && d.pointer == "/services/api/not_secrets/0"),
        "{:#?}",
        v.diagnostics
    );
}

#[test]
fn render_deny_warnings_refuses_a_secret_looking_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bp.yaml");
    std::fs::write(
        &path,
        "version: 1\nname: demo\nservices:\n  api: { kind: worker, image: demo/w:1, env: { API_TOKEN: abc } }\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = |deny: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tierform"));
        cmd.arg("render").arg(&path).arg("-o").arg(&out);
        if deny {
            cmd.arg("--deny-warnings");
        }
        cmd.output().unwrap()
    };
    let denied = run(true);
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert_eq!(denied.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("secret-in-env"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
    let plain = run(false);
    assert_eq!(
        plain.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
}
