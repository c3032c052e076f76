//! `tierform diff`: what changes between two phases: a summary, operational notes, and
//! the files that differ.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};

use crate::cli::args::DiffFormat;
use crate::cli::exit;
use crate::cli::input::{load_templates, load_valid};
use crate::cli::style::{paint, paint_diff};
use crate::cli::ui::Ui;
use crate::model::Platform;
use crate::render::Selection;

pub fn run(
    blueprint: &Path,
    (from, to): (&str, &str),
    platforms: Vec<Platform>,
    format: DiffFormat,
    context: usize,
    templates_dir: Option<&Path>,
    ui: &Ui,
) -> Result<u8> {
    let v = match load_valid(blueprint, ui)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let templates = load_templates(templates_dir)?;
    let selection = Selection {
        phases: vec![from.to_string(), to.to_string()],
        platforms: platforms.clone(),
    };
    let plans = crate::render::plans(&v.phases, &selection)?;
    if !platforms.is_empty()
        && !plans
            .iter()
            .any(|p| p.platforms.iter().any(|x| platforms.contains(x)))
    {
        bail!(
            "neither `{from}` nor `{to}` is rendered for {}: check the phases' `targets`",
            platforms
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let find = |name: &str| plans.iter().find(|p| p.phase == name).expect("selected");
    let (a, b) = (find(from), find(to));
    let changes = crate::report::diff::summarize(a, b);
    let notes = crate::report::diff::notes(a, b);
    let all = if platforms.is_empty() {
        Platform::ALL.to_vec()
    } else {
        platforms
    };
    let mut set = crate::output::OutputSet::new();
    for plan in [a, b] {
        if from == to && std::ptr::eq(plan, b) {
            break;
        }
        crate::render::bundle::render_plan(plan, &all, &templates, &mut set)?;
    }
    let files = crate::report::diff::file_changes(&set, from, to, context);
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
            out = serde_json::to_string_pretty(&doc)?;
            out.push('\n');
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
                        out.push_str(&format!("\n  {}\n", paint(&c.subject, "1", on)));
                        subject = &c.subject;
                    }
                    let code = match c.mark {
                        crate::report::diff::Mark::Added => "32",
                        crate::report::diff::Mark::Removed => "31",
                        crate::report::diff::Mark::Changed => "33",
                    };
                    out.push_str(&format!(
                        "    {} {}\n",
                        paint(&c.mark.symbol().to_string(), code, on),
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
                        "added" => paint("+", "32", on),
                        "removed" => paint("-", "31", on),
                        _ => paint("~", "33", on),
                    };
                    out.push_str(&format!("  {mark} {}\n", f.path));
                }
                if format == DiffFormat::Text {
                    for f in &files {
                        out.push('\n');
                        if on {
                            out.push_str(&paint_diff(&f.diff));
                        } else {
                            out.push_str(&f.diff);
                        }
                        if !f.diff.ends_with('\n') {
                            out.push('\n');
                        }
                    }
                }
            }
        }
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(if changed { exit::FINDING } else { exit::OK })
}
