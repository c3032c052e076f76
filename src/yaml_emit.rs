//! Writing YAML: a JSON value as block-style YAML, with every string that is not a
//! plainly safe word double-quoted (JSON string syntax, which YAML reads the same way),
//! so no value can start a new key, a comment, an anchor or a document, and
//! `yes`, `on`, `0755` or `1e3` stay strings.
//!
//! [`emit_checked`] parses the text back with the loader and refuses to return YAML
//! that does not read back as the value it was made from.

use serde_json::Value;

/// A word YAML reads as the same string: starts with a letter, digit, `/` or `.`, holds
/// only `A–Z a–z 0–9 _ . / - : @ +` (no `: ` or ` #`: no spaces at all), and is not a
/// word or number YAML would read as something else.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '/' || first == '.' || first == '_') {
        return false;
    }
    if s.ends_with(':') || s.contains("::") {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./-:@+".contains(c))
    {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~" | ".inf" | ".nan"
    ) || lower.starts_with(".inf")
        || lower.starts_with("-.inf")
    {
        return false;
    }
    // Anything that starts like a number (digits, sexagesimal, octal, hex, floats,
    // dates and times) is quoted: cheaper than matching every resolver's rules.
    if first.is_ascii_digit() || (first == '.' && s[1..].starts_with(|c: char| c.is_ascii_digit()))
    {
        return false;
    }
    true
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if is_plain_safe(s) => s.clone(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        _ => unreachable!("collections are written as blocks"),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => false,
    }
}

fn key(k: &str) -> String {
    if is_plain_safe(k) {
        k.to_string()
    } else {
        Value::String(k.to_string()).to_string()
    }
}

fn write(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, val) in map {
                out.push_str(&pad);
                out.push_str(&key(k));
                if is_block(val) {
                    out.push_str(":\n");
                    let child = if val.is_array() { indent } else { indent + 2 };
                    write(out, val, child);
                } else {
                    out.push_str(": ");
                    out.push_str(&scalar(val));
                    out.push('\n');
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                if is_block(item) {
                    // A map item starts on the dash's line; a nested list below it.
                    let mut inner = String::new();
                    write(&mut inner, item, indent + 2);
                    if item.is_object() {
                        out.push(' ');
                        out.push_str(&inner[indent + 2..]);
                    } else {
                        out.push('\n');
                        out.push_str(&inner);
                    }
                } else {
                    out.push(' ');
                    out.push_str(&scalar(item));
                    out.push('\n');
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// `value` as block YAML, after `header` comment lines (each prefixed with `# `).
pub fn emit(header: &[&str], value: &Value) -> String {
    let mut out = String::new();
    for line in header {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    write(&mut out, value, 0);
    out
}

/// YAML that did not read back as the value it was written from.
#[derive(Debug, thiserror::Error)]
#[error("generated YAML does not read back as written: {0}")]
pub struct EmitError(String);

/// [`emit`], then parse the text back and compare: a template or emitter bug can never
/// ship YAML that means something else.
pub fn emit_checked(header: &[&str], value: &Value) -> Result<String, EmitError> {
    let text = emit(header, value);
    let root = crate::yaml::load(&text)
        .map_err(|errors| EmitError(errors.first().map(|e| e.to_string()).unwrap_or_default()))?;
    let back = root.to_json();
    if &back != value {
        return Err(EmitError(format!("expected {value}, read {back}")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_and_quoting() {
        let v = json!({
            "services": {
                "api-1": {
                    "image": "bet-intel:latest",
                    "command": ["celery", "-A", "app", "worker", "--loglevel=info"],
                    "environment": {"MODE": "yes", "PORT": "8000", "EMPTY": "", "NL": "a\nb: c", "HASH": "x #y"},
                    "ports": ["127.0.0.1:8000:8000"],
                    "healthcheck": {"test": ["CMD", "true"], "retries": 3},
                    "depends_on": {"db": {"condition": "service_healthy"}},
                    "labels": {},
                },
            },
            "list_of_lists": [[1, 2], [], [{"a": null}]],
        });
        let text = emit_checked(&["generated"], &v).unwrap();
        assert!(text.starts_with("# generated\nservices:\n  api-1:\n    image: bet-intel:latest\n"));
        assert!(text.contains("      MODE: \"yes\"\n"));
        assert!(text.contains("      PORT: \"8000\"\n"));
        assert!(text.contains("      NL: \"a\\nb: c\"\n"));
        assert!(text.contains("    - \"127.0.0.1:8000:8000\"\n"));
        assert!(text.contains("    labels: {}\n"));
    }

    #[test]
    fn awkward_strings_read_back_as_strings() {
        for s in [
            "",
            "yes",
            "No",
            "ON",
            "~",
            "null",
            "1e3",
            "0755",
            "0x1F",
            "12:30",
            "2026-11-26",
            "-",
            "- x",
            "? x",
            "*a",
            "&a",
            "!tag",
            "%YAML",
            "@x",
            "`x",
            "'q'",
            "\"q\"",
            "a: b",
            "a #b",
            "---",
            "...",
            "{a}",
            "[a]",
            "|",
            ">",
            " lead",
            "trail ",
            "tab\t",
            ".5",
            "-1",
            "+1",
            ".inf",
            "-.inf",
            ".NaN",
            "a:",
            "::1",
            "ünï",
            "\u{0}",
            "\r\n",
        ] {
            let v = json!({ "k": s, "list": [s] });
            emit_checked(&[], &v).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        }
    }
}
