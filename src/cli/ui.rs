//! How chatty to be and where to colour: every line a command prints besides its
//! output goes through [`Ui`].

use crate::cli::args::GlobalArgs;

/// The `--quiet`, `--verbose` and `--color` a command runs with.
pub struct Ui {
    pub quiet: bool,
    pub verbose: bool,
    /// Colour standard output / standard error.
    pub colour_out: bool,
    pub colour_err: bool,
}

impl Ui {
    pub fn new(global: &GlobalArgs) -> Self {
        use std::io::IsTerminal;
        Ui {
            quiet: global.quiet,
            verbose: global.verbose,
            colour_out: global.color.colour(std::io::stdout().is_terminal()),
            colour_err: global.color.colour(std::io::stderr().is_terminal()),
        }
    }

    /// Nothing but findings and errors, in no colour: for `render --stdout`, whose
    /// standard output is a file's bytes.
    pub fn silent() -> Self {
        Ui {
            quiet: true,
            verbose: false,
            colour_out: false,
            colour_err: false,
        }
    }

    /// A progress or success line on standard error; silent with `--quiet`.
    pub fn status(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// A detail line on standard error; only with `--verbose`.
    pub fn detail(&self, line: &str) {
        if self.verbose {
            eprintln!("{line}");
        }
    }
}
