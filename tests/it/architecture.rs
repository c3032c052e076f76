//! Each phase's ARCHITECTURE.md holds a Mermaid flowchart that Mermaid's own parser
//! accepts (`.ci/mermaid/check.mjs`, pinned mermaid + jsdom, installed by `.ci/run`).

use crate::common;

use std::path::Path;
use std::process::Command;

#[test]
fn every_architecture_md_parses_with_mermaid() {
    let checker = Path::new(".ci/mermaid/check.mjs");
    if !Path::new(".ci/mermaid/node_modules/mermaid").is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Mermaid checker is required in CI: .ci/run installs it (npm ci --prefix .ci/mermaid)"
        );
        eprintln!("skipping: run `npm ci --prefix .ci/mermaid --ignore-scripts` to install the Mermaid checker");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for path in common::render_blueprints() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        for (file, text) in common::render_all(&path).iter() {
            if let Some(phase) = file.strip_suffix("/ARCHITECTURE.md") {
                assert!(text.contains("```mermaid\nflowchart LR\n"), "{file}");
                let dest = tmp.path().join(format!("{stem}.{phase}.md"));
                std::fs::write(&dest, text).unwrap();
                files.push(dest);
            }
        }
    }
    assert!(
        files.len() >= 20,
        "only {} ARCHITECTURE.md files",
        files.len()
    );
    files.sort();
    let out = Command::new("node")
        .arg(checker)
        .args(&files)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "Mermaid rejected a flowchart:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
