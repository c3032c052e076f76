//! Reading what a command is given: a blueprint from a file or standard input, held
//! to the size limit, validated with its findings printed; the templates to render.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::check::diagnostic::{render_text_styled, FileReport};
use crate::check::validate::Validated;
use crate::cli::commands::validate::summary_line;
use crate::cli::exit;
use crate::cli::json;
use crate::cli::ui::Ui;
use crate::render::templates::Templates;
use crate::validate_bytes;

/// Reads at most one byte past the size limit, from a file, a pipe or a device alike,
/// so an endless input is refused instead of exhausting memory.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let limit = crate::source::yaml::MAX_INPUT_BYTES as u64 + 1;
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        return Ok(buf);
    }
    if path.is_dir() {
        bail!("{} is a directory, not a blueprint file", path.display());
    }
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut buf))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(buf)
}

/// The blueprint a command reads: the one given, else `$TIERFORM_BLUEPRINT`, else
/// `./blueprint.yaml` (what `tierform init` writes) when it exists.
pub fn blueprint_path(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    if let Some(path) = std::env::var_os(BLUEPRINT_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let default = PathBuf::from(DEFAULT_BLUEPRINT);
    if default.exists() {
        return Ok(default);
    }
    bail!(
        "no blueprint given, {BLUEPRINT_ENV} is not set, and there is no ./{DEFAULT_BLUEPRINT}: name one (`tierform render app.yaml`), or start one with `tierform init`"
    )
}

/// The environment variable naming the blueprint when a command is given none.
pub const BLUEPRINT_ENV: &str = "TIERFORM_BLUEPRINT";
/// The blueprint a command reads when given none and the variable is unset.
pub const DEFAULT_BLUEPRINT: &str = "blueprint.yaml";

/// The name a file goes by in messages: its path, or `<stdin>` for `-`.
pub fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// How a command that reads a blueprint reports its findings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Findings {
    /// A warning ends the command as an error does (`--deny-warnings`).
    pub deny_warnings: bool,
    /// The command prints JSON (`--format json`): a blueprint it refuses is the
    /// findings document `validate --format json` prints, on standard output, and
    /// nothing on standard error.
    pub json: bool,
}

/// Reads and validates a blueprint for a command that needs it whole: findings go to
/// stderr (as JSON to stdout with `findings.json`); errors end the command with exit 2.
pub fn load_valid(blueprint: &Path, ui: &Ui, findings: Findings) -> Result<Result<Validated, u8>> {
    let name = display_name(blueprint);
    let bytes = match read_input(blueprint) {
        Ok(bytes) => bytes,
        Err(e) if findings.json => {
            let unreadable = [json::unreadable(&name, &format!("{e:#}"))];
            json::print(json::findings(false, &[], &unreadable))?;
            return Ok(Err(exit::ERROR));
        }
        Err(e) => return Err(e),
    };
    let v = validate_bytes(&bytes);
    let report = FileReport::new(name.clone(), v.diagnostics.clone());
    let refused = report.errors > 0 || (findings.deny_warnings && report.warnings > 0);
    if refused && findings.json {
        json::print(json::findings(false, std::slice::from_ref(&report), &[]))?;
        return Ok(Err(exit::ERROR));
    }
    // Warnings are chatter to a command that renders (data in its JSON document, see
    // `json::with_warnings`); errors always print.
    if refused || (!report.diagnostics.is_empty() && !ui.quiet && !findings.json) {
        let mut text = render_text_styled(
            &name,
            v.source.as_deref(),
            &report.diagnostics,
            ui.colour_err,
        );
        if refused {
            text.push_str(&summary_line(&report, 0, true));
        }
        ui.stderr().write_all(text.as_bytes())?;
    }
    Ok(if refused { Err(exit::ERROR) } else { Ok(v) })
}

/// The embedded templates, or those with `--templates DIR`'s overrides.
pub fn load_templates(dir: Option<&Path>) -> Result<Templates> {
    Ok(match dir {
        Some(dir) => Templates::with_overrides(dir)?,
        None => Templates::embedded()?,
    })
}
