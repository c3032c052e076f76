//! Findings about a blueprint, located in its file and rendered for people or machines.

use std::fmt::Write as _;

use serde::Serialize;

pub use crate::check::code::Code;

use crate::source::pointer::Pointer;
use crate::source::yaml::{Kind, Node, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding. Produced with a pointer into the document it was found in, then
/// [`Diagnostic::locate`]d: given the position and pointer of the place in the file the
/// user has to edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable identifier of the kind of finding, like `unknown-field`.
    pub code: Code,
    pub message: String,
    /// 1-based line and column in the file, when known.
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// Where in the file the finding is (RFC 6901 JSON pointer).
    pub pointer: String,
    /// What would have been accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The phases whose resolved blueprint has this finding; empty when it is in the
    /// blueprint as written, or in every phase.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<String>,
    /// Whether the finding is about a mapping key rather than its value.
    #[serde(skip)]
    pub at_key: bool,
}

impl Diagnostic {
    pub fn error(code: Code, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            line: None,
            column: None,
            pointer: pointer.into(),
            expected: None,
            hint: None,
            phases: Vec::new(),
            at_key: false,
        }
    }

    pub fn warning(code: Code, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, pointer, message)
        }
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// Points at the key named by the last token of the pointer instead of its value.
    pub fn at_key(mut self) -> Self {
        self.at_key = true;
        self
    }

    pub fn at(mut self, span: Span) -> Self {
        self.line = Some(span.line);
        self.column = Some(span.col);
        self
    }

    /// Resolves the pointer (into `root`, the document the finding was made on) to the
    /// position and pointer of the node in the file.
    pub fn locate(self, root: &Node) -> Self {
        self.locate_in(root, &Removed::new())
    }

    /// Like [`Diagnostic::locate`], for a phase's document: a finding about a key a
    /// patch removed (with `null`) points at that `null`.
    pub fn locate_in(mut self, root: &Node, removed: &Removed) -> Self {
        if self.line.is_some() {
            return self;
        }
        let (node, depth, origin) = root.walk_origin(&self.pointer);
        let pointer = Pointer::from(self.pointer.as_str());
        if depth == pointer.tokens().count() {
            // A key, or a whole mapping or list: show the key that holds it.
            let span = if self.at_key || is_collection(node) {
                holding_key(root, &pointer).unwrap_or(node.span)
            } else {
                node.span
            };
            self.pointer = origin;
            return self.at(span);
        }
        if self.at_key {
            if let Some((span, origin)) = removed.get(&self.pointer) {
                // A patch removed it with `null`: that `null` is what to edit.
                self.pointer = origin.clone();
                return self.at(*span);
            }
        }
        // Part of the pointer is absent: show the deepest node that exists (at its key
        // when it is a mapping), and keep the missing part in the pointer.
        let found = Pointer::build(pointer.tokens().take(depth));
        let span = if is_collection(node) {
            holding_key(root, &found).unwrap_or(node.span)
        } else {
            node.span
        };
        let mut located = Pointer::from(origin);
        for token in pointer.tokens().skip(depth) {
            located.push(&token);
        }
        self.pointer = located.into();
        self.at(span)
    }

    /// The identity used to report a finding once when several phases share it.
    pub fn key(&self) -> (Option<u32>, Option<u32>, Code, &str, Severity) {
        (
            self.line,
            self.column,
            self.code,
            &self.message,
            self.severity,
        )
    }
}

/// Keys a phase patch removed: resolved pointer → the `null`'s position and pointer.
pub type Removed = std::collections::BTreeMap<String, (Span, String)>;

fn is_collection(node: &Node) -> bool {
    matches!(node.kind, Kind::Map(_) | Kind::Seq(_))
}

/// The position of the mapping key that holds the node at `pointer`, if a key does.
fn holding_key(root: &Node, pointer: &Pointer) -> Option<Span> {
    let last = pointer.last()?;
    let (parent, ok) = root.lookup(pointer.parent().as_str());
    ok.then(|| parent.key(&last).map(|k| k.span)).flatten()
}

/// Every finding for one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    pub errors: usize,
    pub warnings: usize,
    pub diagnostics: Vec<Diagnostic>,
}

impl FileReport {
    pub fn new(file: impl Into<String>, diagnostics: Vec<Diagnostic>) -> Self {
        let errors = diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        FileReport {
            file: file.into(),
            errors,
            warnings: diagnostics.len() - errors,
            diagnostics,
        }
    }
}

/// Renders findings the way a compiler does: a header, the location, the source line
/// with a caret, then the pointer, what was expected and a hint.
pub fn render_text(file: &str, source: Option<&str>, diagnostics: &[Diagnostic]) -> String {
    render_text_styled(file, source, diagnostics, false)
}

/// [`render_text`], with the headers in colour (ANSI escapes) when `colour` is set:
/// errors red, warnings yellow.
pub fn render_text_styled(
    file: &str,
    source: Option<&str>,
    diagnostics: &[Diagnostic],
    colour: bool,
) -> String {
    // The source's lines are split only when a finding shows one.
    let lines: Vec<&str> = match diagnostics {
        [] => Vec::new(),
        _ => source.map(|s| s.lines().collect()).unwrap_or_default(),
    };
    let mut out = String::new();
    for d in diagnostics {
        let header = format!("{}[{}]", d.severity.as_str(), d.code);
        if colour {
            let code = match d.severity {
                Severity::Error => "1;31",
                Severity::Warning => "1;33",
            };
            let _ = writeln!(out, "\x1b[{code}m{header}\x1b[0m: {}", visible(&d.message));
        } else {
            let _ = writeln!(out, "{header}: {}", visible(&d.message));
        }
        let line = d.line.unwrap_or(1);
        let col = d.column.unwrap_or(1);
        let _ = writeln!(out, "  --> {}:{line}:{col}", visible(file));
        let width = line.to_string().len();
        let pad = " ".repeat(width);
        if let Some(text) = lines.get(line as usize - 1) {
            let shown: String = visible(&text.chars().take(160).collect::<String>());
            let start = (col as usize).saturating_sub(1);
            let len = token_len(&shown, start).max(1);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{line} | {shown}");
            let _ = writeln!(
                out,
                "{pad} | {}{}",
                " ".repeat(start.min(shown.chars().count())),
                "^".repeat(len)
            );
        }
        if !d.pointer.is_empty() {
            let _ = writeln!(out, "{pad} = at: {}", visible(&d.pointer));
        }
        if !d.phases.is_empty() {
            let label = if d.phases.len() == 1 {
                "phase"
            } else {
                "phases"
            };
            let _ = writeln!(out, "{pad} = {label}: {}", visible(&d.phases.join(", ")));
        }
        if let Some(e) = &d.expected {
            let _ = writeln!(out, "{pad} = expected: {}", visible(e));
        }
        if let Some(h) = &d.hint {
            let _ = writeln!(out, "{pad} = hint: {}", visible(h));
        }
        out.push('\n');
    }
    out
}

/// Text from a blueprint made safe for a terminal: control characters (which could
/// move the cursor, clear the screen or retitle the window) are shown as their Unicode
/// pictures (`␛` for ESC); a tab stays a tab. One character each, so carets still line up.
fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => c,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            '\u{80}'..='\u{9f}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

/// Renders findings as GitHub Actions workflow commands, one line each
/// (`::error file=F,line=L,col=C,title=CODE::message`), so a workflow step annotates
/// the pull request at the line to edit. `file` is `None` for standard input. The
/// message carries the pointer, phases, what was expected and the hint on lines of
/// their own, escaped as the workflow-command format requires.
pub fn render_github(file: Option<&str>, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let mut properties = Vec::new();
        if let Some(f) = file {
            properties.push(format!("file={}", escape_property(f)));
        }
        if let Some(line) = d.line {
            properties.push(format!("line={line}"));
            if let Some(col) = d.column {
                properties.push(format!("col={col}"));
            }
        }
        properties.push(format!("title={}", escape_property(d.code.as_str())));
        let mut message = d.message.clone();
        if !d.pointer.is_empty() {
            message.push_str(&format!("\nat: {}", d.pointer));
        }
        if !d.phases.is_empty() {
            message.push_str(&format!("\nphases: {}", d.phases.join(", ")));
        }
        if let Some(e) = &d.expected {
            message.push_str(&format!("\nexpected: {e}"));
        }
        if let Some(h) = &d.hint {
            message.push_str(&format!("\nhint: {h}"));
        }
        let _ = writeln!(
            out,
            "::{} {}::{}",
            d.severity.as_str(),
            properties.join(","),
            escape_data(&message)
        );
    }
    out
}

/// Escapes the message of a GitHub workflow command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (`file=…`, `title=…`) of a GitHub workflow command.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The length in characters of the YAML token starting at char index `start`.
fn token_len(line: &str, start: usize) -> usize {
    let chars: Vec<char> = line.chars().collect();
    let Some(&first) = chars.get(start) else {
        return 1;
    };
    if first == '"' || first == '\'' {
        let mut i = start + 1;
        while i < chars.len() {
            if chars[i] == first {
                if first == '\'' && chars.get(i + 1) == Some(&'\'') {
                    i += 2;
                    continue;
                }
                return i - start + 1;
            }
            if first == '"' && chars[i] == '\\' {
                i += 1;
            }
            i += 1;
        }
        return chars.len() - start;
    }
    if first == '[' || first == '{' || first == '-' {
        return 1;
    }
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == ':' && next.is_none_or(|n| n == ' ') {
            break;
        }
        if c == ',' || c == ']' || c == '}' || (c == ' ' && next == Some('#')) {
            break;
        }
        i += 1;
    }
    let token: String = chars[start..i].iter().collect();
    token.trim_end().chars().count()
}

#[cfg(test)]
mod tests {
    use super::{escape_data, escape_property, render_github, token_len, Code, Diagnostic};

    #[test]
    fn github_escapes() {
        assert_eq!(escape_data("100% sure\r\nnext"), "100%25 sure%0D%0Anext");
        assert_eq!(
            escape_property("dir,name:1%\n.yaml"),
            "dir%2Cname%3A1%25%0A.yaml"
        );
        // `%` first, so an escape is never escaped twice.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn github_lines() {
        let mut d = Diagnostic::warning(Code::SecretInEnv, "/a", "looks like a secret, 50%");
        d.line = Some(3);
        d.column = Some(7);
        assert_eq!(
            render_github(Some("infra/a,b.yaml"), &[d.clone()]),
            "::warning file=infra/a%2Cb.yaml,line=3,col=7,title=secret-in-env::looks like a secret, 50%25%0Aat: /a\n"
        );
        d.line = None;
        d.column = None;
        d.pointer.clear();
        assert_eq!(
            render_github(None, &[d]),
            "::warning title=secret-in-env::looks like a secret, 50%25\n"
        );
    }

    #[test]
    fn token_lengths() {
        assert_eq!(token_len("    replica: 3", 4), 7);
        assert_eq!(token_len("  port: \"80\" # x", 8), 4);
        assert_eq!(token_len("  a: {b: 1, c: 2}", 9), 1);
        assert_eq!(token_len("  path: /api/x # c", 8), 6);
        assert_eq!(token_len("  uses: [db, cach]", 13), 4);
    }
}
