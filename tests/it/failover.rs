//! Patroni's own validator judges every rendered Patroni file (`patroni
//! --validate-config`, Debian 12's Patroni 3.0.2): each required key present, each
//! value of the right type, each path and address well formed. A Kubernetes pod's
//! name and addresses come from its environment, as the StatefulSet gives them.
//!
//! What the validator also checks about the machine it runs on is not the file's
//! fault, and is allowed, each for its reason:
//! - etcd's members are not reachable: none runs during the check (the live failover
//!   test boots them from the same files);
//! - `bin_dir` of a PostgreSQL major the machine lacks: Debian 12 has 15, and 17's is
//!   the official image's path;
//! - `bootstrap.pg_hba` is not defined: Patroni 3.0's validator asks for it, though
//!   the rendered `hba_file` replaces it (Patroni writes no pg_hba.conf then); later
//!   Patroni releases no longer ask.

use crate::common;
use tierform_lab as lab;

/// Whether a line of the validator's output is one the module's docs allow.
fn allowed(line: &str) -> bool {
    let line = line.trim();
    line.is_empty()
        || (line.starts_with("etcd3.hosts.")
            && (line.ends_with("is not reachable'") || line.ends_with("Name or service not known")))
        || (line.starts_with("postgresql.bin_dir")
            && line.contains("Directory '/usr/lib/postgresql/")
            && line.ends_with("does not exist.")
            && !line.contains("/15/"))
        || line == "bootstrap.pg_hba  is not defined."
}

#[test]
fn every_rendered_patroni_file_passes_patronis_validator() {
    let Some(patroni) = lab::require("patroni") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in common::render_blueprints() {
        for (rel, text) in common::render_all(&path).iter() {
            let name = rel.rsplit('/').next().unwrap_or_default();
            if !(name.starts_with("patroni") && name.ends_with(".yml")) {
                continue;
            }
            let file = tmp.path().join(format!("patroni-{checked}.yml"));
            std::fs::write(&file, text).unwrap();
            let mut validate = std::process::Command::new(&patroni);
            validate.arg("--validate-config").arg(&file);
            // A Kubernetes pod's, from the StatefulSet's environment (only there: Patroni
            // reads PATRONI_KUBERNETES_* as a Kubernetes store of its own).
            if text.contains("\nkubernetes:\n") {
                validate
                    .env("PATRONI_NAME", "db-0")
                    .env("PATRONI_KUBERNETES_POD_IP", "10.0.0.7")
                    .env("PATRONI_RESTAPI_CONNECT_ADDRESS", "10.0.0.7:8008")
                    .env("PATRONI_POSTGRESQL_CONNECT_ADDRESS", "10.0.0.7:5432");
            }
            let out = validate.output().unwrap();
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let wrong: Vec<&str> = said.lines().filter(|l| !allowed(l)).collect();
            if !wrong.is_empty() {
                failures.push(format!("{}: {rel}:\n{}", path.display(), wrong.join("\n")));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The fixture's three machines, one compose file per server, and Kubernetes'.
    assert!(checked >= 7, "only {checked} Patroni files were checked");
}

/// The validator catches what it should: a file without a required key fails.
#[test]
fn patronis_validator_refuses_a_file_without_a_required_key() {
    let Some(patroni) = lab::require("patroni") else {
        return;
    };
    let set = common::render_all(std::path::Path::new(
        "tests/fixtures/render/lab-failover.yaml",
    ));
    let text = set
        .get("machines/hosts/127.0.0.51/postgres/db/patroni-db.yml")
        .expect("the first server's Patroni file");
    let broken = text.replacen("  data_dir:", "  no_data_dir:", 1);
    assert_ne!(&broken, text);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("patroni.yml");
    std::fs::write(&file, broken).unwrap();
    let out = std::process::Command::new(&patroni)
        .arg("--validate-config")
        .arg(&file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.lines()
            .any(|l| l.contains("postgresql.data_dir") && !allowed(l)),
        "{said}"
    );
}
