//! A manual page from the command line's definition. In the CLI because the pages are
//! generated from clap's definition of it: clap_mangen's sections, then the help's
//! examples, exit status and notes as roff.

use anyhow::Result;

/// One manual page: clap_mangen's sections, then the command's `after_help` as
/// EXAMPLES (verbatim), EXIT STATUS and NOTES, and for tierform itself ENVIRONMENT.
pub fn man_page(cmd: &clap::Command) -> Result<Vec<u8>> {
    use clap_mangen::roff::{bold, roman, Roff};
    let man = clap_mangen::Man::new(cmd.clone())
        .manual("tierform manual")
        .source(format!("tierform {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out)?;
    }
    let mut roff = Roff::new();
    let after = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let mut notes = Vec::new();
    for paragraph in after.split("\n\n") {
        if let Some(examples) = paragraph.strip_prefix("Examples:\n") {
            roff.control("SH", ["EXAMPLES"]);
            roff.control("nf", []);
            for line in examples.lines() {
                roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
            }
            roff.control("fi", []);
        } else if paragraph.starts_with("Exit codes") {
            roff.control("SH", ["EXIT STATUS"]);
            roff.text([roman(paragraph.replace('\n', " "))]);
        } else if !paragraph.trim().is_empty() {
            notes.push(paragraph.replace('\n', " "));
        }
    }
    if !notes.is_empty() {
        roff.control("SH", ["NOTES"]);
        for (i, n) in notes.iter().enumerate() {
            if i > 0 {
                roff.control("PP", []);
            }
            roff.text([roman(n.as_str())]);
        }
    }
    if cmd.get_display_name().is_none_or(|n| n == "tierform") {
        roff.control("SH", ["ENVIRONMENT"]);
        for (name, what) in [
            (
                "TIERFORM_BLUEPRINT",
                "The blueprint validate, render, plan and diff read when given none (else ./blueprint.yaml).",
            ),
            (
                "TIERFORM_OUTPUT",
                "The folder render writes when -o is not given (else out).",
            ),
            (
                "NO_COLOR",
                "When set to a non-empty value, output is not coloured (unless --color always).",
            ),
            (
                "FORCE_COLOR, CLICOLOR_FORCE",
                "When set and not 0, output is coloured even off a terminal (unless --color never).",
            ),
            ("TERM", "dumb: output is not coloured (unless --color always)."),
        ] {
            roff.control("TP", []);
            roff.text([bold(name)]);
            roff.text([roman(what)]);
        }
        roff.control("SH", ["SEE ALSO"]);
        let pages: Vec<String> = cmd
            .get_subcommands()
            .map(|c| format!("tierform-{}(1)", c.get_name()))
            .collect();
        roff.text([roman(format!(
            "{}; the blueprint reference, docs/blueprint.md, and the schema, tierform schema.",
            pages.join(", ")
        ))]);
    }
    roff.to_writer(&mut out)?;
    if cmd.get_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    Ok(out)
}
