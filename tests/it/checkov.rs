//! Checkov, a third-party judge, on every Kubernetes bundle the render tests cover,
//! in kustomize mode (it builds each bundle as `kubectl apply -k` would and checks the
//! objects that come out). Every failed check must be on the committed skip list
//! `.ci/checkov-skips.yaml`, each entry with the reason it is true of our output; an
//! entry that no bundle fails any more is an error too, so the list stays honest.
//!
//! Checkov is pinned with every transitive hash in `.ci/checkov-requirements.txt` and
//! installed by `.ci/run` into `.venv-checkov` (`TIERFORM_CHECKOV` names its binary).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::common;
use crate::kubernetes_manifests::bundles;

/// The pinned Checkov: `TIERFORM_CHECKOV`, `.venv-checkov/bin/checkov`, or `PATH`'s.
/// Missing: a skip note outside CI, a failure in CI.
fn checkov() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("TIERFORM_CHECKOV") {
        candidates.push(p.into());
    }
    candidates.push(PathBuf::from(".venv-checkov/bin/checkov"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("checkov")));
    }
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "checkov is required in CI: .ci/run installs it (.ci/checkov-requirements.txt)"
        );
        eprintln!("skipping: checkov not found (run .ci/run to install the pinned one)");
    }
    found
}

/// The skip list: check id → reason.
fn skips() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(".ci/checkov-skips.yaml").unwrap();
    let doc = tierform::load_yaml(&text)
        .expect("the skip list parses")
        .to_json();
    let map = doc.as_object().expect("the skip list is a mapping");
    map.iter()
        .map(|(id, reason)| {
            let reason = reason.as_str().unwrap_or_default().trim().to_string();
            assert!(!reason.is_empty(), "{id}: a skipped check needs its reason");
            (id.clone(), reason)
        })
        .collect()
}

#[test]
fn checkov_fails_no_check_off_the_skip_list() {
    let Some(checkov) = checkov() else { return };
    let skips = skips();
    let all = bundles();
    assert!(all.len() >= 4, "only {} kubernetes bundles", all.len());
    // Checkov passes over hidden folders: not `.tmpXXXX`.
    let tmp = tempfile::Builder::new()
        .prefix("checkov-")
        .tempdir()
        .unwrap();
    for (name, files) in &all {
        common::write_files(
            &tmp.path().join(name),
            files.iter().map(|(r, t)| (r.as_str(), t.as_str())),
        );
    }
    // One run over every bundle: Checkov's start is most of its time. --skip-download
    // keeps it offline (no guidelines or policies fetched from its vendor).
    let out = Command::new(&checkov)
        .arg("-d")
        .arg(tmp.path())
        .args(["--framework", "kustomize", "--compact"])
        .args(["--skip-download", "--output", "json"])
        .output()
        .expect("checkov runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov's output is not JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let reports: Vec<&Value> = match &report {
        Value::Array(list) => list.iter().collect(),
        one => vec![one],
    };
    let results = |key: &str| -> Vec<&Value> {
        reports
            .iter()
            .filter(|r| r["check_type"] == "kustomize")
            .flat_map(|r| r["results"][key].as_array().into_iter().flatten())
            .collect()
    };
    // The bundle a result is about: the first folder of its path under `tmp`.
    let bundle = |r: &Value| -> String {
        let path = r["file_path"].as_str().unwrap_or_default();
        path.trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    // Every bundle was checked (a bundle Checkov cannot build would pass silently).
    let checked: BTreeSet<String> = results("passed_checks").into_iter().map(bundle).collect();
    for (name, _) in &all {
        assert!(
            checked.contains(name),
            "checkov checked nothing in {name}: {checked:?}"
        );
    }
    let mut unexplained: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut used = BTreeSet::new();
    for r in results("failed_checks") {
        let id = r["check_id"].as_str().unwrap_or_default().to_string();
        *counts.entry(bundle(r)).or_default() += 1;
        if skips.contains_key(&id) {
            used.insert(id);
        } else {
            unexplained
                .entry(format!(
                    "{id} {}",
                    r["check_name"].as_str().unwrap_or_default()
                ))
                .or_default()
                .insert(format!(
                    "{}: {}",
                    bundle(r),
                    r["resource"].as_str().unwrap_or_default()
                ));
        }
    }
    eprintln!("checkov: failed checks per bundle (all on the skip list): {counts:?}");
    let stale: Vec<&String> = skips.keys().filter(|id| !used.contains(*id)).collect();
    assert!(
        stale.is_empty(),
        "on .ci/checkov-skips.yaml but failed by no bundle (remove them): {stale:?}"
    );
    assert!(
        unexplained.is_empty(),
        "checkov: failed checks that are not on .ci/checkov-skips.yaml:\n{}",
        unexplained
            .iter()
            .map(|(check, where_)| format!(
                "{check}\n    {}",
                where_.iter().cloned().collect::<Vec<_>>().join("\n    ")
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
