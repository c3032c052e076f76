//! `tierform render`: every selected phase's bundles written to a folder, compared with
//! it (`--check`), or one file printed (`--stdout`).

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};

use crate::check::diagnostic::{render_text_styled, FileReport};
use crate::cli::args::RenderFormat;
use crate::cli::exit;
use crate::cli::input::{display_name, load_templates, load_valid, Findings};
use crate::cli::json;
use crate::cli::style::{self, paint, paint_diff};
use crate::cli::ui::Ui;
use crate::output;
use crate::render::{RenderError, Selection};

/// How `render` runs, besides what it renders and where.
pub struct Options<'a> {
    pub templates_dir: Option<&'a Path>,
    pub check: bool,
    pub format: RenderFormat,
    /// Warnings refuse the blueprint as errors do (`--deny-warnings`).
    pub deny_warnings: bool,
    /// Check each balancer config with the real checker (`--lint`).
    pub lint: bool,
}

pub fn run(
    blueprint: &Path,
    out_dir: &Path,
    selection: Selection,
    options: Options<'_>,
    ui: &Ui,
) -> Result<u8> {
    let Options {
        templates_dir,
        check,
        format,
        deny_warnings,
        lint,
    } = options;
    let name = display_name(blueprint);
    // An invalid blueprint renders nothing: exit 2, so CI tells it from stale output (1).
    let json = format == RenderFormat::Json;
    let findings = Findings {
        deny_warnings,
        json,
    };
    let v = match load_valid(blueprint, ui, findings)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let templates = load_templates(templates_dir)?;
    let (set, scope) = match crate::render::render(&v.phases, &selection, &templates) {
        Err(RenderError::TooLarge(d)) => {
            // An output limit is a finding about the blueprint: shown as one.
            if json {
                let mut all = v.diagnostics.clone();
                all.push(*d);
                let report = FileReport::new(name.clone(), all);
                json::print(json::findings(false, &[report], &[]))?;
            } else {
                let text = render_text_styled(&name, v.source.as_deref(), &[*d], ui.colour_err);
                ui.stderr().write_all(text.as_bytes())?;
            }
            return Ok(exit::ERROR);
        }
        other => other?,
    };
    let dir_name = out_dir.display();
    let linted = if lint {
        let plans = crate::render::plans(&v.phases, &selection)?;
        Some(crate::cli::lint::lint(&set, &plans)?)
    } else {
        None
    };
    // A config `--lint` could not judge is a finding too: a green run checked them all.
    let lint_failed = linted
        .as_ref()
        .is_some_and(|l| !l.failed.is_empty() || !l.skipped.is_empty());
    let with_lint = |mut doc: serde_json::Value| {
        if let Some(l) = &linted {
            doc["lint"] = lint_json(l);
        }
        json::with_warnings(doc, &v.diagnostics)
    };
    if !json {
        if let Some(l) = &linted {
            report_lint(l, out_dir, ui)?;
        }
    }
    let ok = if lint_failed { exit::FINDING } else { exit::OK };
    if check {
        let changes = output::compare(out_dir, &set, &scope)?;
        if changes.is_empty() {
            if json {
                let mut doc = changes_json(out_dir, true, &changes);
                doc["stale"] = false.into();
                json::print(with_lint(doc))?;
            } else {
                ui.status(&format!(
                    "{dir_name} is up to date ({})",
                    plural(set.len(), "file")
                ));
            }
            return Ok(ok);
        }
        let diff = output::diff(out_dir, &set, &changes, 3);
        if json {
            let mut doc = changes_json(out_dir, true, &changes);
            doc["stale"] = true.into();
            doc["diff"] = diff.into();
            json::print(with_lint(doc))?;
            return Ok(exit::FINDING);
        }
        list_changes(&changes, ui);
        ui.stdout()
            .write_all(paint_diff(&diff, ui.colour_out).as_bytes())?;
        let mut again = format!("tierform render {name} -o {dir_name}");
        for p in &selection.phases {
            again.push_str(&format!(" --phase {p}"));
        }
        for p in &selection.platforms {
            again.push_str(&format!(" --platform {}", p.as_str()));
        }
        if let Some(t) = templates_dir {
            again.push_str(&format!(" --templates {}", t.display()));
        }
        let _ = writeln!(
            ui.stderr(),
            "{dir_name} is stale: {} to add, {} to change, {} to remove; run `{again}`",
            changes.added.len(),
            changes.changed.len(),
            changes.removed.len()
        );
        return Ok(exit::FINDING);
    }
    let changes = output::write(out_dir, &set, &scope)?;
    if json {
        let doc = changes_json(out_dir, false, &changes);
        return json::print(with_lint(doc)).map(|()| ok);
    }
    list_changes(&changes, ui);
    ui.status(&format!(
        "wrote {dir_name}: {} added, {} changed, {} removed, {} unchanged",
        changes.added.len(),
        changes.changed.len(),
        changes.removed.len(),
        changes.unchanged
    ));
    Ok(ok)
}

/// `--lint`'s verdicts on standard error: each refused config with what its checker
/// said, each one not checked with why, and a count.
fn report_lint(l: &crate::cli::lint::Verdicts, out_dir: &Path, ui: &Ui) -> Result<()> {
    let mut err = ui.stderr();
    let at = |f: &str| out_dir.join(f).display().to_string();
    for (file, said) in &l.failed {
        writeln!(err, "lint: {} refused:", at(file))?;
        for line in said.lines() {
            writeln!(err, "  {line}")?;
        }
    }
    for (file, why) in &l.skipped {
        writeln!(err, "lint: {} not checked: {why}", at(file))?;
    }
    for file in &l.passed {
        ui.detail(&format!("lint: {} ok", at(file)));
    }
    let summary = format!(
        "lint: {} passed, {} refused, {} not checked",
        l.passed.len(),
        l.failed.len(),
        l.skipped.len()
    );
    if l.failed.is_empty() && l.skipped.is_empty() {
        drop(err);
        ui.status(&summary);
    } else {
        // Even with --quiet: this is why the exit code is 1.
        writeln!(err, "{summary}")?;
    }
    Ok(())
}

/// `--lint`'s verdicts, for `--format json`.
fn lint_json(l: &crate::cli::lint::Verdicts) -> serde_json::Value {
    serde_json::json!({
        "passed": l.passed,
        "refused": l.failed.iter().map(|(file, output)| serde_json::json!({ "file": file, "output": output })).collect::<Vec<_>>(),
        "not_checked": l.skipped.iter().map(|(file, reason)| serde_json::json!({ "file": file, "reason": reason })).collect::<Vec<_>>(),
    })
}

/// `render --stdout FILE`: renders in memory and prints one file, for a pipe.
pub fn one(
    blueprint: &Path,
    file: &str,
    selection: Selection,
    templates_dir: Option<&Path>,
    deny_warnings: bool,
) -> Result<u8> {
    let findings = Findings {
        deny_warnings,
        json: false,
    };
    let v = match load_valid(blueprint, &Ui::silent(), findings)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let templates = load_templates(templates_dir)?;
    let (set, _) = crate::render::render(&v.phases, &selection, &templates)?;
    let wanted = file.trim_start_matches("./");
    if let Some(text) = set.get(wanted) {
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(exit::OK);
    }
    let paths: Vec<String> = set.iter().map(|(p, _)| p.to_string()).collect();
    let hint = match crate::check::suggest::did_you_mean(wanted, &paths) {
        Some(close) => crate::check::suggest::did_you_mean_hint(&close),
        None => {
            // Each phase's bundle folders (and files of its own, like ARCHITECTURE.md).
            let tops: std::collections::BTreeSet<String> = paths
                .iter()
                .map(|p| match p.splitn(3, '/').collect::<Vec<_>>()[..] {
                    [phase, platform, _] => format!("{phase}/{platform}/…"),
                    _ => p.clone(),
                })
                .collect();
            format!(
                "paths are under DIR as render writes them: {}",
                tops.into_iter().collect::<Vec<_>>().join(", ")
            )
        }
    };
    bail!(
        "{} renders no file `{wanted}`; {hint}",
        display_name(blueprint)
    )
}

/// `render -o -`: renders in memory and writes every file to standard output as one
/// stream (a YAML stream for one Kubernetes bundle; see `cli::stream`).
pub fn stream(
    blueprint: &Path,
    selection: Selection,
    templates_dir: Option<&Path>,
    deny_warnings: bool,
    ui: &Ui,
) -> Result<u8> {
    let findings = Findings {
        deny_warnings,
        json: false,
    };
    let v = match load_valid(blueprint, ui, findings)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let templates = load_templates(templates_dir)?;
    let (set, _) = crate::render::render(&v.phases, &selection, &templates)?;
    let mut out = std::io::stdout().lock();
    let written = crate::cli::stream::write(&set, &mut out).and_then(|()| Ok(out.flush()?));
    match written {
        // The reader stopped early (`| head`): done, as `cat` is.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(exit::OK)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(exit::OK),
    }
}

/// Lists each file of `changes` on standard error, with `--verbose`.
fn list_changes(changes: &output::Changes, ui: &Ui) {
    let marks = [
        ("+", style::ADDED, &changes.added),
        ("~", style::CHANGED, &changes.changed),
        ("-", style::REMOVED, &changes.removed),
    ];
    for (mark, style, files) in marks {
        for f in files {
            ui.detail(&format!("  {} {f}", paint(mark, style, ui.colour_err)));
        }
    }
}

/// The files `render` added, changed and removed, for `--format json`.
fn changes_json(out_dir: &Path, check: bool, changes: &output::Changes) -> serde_json::Value {
    serde_json::json!({
        "output": out_dir.display().to_string(),
        "check": check,
        "added": changes.added,
        "changed": changes.changed,
        "removed": changes.removed,
        "unchanged": changes.unchanged,
    })
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
