//! `tierform init`: a starter blueprint, and the schema beside it for editors.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::commands::schema::schema_text;
use crate::cli::exit;
use crate::cli::ui::Ui;
use crate::output::write_atomic;

/// The starter blueprint written by `tierform init`.
pub const STARTER: &str = include_str!("../../../templates/starter.yaml");
/// Where `init` writes the schema for editors, beside the blueprint.
const STARTER_SCHEMA_NAME: &str = "tierform.schema.json";

pub fn run(file: &Path, force: bool, ui: &Ui) -> Result<u8> {
    if file == Path::new("-") {
        std::io::stdout().lock().write_all(STARTER.as_bytes())?;
        return Ok(exit::OK);
    }
    if file.is_dir() {
        bail!(
            "{} is a directory; give the blueprint a file name",
            file.display()
        );
    }
    if file.exists() && !force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            file.display()
        );
    }
    let dir = file.parent().filter(|p| !p.as_os_str().is_empty());
    let schema_path = dir.map_or_else(
        || PathBuf::from(STARTER_SCHEMA_NAME),
        |d| d.join(STARTER_SCHEMA_NAME),
    );
    let starter = STARTER.replacen(
        "$schema=../schema/blueprint.schema.json",
        &format!("$schema={STARTER_SCHEMA_NAME}"),
        1,
    );
    write_atomic(file, starter.as_bytes())
        .with_context(|| format!("cannot write {}", file.display()))?;
    let wrote_schema = if !schema_path.exists() || force {
        write_atomic(&schema_path, schema_text().as_bytes())
            .with_context(|| format!("cannot write {}", schema_path.display()))?;
        true
    } else {
        false
    };
    ui.status(&format!("wrote {}", file.display()));
    if wrote_schema {
        ui.status(&format!(
            "wrote {} (for editor completion and hover)",
            schema_path.display()
        ));
    }
    ui.status(&format!("next: tierform validate {}", file.display()));
    Ok(exit::OK)
}
