//! The blueprint reference (`docs/blueprint.md`): every field of the JSON Schema as
//! Markdown, generated from [`crate::model::schema::blueprint_schema`] so the two cannot
//! disagree (a test compares the committed file with this output).

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write as _;

use serde_json::Value;

/// The name of the definition a `$ref` points to.
pub(super) fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .map(|r| r.trim_start_matches("#/$defs/"))
}

/// The GitHub anchor of a section headed by a definition's name.
fn anchor(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn link(name: &str) -> String {
    match name.strip_suffix("Patch") {
        Some(base) if name != "BlueprintPatch" => {
            format!("patch of [{base}](#{})", anchor(base))
        }
        _ => format!("[{name}](#{})", anchor(name)),
    }
}

/// The definitions the reference has a section for, in the order a reader meets them:
/// breadth first from the top level. Patch forms are not followed (one section,
/// `BlueprintPatch`, explains them).
fn sections(schema: &Value) -> Vec<String> {
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<&Value> = VecDeque::from([schema]);
    while let Some(node) = queue.pop_front() {
        let mut refs = Vec::new();
        collect_refs(node, &mut refs);
        for name in refs {
            if (name.ends_with("Patch") && name != "BlueprintPatch") || !seen.insert(name.clone()) {
                continue;
            }
            if let Some(def) = schema["$defs"].get(&name) {
                order.push(name);
                queue.push_back(def);
            }
        }
    }
    order
}

/// The `$ref`s in a schema, in document order, without entering `$defs`.
fn collect_refs(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(name) = ref_name(node) {
                out.push(name.to_string());
            }
            for (k, v) in map {
                if k != "$defs" {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// One line of text for a table cell.
fn cell(text: &str) -> String {
    let joined: Vec<&str> = text.lines().map(str::trim).collect();
    joined.join(" ").replace('|', "\\|")
}

fn type_name(t: &str) -> &str {
    match t {
        "string" => "text",
        "object" => "mapping",
        "array" => "list",
        "null" => "`null`",
        other => other,
    }
}

/// A value as it is written in YAML, for examples and defaults.
fn yaml_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(yaml_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) if map.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

/// The type of a schema, in words, with links to the sections of referenced types.
pub(super) fn type_text(schema: &Value) -> String {
    if let Some(name) = ref_name(schema) {
        return link(name);
    }
    if let Some(c) = schema.get("const") {
        return format!("`{}`", yaml_value(c));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            return branches
                .iter()
                .map(type_text)
                .collect::<Vec<_>>()
                .join(" or ");
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut words: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "array" => match schema.get("items") {
                Some(items) => format!("list of {}", grouped(items)),
                None => "list".into(),
            },
            "object" => match schema.get("additionalProperties") {
                Some(values) if values.is_object() => {
                    format!("map of name → {}", grouped(values))
                }
                _ => "mapping".into(),
            },
            other => type_name(other).to_string(),
        })
        .collect();
    if words.is_empty() {
        words.push("any".into());
    }
    let mut text = words.join(" or ");
    let min = schema.get("minimum").and_then(Value::as_f64);
    let max = schema.get("maximum").and_then(Value::as_f64);
    match (min, max) {
        (Some(a), Some(b)) => text.push_str(&format!(", {a}–{b}")),
        (Some(a), None) if a > 0.0 => text.push_str(&format!(", at least {a}")),
        (None, Some(b)) => text.push_str(&format!(", at most {b}")),
        _ => {}
    }
    text
}

/// [`type_text`] in parentheses when it is a choice, to read right inside another type.
fn grouped(schema: &Value) -> String {
    let text = type_text(schema);
    if text.contains(" or ") {
        format!("({text})")
    } else {
        text
    }
}

/// The description cell of a field: required or not, the text, and its examples.
fn describe(prop: &Value, required: bool) -> String {
    let mut text = String::new();
    if required {
        text.push_str("**Required.** ");
    }
    text.push_str(
        prop.get("description")
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    if let Some(examples) = prop.get("examples").and_then(Value::as_array) {
        let shown: Vec<String> = examples
            .iter()
            .map(|e| format!("`{}`", yaml_value(e)))
            .collect();
        let label = if shown.len() == 1 {
            "Example"
        } else {
            "Examples"
        };
        text.push_str(&format!(" {label}: {}.", shown.join(", ")));
    }
    cell(&text)
}

fn fields_table(out: &mut String, object: &Value) {
    let Some(props) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: BTreeSet<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| field | type | description |\n|---|---|---|\n");
    for (name, prop) in props {
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} |",
            cell(&type_text(prop)),
            describe(prop, required.contains(name.as_str()))
        );
    }
    out.push('\n');
}

/// Whether every branch of a `oneOf` is a constant: an enumeration.
fn enum_values(def: &Value) -> Option<Vec<(String, String)>> {
    let branches = def.get("oneOf")?.as_array()?;
    branches
        .iter()
        .map(|b| {
            let value = yaml_value(b.get("const")?);
            let about = b.get("description").and_then(Value::as_str).unwrap_or("");
            Some((value, cell(about)))
        })
        .collect()
}

fn section(out: &mut String, name: &str, def: &Value) {
    let _ = writeln!(out, "## {name}\n");
    if let Some(d) = def.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{}\n", d.replace('\n', " "));
    }
    if let Some(values) = enum_values(def) {
        out.push_str("One of:\n\n| value | meaning |\n|---|---|\n");
        for (value, about) in values {
            let _ = writeln!(out, "| `{value}` | {about} |");
        }
        out.push('\n');
        return;
    }
    if let Some(branches) = def.get("oneOf").and_then(Value::as_array) {
        // A tagged union: one table per variant, headed by its tag.
        for branch in branches {
            let tag = branch
                .get("properties")
                .and_then(Value::as_object)
                .and_then(|p| {
                    p.iter().find_map(|(k, v)| {
                        v.get("const").map(|c| format!("{k}: {}", yaml_value(c)))
                    })
                })
                .unwrap_or_else(|| type_text(branch));
            let _ = writeln!(out, "### `{tag}`\n");
            if let Some(d) = branch.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "{}\n", d.replace('\n', " "));
            }
            fields_table(out, branch);
        }
        return;
    }
    if def.get("properties").is_some() {
        fields_table(out, def);
        return;
    }
    // A scalar with its own format (a duration, a quantity, …).
    let _ = writeln!(out, "Type: {}.\n", type_text(def));
    if let Some(examples) = def.get("examples").and_then(Value::as_array) {
        let shown: Vec<String> = examples
            .iter()
            .map(|e| format!("`{}`", yaml_value(e)))
            .collect();
        let _ = writeln!(out, "Examples: {}.\n", shown.join(", "));
    }
}

/// The reference of every blueprint field, as Markdown.
pub fn markdown(schema: &Value) -> String {
    let mut out = String::from(
        "# Blueprint reference\n\n\
         <!-- Generated from the JSON Schema by `tierform schema --format markdown`; do not edit.\n     \
         Update with: cargo run -- schema --format markdown -o docs/blueprint.md -->\n\n",
    );
    if let Some(d) = schema.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{}\n", d.replace('\n', " "));
    }
    out.push_str(
        "Editors that speak the YAML language server protocol show these descriptions on \
         hover and complete the fields when a blueprint starts with\n\n\
         ```yaml\n# yaml-language-server: $schema=../schema/blueprint.schema.json\n```\n\n\
         (the path is relative to the blueprint; `tierform init` writes the schema beside \
         the blueprint it creates). Durations are like `30s` or `5m`; quantities like \
         `500m` CPU or `4Gi` memory. See [the cookbook](cookbook.md) for the common \
         scaling moves.\n\n## Blueprint\n\nThe top level of a blueprint file.\n\n",
    );
    fields_table(&mut out, schema);
    for name in sections(schema) {
        section(&mut out, &name, &schema["$defs"][&name]);
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
