//! Colour: the styles of the CLI's own lines (anstyle), and unified diffs in colour.
//! Where the text goes is [`crate::cli::ui::Ui`]'s (anstream).

use anstyle::{AnsiColor, Style};

use crate::report::diff::Mark;

/// A file header in a diff, a subject in diff's summary.
pub const HEADER: Style = Style::new().bold();
pub const ADDED: Style = AnsiColor::Green.on_default();
pub const REMOVED: Style = AnsiColor::Red.on_default();
pub const CHANGED: Style = AnsiColor::Yellow.on_default();
/// A diff's `@@ … @@` line.
pub const HUNK: Style = AnsiColor::Cyan.on_default();

/// `text` in `style` when `on`, else as it is.
pub fn paint(text: &str, style: Style, on: bool) -> String {
    if on {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

/// The style of an added, removed or changed mark.
pub fn mark(mark: Mark) -> Style {
    match mark {
        Mark::Added => ADDED,
        Mark::Removed => REMOVED,
        Mark::Changed => CHANGED,
    }
}

/// The `error` label, bold red. Written as one SGR sequence, `1;31`, the way
/// check::diagnostic writes its `error[…]` headers: anstyle would write bold and red as
/// two (`ESC[1m ESC[31m`), and the CLI's label stays byte for byte what it was and
/// what the findings use (tests/ecosystem.rs holds it). When the diagnostics move to
/// anstyle, this label follows them.
pub fn error_label(on: bool) -> String {
    if on {
        format!("\x1b[1;31merror{}", anstyle::Reset)
    } else {
        "error".to_string()
    }
}

/// A unified diff, in colour when `on`: headers bold, additions green, removals red,
/// hunks cyan. Without colour, the diff as it is.
pub fn paint_diff(diff: &str, on: bool) -> String {
    if !on {
        return diff.to_string();
    }
    let mut out = String::with_capacity(diff.len());
    for line in diff.lines() {
        let style = if line.starts_with("+++") || line.starts_with("---") {
            Some(HEADER)
        } else if line.starts_with('+') {
            Some(ADDED)
        } else if line.starts_with('-') {
            Some(REMOVED)
        } else if line.starts_with("@@") {
            Some(HUNK)
        } else {
            None
        };
        match style {
            Some(style) => out.push_str(&paint(line, style, true)),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
