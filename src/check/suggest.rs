//! Near matches: the one place that decides whether a word is a likely typo of another,
//! and how a name that breaks the naming rules could be written instead.

use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;

/// The closest candidate to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean(word: &str, candidates: &[String]) -> Option<String> {
    if word.is_empty() {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

/// The hint that offers a correction: ``did you mean `x`?``.
pub fn did_you_mean_hint(suggestion: &str) -> String {
    format!("did you mean `{suggestion}`?")
}

/// A server `version` that is not one of `supported` (newest first): what is
/// supported, and the line the text most likely means: `8` → `8.0`, `17.2` → `17`, a
/// typo, or the same text quoted when YAML read it as a number.
pub fn unsupported_server_version(
    pointer: &str,
    server: Option<&str>,
    text: &str,
    quoted: bool,
    supported: &[String],
) -> Diagnostic {
    let what = server.map_or_else(String::new, |s| format!("{s} "));
    let d = Diagnostic::error(
        Code::UnsupportedServerVersion,
        pointer.to_string(),
        format!("{what}version `{text}` is not supported"),
    )
    .expected(format!(
        "one of {}",
        supported
            .iter()
            .map(|v| format!("`\"{v}\"`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let line = supported
        .iter()
        .find(|v| *v == text)
        .or_else(|| {
            supported
                .iter()
                .find(|v| v.starts_with(&format!("{text}.")))
        })
        .or_else(|| {
            supported
                .iter()
                .find(|v| text.starts_with(&format!("{v}.")))
        })
        .cloned();
    let hint = match line {
        Some(v) if !quoted => {
            format!("write it as text: `\"{v}\"` (unquoted, YAML reads it as the number {text})")
        }
        Some(v) if text.starts_with(&format!("{v}.")) => {
            format!("write the line, `\"{v}\"`: its image follows the line's patch releases")
        }
        Some(v) => did_you_mean_hint(&v),
        None => format!(
            "tierform renders only the versions its tests run; the newest is `\"{}\"`",
            supported.first().map_or("", String::as_str)
        ),
    };
    d.hint(hint)
}

/// Turns `Api_Server` into `api-server` when that makes a valid name.
pub fn suggest_name(text: &str) -> Option<String> {
    let mut s: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-').to_string();
    let valid = !s.is_empty()
        && s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s != text;
    valid.then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_typos() {
        let known: Vec<String> = ["replicas", "min", "max", "target"]
            .map(String::from)
            .to_vec();
        assert_eq!(did_you_mean("replica", &known).as_deref(), Some("replicas"));
        assert_eq!(did_you_mean("targte", &known).as_deref(), Some("target"));
        assert_eq!(did_you_mean("zzzzzz", &known), None);
        assert_eq!(did_you_mean_hint("replicas"), "did you mean `replicas`?");
    }

    #[test]
    fn version_hints_name_the_line() {
        let redis = vec!["8.0".to_string()];
        let pg = vec!["17".to_string(), "15".to_string()];
        let hint = |text, quoted, s: &[String]| {
            unsupported_server_version("/datastores/x/version", None, text, quoted, s)
                .hint
                .unwrap()
        };
        assert_eq!(hint("8", true, &redis), "did you mean `8.0`?");
        assert!(hint("8", false, &redis).starts_with("write it as text: `\"8.0\"`"));
        assert!(hint("17", false, &pg).starts_with("write it as text: `\"17\"`"));
        assert!(hint("15.4", true, &pg).starts_with("write the line, `\"15\"`"));
        assert!(hint("16", true, &pg).starts_with("tierform renders only"));
        let d = unsupported_server_version("/p", Some("nginx"), "3.0", true, &pg);
        assert_eq!(d.message, "nginx version `3.0` is not supported");
        assert_eq!(d.expected.as_deref(), Some("one of `\"17\"`, `\"15\"`"));
    }

    #[test]
    fn name_suggestions() {
        assert_eq!(suggest_name("Api_Server").as_deref(), Some("api-server"));
        assert_eq!(suggest_name("9lives"), None);
    }
}
