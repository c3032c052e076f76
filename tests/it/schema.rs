//! The committed JSON Schema is the one the code generates, documents every field,
//! and accepts exactly what `validate` accepts at the schema level.

use serde_json::Value;
use tierform::schema_text;

#[test]
fn committed_schema_is_current() {
    let committed = std::fs::read_to_string("schema/blueprint.schema.json")
        .expect("schema/blueprint.schema.json is committed");
    assert!(
        committed == schema_text(),
        "schema/blueprint.schema.json is stale: run `cargo run -- schema -o schema/blueprint.schema.json`"
    );
}

fn described(schema: &Value) -> bool {
    schema
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| !d.trim().is_empty())
}

/// Every property under `schema`, wherever it is nested (in `properties`, list
/// `items`, map values, `oneOf`/`anyOf` branches), that has no description of its own:
/// an editor shows a property's own description on hover, even next to a `$ref`.
fn walk(path: String, schema: &Value, out: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            if !described(prop) {
                out.push(format!("{path}/properties/{name}"));
            }
            walk(format!("{path}/properties/{name}"), prop, out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = schema.get(key).filter(|v| v.is_object()) {
            walk(format!("{path}/{key}"), inner, out);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            for (i, b) in branches.iter().enumerate() {
                walk(format!("{path}/{key}/{i}"), b, out);
            }
        }
    }
}

#[test]
fn every_property_has_a_description() {
    let schema = tierform::blueprint_schema();
    let mut missing = Vec::new();
    walk(String::new(), &schema, &mut missing);
    for (name, def) in schema["$defs"].as_object().unwrap() {
        // A definition reached through `$ref` (a map's values, a list's items) is
        // explained by its own description.
        if !described(def) {
            missing.push(format!("/$defs/{name}"));
        }
        walk(format!("/$defs/{name}"), def, &mut missing);
    }
    assert!(
        missing.is_empty(),
        "properties without a description (add a doc comment in src/model.rs): {missing:#?}"
    );
}

#[test]
fn the_walk_finds_a_missing_description() {
    let schema = serde_json::json!({
        "properties": {"a": {"description": "A.", "items": {"properties": {"b": {"type": "string"}}}}},
        "$defs": {}
    });
    let mut missing = Vec::new();
    walk(String::new(), &schema, &mut missing);
    assert_eq!(missing, ["/properties/a/items/properties/b"]);
}

#[test]
fn committed_reference_is_current() {
    let committed =
        std::fs::read_to_string("docs/blueprint.md").expect("docs/blueprint.md is committed");
    assert!(
        committed == tierform::reference_text(),
        "docs/blueprint.md is stale: run `cargo run -- schema --format markdown -o docs/blueprint.md`"
    );
}

/// The reference's section for each definition, by its `## Name` heading.
fn reference_sections(text: &str) -> std::collections::BTreeMap<String, String> {
    text.split("\n## ")
        .skip(1)
        .map(|s| {
            let (name, body) = s.split_once('\n').unwrap_or((s, ""));
            (name.trim().to_string(), body.to_string())
        })
        .collect()
}

fn property_names(schema: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut objects = vec![schema];
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        objects.extend(branches);
    }
    for o in objects {
        if let Some(props) = o.get("properties").and_then(Value::as_object) {
            names.extend(props.keys().cloned());
        }
    }
    names
}

/// Independently of the generator: every field of the schema has a row in the section
/// of its type in docs/blueprint.md, with its description, and every enumeration value
/// is listed.
#[test]
fn reference_and_schema_agree() {
    let schema = tierform::blueprint_schema();
    let text = std::fs::read_to_string("docs/blueprint.md").unwrap();
    let sections = reference_sections(&text);
    let mut checked = 0;
    let mut defs: Vec<(String, &Value)> = vec![("Blueprint".into(), &schema)];
    for (name, def) in schema["$defs"].as_object().unwrap() {
        // Patch forms share their type's fields; BlueprintPatch has its own section.
        if !name.ends_with("Patch") || name == "BlueprintPatch" {
            defs.push((name.clone(), def));
        }
    }
    for (name, def) in defs {
        let section = sections
            .get(&name)
            .unwrap_or_else(|| panic!("docs/blueprint.md has no section `## {name}`"));
        for prop in property_names(def) {
            let row = section
                .lines()
                .find(|l| l.starts_with(&format!("| `{prop}` |")))
                .unwrap_or_else(|| panic!("## {name} has no row for `{prop}`"));
            let first_words: String = def["properties"]
                .get(&prop)
                .or_else(|| {
                    def["oneOf"]
                        .as_array()
                        .and_then(|b| b.iter().find_map(|b| b["properties"].get(&prop)))
                })
                .and_then(|p| p["description"].as_str())
                .unwrap()
                .split_whitespace()
                .take(4)
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                row.contains(&first_words),
                "## {name}: the row of `{prop}` lacks its description ({first_words}): {row}"
            );
            checked += 1;
        }
        for branch in def["oneOf"].as_array().into_iter().flatten() {
            if let Some(value) = branch.get("const").and_then(Value::as_str) {
                assert!(
                    section.contains(&format!("| `{value}` |")),
                    "## {name} does not list `{value}`"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 120, "only {checked} fields and values checked");
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let schema = tierform::blueprint_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::meta::validate(&schema).expect("the schema is a valid JSON Schema");
}

#[test]
fn patch_schema_accepts_partial_and_null_values() {
    let schema = tierform::blueprint_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let blueprint = serde_json::json!({
        "version": 1, "name": "app",
        "services": {"api": {"kind": "http", "image": "app:1", "port": 8000, "scaling": {"replicas": 1}}},
        "datastores": {"db": {"engine": "postgres", "database": "app"}},
        "phases": [
            {"name": "one"},
            {"name": "two", "patch": {
                "services": {"api": {"scaling": {"replicas": null, "min": 2, "max": 5, "target": {"cpu": 70}}}},
                "datastores": {"db": {"replicas": 1}}
            }}
        ]
    });
    let errors: Vec<String> = validator
        .iter_errors(&blueprint)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let typo = serde_json::json!({
        "version": 1, "name": "app",
        "services": {"api": {"kind": "http", "image": "app:1", "port": 8000}},
        "phases": [{"name": "two", "patch": {"services": {"api": {"scaling": {"replica": 3}}}}}]
    });
    assert!(
        !validator.is_valid(&typo),
        "a typo inside a patch is rejected"
    );
}

/// Editors find the schema from the first line of every bundled blueprint and of the
/// starter `init` writes (which `init` points at the schema it writes beside it).
#[test]
fn every_blueprint_names_the_schema_for_editors() {
    const MODELINE: &str = "# yaml-language-server: $schema=";
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir("blueprints")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.push("templates/starter.yaml".into());
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let target = first
            .strip_prefix(MODELINE)
            .unwrap_or_else(|| panic!("{} does not start with `{MODELINE}…`", file.display()));
        let schema = file.parent().unwrap().join(target);
        assert_eq!(
            std::fs::read_to_string(&schema).ok().as_deref(),
            Some(tierform::schema_text().as_str()),
            "{}: {} is not the blueprint schema",
            file.display(),
            schema.display()
        );
    }
}
