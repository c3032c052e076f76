//! Near matches: the one place that decides whether a word is a likely typo of another,
//! and how a name that breaks the naming rules could be written instead.

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
    fn name_suggestions() {
        assert_eq!(suggest_name("Api_Server").as_deref(), Some("api-server"));
        assert_eq!(suggest_name("9lives"), None);
    }
}
