//! How chatty to be and where to colour: every line a command prints besides its
//! output goes through [`Ui`], and coloured text through its streams.

use std::io::{StderrLock, StdoutLock, Write};

use anstream::stream::RawStream;
use anstream::AutoStream;

use crate::cli::args::GlobalArgs;
use crate::cli::style;

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

    /// Standard output, for text painted by [`style`] when `colour_out`.
    pub fn stdout(&self) -> AutoStream<StdoutLock<'static>> {
        stream(std::io::stdout().lock(), self.colour_out)
    }

    /// Standard error, for text painted by [`style`] when `colour_err`.
    pub fn stderr(&self) -> AutoStream<StderrLock<'static>> {
        stream(std::io::stderr().lock(), self.colour_err)
    }

    /// `error: …` on standard error.
    pub fn error(&self, message: &str) {
        let label = style::error_label(self.colour_err);
        let _ = writeln!(self.stderr(), "{label}: {message}");
    }

    /// A progress or success line on standard error; silent with `--quiet`.
    pub fn status(&self, line: &str) {
        if !self.quiet {
            let _ = writeln!(self.stderr(), "{line}");
        }
    }

    /// A detail line on standard error; only with `--verbose`.
    pub fn detail(&self, line: &str) {
        if self.verbose {
            let _ = writeln!(self.stderr(), "{line}");
        }
    }
}

/// With colour, escapes pass through (or become console calls on a Windows console
/// that has no ANSI support). Without, the text was painted with none and passes
/// through untouched: a stripping stream would also drop control characters from the
/// files a `--check` diff shows.
fn stream<S: RawStream>(raw: S, colour: bool) -> AutoStream<S> {
    if colour {
        AutoStream::always(raw)
    } else {
        AutoStream::always_ansi(raw)
    }
}
