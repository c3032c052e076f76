//! Secret-shaped values: a credential written into a blueprint lands in plain text in
//! every compose file and Kubernetes manifest rendered from it, whatever the variable is
//! called. Every environment value and every argument of a service's command and probe
//! is matched against [`RULES`], a few well-known shapes in the spirit of gitleaks'
//! rules; a match is an error at the value unless the service lists the variable in
//! `not_secrets` (a documented example key, a public test token). docs/hostile-input.md,
//! "Secret-shaped values", lists the same rules (a test below holds them together).
//!
//! A secret-looking *name* with a plain value is the `secret-in-env` warning
//! (`services.rs`); `render --deny-warnings` refuses it too.

use std::sync::OnceLock;

use regex::Regex;

use super::Checker;
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::Service;
use crate::source::pointer::Pointer;

/// One well-known shape of a credential: its id (named in the finding and the README),
/// what it is, and the pattern that finds it anywhere in a value.
pub struct SecretRule {
    pub id: &'static str,
    pub what: &'static str,
    pub pattern: &'static str,
}

/// The rules, in the order they are tried.
pub const RULES: &[SecretRule] = &[
    SecretRule {
        id: "aws-access-key-id",
        what: "an AWS access key id",
        pattern: r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
    },
    SecretRule {
        id: "url-with-password",
        what: "a URL with a password in it",
        pattern: r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:[^\s/@]+@",
    },
    SecretRule {
        id: "private-key",
        what: "a PEM private key",
        pattern: r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
    },
    SecretRule {
        id: "stripe-secret-key",
        what: "a Stripe secret or restricted key",
        pattern: r"\b(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,99}\b",
    },
    SecretRule {
        id: "github-token",
        what: "a GitHub token",
        pattern: r"\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b",
    },
    SecretRule {
        id: "slack-token",
        what: "a Slack token",
        pattern: r"\bxox[abeoprs]-[A-Za-z0-9-]{10,}",
    },
    SecretRule {
        id: "google-api-key",
        what: "a Google API key",
        pattern: r"\bAIza[A-Za-z0-9_-]{35}\b",
    },
];

fn compiled() -> &'static [Regex] {
    static SET: OnceLock<Vec<Regex>> = OnceLock::new();
    SET.get_or_init(|| {
        RULES
            .iter()
            .map(|r| Regex::new(r.pattern).expect("a secret rule compiles"))
            .collect()
    })
}

/// The first rule `text` matches.
pub fn secret_shape(text: &str) -> Option<&'static SecretRule> {
    compiled()
        .iter()
        .zip(RULES)
        .find(|(re, _)| re.is_match(text))
        .map(|(_, rule)| rule)
}

impl Checker<'_> {
    pub(super) fn secret_values(&mut self, ptr: &Pointer, s: &Service) {
        for (i, name) in s.not_secrets.iter().enumerate() {
            if !s.env.contains_key(name) {
                self.push(
                    Diagnostic::error(
                        Code::UnknownReference,
                        ptr.child("not_secrets").child(i),
                        format!("`{name}` is not one of the service's `env` variables"),
                    )
                    .hint(
                        "list only variables of `env` whose values look like a secret but are not",
                    ),
                );
            }
        }
        for (key, value) in &s.env {
            if s.not_secrets.contains(key) {
                continue;
            }
            if let Some(rule) = secret_shape(&value.0) {
                self.push(
                    Diagnostic::error(
                        Code::SecretValue,
                        ptr.child("env").child(key),
                        format!("the value of `{key}` looks like {} (rule `{}`)", rule.what, rule.id),
                    )
                    .hint(format!("move `{key}` to `secrets`, so its value comes from an env file or a Secret at run time; if it is not a secret, list it in `not_secrets`")),
                );
            }
        }
        let args = s
            .command
            .iter()
            .enumerate()
            .map(|(i, a)| (ptr.child("command").child(i), a));
        let probe = s.health.iter().flat_map(|h| {
            h.command
                .iter()
                .enumerate()
                .map(|(i, a)| (ptr.child("health").child("command").child(i), a))
        });
        for (at, arg) in args.chain(probe) {
            if let Some(rule) = secret_shape(arg) {
                self.push(
                    Diagnostic::error(
                        Code::SecretValue,
                        at,
                        format!("this argument looks like it holds {} (rule `{}`)", rule.what, rule.id),
                    )
                    .hint("pass it as a variable of `secrets` instead, read by the process (or by `sh -c` as `$NAME`)"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles_and_the_docs_list_it() {
        let readme = include_str!("../../../docs/hostile-input.md");
        for (rule, re) in RULES.iter().zip(compiled()) {
            assert!(!re.as_str().is_empty());
            assert!(
                readme.contains(&format!("`{}`", rule.id)),
                "docs/hostile-input.md does not list the secret rule `{}`",
                rule.id
            );
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(
            secret_shape("x AKIAIOSFODNN7EXAMPLE y").unwrap().id,
            "aws-access-key-id"
        );
        assert_eq!(
            secret_shape("amqp://u:p@h/").unwrap().id,
            "url-with-password"
        );
        assert!(secret_shape("https://example.com/a:b@c").is_none());
        assert!(secret_shape("user@example.com").is_none());
    }
}
