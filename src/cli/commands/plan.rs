//! `tierform plan`: each phase's capacity, as text, Markdown or JSON.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::cli::args::PlanFormat;
use crate::cli::exit;
use crate::cli::input::{load_valid, Findings};
use crate::cli::json;
use crate::cli::ui::Ui;
use crate::render::Selection;
use crate::report::capacity::{self, PhaseCapacity};

pub fn run(blueprint: &Path, format: PlanFormat, ui: &Ui) -> Result<u8> {
    let findings = Findings {
        deny_warnings: false,
        json: format == PlanFormat::Json,
    };
    let v = match load_valid(blueprint, ui, findings)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let plans = crate::render::plans(&v.phases, &Selection::default())?;
    let phases: Vec<PhaseCapacity> = plans.iter().map(capacity::capacity).collect();
    let name = plans
        .first()
        .map(|p| p.blueprint.clone())
        .unwrap_or_default();
    let out = match format {
        PlanFormat::Json => json::to_text(json::with_warnings(
            serde_json::json!({
                "blueprint": name,
                "phases": phases,
            }),
            &v.diagnostics,
        ))?,
        PlanFormat::Markdown => {
            let mut text = format!("# Capacity plan: {name}\n");
            for p in &phases {
                text.push('\n');
                text.push_str(&capacity::markdown(p, "## Phase"));
            }
            text
        }
        PlanFormat::Text => {
            let mut text = format!("Capacity plan: {name}\n");
            for p in &phases {
                text.push('\n');
                text.push_str(&capacity::text(p, "== Phase"));
            }
            text
        }
    };
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(exit::OK)
}
