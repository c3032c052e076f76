//! `tierform diff` and `tierform plan`, end to end: snapshots of the summary and of the
//! full diff for every consecutive phase pair of every bundled blueprint, and of the
//! plan of each; exit codes like `kubectl diff`; the JSON shapes.

use crate::common;

use assert_cmd::Command;
use serde_json::json;

fn tierform() -> Command {
    Command::cargo_bin("tierform").unwrap()
}

fn phases(path: &std::path::Path) -> Vec<String> {
    let v = tierform::validate_bytes(&std::fs::read(path).unwrap());
    v.phases.iter().map(|p| p.name.clone()).collect()
}

#[test]
fn every_consecutive_phase_pair_is_snapshotted() {
    insta::with_settings!({
        snapshot_path => "../../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for path in common::yaml_files("blueprints") {
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            let names = phases(&path);
            for pair in names.windows(2) {
                for format in ["summary", "text"] {
                    let out = tierform()
                        .args(["diff"])
                        .arg(&path)
                        .args([&pair[0], &pair[1], "--format", format])
                        .env("NO_COLOR", "1")
                        .assert()
                        .code(1);
                    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
                    assert!(!stdout.contains('\x1b'), "no colour when piped");
                    insta::assert_snapshot!(
                        format!("diff-{format}@{stem}.{}.{}", pair[0], pair[1]),
                        stdout
                    );
                }
            }
        }
    });
}

#[test]
fn every_blueprint_plan_is_snapshotted() {
    insta::with_settings!({
        snapshot_path => "../../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for path in common::yaml_files("blueprints") {
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            let out = tierform().arg("plan").arg(&path).assert().success();
            let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
            insta::assert_snapshot!(format!("plan@{stem}"), stdout);
        }
    });
}

#[test]
fn a_phase_against_itself_has_no_changes() {
    let out = tierform()
        .args([
            "diff",
            "blueprints/bet-intel.yaml",
            "read-replicas",
            "read-replicas",
        ])
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(
        stdout,
        "no changes from `read-replicas` to `read-replicas`\n"
    );
}

#[test]
fn errors_exit_2() {
    // An unknown phase, with a suggestion.
    let out = tierform()
        .args([
            "diff",
            "blueprints/bet-intel.yaml",
            "load-balancer",
            "read-replica",
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("did you mean `read-replicas`"), "{stderr}");
    // An invalid blueprint.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "version: 1\nname: x\nservices: {}\n").unwrap();
    tierform()
        .arg("diff")
        .arg(&bad)
        .args(["a", "b"])
        .assert()
        .code(2);
    tierform().arg("plan").arg(&bad).assert().code(2);
}

#[test]
fn diff_json_has_the_documented_shape() {
    let out = tierform()
        .args([
            "diff",
            "blueprints/medhasakthi.yaml",
            "vertical",
            "horizontal",
            "--format",
            "json",
        ])
        .assert()
        .code(1);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["from"], "vertical");
    assert_eq!(doc["to"], "horizontal");
    assert_eq!(doc["changed"], true);
    let changes = doc["changes"].as_array().unwrap();
    assert!(changes.iter().all(|c| {
        c["subject"].is_string()
            && ["+", "-", "~"].contains(&c["change"].as_str().unwrap())
            && c["text"].is_string()
    }));
    assert!(changes
        .iter()
        .any(|c| c["subject"] == "backend" && c["text"] == "instances 2 → 3"));
    assert!(changes
        .iter()
        .any(|c| c["subject"] == "cache"
            && c["text"] == "standalone → cluster (3 masters × 1 replica)"));
    assert!(doc["notes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n.is_string()));
    let files = doc["files"].as_array().unwrap();
    assert!(files.iter().all(|f| f["path"].is_string()
        && ["added", "removed", "changed"].contains(&f["status"].as_str().unwrap())));
    assert!(files
        .iter()
        .any(|f| f["path"] == "hosts/10.0.1.10/nginx/nginx.conf" && f["status"] == "added"));
}

#[test]
fn plan_json_has_the_documented_shape() {
    let out = tierform()
        .args(["plan", "blueprints/medhasakthi.yaml", "--format", "json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["blueprint"], "medhasakthi");
    let phases = doc["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 5);
    let horizontal = &phases[3];
    assert_eq!(horizontal["phase"], "horizontal");
    // lb 25 + app 3 × 75 + data 1 × 150.
    assert_eq!(horizontal["monthly_cost"], 400.0);
    let backend = horizontal["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "backend")
        .unwrap();
    assert_eq!(backend["instances_text"], "3");
    assert_eq!(backend["min_instances"], 3);
    assert_eq!(backend["cpu_request_millicores"], 1500);
}

#[test]
fn a_throughput_ceiling_is_the_target_times_the_most_instances() {
    let out = tierform()
        .args(["plan", "blueprints/bet-intel.yaml", "--format", "json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let k8s = doc["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == "kubernetes")
        .unwrap();
    // api: 100 requests/s per instance × at most 20 instances.
    assert_eq!(k8s["throughput_ceiling_requests_per_second"], 2000);
}

/// `tierform diff PATH FROM TO --format summary` of two phases that differ (exit 1).
fn diff_summary(path: &std::path::Path, from: &str, to: &str) -> String {
    let out = tierform()
        .args([
            "diff",
            path.to_str().unwrap(),
            from,
            to,
            "--format",
            "summary",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_redis_cluster_that_grows_or_shrinks_gets_notes_on_what_its_cluster_init_does() {
    let path = std::path::Path::new("tests/fixtures/render/lab-redis-scale.yaml");
    let diff = |from: &str, to: &str| diff_summary(path, from, to);
    let grows = diff("small", "grown");
    assert!(
        grows.contains("`cache` grows from 3 masters and 0 replicas to 4 and 4")
            && grows.contains("the `cache-cluster-init` one-shot service")
            && grows.contains("adds 1 master (`redis-cli --cluster add-node`)")
            && grows.contains("then attaches 4 replicas"),
        "{grows}"
    );
    let shrinks = diff("grown", "small");
    assert!(
        shrinks.contains("`cache` shrinks") && shrinks.contains("never removes a node"),
        "{shrinks}"
    );
}

#[test]
fn diff_names_the_trusted_proxies_and_the_proxy_protocol() {
    // nginx-proxy-protocol trusts 10.0.0.0/16 and reads the PROXY header: every client
    // address now comes from elsewhere, and the summary (and each phase's picture) said
    // nothing changed.
    let out = tierform()
        .args([
            "diff",
            "tests/fixtures/render/tls.yaml",
            "nginx-no-hsts",
            "nginx-proxy-protocol",
            "--format",
            "json",
        ])
        .assert()
        .code(1);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let changes: Vec<(String, String)> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap().to_string(),
                c["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        changes.contains(&(
            "trusted_proxies".into(),
            "trusted proxies none → [10.0.0.0/16]".into()
        )),
        "{changes:?}"
    );
    assert!(
        changes.contains(&("proxy_protocol".into(), "PROXY protocol off → on".into())),
        "{changes:?}"
    );
    let proxy = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "proxy_protocol")
        .unwrap();
    assert_eq!(
        (&proxy["from"], &proxy["to"]),
        (&json!(false), &json!(true))
    );
}

#[test]
fn moving_to_automatic_failover_and_back_gets_notes_on_how() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("tests/fixtures/render/lab-failover.yaml").unwrap();
    let manual = text.replacen("    ha: auto\n", "", 1).replacen(
        "phases:\n",
        "phases:\n  - name: manual\n    description: Replicas failed over by hand.\n    targets: [hosts]\n  - name: auto\n    patch:\n      datastores:\n        db:\n          ha: auto\n",
        1,
    );
    let path = dir.path().join("blueprint.yaml");
    std::fs::write(&path, manual).unwrap();
    let diff = |from: &str, to: &str| diff_summary(&path, from, to);
    let on = diff("manual", "auto");
    assert!(
        on.contains("failover manual → auto")
            && on.contains("takes over the primary's data rather than copy it")
            && on.contains("DB_PATRONI_API_PASSWORD")
            && on.contains("`db-router`"),
        "{on}"
    );
    let off = diff("auto", "manual");
    assert!(
        off.contains("failover auto → manual") && off.contains("`patronictl pause`"),
        "{off}"
    );
}

#[test]
fn a_standby_region_that_comes_and_goes_gets_notes_on_the_stream_and_its_slot() {
    let path = std::path::Path::new("tests/fixtures/render/lab-standby.yaml");
    let diff = |from: &str, to: &str| diff_summary(path, from, to);
    let on = diff("one-region", "two-regions");
    assert!(
        on.contains("`db` streams to the standby region `west`")
            && on.contains("on `127.0.0.82` to `127.0.0.92`")
            && on.contains("the replicas first, then the primary"),
        "{on}"
    );
    let off = diff("two-regions", "one-region");
    assert!(
        off.contains("pg_drop_replication_slot('db_standby')"),
        "{off}"
    );
}

/// How fast the autoscaler may move is part of what a phase changes: a scale-up or
/// scale-down policy that changes is in the summary, as text and as JSON.
#[test]
fn diff_summarizes_a_change_in_how_fast_the_autoscaler_moves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blueprint.yaml");
    std::fs::write(
        &path,
        "version: 1
name: t
targets: [kubernetes]
services:
  api:
    kind: http
    image: t/api:1
    port: 8000
    resources: { cpu: 500m, memory: 256Mi }
    scaling: { min: 2, max: 10, target: { cpu: 70 } }
phases:
  - name: default-speed
  - name: careful
    patch:
      services:
        api:
          scaling:
            scale_up: { stabilization: 30s, pods: 2, period: 1m }
            scale_down: { stabilization: 10m, percent: 10, period: 5m }
",
    )
    .unwrap();
    let text = diff_summary(&path, "default-speed", "careful");
    assert!(
        text.contains("scale-up default → after 30s, up to 2 pods per 1m")
            && text.contains("scale-down default → after 10m, up to 10% per 5m"),
        "{text}"
    );
}

/// The totals of `plan` never give limits below the requests as if they bounded the
/// phase: what sets no limit is named (the shape of fastapi-celery's stage-2 as the
/// review saw it: 10.5Gi requested, "limits up to 8Gi", its Redis and PostgreSQL
/// setting none), and a datastore a provider runs, which takes nothing of the phase's
/// machines, is not.
#[test]
fn plan_totals_name_what_sets_no_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.yaml");
    std::fs::write(
        &path,
        r#"version: 1
name: limits
services:
  api:
    kind: http
    image: api:1
    port: 8000
    resources: { cpu: "4", memory: 8Gi, cpu_limit: "4", memory_limit: 8Gi }
    uses: [db, cache, broker, reports]
  worker:
    kind: worker
    image: api:1
    command: [celery, worker]
    resources: { cpu: "2", cpu_limit: "2" }
    uses: [broker]
    queue: { broker: broker, name: celery }
    scaling: { replicas: 2 }
datastores:
  db: { engine: postgres, database: app }
  cache: { engine: redis, role: cache, resources: { memory: 2Gi } }
  broker: { engine: redis, role: broker, resources: { memory: 512Mi } }
  reports: { engine: postgres, database: reports, managed: { host: reports.example.com } }
phases:
  - name: one
"#,
    )
    .unwrap();
    let out = tierform()
        .args(["plan", path.to_str().unwrap(), "--color", "never"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "Total requests: 8 CPU, 10.5Gi memory (limits up to 8 CPU, 8Gi where set; broker, cache and db set none)"
        ),
        "{text}"
    );
}
