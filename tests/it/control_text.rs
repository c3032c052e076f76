//! Control characters in free text: a description, an entry condition, a command, a
//! probe or an environment value is printed (`plan`, the phase diff, findings) or
//! written outside YAML (ARCHITECTURE.md), where an escape sequence clears the screen
//! or retitles the terminal, a carriage return overwrites what was printed, and a
//! Unicode line separator or a bidirectional override makes the text read otherwise.
//! One rule for every free-text field: no C0 control but line feed and tab (tab and
//! line feed neither in an entry condition, which is one line), no DEL, no C1 control
//! (U+0085 included), no U+2028/U+2029 and no bidirectional override; each refused
//! with a finding at the value's pointer, its line and column.

use tierform::Severity;

const BASE: &str = r#"
version: 1
name: demo
description: @bp_description@
targets: [compose, kubernetes]
services:
  api:
    kind: http
    description: @svc_description@
    image: demo/api:1
    port: 8000
    command: [serve, @command@]
    health: { command: [probe, @probe@] }
    env: { LOG_LEVEL: @env_value@ }
phases:
  - name: one
    description: @phase_description@
    enter_when: [@enter_when@]
  - name: two
    patch:
      services:
        api: { description: @patch_description@ }
"#;

/// Each free-text field: its marker and the pointer of its value.
const FIELDS: &[(&str, &str)] = &[
    ("bp_description", "/description"),
    ("svc_description", "/services/api/description"),
    ("phase_description", "/phases/0/description"),
    (
        "patch_description",
        "/phases/1/patch/services/api/description",
    ),
    ("enter_when", "/phases/0/enter_when/0"),
    ("command", "/services/api/command/1"),
    ("probe", "/services/api/health/command/1"),
    ("env_value", "/services/api/env/LOG_LEVEL"),
];

fn blueprint(marker: &str, value: &str) -> String {
    let mut text = BASE.to_string();
    for (m, _) in FIELDS {
        let v = if *m == marker { value } else { "mark" };
        text = text.replace(&format!("@{m}@"), &quoted(v));
    }
    text
}

/// A YAML double-quoted scalar with every character outside printable ASCII escaped,
/// so the value reaches the schema (a raw control character is refused by the loader).
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// What drives or misleads a terminal or a reader.
const HOSTILE: &[&str] = &[
    "x\u{1b}[2J\u{1b}]0;pwn\u{7}",
    "a\rb",
    "a\u{85}b",
    "a\u{2028}b",
    "a\u{2029}b",
    "a\u{9b}2Jb",
    "a\u{7f}b",
    "a\u{8}b",
    "a\u{202e}b",
    "a\u{2066}b",
];

#[test]
fn control_characters_in_free_text_are_refused_at_their_pointer() {
    let mut failures = Vec::new();
    for (marker, pointer) in FIELDS {
        for payload in HOSTILE {
            let text = blueprint(marker, payload);
            let v = tierform::validate_str(&text);
            let found = v.diagnostics.iter().find(|d| {
                d.severity == Severity::Error && d.pointer == *pointer && d.line.is_some()
            });
            if found.is_none() || !v.phases.is_empty() {
                failures.push(format!(
                    "{marker} = {payload:?}: errors {}, findings at {:?}",
                    v.errors(),
                    v.diagnostics
                        .iter()
                        .map(|d| d.pointer.as_str())
                        .collect::<Vec<_>>()
                ));
                continue;
            }
            let report = tierform::render_text("f.yaml", Some(&text), &v.diagnostics);
            if report
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                failures.push(format!("{marker} = {payload:?}: the report {report:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn line_feeds_and_tabs_stay_where_they_are_harmless() {
    for (marker, _) in FIELDS.iter().filter(|(m, _)| *m != "enter_when") {
        for payload in ["two\nlines", "a\tb", "déjà vu ✓ 日本", "\u{feff}x"] {
            let v = tierform::validate_str(&blueprint(marker, payload));
            assert_eq!(
                v.errors(),
                0,
                "{marker} = {payload:?}: {:#?}",
                v.diagnostics
            );
        }
    }
    for payload in ["two\nlines", "a\tb"] {
        let v = tierform::validate_str(&blueprint("enter_when", payload));
        assert!(
            v.errors() > 0,
            "an entry condition is one line: {payload:?}"
        );
    }
}
