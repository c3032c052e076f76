//! The committed JSON Schema is the one the code generates, documents every field,
//! and accepts exactly what `validate` accepts at the schema level.

use serde_json::Value;
use tierform::cli::schema_text;

#[test]
fn committed_schema_is_current() {
    let committed = std::fs::read_to_string("schema/blueprint.schema.json")
        .expect("schema/blueprint.schema.json is committed");
    assert!(
        committed == schema_text(),
        "schema/blueprint.schema.json is stale: run `cargo run -- schema -o schema/blueprint.schema.json`"
    );
}

fn walk(path: String, schema: &Value, out: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            if prop.get("description").is_none() {
                out.push(format!("{path}/properties/{name}"));
            }
            walk(format!("{path}/properties/{name}"), prop, out);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            for (i, b) in branches.iter().enumerate() {
                walk(format!("{path}/{key}/{i}"), b, out);
            }
        }
    }
}

#[test]
fn every_property_has_a_description() {
    let schema = tierform::schema::blueprint_schema();
    let mut missing = Vec::new();
    walk(String::new(), &schema, &mut missing);
    for (name, def) in schema["$defs"].as_object().unwrap() {
        walk(format!("/$defs/{name}"), def, &mut missing);
    }
    // The tag of each datastore variant is described by the variant itself.
    missing.retain(|p| !p.ends_with("/properties/engine") || !p.contains("Datastore"));
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:#?}"
    );
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let schema = tierform::schema::blueprint_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::meta::validate(&schema).expect("the schema is a valid JSON Schema");
}

#[test]
fn patch_schema_accepts_partial_and_null_values() {
    let schema = tierform::schema::blueprint_schema();
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
