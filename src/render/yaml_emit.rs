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
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    // Anything that starts like a number (digits, sexagesimal, octal, hex, floats,
    // dates and times) is quoted: cheaper than matching every resolver's rules.
    if !(first.is_ascii_alphabetic() || first == b'/' || first == b'_' || first == b'.')
        || (first == b'.' && bytes.get(1).is_some_and(u8::is_ascii_digit))
    {
        return false;
    }
    // One pass: every byte allowed, and no `::` (a colon that ends the word is
    // checked after).
    let mut colon = false;
    for &b in bytes {
        if !PLAIN[usize::from(b)] || (colon && b == b':') {
            return false;
        }
        colon = b == b':';
    }
    if colon {
        return false;
    }
    // YAML's words for booleans, null and the special floats, in any case.
    const WORDS: [&str; 12] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", ".inf", ".nan",
    ];
    if bytes.len() <= 5 && WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return false;
    }
    let starts_inf = |p: &[u8]| bytes.len() >= p.len() && bytes[..p.len()].eq_ignore_ascii_case(p);
    !(starts_inf(b".inf") || starts_inf(b"-.inf"))
}

/// The bytes a plain word may hold: `A–Z a–z 0–9 _ . / - : @ +`.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'_' | b'.' | b'/' | b'-' | b':' | b'@' | b'+');
        b += 1;
    }
    t
};

/// `s` as a double-quoted YAML scalar. Every character outside YAML's printable set
/// (C0 and C1 controls, DEL, U+FFFE, U+FFFF) is escaped, as are `"` and `\`, and the
/// characters YAML 1.1 readers (libyaml, PyYAML, Go's yaml) take for line breaks:
/// NEL, U+2028 and U+2029.
fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{fffe}'
            | '\u{ffff}' => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn scalar(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            use std::fmt::Write;
            let _ = write!(out, "{n}");
        }
        Value::String(s) if is_plain_safe(s) => out.push_str(s),
        Value::String(s) => quoted(out, s),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(o) if o.is_empty() => out.push_str("{}"),
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

fn key(out: &mut String, k: &str) {
    if is_plain_safe(k) {
        out.push_str(k);
    } else {
        quoted(out, k);
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Writes `v` as a block at `indent`; with `inline`, its first line continues the
/// current one (a mapping that is a list item starts on the dash's line).
fn write(out: &mut String, v: &Value, indent: usize, inline: bool) {
    let mut first = inline;
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, val) in map {
                if !std::mem::take(&mut first) {
                    pad(out, indent);
                }
                key(out, k);
                if is_block(val) {
                    out.push_str(":\n");
                    let child = if val.is_array() { indent } else { indent + 2 };
                    write(out, val, child, false);
                } else {
                    out.push_str(": ");
                    scalar(out, val);
                    out.push('\n');
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                if !std::mem::take(&mut first) {
                    pad(out, indent);
                }
                out.push('-');
                if item.is_object() && is_block(item) {
                    out.push(' ');
                    write(out, item, indent + 2, true);
                } else if is_block(item) {
                    // A nested list starts below its dash.
                    out.push('\n');
                    write(out, item, indent + 2, false);
                } else {
                    out.push(' ');
                    scalar(out, item);
                    out.push('\n');
                }
            }
        }
        other => {
            if !first {
                pad(out, indent);
            }
            scalar(out, other);
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
    write(&mut out, value, 0, false);
    out
}

/// YAML that did not read back as the value it was written from.
#[derive(Debug, thiserror::Error)]
#[error("generated YAML does not read back as written: {0}")]
pub struct EmitError(String);

/// [`emit`], then, in debug builds (every test), parse the text back and compare: an
/// emitter bug cannot pass the tests with YAML that means something else. Release
/// builds skip the second parse, which cost more than the rendering itself; the
/// emitter's property test (`props`, below) holds it to the same promise.
pub fn emit_checked(header: &[&str], value: &Value) -> Result<String, EmitError> {
    let text = emit(header, value);
    if !cfg!(debug_assertions) {
        return Ok(text);
    }
    let root = crate::source::yaml::load(&text)
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

/// The YAML emitter's promise, for any value: what it writes reads back, with the
/// loader the tests trust, as exactly the value it was written from. Strings hold any
/// character (controls, quotes, `: `, ` #`, `---`, YAML's words and numbers), and keys
/// too, so no value can become a key, a comment or another document.
#[cfg(test)]
mod props {
    use super::{emit, is_plain_safe};

    use proptest::prelude::*;
    use serde_json::{Map, Value};

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-z0-9:#&*!|>'\" .,\\-\\[\\]{}%@`~\n\t]{0,12}",
            prop::sample::select(vec![
                "yes",
                "No",
                "on",
                "OFF",
                "y",
                "~",
                "null",
                "true",
                "0755",
                "1e3",
                "0x1F",
                "12:30",
                ".5",
                "-.inf",
                ".NaN",
                "---",
                "...",
                "- a",
                "a: b",
                "a #b",
                "",
                " ",
                "2026-11-26",
            ])
            .prop_map(str::to_string),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| Value::Number(n.into())),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((text(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    #[test]
    fn one_pass_word_test_agrees_on_the_awkward_words() {
        for s in [
            "",
            "true",
            "TRUE",
            "y",
            "N",
            "~",
            "no",
            "Off",
            ".inf",
            "-.inf",
            "-.Inf",
            ".NaN",
            ".5",
            ".x",
            "a::b",
            "a:",
            "a:b",
            "a:b:",
            "::",
            "1a",
            "_x",
            "/x",
            "@x",
            "-x",
            "+x",
            "x@y+z",
            "x y",
            "x#y",
            "é",
            "a\u{e9}",
            "infinity",
            ".infinite",
            "nulls",
        ] {
            assert_eq!(is_plain_safe(s), is_plain_safe_reference(s), "{s:?}");
        }
    }

    /// The word test as first written (several passes), kept to hold the one-pass
    /// version to the same answers.
    fn is_plain_safe_reference(s: &str) -> bool {
        let bytes = s.as_bytes();
        let Some(&first) = bytes.first() else {
            return false;
        };
        if !(first.is_ascii_alphanumeric() || matches!(first, b'/' | b'.' | b'_')) {
            return false;
        }
        if first.is_ascii_digit() || (first == b'.' && bytes.get(1).is_some_and(u8::is_ascii_digit))
        {
            return false;
        }
        if !bytes.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-' | b':' | b'@' | b'+')
        }) {
            return false;
        }
        if bytes.ends_with(b":") || bytes.windows(2).any(|w| w == b"::") {
            return false;
        }
        const WORDS: [&str; 12] = [
            "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", ".inf", ".nan",
        ];
        if bytes.len() <= 5 && WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
            return false;
        }
        let starts_inf =
            |p: &[u8]| bytes.len() >= p.len() && bytes[..p.len()].eq_ignore_ascii_case(p);
        !(starts_inf(b".inf") || starts_inf(b"-.inf"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        #[test]
        fn one_pass_word_test_agrees_with_the_first(s in "[-a-zA-Z0-9_./:@+~ #\"\u{e9}]{0,8}") {
            prop_assert_eq!(is_plain_safe(&s), is_plain_safe_reference(&s), "{:?}", s);
        }

        #[test]
        fn every_value_reads_back_as_written(v in value()) {
            // The top level of a YAML file the targets write is a mapping.
            let mut doc = Map::new();
            doc.insert("doc".into(), v);
            let doc = Value::Object(doc);
            let text = emit(&["a header", ""], &doc);
            let back = crate::source::yaml::load(&text)
                .map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?
                .to_json();
            prop_assert_eq!(back, doc, "{}", text);
        }
    }
}
