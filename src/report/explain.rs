//! `tierform explain PATH`: one field of the blueprint language, from the schema's own
//! descriptions (as `kubectl explain` does for Kubernetes objects). A path is written
//! with dots (`services.*.scaling.target`) or as a JSON pointer
//! (`/services/api/scaling/target`); a name in a map (a service's, a tier's) or an index
//! in a list may be anything, `*` included.

use std::collections::BTreeSet;

use serde_json::Value;

use super::reference::{ref_name, type_text};
use crate::check::suggest::{did_you_mean, did_you_mean_hint};

/// Why a path names no field.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExplainError {
    pub message: String,
}

/// The steps of a path: dots or a JSON pointer (`~1` and `~0` unescaped).
fn steps(path: &str) -> Vec<String> {
    let path = path.trim();
    if let Some(pointer) = path.strip_prefix('/') {
        return pointer
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
    }
    path.split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The definition a `$ref` names, or the schema itself.
fn deref<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match ref_name(schema) {
        Some(name) => root
            .get("$defs")
            .and_then(|d| d.get(name))
            .map(|d| deref(root, d))
            .unwrap_or(schema),
        None => schema,
    }
}

/// The branches of a schema: its `anyOf`/`oneOf` alternatives (dereferenced), or itself.
fn branches<'a>(root: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
    let schema = deref(root, schema);
    for key in ["anyOf", "oneOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            return list.iter().flat_map(|b| branches(root, b)).collect();
        }
    }
    vec![schema]
}

/// A field: its name, its schema, and whether it is required.
type Field<'a> = (&'a str, &'a Value, bool);

/// The fields of a schema's object branches, by name.
fn fields<'a>(root: &'a Value, schema: &'a Value) -> Vec<Field<'a>> {
    let mut out = Vec::new();
    for b in branches(root, schema) {
        let required: BTreeSet<&str> = b
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = b.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                if !out.iter().any(|(n, _, _)| n == name) {
                    out.push((name.as_str(), prop, required.contains(name.as_str())));
                }
            }
        }
    }
    out
}

/// The paths below `schemas` (reached by `walked`) whose last field is `name`, a few
/// levels deep, map entries and list items as `*`: where a field asked for by its
/// name alone is. The blueprint's patch form, which repeats the whole blueprint, is
/// not searched.
fn paths_named(root: &Value, schemas: &[&Value], name: &str, walked: &[String]) -> Vec<String> {
    const DEPTH: usize = 5;
    let mut out: Vec<String> = Vec::new();
    let mut frontier: Vec<(Vec<String>, &Value)> =
        schemas.iter().map(|x| (walked.to_vec(), *x)).collect();
    for _ in 0..DEPTH {
        let mut next = Vec::new();
        for (path, x) in frontier {
            for (field, sub, _) in fields(root, x) {
                if field == "phases" || field == "patch" {
                    continue;
                }
                let mut p = path.clone();
                p.push(field.to_string());
                if field == name {
                    let text = p.join(".");
                    if !out.contains(&text) {
                        out.push(text);
                    }
                }
                next.push((p.clone(), sub));
                // Through a map's values or a list's items.
                for inner in step(root, sub, "*") {
                    let mut q = p.clone();
                    q.push("*".into());
                    next.push((q, inner));
                }
            }
        }
        frontier = next;
    }
    out
}

/// One step down from `schema`: a field (of every branch that has it), a map entry or
/// a list item.
fn step<'a>(root: &'a Value, schema: &'a Value, name: &str) -> Vec<&'a Value> {
    let mut found: Vec<&Value> = Vec::new();
    for b in branches(root, schema) {
        if let Some(prop) = b.get("properties").and_then(|p| p.get(name)) {
            if !found.contains(&prop) {
                found.push(prop);
            }
        }
    }
    if !found.is_empty() {
        return found;
    }
    for b in branches(root, schema) {
        if let Some(values) = b.get("additionalProperties").filter(|v| v.is_object()) {
            return vec![values];
        }
        if let Some(items) = b.get("items") {
            if name == "*" || name.parse::<usize>().is_ok() {
                return vec![items];
            }
        }
    }
    Vec::new()
}

/// A type in words for a terminal: the reference's, without its Markdown links.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](#") else {
            break;
        };
        let Some(end) = rest[open + close..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..open + close]);
        rest = &rest[open + close + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Text as paragraphs of words (a description's line breaks are where its source
/// comment wrapped), each wrapped at 80 columns after `indent`.
fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    for para in text.split("\n\n") {
        if !out.is_empty() {
            out.push('\n');
        }
        let mut line = String::from(indent);
        for word in para.split_whitespace() {
            if line.len() > indent.len() && line.len() + 1 + word.len() > 80 {
                out.push_str(line.trim_end());
                out.push('\n');
                line = String::from(indent);
            }
            if line.len() > indent.len() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The first sentence of a description, on one line.
fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(i) => flat[..=i].to_string(),
        None => flat,
    }
}

/// A field of the blueprint language, as `explain` gives it (`--format json` prints
/// this; the text is made from it).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    /// The path as walked, dotted; empty for the top level.
    pub path: String,
    /// Its type, in words (one per kind when the path reaches several).
    pub types: Vec<String>,
    /// What it means: the field's description, then its type's when that says more.
    pub description: Vec<String>,
    /// Example values, as JSON.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Value>,
    /// The fields under it: one group, or one per kind when kinds differ.
    pub groups: Vec<FieldGroup>,
}

/// The fields of one kind (or of the type, when it has one kind).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldGroup {
    /// The kind's first sentence, when the type has several kinds with fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub fields: Vec<FieldInfo>,
}

/// One field under the explained one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub required: bool,
    pub description: String,
}

/// The words of a description that carry meaning, for telling whether two say the same.
fn content_words(text: &str) -> BTreeSet<String> {
    const FILLER: &[&str] = &[
        "a", "an", "the", "of", "and", "or", "in", "on", "to", "per", "is", "it", "its", "with",
        "for", "by", "as", "at", "be",
    ];
    text.split(|c: char| !c.is_alphanumeric() && c != '_')
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !FILLER.contains(&w.as_str()))
        .collect()
}

/// Whether `more` adds to `said`: not when most of its words are already there.
fn says_more(said: &str, more: &str) -> bool {
    let (a, b) = (content_words(said), content_words(more));
    if b.is_empty() {
        return false;
    }
    let shared = a.intersection(&b).count();
    shared * 5 < b.len() * 3
}

/// What `explain` finds at `path`. A field that differs by kind (a datastore's
/// `engine`, say) is given as each kind has it.
pub fn explanation(root: &Value, path: &str) -> Result<Explanation, ExplainError> {
    let mut schemas: Vec<&Value> = vec![root];
    let mut walked: Vec<String> = Vec::new();
    for s in steps(path) {
        let next: Vec<&Value> = schemas.iter().flat_map(|x| step(root, x, &s)).collect();
        if next.is_empty() {
            let mut known: Vec<String> = Vec::new();
            for x in &schemas {
                for (n, _, _) in fields(root, x) {
                    if !known.iter().any(|k| k == n) {
                        known.push(n.to_string());
                    }
                }
            }
            let at = if walked.is_empty() {
                "the top level".to_string()
            } else {
                format!("`{}`", walked.join("."))
            };
            let mut message = format!("no field `{s}` under {at}");
            // A field deeper down, asked for by its name alone (`gpu`).
            let elsewhere = paths_named(root, &schemas, &s, &walked);
            if !elsewhere.is_empty() {
                message.push_str(&format!(
                    "; `{s}` is at {}",
                    elsewhere
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                return Err(ExplainError { message });
            }
            if known.is_empty() {
                message.push_str(&format!(
                    " ({} has no fields)",
                    plain(&type_text(schemas[0]))
                ));
            } else {
                message.push_str(&format!("; its fields: {}", known.join(", ")));
                if let Some(close) = did_you_mean(&s, &known) {
                    message.push_str(&format!("; {}", did_you_mean_hint(&close)));
                }
            }
            return Err(ExplainError { message });
        }
        schemas = next;
        walked.push(s);
    }
    let mut description: Vec<String> = Vec::new();
    let mut examples = Vec::new();
    for schema in &schemas {
        // The field's own description, then its type's when that says more.
        let own = schema.get("description").and_then(Value::as_str);
        let of_type = deref(root, schema)
            .get("description")
            .and_then(Value::as_str);
        if let Some(own) = own {
            description.push(own.to_string());
        }
        if let Some(t) = of_type.filter(|t| own.is_none_or(|own| says_more(own, t))) {
            description.push(t.to_string());
        }
        if let Some(list) = schema.get("examples").and_then(Value::as_array) {
            examples.extend(list.iter().cloned());
        }
    }
    // Fields: one list, or one per kind when the kinds have fields of their own.
    let mut groups: Vec<FieldGroup> = Vec::new();
    let info = |fields: Vec<Field>| -> Vec<FieldInfo> {
        fields
            .into_iter()
            .map(|(n, prop, required)| FieldInfo {
                name: n.to_string(),
                type_: plain(&type_text(prop)),
                required,
                description: prop
                    .get("description")
                    .and_then(Value::as_str)
                    .map(first_sentence)
                    .unwrap_or_default(),
            })
            .collect()
    };
    for schema in &schemas {
        let kinds = branches(root, schema);
        let with_fields = kinds
            .iter()
            .filter(|b| b.get("properties").is_some())
            .count();
        if with_fields > 1 {
            for b in kinds {
                let kind = b
                    .get("description")
                    .and_then(Value::as_str)
                    .map(first_sentence);
                groups.push(FieldGroup {
                    kind,
                    fields: info(fields(root, b)),
                });
            }
        } else {
            groups.push(FieldGroup {
                kind: None,
                fields: info(fields(root, schema)),
            });
        }
    }
    groups.retain(|g| !g.fields.is_empty());
    Ok(Explanation {
        path: walked.join("."),
        types: schemas.iter().map(|x| plain(&type_text(x))).collect(),
        description,
        examples,
        groups,
    })
}

/// What `explain` prints for `path`, as text.
pub fn explain(root: &Value, path: &str) -> Result<String, ExplainError> {
    let e = explanation(root, path)?;
    let name = if e.path.is_empty() {
        "(the blueprint)"
    } else {
        e.path.as_str()
    };
    let mut out = format!("{name}: {}\n", e.types.join(" or "));
    for text in &e.description {
        out.push('\n');
        out.push_str(&wrap(text, ""));
    }
    if !e.examples.is_empty() {
        let shown: Vec<String> = e.examples.iter().map(|x| x.to_string()).collect();
        out.push_str(&format!("\nExamples: {}\n", shown.join(", ")));
    }
    for group in &e.groups {
        match &group.kind {
            Some(t) => out.push_str(&format!("\nFields of {t}\n")),
            None => out.push_str("\nFields:\n"),
        }
        let width = group.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
        for f in &group.fields {
            out.push_str(&format!(
                "  {:width$}  {}{}\n",
                f.name,
                f.type_,
                if f.required { ", required" } else { "" },
            ));
            out.push_str(&wrap(&f.description, &" ".repeat(width + 4)));
        }
    }
    Ok(out)
}
