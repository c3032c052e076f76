//! The command line: the thin edge around the stages. `args` defines it, `commands`
//! holds one file per command, `ui` and `style` print; this file parses, dispatches,
//! and is the one place that prints an error and picks the exit code.

mod annotations;
mod args;
mod commands;
mod complete;
mod input;
mod json;
mod lint;
mod manpage;
mod stream;
mod style;
mod ui;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches};

use self::args::{Cli, Command};
use self::ui::Ui;
use crate::model::Platform;
use crate::render::Selection;

pub use self::commands::init::STARTER;
pub use self::commands::schema::{reference_text, schema_text};

/// Exit codes, as documented in the README.
pub mod exit {
    /// Success: valid, up to date, no change.
    pub const OK: u8 = 0;
    /// A finding: invalid blueprint, stale output, changes.
    pub const FINDING: u8 = 1;
    /// A usage or I/O error.
    pub const ERROR: u8 = 2;
}

/// The command line's definition: what completions, the manual page and the help
/// are generated from.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    // The shell asking for completion candidates: answered, and the process exits.
    complete::answer_shell();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = command()
        .color(args::clap_colour(&args))
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout (exit 0) and usage errors to stderr.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            });
        }
    };
    let ui = Ui::new(&cli.global);
    match run(cli.command, &ui) {
        Ok(code) => ExitCode::from(code),
        // The reader stopped early (`| head`): done, as `cat` is, whatever the command.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            let top = e.to_string();
            ui.error(&top);
            let mut stderr = ui.stderr();
            for cause in e.chain().skip(1) {
                // Errors that already print their cause are not repeated.
                let cause = cause.to_string();
                if !top.contains(&cause) {
                    let _ = writeln!(stderr, "  caused by: {cause}");
                }
            }
            ExitCode::from(exit::ERROR)
        }
    }
}

/// Runs one command: its exit code, or the error that ends it with exit 2.
fn run(cmd: Command, ui: &Ui) -> Result<u8> {
    match cmd {
        Command::Validate {
            mut files,
            format,
            deny_warnings,
        } => {
            if files.is_empty() {
                files.push(input::blueprint_path(None)?);
            }
            commands::validate::run(&files, format, deny_warnings, ui)
        }
        Command::Fmt {
            mut files,
            check,
            format,
        } => {
            if files.is_empty() {
                files.push(input::blueprint_path(None)?);
            }
            commands::fmt::run(&files, check, format, ui)
        }
        Command::Schema { output, format } => commands::schema::run(output.as_deref(), format),
        Command::Explain { path, format } => commands::schema::explain(&path, format),
        Command::Init {
            file,
            example,
            force,
        } => commands::init::run(&file, example, force, ui),
        Command::Version { format } => commands::version::run(format),
        Command::Render {
            blueprint,
            output,
            phases,
            platforms,
            templates,
            check,
            stdout,
            format,
            deny_warnings,
            lint,
        } => {
            let blueprint = input::blueprint_path(blueprint)?;
            let selection = Selection {
                phases,
                platforms: platforms.into_iter().map(Platform::from).collect(),
            };
            if stdout.is_none() && output == std::path::Path::new("-") {
                if check {
                    anyhow::bail!("`-o -` writes the files to standard output: there is no folder for `--check` to compare");
                }
                if format == args::RenderFormat::Json {
                    anyhow::bail!("`-o -` writes the files themselves to standard output: `--format json` does not apply");
                }
                if lint {
                    anyhow::bail!("`-o -` writes the files to standard output: `--lint` checks a folder's configs; render to a folder");
                }
                return commands::render::stream(
                    &blueprint,
                    selection,
                    templates.as_deref(),
                    deny_warnings,
                    ui,
                );
            }
            match stdout {
                Some(file) => commands::render::one(
                    &blueprint,
                    &file,
                    selection,
                    templates.as_deref(),
                    deny_warnings,
                ),
                None => commands::render::run(
                    &blueprint,
                    &output,
                    selection,
                    commands::render::Options {
                        templates_dir: templates.as_deref(),
                        check,
                        format,
                        deny_warnings,
                        lint,
                    },
                    ui,
                ),
            }
        }
        Command::Templates { action } => commands::templates::run(action, ui),
        Command::Plan { blueprint, format } => {
            commands::plan::run(&input::blueprint_path(blueprint)?, format, ui)
        }
        Command::Completions { shell } => commands::completions::run(shell),
        Command::Man { command: path, dir } => commands::man::run(&path, dir.as_deref(), ui),
        Command::Diff {
            mut args,
            platforms,
            format,
            context,
            templates,
        } => {
            let to = args.pop().unwrap_or_default();
            let from = args.pop().unwrap_or_default();
            let blueprint = input::blueprint_path(args.pop().map(std::path::PathBuf::from))?;
            commands::diff::run(
                &blueprint,
                (&from, &to),
                platforms.into_iter().map(Platform::from).collect(),
                format,
                context,
                templates.as_deref(),
                ui,
            )
        }
    }
}
