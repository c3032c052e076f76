//! `--format json` all the way (docs/json.md): every command's JSON carries
//! `format_version`; `render`, `plan` and `diff` print an invalid blueprint's findings
//! as the JSON `validate` prints; `plan` gives numbers as numbers, in stated units;
//! `diff` gives each change's values before and after.

use assert_cmd::Command;
use serde_json::{json, Value};

const INVALID: &str =
    "version: 1\nname: app\nservices:\n  api: {kind: http, image: 'app:1', port: 8000, replica: 2}\n";

fn tierform() -> Command {
    let mut c = Command::cargo_bin("tierform").unwrap();
    c.env_remove("TIERFORM_BLUEPRINT")
        .env_remove("TIERFORM_OUTPUT");
    c
}

fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): stdout {:?}, stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs tierform and returns its exit code and its standard output as JSON.
fn run_json(args: &[&str]) -> (i32, Value, String) {
    let out = tierform().args(args).output().unwrap();
    let code = out.status.code().unwrap();
    (
        code,
        stdout_json(&out),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `render`, `plan` and `diff` with `--format json` print an invalid blueprint's
/// findings on standard output as `validate --format json` does, nothing on standard
/// error, and still exit 2.
#[test]
fn an_invalid_blueprint_is_json_findings_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, INVALID).unwrap();
    let bad = bad.to_str().unwrap();
    let (code, validate, _) = run_json(&["validate", "--format", "json", bad]);
    assert_eq!(code, 1);
    assert_eq!(validate["valid"], false);
    assert_eq!(
        validate["files"][0]["diagnostics"][0]["code"],
        "unknown-field"
    );
    let out = dir.path().join("out");
    for args in [
        &[
            "render",
            "--format",
            "json",
            bad,
            "-o",
            out.to_str().unwrap(),
        ][..],
        &["render", "--format", "json", "--check", bad],
        &["plan", "--format", "json", bad],
        &["diff", "--format", "json", bad, "a", "b"],
    ] {
        let (code, doc, stderr) = run_json(args);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(doc, validate, "{args:?}");
        assert_eq!(stderr, "", "{args:?}");
    }
    assert!(!out.exists());
    // A blueprint that cannot be read is listed as `validate` lists one.
    let missing = dir.path().join("missing.yaml");
    let (code, doc, stderr) = run_json(&["plan", "--format", "json", missing.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(stderr, "");
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["files"], json!([]));
    assert!(doc["unreadable"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("missing.yaml"));
    assert!(doc["unreadable"][0]["error"]
        .as_str()
        .unwrap()
        .contains("cannot read"));
    // Denied warnings are findings too.
    let warn = dir.path().join("warn.yaml");
    std::fs::write(
        &warn,
        "version: 1\nname: app\nservices:\n  api: {kind: http, image: 'app:1', port: 8000, env: {DB_PASSWORD: hunter2}}\n",
    )
    .unwrap();
    let (code, doc, _) = run_json(&[
        "render",
        "--format",
        "json",
        "--deny-warnings",
        "-o",
        out.to_str().unwrap(),
        warn.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["files"][0]["warnings"], 1);
}

/// Every JSON document a command prints says which version of its shape it is.
#[test]
fn every_json_document_carries_the_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let bp = "blueprints/showcase.yaml";
    let runs: [(&[&str], i32); 8] = [
        (&["validate", "--format", "json", bp], 0),
        (&["render", "--format", "json", "--check", bp, "-o", out], 1),
        (&["render", "--format", "json", bp, "-o", out], 0),
        (&["render", "--format", "json", "--check", bp, "-o", out], 0),
        (&["plan", "--format", "json", bp], 0),
        (&["diff", "--format", "json", bp, "nginx", "haproxy"], 1),
        (&["fmt", "--check", "--format", "json", bp], 0),
        (&["version", "--format", "json"], 0),
    ];
    for (args, want) in runs {
        let (code, doc, _) = run_json(args);
        assert_eq!(code, want, "{args:?}");
        assert_eq!(doc["format_version"], json!(1), "{args:?}: {doc}");
    }
}

/// `plan --format json`: counts are numbers, CPU in millicores and memory in bytes
/// under names that say so; the human text of the instances stays beside them.
#[test]
fn plan_json_gives_numbers_in_stated_units() {
    let (code, doc, _) = run_json(&["plan", "--format", "json", "blueprints/bet-intel.yaml"]);
    assert_eq!(code, 0);
    let phases = doc["phases"].as_array().unwrap();
    let k8s = phases.iter().find(|p| p["phase"] == "kubernetes").unwrap();
    let api = k8s["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "api")
        .unwrap();
    assert_eq!(api["min_instances"], 3);
    assert_eq!(api["max_instances"], 20);
    assert_eq!(api["instances_text"], "3–20");
    assert!(api.get("instances").is_none(), "{api}");
    assert_eq!(api["cpu_request_millicores"], 200);
    assert_eq!(api["cpu_limit_millicores"], 500);
    assert_eq!(api["memory_request_bytes"], 256 * 1024 * 1024);
    assert_eq!(api["memory_limit_bytes"], 512 * 1024 * 1024);
    assert_eq!(api["throughput_requests_per_second"], 2000);
    assert_eq!(k8s["throughput_ceiling_requests_per_second"], 2000);
    // Every number-like value is a number (or null), never a string.
    for phase in phases {
        for row in phase["services"]
            .as_array()
            .unwrap()
            .iter()
            .chain(phase["datastores"].as_array().unwrap())
        {
            for (k, v) in row.as_object().unwrap() {
                if !["name", "kind", "instances_text"].contains(&k.as_str()) {
                    assert!(v.is_number() || v.is_null(), "{k}: {v}");
                }
            }
        }
        for (k, v) in phase["totals"].as_object().unwrap() {
            assert!(v.is_number(), "{k}: {v}");
            assert!(k.ends_with("_min") || k.ends_with("_max"), "{k}");
            assert!(k.contains("_millicores") || k.contains("_bytes"), "{k}");
        }
    }
    let (_, doc, _) = run_json(&["plan", "--format", "json", "blueprints/medhasakthi.yaml"]);
    let tier = &doc["phases"][2]["tiers"][0];
    assert!(tier["cpu_millicores"].as_u64().unwrap() > 0, "{tier}");
    assert!(tier["memory_bytes"].as_u64().unwrap() > 0, "{tier}");
    assert!(tier["machines"].is_u64(), "{tier}");
}

/// The fields of `plan` and `diff` that the bundled blueprints never print: a
/// machine's disk and Prometheus's budget, as numbers in the units their names say.
#[test]
fn plan_and_diff_json_give_the_disk_and_the_monitoring_budget() {
    let disk = "tests/fixtures/render/machine-disk.yaml";
    let (code, doc, _) = run_json(&["plan", "--format", "json", disk]);
    assert_eq!(code, 0);
    let phases = doc["phases"].as_array().unwrap();
    assert_eq!(phases[0]["tiers"][0]["disk_bytes"], json!(200u64 << 30));
    assert_eq!(
        phases[0]["tiers"][0]["network_bits_per_second"],
        json!(10_000_000_000u64)
    );
    assert_eq!(
        phases[1]["tiers"][0]["disk_bytes"],
        json!(250_000_000_000u64)
    );
    assert!(phases[0].get("monitoring").is_none(), "{}", phases[0]);
    let (code, doc, _) = run_json(&["diff", "--format", "json", disk, "single", "machines"]);
    assert_eq!(code, 1);
    let machine = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "tier app" && c["field"] == "machine")
        .unwrap_or_else(|| panic!("no machine change in {doc}"));
    assert_eq!(
        machine["text"],
        "machine 4 CPU, 16Gi, 200Gi disk, 10Gbps network → 4 CPU, 16Gi, 250G disk, 10Gbps network"
    );
    assert_eq!(machine["from"]["disk_bytes"], json!(200u64 << 30));
    assert_eq!(machine["to"]["disk_bytes"], json!(250_000_000_000u64));

    let budget = "tests/fixtures/render/monitoring-budget.yaml";
    let (code, doc, _) = run_json(&["plan", "--format", "json", budget]);
    assert_eq!(code, 0);
    let phases = doc["phases"].as_array().unwrap();
    let single = &phases[0]["monitoring"];
    assert_eq!(single["name"], "prometheus");
    assert_eq!(single["kind"], "monitoring, on compose");
    assert_eq!(single["cpu_request_millicores"], 500);
    assert_eq!(
        single["cpu_limit_millicores"], 500,
        "the request, as no limit is given"
    );
    assert_eq!(single["memory_request_bytes"], 512u64 << 20);
    assert_eq!(single["memory_limit_bytes"], 512u64 << 20);
    // Counted with the API's 250m and 256Mi.
    assert_eq!(phases[0]["totals"]["cpu_request_millicores_min"], 750);
    assert_eq!(
        phases[0]["totals"]["memory_request_bytes_min"],
        768u64 << 20
    );
    assert_eq!(phases[1]["monitoring"]["memory_limit_bytes"], 2u64 << 30);
    assert!(phases[0]["tiers"][0].get("disk_bytes").is_none());
}

/// `diff --format json`: each change names the field that changed and its values
/// before and after, structured, in the units the field names; beside the prose.
#[test]
fn diff_json_gives_each_change_from_and_to() {
    let (code, doc, _) = run_json(&[
        "diff",
        "--format",
        "json",
        "blueprints/medhasakthi.yaml",
        "vertical",
        "horizontal",
    ]);
    assert_eq!(code, 1);
    let changes = doc["changes"].as_array().unwrap();
    let find = |subject: &str, field: &str| -> &Value {
        changes
            .iter()
            .find(|c| c["subject"] == subject && c["field"] == field)
            .unwrap_or_else(|| panic!("no {subject} {field} in {changes:#?}"))
    };
    let instances = find("backend", "instances");
    assert_eq!(instances["text"], "instances 2 → 3");
    assert_eq!(instances["from"], json!({"min": 2, "max": 2}));
    assert_eq!(instances["to"], json!({"min": 3, "max": 3}));
    let shape = find("cache", "shape");
    assert_eq!(
        shape["to"],
        json!({"cluster": true, "masters": 3, "replicas_per_master": 1})
    );
    assert_eq!(shape["from"]["cluster"], false);
    // Every change has a value before or after (null where there was none), and they
    // differ.
    for c in changes {
        assert!(c["field"].is_string(), "{c}");
        match c["change"].as_str().unwrap() {
            "+" => assert!(!c["to"].is_null(), "{c}"),
            "-" => assert!(!c["from"].is_null(), "{c}"),
            _ => assert!(!c["from"].is_null() || !c["to"].is_null(), "{c}"),
        }
        assert_ne!(c["from"], c["to"], "{c}");
    }
    // Sizes are numbers in the field's unit.
    let db_cpu = find("db", "cpu_request_millicores");
    assert_eq!(
        (&db_cpu["from"], &db_cpu["to"]),
        (&json!(500), &json!(4000))
    );
    assert_eq!(find("db", "memory_limit_bytes")["to"], json!(16u64 << 30));
    assert_eq!(find("tier app", "machines")["to"], 3);
    assert_eq!(
        find("tier data", "tier")["to"]["memory_bytes"],
        json!(32u64 << 30)
    );
    let sized: Vec<&Value> = changes
        .iter()
        .filter(|c| {
            let f = c["field"].as_str().unwrap();
            f.ends_with("_millicores") || f.ends_with("_bytes")
        })
        .collect();
    assert!(sized.len() >= 4, "{changes:#?}");
    for c in sized {
        for v in [&c["from"], &c["to"]] {
            assert!(v.is_u64() || v.is_null(), "{c}");
        }
    }
}

/// Over every pair of phases of every blueprint the render tests cover, each change
/// has a value on the side its mark says, its values before and after differ, and its
/// field is one docs/json.md describes.
#[test]
fn every_change_carries_its_values() {
    let doc = std::fs::read_to_string("docs/json.md").unwrap();
    let table: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
    for path in crate::common::render_blueprints() {
        let v = tierform::validate_bytes(&std::fs::read(&path).unwrap());
        if v.errors() > 0 {
            continue;
        }
        let plans = tierform::plans(&v.phases, &tierform::Selection::default()).unwrap();
        for a in &plans {
            for b in &plans {
                for c in tierform::diff::summarize(a, b) {
                    let at = format!("{}: {} → {}: {c:?}", path.display(), a.phase, b.phase);
                    let named = format!("`{}`", c.field);
                    assert!(
                        table
                            .iter()
                            .any(|row| row.split(" | ").next().unwrap().contains(&named)),
                        "docs/json.md has no row for field {named}: {at}"
                    );
                    assert_ne!(c.from, c.to, "{at}");
                    match c.mark {
                        tierform::diff::Mark::Added => assert!(!c.to.is_null(), "{at}"),
                        tierform::diff::Mark::Removed => assert!(!c.from.is_null(), "{at}"),
                        tierform::diff::Mark::Changed => {}
                    }
                }
            }
        }
    }
}

/// Each field of a document, as a path (`phases[].services[].name`); a diff change's
/// `from` and `to` are values of many shapes (their table in docs/json.md is checked
/// above) and are not entered.
fn field_paths(v: &Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let path = format!("{prefix}.{k}");
                out.insert(path.clone());
                if !(prefix.ends_with("changes[]") && (k == "from" || k == "to")) {
                    field_paths(v, &path, out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                field_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// docs/json.md shows each command's document with exactly the fields the command
/// prints: none missing, none that it does not print (but the optional ones).
#[test]
fn docs_show_every_field_of_every_document() {
    let text = std::fs::read_to_string("docs/json.md").unwrap();
    let blocks: Vec<Value> = text
        .split("```json\n")
        .skip(1)
        .map(|b| serde_json::from_str(&b[..b.find("```").unwrap()]).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let stale = dir.path().join("stale");
    let stale = stale.to_str().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, INVALID).unwrap();
    let bad = bad.to_str().unwrap();
    let bp = "blueprints/medhasakthi.yaml";
    let messy = dir.path().join("messy.yaml");
    std::fs::write(&messy, "name: messy\nversion: 1\n").unwrap();
    let messy = messy.to_str().unwrap();
    let runs: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["validate", "--format", "json", bad],
            vec![
                ".unreadable",
                ".unreadable[].file",
                ".unreadable[].error",
                ".files[].diagnostics[].phases",
            ],
        ),
        (vec!["render", "--format", "json", bp, "-o", out], vec![]),
        (
            vec![
                "render", "--format", "json", "--check", "--phase", "single", bp, "-o", stale,
            ],
            vec![],
        ),
        // medhasakthi takes no GPU and grows no node pool: those fields are shown
        // from another blueprint.
        (
            vec!["plan", "--format", "json", bp],
            vec![
                ".phases[].services[].gpu",
                ".phases[].services[].gpu.count",
                ".phases[].tiers[].gpu",
                ".phases[].tiers[].gpu.count",
                ".phases[].totals.gpus_max",
                ".phases[].totals.gpus_min",
                ".phases[].monthly_cost_max",
                ".phases[].tiers[].max_machines",
                ".phases[].tiers[].monthly_cost_max",
                // No machine states its disk, nor budgets Prometheus: shown from
                // tests/fixtures/render/machine-disk.yaml and monitoring-budget.yaml.
                ".phases[].tiers[].disk_bytes",
                ".phases[].monitoring",
            ],
        ),
        (
            vec!["diff", "--format", "json", bp, "vertical", "horizontal"],
            vec![],
        ),
        (vec!["fmt", "--check", "--format", "json", messy], vec![]),
        (vec!["version", "--format", "json"], vec![]),
        (
            vec!["explain", "services.*.scaling", "--format", "json"],
            vec![".examples", ".groups[].kind"],
        ),
    ];
    assert_eq!(blocks.len(), runs.len(), "one JSON block per document");
    // The render in the doc shows a folder with files; render once before it.
    tierform()
        .args(["render", "-q", bp, "-o", out])
        .assert()
        .code(0);
    std::fs::write(dir.path().join("out/single/compose/.env.example"), "stale").unwrap();
    for (block, (args, optional)) in blocks.iter().zip(runs) {
        let (_, actual, _) = run_json(&args);
        let (mut want, mut got) = Default::default();
        field_paths(block, "", &mut want);
        field_paths(&actual, "", &mut got);
        // `warnings` (render, plan and diff) is shown once, in render's first block,
        // and is optional: it is there when the blueprint has warnings.
        if !want.contains(".warnings") {
            got.retain(|p| !p.starts_with(".warnings"));
        }
        let missing: Vec<&String> = got.difference(&want).collect();
        assert!(
            missing.is_empty(),
            "{args:?}: docs/json.md lacks {missing:?}"
        );
        // An optional field's own fields are optional with it.
        let is_optional = |p: &str| {
            optional
                .iter()
                .any(|o| p == *o || p.strip_prefix(*o).is_some_and(|rest| rest.starts_with('.')))
        };
        let extra: Vec<&String> = want
            .difference(&got)
            .filter(|p| !is_optional(p) && !p.starts_with(".warnings"))
            .collect();
        assert!(
            extra.is_empty(),
            "{args:?}: docs/json.md shows {extra:?}, not printed"
        );
    }
}

/// A blueprint with a warning that `render`, `plan` and `diff` go on with: under
/// `--format json` the warning is data in the document (`warnings`, each as
/// `validate` gives it), and standard error stays empty.
#[test]
fn warnings_of_a_rendered_blueprint_are_in_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let warn = dir.path().join("warn.yaml");
    std::fs::write(
        &warn,
        "version: 1\nname: app\nservices:\n  api: {kind: http, image: 'app:1', port: 8000, env: {DB_PASSWORD: hunter2}}\nphases:\n  - name: one\n  - name: two\n    patch: { services: { api: { scaling: { replicas: 2 } } } }\n",
    )
    .unwrap();
    let warn = warn.to_str().unwrap();
    let out = dir.path().join("out");
    let (_, validate, _) = run_json(&["validate", "--format", "json", warn]);
    let expected = &validate["files"][0]["diagnostics"];
    assert_eq!(expected[0]["severity"], "warning", "{validate}");
    for args in [
        &[
            "render",
            "--format",
            "json",
            warn,
            "-o",
            out.to_str().unwrap(),
        ][..],
        &[
            "render",
            "--format",
            "json",
            "--check",
            warn,
            "-o",
            out.to_str().unwrap(),
        ],
        &["plan", "--format", "json", warn],
        &["diff", "--format", "json", warn, "one", "two"],
    ] {
        let (code, doc, stderr) = run_json(args);
        assert!(code == 0 || code == 1, "{args:?}: exit {code}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
        assert_eq!(&doc["warnings"], expected, "{args:?}: {doc}");
    }
    // Without warnings the field is absent, as docs/json.md says of optional fields.
    let (_, doc, _) = run_json(&["plan", "--format", "json", "blueprints/showcase.yaml"]);
    assert!(doc.get("warnings").is_none());
}
