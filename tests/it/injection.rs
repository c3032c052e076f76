//! Injection: no blueprint value can add a directive, a key or a file the blueprint did
//! not say. Every value that names something, or lands in a config as a token, is
//! refused at validation, with a finding at its JSON pointer; every free-text value
//! (env values, commands, descriptions) comes out inert: each YAML file parses back to
//! the same shape as with a harmless value, differing only in that string, and every
//! other config is byte-for-byte the same.

use std::collections::BTreeMap;

use serde_json::Value;
use tierform::OutputSet;
use tierform::Templates;
use tierform::{render, Selection};
use tierform::{validate_str, Validated};

/// One valid blueprint on every platform, with a marker for every value under test.
const BASE: &str = r#"
version: 1
name: @name@
description: @bp_description@
targets: [compose, hosts, kubernetes]
tiers:
  @tier@: { machine: { cpu: 16, memory: 64Gi }, hosts: [@host@] }
balancer:
  engine: @engine@
  tier: @tier@
  rate_limit: { requests_per_second: 10, key: @rate_key@ }
  tls: { certificate: { file: @tls_file@, key_file: @tls_key@, secret: @tls_secret@ } }
  routes:
    - { path: @route@, service: @svc@ }
services:
  @svc@:
    kind: http
    tier: @tier@
    description: @svc_description@
    image: @image@
    port: 8000
    health: { path: @health@ }
    balance: { sticky: @sticky@ }
    env: { @env_name@: @env_value@ }
    secrets: [@secret@]
    uses: [@db@, jobs]
    command: [serve, @command@]
  worker:
    kind: worker
    tier: @tier@
    image: demo/worker:1
    command: [work]
    health: { command: [probe, @probe@] }
    queue: { broker: jobs, name: @queue@ }
    uses: [jobs]
datastores:
  @db@: { engine: postgres, tier: @tier@, database: @database@, user: @user@ }
  jobs: { engine: redis, tier: @tier@, role: broker, resources: { memory: 256Mi } }
phases:
  - name: @phase@
    description: @phase_description@
    enter_when: [@enter_when@]
"#;

fn defaults() -> BTreeMap<&'static str, String> {
    [
        ("name", "demo"),
        ("bp_description", "mark"),
        ("tier", "app"),
        ("host", "10.1.0.1"),
        ("engine", "nginx"),
        ("rate_key", "header:X-Key"),
        ("tls_file", "/etc/ssl/demo/fullchain.pem"),
        ("tls_key", "/etc/ssl/demo/privkey.pem"),
        ("tls_secret", "demo-tls"),
        ("route", "/"),
        ("svc", "api"),
        ("svc_description", "mark"),
        ("image", "demo/api:1"),
        ("health", "/health"),
        ("sticky", "header:X-Device"),
        ("env_name", "LOG_LEVEL"),
        ("env_value", "mark"),
        ("secret", "API_TOKEN"),
        ("db", "db"),
        ("command", "mark"),
        ("probe", "mark"),
        ("queue", "emails"),
        ("database", "demo"),
        ("user", "demo_app"),
        ("phase", "one"),
        ("phase_description", "mark"),
        ("enter_when", "cpu > 70%"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// The blueprint with `overrides` in place of the defaults; every value is written as
/// a double-quoted YAML scalar (JSON's escapes are YAML's), so the payload reaches the
/// loader exactly.
fn blueprint(overrides: &[(&str, &str)]) -> String {
    let mut values = defaults();
    for (k, v) in overrides {
        assert!(values.contains_key(k), "no marker @{k}@");
        values.insert(k, v.to_string());
    }
    let mut text = BASE.to_string();
    for (k, v) in &values {
        text = text.replace(&format!("@{k}@"), &serde_json::to_string(v).unwrap());
    }
    assert!(!text.contains('@'), "a marker is left:\n{text}");
    text
}

/// What hostile edits put in a value: each ends a token, a line, a block or a quoted
/// string in some target format, expands something, or walks out of a folder.
const PAYLOADS: &[&str] = &[
    "\n", "\r", "\t", "\0", ";", "{", "}", "#", "\"", "'", "`", "$", "${X}", "$(id)", " ", "\\",
    ",", "=", "|", "&", "<", ">", "*", "!", "%", "\u{2028}", "\u{feff}",
];

/// What walks out of a folder: refused in every name that becomes a path.
const PATHS: &[&str] = &["..", "../x", "x/../../y", "/etc", "."];

/// The names that become folders or files of the output.
const PATH_NAMES: &[&str] = &["name", "tier", "svc", "db", "phase", "host"];

/// A full attack on nginx, HAProxy, YAML and shells at once.
const NASTY: &str =
    "x;\n}\nserver { listen 9999; }\n#\"'`$(id)${HOME}\nextra: injected\n- item\r\n\\";

fn validated(text: &str) -> Validated {
    validate_str(text)
}

fn rendered(text: &str) -> OutputSet {
    let v = validated(text);
    assert_eq!(v.errors(), 0, "{:#?}\n{text}", v.diagnostics);
    let templates = Templates::embedded().unwrap();
    render(&v.phases, &Selection::default(), &templates)
        .unwrap()
        .0
}

/// Fields that name something or become a token: (marker, what the payload is wrapped
/// in to get past everything but the payload itself, the pointer of the finding, or of
/// its parent for a mapping key).
const REFUSED: &[(&str, &str, &str)] = &[
    ("name", "a{}b", "/name"),
    ("tier", "a{}b", "/tiers"),
    ("svc", "a{}b", "/services"),
    ("db", "a{}b", "/datastores"),
    ("phase", "a{}b", "/phases/0/name"),
    ("host", "10.0.0.1{}", "/tiers/app/hosts/0"),
    ("route", "/a{}b", "/balancer/routes/0/path"),
    ("health", "/a{}b", "/services/api/health/path"),
    ("image", "demo/a{}b:1", "/services/api/image"),
    ("queue", "a{}b", "/services/worker/queue/name"),
    ("database", "a{}b", "/datastores/db/database"),
    ("user", "a{}b", "/datastores/db/user"),
    ("sticky", "header:X-A{}b", "/services/api/balance/sticky"),
    ("rate_key", "header:X-A{}b", "/balancer/rate_limit/key"),
    (
        "tls_file",
        "/etc/ssl/a{}b.pem",
        "/balancer/tls/certificate/file",
    ),
    (
        "tls_key",
        "/etc/ssl/a{}b.pem",
        "/balancer/tls/certificate/key_file",
    ),
    ("tls_secret", "a{}b", "/balancer/tls/certificate/secret"),
    ("env_name", "A{}B", "/services/api/env"),
    ("secret", "A{}B", "/services/api/secrets/0"),
];

#[test]
fn every_name_and_token_with_a_hostile_character_is_refused_at_its_pointer() {
    let mut failures = Vec::new();
    for (marker, wrap, pointer) in REFUSED {
        let paths = if PATH_NAMES.contains(marker) {
            PATHS
        } else {
            &[]
        };
        for payload in PAYLOADS.iter().chain(paths) {
            let value = if PATHS.contains(payload) {
                payload.to_string()
            } else {
                wrap.replace("{}", payload)
            };
            let text = blueprint(&[(marker, &value)]);
            let v = validated(&text);
            let at = v
                .diagnostics
                .iter()
                .filter(|d| d.severity == tierform::Severity::Error)
                .any(|d| d.pointer == *pointer || d.pointer.starts_with(&format!("{pointer}/")));
            if v.errors() == 0 || !v.phases.is_empty() || !at {
                failures.push(format!(
                    "{marker} = {value:?}: errors {}, findings at {:?}",
                    v.errors(),
                    v.diagnostics
                        .iter()
                        .map(|d| d.pointer.as_str())
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn findings_about_hostile_values_are_safe_for_a_terminal() {
    // An escape sequence written escaped in a quoted string is text to the loader; the
    // report must not hand it to the terminal (clear the screen, retitle the window).
    for (marker, wrap, _) in REFUSED {
        let value = wrap.replace("{}", "\u{1b}[2J\u{1b}]0;pwned\u{7}");
        let text = blueprint(&[(marker, &value)]);
        let v = validated(&text);
        let report = tierform::render_text("f.yaml", Some(&text), &v.diagnostics);
        assert!(
            !report
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{marker}: {report:?}"
        );
    }
}

#[test]
fn the_nginx_route_from_the_issue_is_refused_and_names_its_pattern() {
    let text = blueprint(&[("route", "/x;\n}server{listen 9999;")]);
    let v = validated(&text);
    let d = v
        .diagnostics
        .iter()
        .find(|d| d.pointer == "/balancer/routes/0/path")
        .expect("a finding at the route");
    assert!(d.expected.is_some() || d.hint.is_some(), "{d:#?}");
    assert!(d.line.is_some() && d.column.is_some());
}

fn yaml_docs(path: &str, text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .map(|doc| {
            tierform::load_yaml(doc)
                .unwrap_or_else(|e| panic!("{path} does not parse back: {e:?}\n{doc}"))
                .to_json()
        })
        .collect()
}

/// Same shape; where a string differs, it is the harmless one with `mark` replaced by
/// the payload as that file must spell it.
fn same_shape(
    path: &str,
    at: &str,
    base: &Value,
    got: &Value,
    spelled: &str,
    errs: &mut Vec<String>,
) {
    match (base, got) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<&String> = a.keys().collect();
            let kb: Vec<&String> = b.keys().collect();
            if ka != kb {
                errs.push(format!("{path}{at}: keys {ka:?} became {kb:?}"));
                return;
            }
            for (k, v) in a {
                same_shape(path, &format!("{at}/{k}"), v, &b[k], spelled, errs);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                errs.push(format!("{path}{at}: {} items became {}", a.len(), b.len()));
                return;
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same_shape(path, &format!("{at}/{i}"), x, y, spelled, errs);
            }
        }
        (Value::String(a), Value::String(b)) => {
            let inert = a == b || (a.contains("mark") && a.replace("mark", spelled) == *b);
            if !inert {
                errs.push(format!("{path}{at}: {a:?} became {b:?}"));
            }
        }
        (a, b) if a != b => errs.push(format!("{path}{at}: {a} became {b}")),
        _ => {}
    }
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Compose reads `$` as interpolation, so a literal `$` is written `$$` there; so does
/// the kubelet in a container's command, args, env values and exec probes.
fn spelled_in(marker: &str, path: &str, payload: &str) -> String {
    let kubelet =
        path.contains("/kubernetes/") && ["env_value", "command", "probe"].contains(&marker);
    if path.contains("/compose/") || path.contains("/hosts/") || kubelet {
        payload.replace('$', "$$")
    } else {
        payload.to_string()
    }
}

fn check_inert(marker: &str, payload: &str, errs: &mut Vec<String>) {
    let base = rendered(&blueprint(&[]));
    let text = blueprint(&[(marker, payload)]);
    let v = validated(&text);
    if v.errors() > 0 {
        errs.push(format!(
            "{marker} = {payload:?} is refused: {}",
            v.diagnostics
                .iter()
                .map(|d| d.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
        return;
    }
    let got = rendered(&text);
    let paths = |s: &OutputSet| s.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>();
    if paths(&base) != paths(&got) {
        errs.push(format!("{marker} = {payload:?} changed the files written"));
        return;
    }
    for ((path, a), (_, b)) in base.iter().zip(got.iter()) {
        if is_yaml(path) {
            let (da, db) = (yaml_docs(path, a), yaml_docs(path, b));
            if da.len() != db.len() {
                errs.push(format!("{marker} = {payload:?}: {path} has more documents"));
                continue;
            }
            for (x, y) in da.iter().zip(&db) {
                same_shape(path, "", x, y, &spelled_in(marker, path, payload), errs);
            }
        } else if path.ends_with(".md") {
            // Prose may carry the text; the charts and code blocks may not change.
            let blocks = |s: &str| {
                let mut blocks = Vec::new();
                let mut open: Option<Vec<&str>> = None;
                for line in s.lines() {
                    let fence = line.trim_start().starts_with("```");
                    match (&mut open, fence) {
                        (None, true) => open = Some(vec![line]),
                        (Some(b), true) => {
                            b.push(line);
                            blocks.push(open.take().unwrap().join("\n"));
                        }
                        (Some(b), false) => b.push(line),
                        (None, false) => {}
                    }
                }
                blocks.extend(open.map(|b| b.join("\n")));
                blocks
            };
            if blocks(a) != blocks(b) {
                errs.push(format!(
                    "{marker} = {payload:?}: a code block of {path} changed"
                ));
            }
        } else if a != b {
            errs.push(format!("{marker} = {payload:?}: {path} changed"));
        }
    }
}

/// Free text: every payload, and the whole attack at once, comes out inert.
const INERT: &[&str] = &["env_value", "command", "probe", "svc_description"];

/// The payloads free text may hold: a carriage return or a Unicode line separator is
/// refused there (`control_text.rs`), so the attack is tried without them.
fn free_text(payload: &str) -> Option<String> {
    let kept: String = payload.chars().filter(|c| *c != '\r').collect();
    (!kept.is_empty() && !kept.contains(['\0', '\u{2028}'])).then_some(kept)
}

#[test]
fn env_values_commands_and_descriptions_come_out_inert() {
    let mut errs = Vec::new();
    for marker in INERT {
        for payload in PAYLOADS.iter().chain([&NASTY]).filter_map(|p| free_text(p)) {
            check_inert(marker, &payload, &mut errs);
        }
    }
    errs.dedup();
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn descriptions_and_conditions_stay_prose() {
    // A blueprint or phase description, and a phase's entry condition, reach only the
    // Markdown picture and `plan`: they may not open a code block or a chart there.
    let mut errs = Vec::new();
    for marker in ["bp_description", "phase_description"] {
        for payload in ["```mermaid\ngraph LR\n  x-->y\n", NASTY, "a\n\n# Heading"]
            .into_iter()
            .filter_map(free_text)
        {
            check_inert(marker, &payload, &mut errs);
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn a_nul_cannot_reach_a_process() {
    // No program can receive a NUL in an argument or environment value.
    for marker in ["env_value", "command", "probe"] {
        let v = validated(&blueprint(&[(marker, "a\0b")]));
        assert!(v.errors() > 0, "{marker} with a NUL is accepted");
    }
}

#[test]
fn conditions_are_one_line() {
    let v = validated(&blueprint(&[("enter_when", "cpu > 70%\n- ship it")]));
    assert!(
        v.diagnostics
            .iter()
            .any(|d| d.pointer == "/phases/0/enter_when/0"),
        "{:#?}",
        v.diagnostics
    );
}

#[test]
fn no_output_path_leaves_the_output_folder() {
    for bad in [
        "../x",
        "/etc/passwd",
        "a/../../b",
        "a/./b",
        "a//b",
        "",
        ".tierform-manifest",
        "a/.x.tierform-1.tmp",
        "a\\b",
        "a\0b",
        "a\nb",
    ] {
        assert!(
            tierform::check_path(bad).is_err(),
            "{bad:?} is accepted as an output path"
        );
    }
    assert!(tierform::check_path("one/compose/compose.yaml").is_ok());
}
