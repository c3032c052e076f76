//! `tierform diff`: what changes between two phases: a summary, operational notes, and
//! the files that differ.

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, Result};

use crate::cli::args::DiffFormat;
use crate::cli::exit;
use crate::cli::input::{load_templates, load_valid, Findings};
use crate::cli::json;
use crate::cli::style::{self, paint, paint_diff};
use crate::cli::ui::Ui;
use crate::model::Platform;
use crate::render::{RenderError, Selection};

pub fn run(
    blueprint: &Path,
    (from, to): (&str, &str),
    platforms: Vec<Platform>,
    format: DiffFormat,
    context: usize,
    templates_dir: Option<&Path>,
    ui: &Ui,
) -> Result<u8> {
    let findings = Findings {
        deny_warnings: false,
        json: format == DiffFormat::Json,
    };
    let v = match load_valid(blueprint, ui, findings)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let templates = load_templates(templates_dir)?;
    // The platforms' files only: every platform when none is named, so the phase's
    // picture (ARCHITECTURE.md, written when no platform is selected) is not compared.
    let selection = Selection {
        phases: vec![from.to_string(), to.to_string()],
        platforms: if platforms.is_empty() {
            Platform::ALL.to_vec()
        } else {
            platforms
        },
    };
    let (set, _) =
        crate::render::render(&v.phases, &selection, &templates).map_err(|e| match e {
            RenderError::NothingSelected { platforms } => anyhow!(
                "neither `{from}` nor `{to}` is rendered for {platforms}: check the phases' `targets`"
            ),
            e => e.into(),
        })?;
    let plans = crate::render::plans(&v.phases, &selection)?;
    let find = |name: &str| plans.iter().find(|p| p.phase == name).expect("selected");
    let (a, b) = (find(from), find(to));
    let changes = crate::report::diff::summarize(a, b);
    let notes = crate::report::diff::notes(a, b);
    let files = crate::output::diff::file_changes(&set, from, to, context);
    let changed = !changes.is_empty() || !files.is_empty();
    let mut out = String::new();
    match format {
        DiffFormat::Json => {
            let doc = serde_json::json!({
                "from": from,
                "to": to,
                "changed": changed,
                "changes": changes,
                "notes": notes,
                "files": files,
            });
            out = json::to_text(json::with_warnings(doc, &v.diagnostics))?;
        }
        DiffFormat::Text | DiffFormat::Summary => {
            let on = ui.colour_out;
            if !changed {
                out.push_str(&format!("no changes from `{from}` to `{to}`\n"));
            } else {
                out.push_str(&format!("Changes from `{from}` to `{to}`:\n"));
                let mut subject = "";
                for c in &changes {
                    if c.subject != subject {
                        out.push_str(&format!("\n  {}\n", paint(&c.subject, style::HEADER, on)));
                        subject = &c.subject;
                    }
                    out.push_str(&format!(
                        "    {} {}\n",
                        paint(&c.mark.symbol().to_string(), style::mark(c.mark), on),
                        c.text
                    ));
                }
                if !notes.is_empty() {
                    out.push_str("\nOperational notes, in order:\n");
                    for (i, n) in notes.iter().enumerate() {
                        out.push_str(&format!("  {}. {n}\n", i + 1));
                    }
                }
                out.push_str(&format!("\nFiles that differ ({}):\n", files.len()));
                for f in &files {
                    let mark = match f.status {
                        "added" => paint("+", style::ADDED, on),
                        "removed" => paint("-", style::REMOVED, on),
                        _ => paint("~", style::CHANGED, on),
                    };
                    out.push_str(&format!("  {mark} {}\n", f.path));
                }
                if format == DiffFormat::Text {
                    for f in &files {
                        out.push('\n');
                        out.push_str(&paint_diff(&f.diff, on));
                        if !f.diff.ends_with('\n') {
                            out.push('\n');
                        }
                    }
                }
            }
        }
    }
    ui.stdout().write_all(out.as_bytes())?;
    Ok(if changed { exit::FINDING } else { exit::OK })
}
