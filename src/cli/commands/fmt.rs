//! `tierform fmt`: blueprints in canonical key order and layout, comments kept;
//! `--check` says which would change.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::cli::args::TextOrJson;
use crate::cli::exit;
use crate::cli::input::{display_name, read_input};
use crate::cli::json;
use crate::cli::ui::Ui;
use crate::output::diff::unified_diff;
use crate::output::write_atomic;
use crate::source::fmt::FmtError;
use crate::source::yaml::decode;

/// What became of one file.
enum Outcome {
    /// Formatted already.
    Same,
    /// Formatted (or, with `--check`, would be), with its new text.
    Changed(String),
    /// Not formatted: why, located where it can be.
    Failed(String),
}

/// One file formatted: its text and its outcome.
fn format_file(path: &Path, name: &str) -> (String, Outcome) {
    let bytes = match read_input(path) {
        Ok(b) => b,
        Err(e) => return (String::new(), Outcome::Failed(format!("{e:#}"))),
    };
    let text = match decode(&bytes) {
        Ok(t) => t.to_owned(),
        Err(e) => {
            let at = e.span();
            return (
                String::new(),
                Outcome::Failed(format!("{name}:{}:{}: {e}", at.line, at.col)),
            );
        }
    };
    let outcome = match crate::format_blueprint(&text) {
        Ok(out) if out == text => Outcome::Same,
        Ok(out) => Outcome::Changed(out),
        Err(FmtError::Load(errors)) => Outcome::Failed(
            errors
                .iter()
                .map(|e| {
                    let at = e.span();
                    format!("{name}:{}:{}: {e}", at.line, at.col)
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Err(e) => Outcome::Failed(format!("{name}: {e}")),
    };
    (text, outcome)
}

pub fn run(files: &[PathBuf], check: bool, format: TextOrJson, ui: &Ui) -> Result<u8> {
    let as_json = format == TextOrJson::Json;
    let mut reports: Vec<Value> = Vec::new();
    let (mut changed, mut failed) = (0, 0);
    for path in files {
        let name = display_name(path);
        let (text, outcome) = format_file(path, &name);
        match outcome {
            Outcome::Failed(message) => {
                failed += 1;
                if !as_json {
                    ui.error(&message);
                }
                reports.push(json!({ "file": name, "error": message }));
            }
            Outcome::Same => {
                if path == Path::new("-") && !check {
                    std::io::stdout().lock().write_all(text.as_bytes())?;
                }
                ui.detail(&format!("{name}: formatted already"));
                reports.push(json!({ "file": name, "changed": false }));
            }
            Outcome::Changed(out) => {
                changed += 1;
                reports.push(json!({ "file": name, "changed": true }));
                if check {
                    if !as_json {
                        let mut stdout = ui.stdout();
                        writeln!(stdout, "{name}")?;
                        if ui.verbose {
                            let diff = unified_diff(
                                &text,
                                &out,
                                &format!("a/{name}"),
                                &format!("b/{name}"),
                                3,
                            );
                            write!(stdout, "{diff}")?;
                        }
                    }
                } else if path == Path::new("-") {
                    std::io::stdout().lock().write_all(out.as_bytes())?;
                } else {
                    let permissions = std::fs::metadata(path).map(|m| m.permissions());
                    write_atomic(path, out.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    if let Ok(permissions) = permissions {
                        let _ = std::fs::set_permissions(path, permissions);
                    }
                    ui.status(&format!("formatted {name}"));
                }
            }
        }
    }
    if as_json {
        json::print(json!({
            "formatted": changed == 0 && failed == 0,
            "files": reports,
        }))?;
    } else if check && changed == 0 && failed == 0 {
        ui.status(&format!(
            "{} formatted already",
            if files.len() == 1 {
                display_name(&files[0])
            } else {
                format!("{} files", files.len())
            }
        ));
    }
    Ok(if failed > 0 {
        exit::ERROR
    } else if check && changed > 0 {
        exit::FINDING
    } else {
        exit::OK
    })
}
