//! `tierform completions`: the script that registers completion in a shell. The shell
//! then asks the binary for candidates as you type (`cli::complete`), so phase and
//! template names complete too.

use std::io::Write;

use anyhow::Result;

use crate::cli::exit;

pub fn run(shell: clap_complete::Shell) -> Result<u8> {
    let mut out = Vec::new();
    crate::cli::complete::registration(shell, &mut out)?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(exit::OK)
}
