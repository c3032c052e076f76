//! The JSON documents commands print with `--format json` (their shapes are in
//! docs/json.md): each one opens with `format_version`, and an invalid blueprint's
//! findings have the one shape `validate` prints, whichever command reads it.

use std::io::Write;

use anyhow::Result;
use serde_json::{json, Map, Value};

use crate::check::diagnostic::{Diagnostic, FileReport};

/// The version of the JSON documents tierform prints (`--format json`); it changes when
/// a field is removed or changes meaning, not when one is added.
pub const FORMAT_VERSION: u32 = 1;

/// `doc` with `format_version` as its first field.
pub fn versioned(doc: Value) -> Value {
    let mut out = Map::new();
    out.insert("format_version".into(), json!(FORMAT_VERSION));
    let Value::Object(fields) = doc else {
        unreachable!("every document a command prints is an object")
    };
    out.extend(fields);
    Value::Object(out)
}

/// Prints `doc`, versioned, pretty, on standard output.
pub fn print(doc: Value) -> Result<()> {
    std::io::stdout()
        .lock()
        .write_all(to_text(doc)?.as_bytes())?;
    Ok(())
}

/// `doc`, versioned, as the text [`print`] writes.
pub fn to_text(doc: Value) -> Result<String> {
    let mut text = serde_json::to_string_pretty(&versioned(doc))?;
    text.push('\n');
    Ok(text)
}

/// The findings of the blueprints a command read: `valid`, each file's report, and the
/// files it could not read (each with its error), when there are any.
pub fn findings(valid: bool, reports: &[FileReport], unreadable: &[Value]) -> Value {
    let mut doc = json!({
        "valid": valid,
        "files": reports,
    });
    if !unreadable.is_empty() {
        doc["unreadable"] = Value::Array(unreadable.to_vec());
    }
    doc
}

/// A file that could not be read, for [`findings`].
pub fn unreadable(file: &str, error: &str) -> Value {
    json!({ "file": file, "error": error })
}

/// `doc` with the warnings of the blueprint it was made from, as `validate` gives each
/// one, in `warnings`; absent when there are none. A command that goes on with a
/// blueprint despite its warnings prints them here, not on standard error.
pub fn with_warnings(mut doc: Value, diagnostics: &[Diagnostic]) -> Value {
    if !diagnostics.is_empty() {
        doc["warnings"] = serde_json::to_value(diagnostics).expect("findings serialize");
    }
    doc
}
