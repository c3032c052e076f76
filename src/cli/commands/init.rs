//! `tierform init`: a starter blueprint, and the schema beside it for editors.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::args::Example;
use crate::cli::commands::schema::schema_text;
use crate::cli::exit;
use crate::cli::ui::Ui;
use crate::output::write_atomic;

/// The starter blueprint written by `tierform init`.
pub const STARTER: &str = include_str!("../../../templates/starter.yaml");
/// The bundled example blueprints, as `init --example NAME` writes them.
pub fn example_text(example: Example) -> &'static str {
    match example {
        Example::AqiMonitor => include_str!("../../../blueprints/aqi-monitor.yaml"),
        Example::BetIntel => include_str!("../../../blueprints/bet-intel.yaml"),
        Example::FastapiCelery => include_str!("../../../blueprints/fastapi-celery.yaml"),
        Example::Medhasakthi => include_str!("../../../blueprints/medhasakthi.yaml"),
        Example::Showcase => include_str!("../../../blueprints/showcase.yaml"),
    }
}

/// Where `init` writes the schema for editors, beside the blueprint.
const STARTER_SCHEMA_NAME: &str = "tierform.schema.json";

pub fn run(file: &Path, example: Option<Example>, force: bool, ui: &Ui) -> Result<u8> {
    let text = example.map_or(STARTER, example_text);
    if file == Path::new("-") {
        std::io::stdout().lock().write_all(text.as_bytes())?;
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
    let starter = text.replacen(
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
