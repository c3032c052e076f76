//! `tierform validate`: every finding in every file, as text, JSON or GitHub
//! annotations.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::check::diagnostic::{render_github, render_text_styled, FileReport};
use crate::cli::annotations::github_error;
use crate::cli::args::ValidateFormat;
use crate::cli::exit;
use crate::cli::input::{display_name, read_input};
use crate::cli::json;
use crate::cli::ui::Ui;
use crate::validate_bytes;

pub fn run(files: &[PathBuf], format: ValidateFormat, deny_warnings: bool, ui: &Ui) -> Result<u8> {
    let mut reports = Vec::with_capacity(files.len());
    let mut unreadable = Vec::new();
    let mut out = String::new();
    let mut failed = false;
    for path in files {
        let name = display_name(path);
        let bytes = match read_input(path) {
            Ok(b) => b,
            Err(e) => {
                // Report it, check the other files, and exit 2 at the end.
                let message = format!("{e:#}");
                match format {
                    ValidateFormat::Text => {
                        ui.error(&message);
                    }
                    ValidateFormat::Github => {
                        let file = (path != Path::new("-")).then_some(name.as_str());
                        out.push_str(&github_error(file, &message));
                    }
                    ValidateFormat::Json => {}
                }
                unreadable.push(json::unreadable(&name, &message));
                continue;
            }
        };
        let v = validate_bytes(&bytes);
        let report = FileReport::new(name.clone(), v.diagnostics);
        let file_failed = report.errors > 0 || (deny_warnings && report.warnings > 0);
        failed |= file_failed;
        if format != ValidateFormat::Json {
            if format == ValidateFormat::Github {
                let file = (path != Path::new("-")).then_some(name.as_str());
                out.push_str(&render_github(file, &report.diagnostics));
            } else {
                out.push_str(&render_text_styled(
                    &name,
                    v.source.as_deref(),
                    &report.diagnostics,
                    ui.colour_out,
                ));
            }
            // The summary is chatter when the file is valid, a finding when it is not.
            if file_failed || !ui.quiet {
                out.push_str(&summary_line(&report, v.phases.len(), file_failed));
            }
            if ui.verbose && !file_failed {
                let names: Vec<&str> = v.phases.iter().map(|p| p.name.as_str()).collect();
                out.push_str(&format!("  phases: {}\n", names.join(" → ")));
            }
        }
        reports.push(report);
    }
    let io_failed = !unreadable.is_empty();
    if format == ValidateFormat::Json {
        out = json::to_text(json::findings(!failed && !io_failed, &reports, &unreadable))?;
    }
    ui.stdout().write_all(out.as_bytes())?;
    Ok(if io_failed {
        exit::ERROR
    } else if failed {
        exit::FINDING
    } else {
        exit::OK
    })
}

/// `app.yaml: valid (3 phases)`, `app.yaml: invalid, 2 errors, 0 warnings`.
pub fn summary_line(report: &FileReport, phases: usize, failed: bool) -> String {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    if failed && report.errors == 0 {
        format!(
            "{}: invalid (warnings denied), {}\n",
            report.file,
            count(report.warnings, "warning")
        )
    } else if report.errors == 0 {
        let mut line = format!("{}: valid ({})", report.file, count(phases, "phase"));
        if report.warnings > 0 {
            line.push_str(&format!(", {}", count(report.warnings, "warning")));
        }
        line + "\n"
    } else {
        format!(
            "{}: invalid, {}, {}\n",
            report.file,
            count(report.errors, "error"),
            count(report.warnings, "warning")
        )
    }
}
