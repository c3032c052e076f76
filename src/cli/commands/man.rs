//! `tierform man`: the manual page of tierform or of one command, or every page into a
//! folder.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::exit;
use crate::cli::manpage::man_page;
use crate::cli::ui::Ui;
use crate::output::write_atomic;

/// `tierform man`: a command's manual page on standard output, or with `--dir` one
/// page per command, as `clap_mangen` names them (`tierform-templates-eject.1`).
pub fn run(path: &[String], dir: Option<&Path>, ui: &Ui) -> Result<u8> {
    let mut root = crate::cli::command().disable_help_subcommand(true);
    root.build();
    let Some(dir) = dir else {
        let mut cmd = &root;
        for word in path {
            cmd = cmd.find_subcommand(word).with_context(|| {
                let known: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
                format!(
                    "no command `{}`; the commands are {}",
                    path.join(" "),
                    known.join(", ")
                )
            })?;
        }
        std::io::stdout().lock().write_all(&man_page(cmd)?)?;
        return Ok(exit::OK);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![&root];
    let mut i = 0;
    while i < pages.len() {
        pages.extend(pages[i].get_subcommands().filter(|c| !c.is_hide_set()));
        i += 1;
    }
    for cmd in &pages {
        let name = format!("{}.1", cmd.get_display_name().unwrap_or(cmd.get_name()));
        let file = dir.join(&name);
        write_atomic(&file, &man_page(cmd)?)
            .with_context(|| format!("cannot write {}", file.display()))?;
        ui.detail(&format!("  + {name}"));
    }
    ui.status(&format!(
        "wrote {} manual pages to {}",
        pages.len(),
        dir.display()
    ));
    Ok(exit::OK)
}
