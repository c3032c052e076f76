//! `tierform templates`: list the embedded templates, or eject one to override.

use std::io::Write;

use anyhow::{bail, Context, Result};

use crate::cli::args::TemplatesAction;
use crate::cli::exit;
use crate::cli::ui::Ui;
use crate::output::write_atomic;
use crate::render::templates;

pub fn run(action: TemplatesAction, ui: &Ui) -> Result<u8> {
    match action {
        TemplatesAction::List => {
            let mut out = std::io::stdout().lock();
            for (name, _) in templates::EMBEDDED {
                writeln!(out, "{name}")?;
            }
        }
        TemplatesAction::Eject { name, dir, force } => {
            let text = templates::embedded(&name)?;
            let path = templates::eject_path(&dir, &name)?;
            if path.exists() && !force {
                bail!(
                    "{} already exists; pass --force to overwrite it",
                    path.display()
                );
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            write_atomic(&path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            ui.status(&format!(
                "wrote {}; render with `--templates {}` to use it",
                path.display(),
                dir.display()
            ));
        }
    }
    Ok(exit::OK)
}
