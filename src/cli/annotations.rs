//! GitHub Actions annotations for what is not a finding in a blueprint. In the CLI
//! because an unreadable file is the command's trouble, not the check stage's; the
//! escaping itself is check::diagnostic's, shared with the findings' annotations.

use crate::check::diagnostic::{escape_data, escape_property};

/// A GitHub workflow command for an error that is not about a line of a blueprint.
pub fn github_error(file: Option<&str>, message: &str) -> String {
    let file = file.map_or_else(String::new, |f| format!(" file={}", escape_property(f)));
    format!("::error{file}::{}\n", escape_data(message))
}
