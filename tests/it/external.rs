//! Real tools judge tierform's artefacts. The tools come from the pinned Python venv
//! that `.ci/run` builds (`TIERFORM_TOOLS` names its `bin` folder). Outside CI a
//! missing tool skips its test with a note; in CI (`CI` set) it fails.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

fn tool(name: &str) -> Option<PathBuf> {
    common::python_tool(name)
}

fn blueprints() -> Vec<PathBuf> {
    let mut files = common::yaml_files("blueprints");
    files.push(PathBuf::from("templates/starter.yaml"));
    files
}

#[test]
fn check_jsonschema_accepts_every_blueprint_and_rejects_typos() {
    let Some(check) = tool("check-jsonschema") else {
        return;
    };
    let run = |files: &[PathBuf]| {
        Command::new(&check)
            .args(["--schemafile", "schema/blueprint.schema.json"])
            .args(files)
            .output()
            .expect("check-jsonschema runs")
    };
    let out = run(&blueprints());
    assert!(
        out.status.success(),
        "check-jsonschema rejected a bundled blueprint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let starter = tierform::STARTER;
    let cases = [
        (
            "typo.yaml",
            starter.replacen(
                "    scaling: { replicas: 1 }",
                "    scaling: { replica: 1 }",
                1,
            ),
        ),
        (
            "patch-typo.yaml",
            starter.replacen(
                "worker: { scaling: { replicas: 2 } }",
                "worker: { scaling: { replcas: 2 } }",
                1,
            ),
        ),
        (
            "bad-engine.yaml",
            starter.replacen("engine: postgres", "engine: postgresql", 1),
        ),
        (
            "bad-name.yaml",
            starter.replacen("  api:\n", "  Api_Server:\n", 1),
        ),
    ];
    for (name, text) in cases {
        assert_ne!(text, starter, "{name}: the mutation applies");
        let path = dir.path().join(name);
        std::fs::write(&path, &text).unwrap();
        // tierform rejects it too.
        assert!(tierform::validate_str(&text).errors() > 0, "{name}");
        let out = run(&[path]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "check-jsonschema accepted {name}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
