//! The blueprint JSON Schema, generated from the model: committed as
//! `schema/blueprint.schema.json` (a test keeps the two equal) and used by editors and
//! by `check-jsonschema`. Checking a document against it, and turning the findings into
//! messages a person can act on, is [`crate::check::schema`]'s.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::model::Blueprint;

/// Top-level fields a phase patch may change.
pub const PATCHABLE: [&str; 7] = [
    "targets",
    "tiers",
    "balancer",
    "services",
    "datastores",
    "monitoring",
    "standby",
];

/// The blueprint JSON Schema (draft 2020-12), with the patch form of the blueprint for
/// `phases[].patch`.
pub fn blueprint_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<Blueprint>().to_value();
    strip_nulls(&mut schema);
    describe_tags(&mut schema);
    let properties = root_properties(&schema);
    let mut patch_defs = Map::new();
    let mut patch_props = Map::new();
    for name in PATCHABLE {
        if let Some(p) = properties.get(name) {
            patch_props.insert(name.into(), patchify(p, &schema, &mut patch_defs));
        }
    }
    let defs = schema["$defs"].as_object_mut().expect("schema has $defs");
    defs.insert(
        "BlueprintPatch".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "description": "Changes from the previous phase: a JSON merge patch (RFC 7386) of the blueprint's targets, tiers, balancer, services and datastores. Mappings merge, other values (lists too) replace, `null` removes.",
            "properties": Value::Object(patch_props),
        }),
    );
    defs.extend(patch_defs);
    sort_defs(&mut schema);
    schema
}

/// Gives the tag of each variant of a tagged union (`engine: postgres`) a description,
/// which schemars leaves out: the variant's own, so an editor explains the choice.
fn describe_tags(schema: &mut Value) {
    let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) else {
        return;
    };
    for def in defs.values_mut() {
        let Some(branches) = def.get_mut("oneOf").and_then(Value::as_array_mut) else {
            continue;
        };
        for branch in branches {
            let about = branch
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
            let Some(props) = branch.get_mut("properties").and_then(Value::as_object_mut) else {
                continue;
            };
            for (name, prop) in props.iter_mut() {
                let Some(tag) = prop.get("const").and_then(Value::as_str) else {
                    continue;
                };
                if prop.get("description").is_none() {
                    let text = match &about {
                        Some(a) => format!("`{name}: {tag}`: {a}"),
                        None => format!("`{name}: {tag}` selects this variant."),
                    };
                    prop["description"] = json!(text);
                }
            }
        }
    }
}

fn root_properties(schema: &Value) -> Map<String, Value> {
    schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn sort_defs(schema: &mut Value) {
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        let mut entries: Vec<(String, Value)> = std::mem::take(defs).into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        defs.extend(entries);
    }
}

/// Removes the `null` schemars allows for `Option` fields: a blueprint never needs to
/// write `null` (leaving a field out means the default), and only patches may.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    map.insert("type".into(), only);
                }
            }
            map.remove("format");
            if let Some(Value::Array(branches)) = map.get("anyOf") {
                let kept: Vec<Value> = branches
                    .iter()
                    .filter(|b| b.get("type") != Some(&json!("null")))
                    .cloned()
                    .collect();
                if kept.len() == 1 {
                    map.remove("anyOf");
                    if let Value::Object(inner) = &kept[0] {
                        for (k, v) in inner {
                            map.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                } else {
                    map.insert("anyOf".into(), Value::Array(kept));
                }
            }
            for v in map.values_mut() {
                strip_nulls(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// The patch form of a schema: nothing required, every value may be `null` (remove),
/// objects and maps patch recursively, lists stay whole (a merge patch replaces them).
fn patchify(schema: &Value, root: &Value, defs: &mut Map<String, Value>) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    if let Some(Value::String(reference)) = map.get("$ref") {
        let name = reference.trim_start_matches("#/$defs/");
        let target = &root["$defs"][name];
        if !is_object_schema(target) {
            // Scalars and enums: the same schema, or null.
            return nullable(schema.clone());
        }
        let patch_name = format!("{name}Patch");
        if !defs.contains_key(&patch_name) {
            defs.insert(patch_name.clone(), Value::Null);
            let patched = patchify(target, root, defs);
            defs.insert(patch_name.clone(), patched);
        }
        let mut out = map.clone();
        out.insert("$ref".into(), json!(format!("#/$defs/{patch_name}")));
        return nullable(Value::Object(out));
    }
    let mut out = map.clone();
    out.remove("required");
    out.remove("default");
    out.remove("minProperties");
    if let Some(Value::Object(props)) = map.get("properties") {
        let patched: Map<String, Value> = props
            .iter()
            .map(|(k, v)| {
                // The tag of a tagged union stays as it is (it selects the variant).
                if k == "engine" && v.get("const").is_some() {
                    (k.clone(), v.clone())
                } else {
                    (k.clone(), patchify(v, root, defs))
                }
            })
            .collect();
        out.insert("properties".into(), Value::Object(patched));
    }
    if let Some(additional) = map.get("additionalProperties") {
        if additional.is_object() {
            out.insert(
                "additionalProperties".into(),
                patchify(additional, root, defs),
            );
        }
    }
    for keyword in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = map.get(keyword) {
            out.remove(keyword);
            let patched: Vec<Value> = branches.iter().map(|b| patchify(b, root, defs)).collect();
            // Several variants may accept the same partial object: any will do.
            out.insert("anyOf".into(), Value::Array(patched));
        }
    }
    nullable(Value::Object(out))
}

fn is_object_schema(schema: &Value) -> bool {
    schema.get("type") == Some(&json!("object"))
        || schema.get("properties").is_some()
        || schema
            .get("oneOf")
            .and_then(Value::as_array)
            .is_some_and(|b| b.iter().any(|x| x.get("properties").is_some()))
}

fn nullable(schema: Value) -> Value {
    let Value::Object(mut map) = schema else {
        return schema;
    };
    match map.get_mut("type") {
        Some(Value::String(t)) => {
            let t = t.clone();
            map.insert("type".into(), json!([t, "null"]));
            Value::Object(map)
        }
        Some(Value::Array(types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            Value::Object(map)
        }
        _ => {
            let description = map.remove("description");
            let mut out = json!({ "anyOf": [Value::Object(map), { "type": "null" }] });
            if let Some(d) = description {
                out["description"] = d;
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_compiles_and_has_patch_defs() {
        let s = blueprint_schema();
        assert!(s["$defs"]["BlueprintPatch"]["properties"]["services"].is_object());
        assert!(s["$defs"].get("ServicePatch").is_some());
        jsonschema::validator_for(&s).expect("compiles");
    }
}
