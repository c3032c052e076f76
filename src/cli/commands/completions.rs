//! `tierform completions`: a shell's completion script, generated from the definition.

use std::io::Write;

use anyhow::Result;

use crate::cli::exit;

pub fn run(shell: clap_complete::Shell) -> Result<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::command(), "tierform", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(exit::OK)
}
