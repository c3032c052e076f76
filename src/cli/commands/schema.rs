//! `tierform schema`: the blueprint JSON Schema, or the field reference generated from
//! it.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::args::{SchemaFormat, TextOrJson};
use crate::cli::exit;
use crate::model::schema::blueprint_schema;
use crate::output::write_atomic;

pub fn run(output: Option<&Path>, format: SchemaFormat) -> Result<u8> {
    let text = match format {
        SchemaFormat::Json => schema_text(),
        SchemaFormat::Markdown => reference_text(),
    };
    match output {
        Some(path) => write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(exit::OK)
}

/// The schema as committed: pretty JSON with a final newline.
pub fn schema_text() -> String {
    let mut text =
        serde_json::to_string_pretty(&blueprint_schema()).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// The blueprint reference (docs/blueprint.md): every schema field as Markdown.
pub fn reference_text() -> String {
    crate::report::reference::markdown(&blueprint_schema())
}

/// `tierform explain PATH`: one field, from the schema's descriptions.
pub fn explain(path: &str, format: TextOrJson) -> Result<u8> {
    let schema = blueprint_schema();
    let text = match format {
        TextOrJson::Text => crate::report::explain::explain(&schema, path)?,
        TextOrJson::Json => crate::cli::json::to_text(serde_json::to_value(
            crate::report::explain::explanation(&schema, path)?,
        )?)?,
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(exit::OK)
}
