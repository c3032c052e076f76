//! `tierform explain PATH`: every field of the schema explains itself from its
//! description, by dots or by JSON pointer, and a wrong step says what is there.

use assert_cmd::Command;
use serde_json::Value;

fn explain(path: &str) -> assert_cmd::assert::Assert {
    Command::cargo_bin("tierform")
        .unwrap()
        .args(["explain", path])
        .assert()
}

fn out(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// Every property path of the schema, with `*` for map entries and list items, down to
/// `depth` steps (the schema is recursive only through patches).
fn paths(root: &Value, schema: &Value, at: &str, depth: usize, out: &mut Vec<(String, String)>) {
    if depth == 0 {
        return;
    }
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &root["$defs"][r.trim_start_matches("#/$defs/")],
        None => schema,
    };
    for key in ["anyOf", "oneOf"] {
        for b in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            paths(root, b, at, depth, out);
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let path = if at.is_empty() {
                name.clone()
            } else {
                format!("{at}.{name}")
            };
            let description = prop
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            out.push((path.clone(), description));
            paths(root, prop, &path, depth - 1, out);
        }
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        paths(root, values, &format!("{at}.*"), depth - 1, out);
    }
    if let Some(items) = schema.get("items") {
        paths(root, items, &format!("{at}.*"), depth - 1, out);
    }
}

#[test]
fn every_field_is_explained_by_its_description() {
    let schema = tierform::blueprint_schema();
    let mut all = Vec::new();
    paths(&schema, &schema, "", 6, &mut all);
    all.sort();
    all.dedup();
    assert!(all.len() > 150, "{}", all.len());
    // One process for the lot: the library's function, as the command calls it.
    for (path, description) in &all {
        if path.starts_with("phases.*.patch") {
            continue;
        }
        let text = tierform::explain(&schema, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(text.starts_with(&format!("{path}: ")), "{path}:\n{text}");
        let words: Vec<&str> = description.split_whitespace().take(6).collect();
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(&words.join(" ")),
            "{path}: no `{}` in\n{text}",
            words.join(" ")
        );
    }
}

#[test]
fn the_command_takes_dots_or_a_pointer_and_names_what_is_there() {
    let dotted = explain("services.api.scaling.target").success();
    let pointer = explain("/services/api/scaling/target").success();
    assert_eq!(
        out(&dotted).lines().skip(1).collect::<Vec<_>>(),
        out(&pointer).lines().skip(1).collect::<Vec<_>>()
    );
    let text = out(&dotted);
    assert!(text.contains("Fields:\n  cpu "), "{text}");
    assert!(text.contains("requests_per_second"), "{text}");
    let wrong = explain("services.api.scalng").code(2);
    let err = String::from_utf8_lossy(&wrong.get_output().stderr).into_owned();
    assert!(
        err.contains("no field `scalng` under `services.api`"),
        "{err}"
    );
    assert!(err.contains("did you mean `scaling`?"), "{err}");
    let top = explain("").success();
    assert!(
        out(&top).starts_with("(the blueprint): mapping\n"),
        "{}",
        out(&top)
    );
    // A leaf: its type and its whole description.
    let port = out(&explain("services.*.port").success());
    assert!(
        port.starts_with("services.*.port: integer, 1–65535\n"),
        "{port}"
    );
}

/// The type's description is shown only when it says more than the field's: the
/// scaling field's "how many instances run…" is not followed by its type's "How many
/// instances of a service run.", while the pooler's type still adds "PgBouncer".
#[test]
fn a_type_description_that_repeats_the_field_is_not_shown() {
    let text = out(&explain("services.*.scaling").code(0));
    let before_fields = &text[..text.find("Fields:").unwrap()];
    assert!(
        !before_fields.contains("How many instances of a service run."),
        "{before_fields}"
    );
    let text = out(&explain("datastores.*.pooler").code(0));
    assert!(text.contains("A PgBouncer connection pool."), "{text}");
}

/// `explain --format json` gives the same explanation as data: the path, its types,
/// its description paragraphs, and the fields under it by group.
#[test]
fn explain_as_json() {
    let a = Command::cargo_bin("tierform")
        .unwrap()
        .args(["explain", "/datastores/db", "--format", "json"])
        .assert()
        .code(0);
    let doc: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["path"], "datastores.db");
    assert!(!doc["description"].as_array().unwrap().is_empty());
    // A datastore's fields differ by engine: one group per engine, each named.
    let groups = doc["groups"].as_array().unwrap();
    assert!(groups.len() >= 3, "{doc}");
    for g in groups {
        assert!(g["kind"].is_string(), "{g}");
        let engine = g["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "engine")
            .expect("every kind has `engine`");
        assert_eq!(engine["required"], true);
    }
    // A wrong path is an error on stderr (exit 2), as every command's errors are.
    Command::cargo_bin("tierform")
        .unwrap()
        .args(["explain", "services.*.scalling", "--format", "json"])
        .assert()
        .code(2)
        .stdout("");
}

/// A field asked for by its name alone (`explain gpu`) says where it is, instead of
/// only listing the top level's fields (which do not have it).
#[test]
fn a_field_asked_for_by_its_name_alone_says_where_it_is() {
    let err = |path: &str| {
        let a = explain(path).code(2);
        String::from_utf8_lossy(&a.get_output().stderr).into_owned()
    };
    let gpu = err("gpu");
    assert!(
        gpu.contains("`gpu` is at `tiers.*.machine.gpu`, `services.*.resources.gpu`"),
        "{gpu}"
    );
    assert!(err("managed").contains("`managed` is at `datastores.*.managed`"));
    // Below a field too: `services.*.queue_depth` is under the scaling's target.
    let depth = err("services.*.queue_depth");
    assert!(
        depth.contains("`services.*.scaling.target.queue_depth`"),
        "{depth}"
    );
    // A name nowhere in the schema still lists what is there.
    assert!(err("nodepool").contains("its fields: version, name"));
}
