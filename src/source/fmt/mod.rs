//! `tierform fmt`: a blueprint's canonical key order and layout, every comment kept.
//!
//! The text is cut into line ranges (a mapping entry is its key's line, its value's
//! lines and the comment lines right above it), the entries of each mapping the
//! schema describes field by field are put in the schema's order (mappings keyed by
//! the user's names keep the user's order), and each range is re-indented to two
//! spaces a level. Scalars, flow collections, aliases and block scalars move as
//! written. The result is loaded again and must be the same tree as the input, or
//! nothing is returned.

mod flow;
mod layout;
mod order;

use serde_json::Value;

use crate::source::yaml::outline::outline;
use crate::source::yaml::{load, Kind, LoadError, Node};
pub use layout::Unsupported;
use order::Schema;

/// Why a text was not formatted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FmtError {
    /// The text is not YAML the loader accepts; each error is located.
    #[error("{}", .0.first().map(ToString::to_string).unwrap_or_default())]
    Load(Vec<LoadError>),
    /// A layout the formatter does not take apart.
    #[error("cannot format {0}")]
    Unsupported(Unsupported),
    /// The formatted text would not load as the same tree: a bug, refused.
    #[error("formatting would change the blueprint ({0}); the file is left as it is")]
    Changed(String),
}

/// `text` in canonical order and layout, by the key order of `schema` (a JSON
/// Schema). Comments and blank lines stay with the entries they sit above; blank
/// lines are kept one at most; the result has no trailing spaces and ends in a line
/// feed. Refused when the result would not load as the same tree.
pub fn format(text: &str, schema: &Value) -> Result<String, FmtError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = if text.contains('\r') {
        text.replace("\r\n", "\n")
    } else {
        text.to_owned()
    };
    let before = load(&text).map_err(FmtError::Load)?;
    let root = outline(&text).map_err(|e| FmtError::Load(vec![e]))?;
    let lines = layout::Layout::new(&text)
        .document(&root, Schema::new(schema))
        .map_err(FmtError::Unsupported)?;
    let out = join(lines);
    same_tree(&before, &out, Schema::new(schema))?;
    Ok(out)
}

/// The safety check: `out` loads as the tree `before` is, with the same order where
/// order means something.
fn same_tree(before: &Node, out: &str, schema: Schema<'_>) -> Result<(), FmtError> {
    let after = load(out).map_err(|e| {
        let first = e.first().map(|e| format!("{e} at line {}", e.span().line));
        FmtError::Changed(format!(
            "the result does not load: {}",
            first.unwrap_or_default()
        ))
    })?;
    if canonical(before, schema) != canonical(&after, schema) {
        return Err(FmtError::Changed(
            "the result loads as a different tree".into(),
        ));
    }
    Ok(())
}

/// The lines as text: trailing spaces dropped and blank runs made one blank line
/// (outside block scalars), no blank line first or last, a final line feed.
fn join(lines: Vec<layout::Line>) -> String {
    let mut kept: Vec<layout::Line> = Vec::with_capacity(lines.len());
    for mut line in lines {
        if !line.verbatim {
            line.text.truncate(line.text.trim_end().len());
            let after_blank = kept
                .last()
                .is_none_or(|l: &layout::Line| !l.verbatim && l.text.is_empty());
            if line.text.is_empty() && after_blank {
                continue;
            }
        }
        kept.push(line);
    }
    while kept
        .last()
        .is_some_and(|l| !l.verbatim && l.text.is_empty())
    {
        kept.pop();
    }
    let mut out = String::new();
    for line in kept {
        out.push_str(&line.text);
        out.push('\n');
    }
    out
}

/// A loaded tree as JSON with every struct's fields in the schema's order and every
/// mapping of user names in the user's order: two texts that give the same string
/// are the same blueprint, written in the same order where order means something.
fn canonical(node: &Node, schema: Schema<'_>) -> String {
    fn walk(node: &Node, schema: Schema<'_>) -> Value {
        match &node.kind {
            Kind::Map(entries) => {
                let scalar = |k: &str| match node.get(k).map(|n| &n.kind) {
                    Some(Kind::Str(s)) => Some(s.clone()),
                    _ => None,
                };
                let map = schema.map(&scalar);
                let keys: Vec<&str> = entries.iter().map(|(k, _)| k.name.as_str()).collect();
                let mut out = serde_json::Map::new();
                for i in map.order(&keys) {
                    let (k, v) = &entries[i];
                    out.insert(k.name.clone(), walk(v, map.child(&k.name)));
                }
                Value::Object(out)
            }
            Kind::Seq(items) => {
                let schema = schema.items();
                Value::Array(items.iter().map(|i| walk(i, schema)).collect())
            }
            _ => node.to_json(),
        }
    }
    walk(node, schema).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A schema like the blueprint's: fields in an order, a map of names, per-engine
    /// alternatives.
    fn schema() -> Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "version": {}, "name": {},
                "services": { "type": "object", "additionalProperties": { "$ref": "#/$defs/Service" } },
                "stores": { "type": "object", "additionalProperties": { "oneOf": [
                    { "type": "object", "properties": { "engine": { "const": "a" }, "x": {}, "y": {} } },
                    { "type": "object", "properties": { "engine": { "const": "b" }, "y": {}, "x": {} } }
                ] } },
                "phases": { "type": "array", "items": { "type": "object", "properties": { "name": {}, "patch": {} } } }
            },
            "$defs": { "Service": { "type": "object", "properties": { "kind": {}, "image": {}, "env": {
                "type": "object", "additionalProperties": { "type": "string" } } } } }
        })
    }

    fn fmt(text: &str) -> String {
        let out = format(text, &schema()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(format(&out, &schema()).unwrap(), out, "not a fixed point");
        out
    }

    #[test]
    fn orders_fields_keeps_names_and_follows_the_engine() {
        assert_eq!(
            fmt("services:\n  z:\n    env: { B: 1 }\n    image: i\n  a:\n    kind: k\nname: n\nversion: 1\n"),
            "version: 1\nname: n\nservices:\n  z:\n    image: i\n    env: { B: 1 }\n  a:\n    kind: k\n"
        );
        assert_eq!(
            fmt("stores:\n  p:\n    x: 1\n    y: 2\n    engine: b\n  q:\n    y: 2\n    x: 1\n    engine: a\n"),
            "stores:\n  p:\n    engine: b\n    y: 2\n    x: 1\n  q:\n    engine: a\n    x: 1\n    y: 2\n"
        );
    }

    /// A flow mapping on one line is put in order (inside flow mappings and flow
    /// sequences too), its separator kept; one over several lines is left alone.
    #[test]
    fn flow_mappings_on_one_line_are_put_in_order() {
        assert_eq!(
            fmt("stores: {q: {y: 2, x: [1, {a: 1}], engine: a}, p: {x: 1,y: 2,engine: b}}\nphases: [ { patch: {}, name: a } ]\n"),
            "stores: {q: {engine: a, x: [1, {a: 1}], y: 2}, p: {engine: b,y: 2,x: 1}}\nphases: [ { name: a, patch: {} } ]\n"
        );
        let text = "phases:\n  - { patch: {},\n      name: a }\n";
        assert_eq!(fmt(text), text);
    }

    #[test]
    fn layouts_that_are_moved_as_written() {
        // A kept block scalar's blank lines, an indentation indicator, a quoted
        // scalar over two lines, a document end marker.
        let text = "services:\n  s:\n    image: |+\n      keep\n\n\n    kind: >2\n         x\nname: \"a\n  b\"\nversion: 1\n...\n";
        assert_eq!(
            fmt(text),
            "version: 1\nname: \"a\n  b\"\nservices:\n  s:\n    kind: >2\n         x\n    image: |+\n      keep\n\n\n...\n"
        );
        // A comment after an item's dash stays on it; CRLF and a byte-order mark go.
        assert_eq!(
            fmt("\u{feff}phases:\r\n  - # first\r\n    patch: {}\r\n    name: a\r\n"),
            "phases:\n  - # first\n    name: a\n    patch: {}\n"
        );
        // A flow mapping at the top is left as it is.
        assert_eq!(fmt("{name: n, version: 1}\n"), "{name: n, version: 1}\n");
    }

    #[test]
    fn a_result_that_is_not_the_same_tree_is_refused() {
        let schema = schema();
        let before = load("version: 1\nservices: { a: {}, b: {} }\n").unwrap();
        let check = |out: &str| same_tree(&before, out, Schema::new(&schema));
        assert_eq!(check("services: { a: {}, b: {} }\nversion: 1\n"), Ok(()));
        // A value changed, a name's order changed, a result that does not load.
        assert!(matches!(
            check("version: 2\nservices: { a: {}, b: {} }\n"),
            Err(FmtError::Changed(_))
        ));
        assert!(matches!(
            check("version: 1\nservices: { b: {}, a: {} }\n"),
            Err(FmtError::Changed(_))
        ));
        assert!(
            matches!(check("version: 1\nservices: { a: {}, b: {} }\n---\na: 1\n"), Err(FmtError::Changed(m)) if m.contains("does not load"))
        );
    }
}
