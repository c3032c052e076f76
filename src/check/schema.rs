//! Checking a document against the blueprint JSON Schema ([`blueprint_schema`]), and
//! turning the validator's findings into messages a person can act on: what was
//! expected, in words, and a hint when one can be derived from the text.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::{json, Value};

use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::check::instance::Tree;
use crate::check::suggest::{
    did_you_mean, did_you_mean_hint, suggest_name, unsupported_server_version,
};
use crate::model;
use crate::model::schema::blueprint_schema;
use crate::model::units::{DURATION_PATTERN, QUANTITY_PATTERN};
use crate::source::pointer::Pointer;
use crate::source::yaml::Node;

/// The schema `validate` checks a document against: the blueprint schema with phase
/// patches left open (each phase's *resolved* blueprint is checked in full instead, so
/// a mistake in a patch is reported once, at its line).
fn validator() -> &'static (Validator<Tree>, Value) {
    static VALIDATOR: OnceLock<(Validator<Tree>, Value)> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema = document_schema();
        let validator = jsonschema::options_for::<Tree>()
            .build(&schema)
            .expect("the generated schema compiles");
        (validator, schema)
    })
}

/// The schema a document is checked against (see [`validator`]).
pub(super) fn document_schema() -> Value {
    let mut schema = blueprint_schema();
    schema["$defs"]["BlueprintPatch"] = json!({ "type": "object" });
    schema
}

/// Builds the schema's validator now (once per process), so a caller can have it built
/// on another thread while it loads the document.
pub fn prepare() {
    validator();
}

/// Checks a document, where it was loaded, against the schema; every finding, with a
/// pointer into `instance`.
pub fn check(instance: &Node) -> Vec<Diagnostic> {
    let (validator, schema) = validator();
    let mut out = Vec::new();
    for error in validator.iter_errors(instance) {
        translate(&error, schema, instance, &mut out);
    }
    out
}

fn translate(
    error: &ValidationError<'_>,
    schema: &Value,
    instance: &Node,
    out: &mut Vec<Diagnostic>,
) {
    let pointer = error.instance_path().as_str().to_string();
    let schema_path = error.schema_path().as_str().to_string();
    let found = value_at(instance, &pointer);
    let found = found.as_ref();
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known = known_properties(schema, &schema_path);
            for name in unexpected {
                let mut d = Diagnostic::error(
                    Code::UnknownField,
                    Pointer::from(pointer.as_str()).child(name),
                    format!("unknown field `{name}`"),
                )
                .at_key();
                if !known.is_empty() {
                    d = d.expected(format!("one of {}", list(&known)));
                }
                let hint = did_you_mean(name, &known)
                    .or_else(|| nested_match(schema, &schema_path, name))
                    .map(|s| did_you_mean_hint(&s));
                d = d.maybe_hint(hint);
                out.push(d);
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let description = property_description(schema, &schema_path, name);
            let mut d = Diagnostic::error(
                Code::MissingField,
                Pointer::from(pointer.as_str()).child(name),
                format!("missing required field `{name}`"),
            )
            .at_key();
            if let Some(desc) = description {
                d = d.hint(format!("add `{name}`: {}", first_sentence(&desc)));
            }
            out.push(d);
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => vec![yaml_type(t.as_str())],
                TypeKind::Multiple(set) => set.iter().map(|t| yaml_type(t.as_str())).collect(),
            };
            let found_name = found.map_or("nothing", json_type);
            let mut d = Diagnostic::error(
                Code::WrongType,
                pointer.clone(),
                format!("expected {}, found {found_name}", expected.join(" or ")),
            );
            let numeric_text = found
                .and_then(Value::as_str)
                .is_some_and(|t| t.trim().parse::<f64>().is_ok());
            let percent = found
                .and_then(Value::as_str)
                .and_then(|t| t.trim().strip_suffix('%'))
                .filter(|n| n.trim().parse::<f64>().is_ok());
            if schema_path.contains("/Duration/") && found.is_some_and(Value::is_number) {
                d = d.hint(format!(
                    "a duration needs a unit: `{}s`",
                    found.map_or_else(String::new, scalar_text)
                ));
            } else if let Some(n) = percent {
                d = d.hint(format!("write the number without `%`: `{}`", n.trim()));
            } else if numeric_text && expected.iter().any(|e| e.contains("number")) {
                d = d.hint("remove the quotes: a quoted number is text");
            } else if expected.contains(&"text") && matches!(found, Some(Value::Bool(_))) {
                d = d.hint("quote the value to make it text (`true` and `false` are booleans)");
            } else if expected.contains(&"text") && matches!(found, Some(Value::Number(_))) {
                d = d.hint("quote the value to make it text");
            } else if found.is_some_and(Value::is_null) {
                d = d.hint("the value is empty: give it one");
            } else if expected == ["a list"] {
                d = d.hint("write a list, like `[a, b]` or one `- item` per line");
            } else if pointer.ends_with("/gpu") && found.is_some_and(Value::is_number) {
                d = d.hint(format!(
                    "GPUs are a count and a vendor: `gpu: {{ count: {} }}` (NVIDIA's unless `vendor: amd` or `intel`)",
                    found.map_or_else(String::new, scalar_text)
                ));
            }
            out.push(d);
        }
        ValidationErrorKind::Constant { expected_value } if pointer == "/version" => {
            out.push(
                Diagnostic::error(
                    Code::UnsupportedVersion,
                    pointer.clone(),
                    format!(
                        "blueprint version {} is not supported",
                        found.map_or_else(String::new, scalar_text)
                    ),
                )
                .expected(format!("`{}`", scalar_text(expected_value)))
                .hint(format!(
                    "this tierform {} reads blueprint version 1",
                    env!("CARGO_PKG_VERSION")
                )),
            );
        }
        ValidationErrorKind::Constant { expected_value } => {
            out.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    pointer.clone(),
                    format!("expected `{}`", scalar_text(expected_value)),
                )
                .expected(format!("`{}`", scalar_text(expected_value))),
            );
        }
        ValidationErrorKind::Enum { options } => {
            let values: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(scalar_text).collect())
                .unwrap_or_default();
            out.push(enum_diagnostic(&pointer, found, &values));
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            one_of(&pointer, found, context, schema, instance, out);
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => {
            out.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    pointer.clone(),
                    format!(
                        "{} is too small",
                        found.map_or_else(String::new, scalar_text)
                    ),
                )
                .expected(format!("at least {limit}")),
            );
        }
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            out.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    pointer.clone(),
                    format!(
                        "{} is too large",
                        found.map_or_else(String::new, scalar_text)
                    ),
                )
                .expected(format!("at most {limit}")),
            );
        }
        ValidationErrorKind::MinItems { limit } => out.push(
            Diagnostic::error(Code::TooFew, pointer.clone(), "too few items")
                .expected(format!("at least {limit} item{}", plural(*limit))),
        ),
        ValidationErrorKind::MaxItems { limit } => out.push(
            Diagnostic::error(Code::TooMany, pointer.clone(), "too many items")
                .expected(format!("at most {limit} item{}", plural(*limit))),
        ),
        ValidationErrorKind::MaxProperties { limit } => out.push(
            Diagnostic::error(Code::TooMany, pointer.clone(), "too many entries").expected(
                format!(
                    "at most {limit} entr{}",
                    if *limit == 1 { "y" } else { "ies" }
                ),
            ),
        ),
        ValidationErrorKind::MinProperties { limit } => out.push(
            Diagnostic::error(Code::TooFew, pointer.clone(), "too few entries").expected(format!(
                "at least {limit} entr{}",
                if *limit == 1 { "y" } else { "ies" }
            )),
        ),
        ValidationErrorKind::MinLength { limit } | ValidationErrorKind::MaxLength { limit } => out
            .push(
                Diagnostic::error(
                    Code::InvalidFormat,
                    pointer.clone(),
                    "text of the wrong length",
                )
                .expected(format!("{limit} characters at the limit")),
            ),
        ValidationErrorKind::Pattern { pattern } => {
            let text = found.and_then(Value::as_str).unwrap_or_default();
            out.push(pattern_diagnostic(&pointer, text, pattern, false));
        }
        ValidationErrorKind::PropertyNames { error } => {
            let key = error.instance().as_str().unwrap_or_default().to_string();
            let pattern = match error.kind() {
                ValidationErrorKind::Pattern { pattern } => pattern.clone(),
                _ => String::new(),
            };
            out.push(pattern_diagnostic(
                Pointer::from(pointer.as_str()).child(&key).as_str(),
                &key,
                &pattern,
                true,
            ));
        }
        ValidationErrorKind::UniqueItems => out.push(Diagnostic::error(
            Code::DuplicateItem,
            pointer.clone(),
            "the list holds the same item twice",
        )),
        _ => out.push(Diagnostic::error(
            Code::Schema,
            pointer.clone(),
            error.to_string(),
        )),
    }
}

/// A value that matched none of several shapes. Enumerations (every branch a
/// constant) read as "expected one of"; tagged unions (a `const` discriminator such as
/// `engine`) report the errors of the variant the tag selects.
fn one_of(
    pointer: &str,
    found: Option<&Value>,
    context: &[Vec<ValidationError<'static>>],
    schema: &Value,
    instance: &Node,
    out: &mut Vec<Diagnostic>,
) {
    let is_tag_error =
        |e: &ValidationError<'_>| matches!(e.kind(), ValidationErrorKind::Constant { .. });
    // Enumeration: each branch failed only on its constant, at this very value.
    let consts: Vec<String> = context
        .iter()
        .filter_map(|branch| match branch.as_slice() {
            [e] if e.instance_path().as_str() == pointer => match e.kind() {
                ValidationErrorKind::Constant { expected_value } => {
                    Some(scalar_text(expected_value))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    if !consts.is_empty() && consts.len() == context.len() {
        out.push(enum_diagnostic(pointer, found, &consts));
        return;
    }
    let candidates: Vec<&Vec<ValidationError<'static>>> = context
        .iter()
        .filter(|branch| !branch.iter().any(is_tag_error))
        .collect();
    // A branch of another type than the value's is the wrong shape, not the nearest:
    // a text condition that is not one line reads as the text branch's finding.
    let wrong_type = |b: &Vec<ValidationError<'static>>| {
        b.iter().any(|e| {
            matches!(e.kind(), ValidationErrorKind::Type { .. })
                && e.instance_path().as_str() == pointer
        })
    };
    if let Some(best) = candidates.iter().min_by_key(|b| (wrong_type(b), b.len())) {
        for e in best.iter() {
            translate(e, schema, instance, out);
        }
        return;
    }
    // No variant's tag matches: report the tag.
    let mut tags = BTreeSet::new();
    let mut tag_pointer = None;
    for branch in context {
        for e in branch {
            if let ValidationErrorKind::Constant { expected_value } = e.kind() {
                tags.insert(scalar_text(expected_value));
                tag_pointer = Some(e.instance_path().as_str().to_string());
            }
        }
    }
    match tag_pointer {
        Some(p) => {
            let tags: Vec<String> = tags.into_iter().collect();
            out.push(enum_diagnostic(&p, value_at(instance, &p).as_ref(), &tags));
        }
        None => out.push(Diagnostic::error(
            Code::WrongShape,
            pointer.to_string(),
            "the value matches none of the accepted shapes",
        )),
    }
}

/// The value at `pointer` in the document, as JSON (for a finding's message).
fn value_at(instance: &Node, pointer: &str) -> Option<Value> {
    let (node, found) = instance.lookup(pointer);
    found.then(|| node.to_json())
}

fn enum_diagnostic(pointer: &str, found: Option<&Value>, values: &[String]) -> Diagnostic {
    let text = found.map_or_else(String::new, scalar_text);
    // A server's version (the top-level `version` is the blueprint language's).
    if pointer != "/version" && pointer.ends_with("/version") {
        let quoted = found.is_some_and(Value::is_string);
        return unsupported_server_version(pointer, None, &text, quoted, values);
    }
    Diagnostic::error(
        Code::InvalidValue,
        pointer.to_string(),
        format!("`{text}` is not one of the accepted values"),
    )
    .expected(format!("one of {}", list(values)))
    .maybe_hint(did_you_mean(&text, values).map(|s| did_you_mean_hint(&s)))
}

/// What each pattern of the schema means, in words, with a suggestion when one can
/// be derived from the text.
fn pattern_diagnostic(pointer: &str, text: &str, pattern: &str, is_key: bool) -> Diagnostic {
    // A signal's threshold: a number, or a duration for the signals that measure time.
    if pattern == DURATION_PATTERN && (pointer.ends_with("/above") || pointer.ends_with("/below")) {
        let number = text.trim_end_matches('%').trim();
        return Diagnostic::error(
            Code::InvalidValue,
            pointer.to_string(),
            format!("`{text}` is not a threshold"),
        )
        .expected("a number (a percentage 0–100, requests per second, messages) or, for latencies and replication lag, a duration such as `200ms`")
        .maybe_hint(
            (text.ends_with('%') && number.parse::<f64>().is_ok())
                .then(|| format!("write a percentage as a number: `{number}`")),
        );
    }
    let (code, what, hint): (Code, &str, Option<String>) = match pattern {
        p if p == model::NAME_PATTERN => (
            Code::InvalidName,
            "a name: lowercase letters, digits and `-`, starting with a letter and not ending with `-`, at most 40 characters",
            suggest_name(text).map(|s| format!("try `{s}`")),
        ),
        p if p == model::ENV_NAME_PATTERN => (
            Code::InvalidName,
            "an environment variable name: letters, digits and `_`, not starting with a digit",
            // A secret's value where its name belongs: the value never enters a
            // blueprint.
            Some(if text.contains("://") || text.len() > 64 {
                "this looks like the secret's value: give the name of the variable that holds it (e.g. `SLACK_WEBHOOK_URL`), and put the value in the `.env` or the Kubernetes Secret".to_string()
            } else {
                format!("try `{}`", text.to_ascii_uppercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
            }),
        ),
        p if p == DURATION_PATTERN => (
            Code::InvalidDuration,
            "a duration: a number and a unit (ms, s, m, h, d), like `30s` or `5m`",
            duration_hint(text),
        ),
        p if p == crate::model::units::BANDWIDTH_PATTERN => (
            Code::InvalidValue,
            "a bandwidth in whole megabits or gigabits per second, like `500Mbps` or `1Gbps`",
            Some(match text.strip_suffix("GB").or_else(|| text.strip_suffix("Gbps")) {
                Some(n) if n.contains('.') => "write a fraction of a gigabit in megabits: `2500Mbps`".to_string(),
                Some(n) => format!("bits, not bytes: `{n}Gbps`"),
                None => "like `1Gbps` or `500Mbps`".to_string(),
            }),
        ),
        p if p == QUANTITY_PATTERN => (
            Code::InvalidQuantity,
            "a quantity: CPU like `500m` or `2`, memory like `256Mi` or `4Gi`",
            quantity_hint(text),
        ),
        p if p == model::ROUTE_PATTERN => (
            Code::InvalidPath,
            "a path prefix starting with `/`, of letters, digits and `-._~/` only",
            (!text.starts_with('/')).then(|| format!("start it with `/`: `/{text}`")),
        ),
        p if p == model::HEALTH_PATH_PATTERN => (
            Code::InvalidPath,
            "a path starting with `/` (letters, digits, `-._~/`, no `..`), with an optional `?query`",
            text.contains("..").then(|| "remove the `..`: write the path the service answers on".to_string()),
        ),
        p if p == model::IMAGE_PATTERN => (
            Code::InvalidImage,
            "a container image reference like `registry.example.com/team/app:1.4.2` (no `..`)",
            text.contains("..").then(|| "remove the `..`".to_string()),
        ),
        p if p == model::QUEUE_PATTERN => (
            Code::InvalidName,
            "a queue name: letters, digits and `_.:-`",
            None,
        ),
        p if p == model::HOST_PATTERN => (
            Code::InvalidHost,
            "an IP address or a DNS name",
            None,
        ),
        p if p == model::FILE_PATH_PATTERN => (
            Code::InvalidPath,
            "an absolute file path of letters, digits and `-._+@/` only (no spaces, quotes, `;` or `#`)",
            (!text.starts_with('/')).then(|| "give the absolute path, starting with `/`".to_string()),
        ),
        p if p == model::SECRET_NAME_PATTERN => (
            Code::InvalidName,
            "a Kubernetes object name: lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit",
            Some(format!("try `{}`", text.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "-").trim_matches(['-', '.']))),
        ),
        p if p == model::SQL_IDENT_PATTERN => (
            Code::InvalidName,
            "an SQL identifier: lowercase letters, digits and `_`, not starting with a digit",
            Some(format!("try `{}`", text.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"))),
        ),
        p if p == model::signal::METRIC_NAME_PATTERN => (
            Code::InvalidName,
            "a Prometheus metric name: letters, digits and `_`, not starting with a digit",
            Some(format!("try `{}`", text.replace(|c: char| !c.is_ascii_alphanumeric(), "_").trim_start_matches(|c: char| c.is_ascii_digit()).trim_end_matches('_'))),
        ),
        p if p == model::signal::LABEL_NAME_PATTERN => (
            Code::InvalidName,
            "a Prometheus label name: letters, digits and `_`, not starting with a digit",
            None,
        ),
        p if p == model::RATE_KEY_PATTERN => (
            Code::InvalidValue,
            "`client_ip` or `header:NAME`",
            None,
        ),
        p if p == model::STICKY_PATTERN => (
            Code::InvalidValue,
            "`none`, `client_ip`, `header:NAME` or `cookie[:NAME]`",
            None,
        ),
        p if p == model::TEXT_PATTERN => (
            Code::InvalidValue,
            "text without control characters (line feeds and tabs are fine), Unicode line separators or bidirectional overrides",
            refused_char_hint(text, false),
        ),
        p if p == model::LINE_PATTERN => (
            Code::InvalidValue,
            "one line of text, without control characters, Unicode line separators or bidirectional overrides",
            if text.contains('\n') {
                Some("write each condition as its own item of the list".to_string())
            } else {
                refused_char_hint(text, true)
            },
        ),
        p if p == model::K8S_LABEL_KEY_PATTERN => (
            Code::InvalidName,
            "a Kubernetes label key: an optional DNS prefix and `/`, then up to 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit",
            None,
        ),
        p if p == model::K8S_LABEL_VALUE_PATTERN => (
            Code::InvalidValue,
            "a Kubernetes label value: up to 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit",
            Some(format!("try `{}`", text.replace(|c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '_', "-").trim_matches(['-', '.', '_']))),
        ),
        _ => (Code::InvalidFormat, "text matching the pattern", None),
    };
    let subject = if is_key { "name" } else { "value" };
    let mut d = Diagnostic::error(
        code,
        pointer.to_string(),
        format!("`{}` is not a valid {subject}", printable(text)),
    )
    .expected(what.to_string())
    .maybe_hint(hint);
    if is_key {
        d = d.at_key();
    }
    d
}

fn duration_hint(text: &str) -> Option<String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("add a unit: `{t}s`"));
    }
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    let word = t[digits.len()..].trim().to_ascii_lowercase();
    let unit = match word.trim_end_matches('s') {
        "millisecond" | "msec" => "ms",
        "second" | "sec" => "s",
        "minute" | "min" => "m",
        "hour" | "hr" => "h",
        "day" => "d",
        _ => return None,
    };
    (!digits.is_empty()).then(|| did_you_mean_hint(&format!("{digits}{unit}")))
}

fn quantity_hint(text: &str) -> Option<String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    for (wrong, right) in [
        ("mib", "Mi"),
        ("gib", "Gi"),
        ("mb", "Mi"),
        ("gb", "Gi"),
        ("kb", "Ki"),
    ] {
        if let Some(n) = lower.strip_suffix(wrong) {
            return Some(did_you_mean_hint(&format!("{}{right}", n.trim())));
        }
    }
    if lower.ends_with("cores") || lower.ends_with("core") {
        return Some(format!(
            "write just the number: `{}`",
            t.trim_end_matches(char::is_alphabetic).trim()
        ));
    }
    None
}

/// Which character of free text the rule refuses, and where.
fn refused_char_hint(text: &str, one_line: bool) -> Option<String> {
    let (at, c) = text
        .chars()
        .enumerate()
        .find(|(_, c)| model::is_refused_in_text(*c, one_line))?;
    Some(format!(
        "remove the U+{:04X} at character {}",
        c as u32,
        at + 1
    ))
}

fn printable(text: &str) -> String {
    let escaped: String = text.escape_debug().collect();
    if escaped.chars().count() > 60 {
        format!("{}…", escaped.chars().take(60).collect::<String>())
    } else {
        escaped
    }
}

/// The property names the schema allows for the object whose `additionalProperties`
/// keyword lives at `schema_path`.
fn known_properties(schema: &Value, schema_path: &str) -> Vec<String> {
    let parent = Pointer::from(schema_path).parent();
    schema
        .pointer(parent.as_str())
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// A property one level down that `name` is close to (`replica` → `scaling.replicas`).
fn nested_match(schema: &Value, schema_path: &str, name: &str) -> Option<String> {
    let parent = Pointer::from(schema_path).parent();
    let props = schema
        .pointer(parent.as_str())?
        .get("properties")?
        .as_object()?;
    props.iter().find_map(|(outer, prop)| {
        let target = match prop.get("$ref").and_then(Value::as_str) {
            Some(r) => schema.pointer(r.trim_start_matches('#'))?,
            None => prop,
        };
        let inner: Vec<String> = target
            .get("properties")?
            .as_object()?
            .keys()
            .cloned()
            .collect();
        did_you_mean(name, &inner).map(|m| format!("{outer}.{m}"))
    })
}

fn property_description(schema: &Value, schema_path: &str, name: &str) -> Option<String> {
    let parent = Pointer::from(schema_path).parent();
    let prop = schema
        .pointer(parent.as_str())?
        .get("properties")?
        .get(name)?;
    let desc = prop
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);
    desc.or_else(|| {
        let reference = prop.get("$ref")?.as_str()?;
        schema
            .pointer(reference.trim_start_matches('#'))?
            .get("description")?
            .as_str()
            .map(str::to_string)
    })
}

fn first_sentence(text: &str) -> String {
    let line = text.replace('\n', " ");
    match line.find(". ") {
        Some(i) => line[..=i].to_string(),
        None => line,
    }
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn yaml_type(json: &str) -> &'static str {
    match json {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "text",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "true or false",
        "null" => "nothing",
        _ => "a value",
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "a whole number",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => printable(s),
        other => other.to_string(),
    }
}
