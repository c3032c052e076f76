//! The YAML loader: text → a tree of [`Node`]s that remember where they came from.
//!
//! This is the only module that knows which YAML parser tierform uses (the event
//! parser of `yaml-rust2`, chosen because it reports a position for every event;
//! `serde_yaml` is archived upstream and reports none). Swapping the parser means
//! rewriting this file and nothing else.
//!
//! The loader is defensive: it enforces a size limit, a nesting limit and a budget
//! on alias expansion (so a "billion laughs" document fails fast), rejects duplicate
//! keys and non-string keys, and resolves plain scalars by the YAML 1.2 core schema
//! (`yes`/`no`/`on`/`off` stay strings).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::source::pointer::Pointer;

/// Largest blueprint accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 8 * 1024 * 1024;
/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a document may expand to, aliases included.
pub const MAX_NODES: usize = 1_000_000;

/// A position in the source text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub line: u32,
    pub col: u32,
}

impl Span {
    fn from_marker(m: &Marker) -> Span {
        Span {
            line: m.line() as u32,
            col: m.col() as u32 + 1,
        }
    }
}

/// A loaded YAML value with its position and its JSON pointer in the file it came from.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub span: Span,
    /// Where this node sits in its source file (RFC 6901), kept through phase patches
    /// so a finding always names the place the user has to edit.
    pub origin: Arc<str>,
}

/// A mapping key with its own position.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl Node {
    /// The value under `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key (with its span) named `key` when this node is a mapping.
    pub fn key(&self, key: &str) -> Option<&Key> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(k, _)| k),
            _ => None,
        }
    }

    /// Follows a JSON pointer; returns the deepest node reached and whether the whole
    /// pointer resolved.
    pub fn lookup(&self, pointer: &str) -> (&Node, bool) {
        let (node, followed) = self.walk(pointer);
        (node, followed == Pointer::split(pointer).count())
    }

    /// Follows a JSON pointer as far as it resolves; returns the deepest node reached
    /// and how many of the pointer's tokens led to it.
    pub fn walk(&self, pointer: &str) -> (&Node, usize) {
        let mut node = self;
        for (followed, token) in Pointer::split(pointer).enumerate() {
            let next = match &node.kind {
                Kind::Map(_) => node.get(&token),
                Kind::Seq(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return (node, followed),
            }
        }
        (node, Pointer::split(pointer).count())
    }

    /// A short name for the node's type, as a user would say it.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "boolean",
            Kind::Int(_) => "integer",
            Kind::Float(_) => "number",
            Kind::Str(_) => "string",
            Kind::Seq(_) => "sequence",
            Kind::Map(_) => "mapping",
        }
    }

    /// The JSON value of this node (mapping order kept).
    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::Number((*i).into()),
            // `8000.0` is the whole number 8000, as JSON Schema counts it.
            Kind::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Value::Number((*f as i64).into())
            }
            Kind::Float(f) => Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(f.to_string())),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    map.insert(k.name.clone(), v.to_json());
                }
                Value::Object(map)
            }
        }
    }
}

/// Why a text could not be loaded. Every variant carries the position to blame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("{message}")]
    Syntax { message: String, span: Span },
    #[error("duplicate key `{key}` (first defined on line {first_line})")]
    DuplicateKey {
        key: String,
        span: Span,
        first_line: u32,
    },
    #[error("mapping keys must be plain strings, found a {found}")]
    ComplexKey { found: &'static str, span: Span },
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep { span: Span },
    #[error("aliases expand to more than {MAX_NODES} nodes (an alias bomb?)")]
    AliasBomb { span: Span },
    #[error("alias refers to an anchor that is not defined before it")]
    UnknownAnchor { span: Span },
    #[error("YAML tag `{tag}` is not supported")]
    Tag { tag: String, span: Span },
    #[error("the file holds {count} YAML documents; a blueprint is exactly one")]
    MultipleDocuments { count: usize, span: Span },
    #[error("the file is empty")]
    Empty,
    #[error("the file is {size} bytes; the limit is {MAX_INPUT_BYTES} bytes")]
    TooLarge { size: usize },
    #[error("the file is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 { offset: usize, span: Span },
    #[error("the file holds the control character U+{code:04X}, which YAML text cannot hold")]
    ControlCharacter { code: u32, span: Span },
}

impl LoadError {
    pub fn span(&self) -> Span {
        match self {
            LoadError::Syntax { span, .. }
            | LoadError::DuplicateKey { span, .. }
            | LoadError::ComplexKey { span, .. }
            | LoadError::TooDeep { span }
            | LoadError::AliasBomb { span }
            | LoadError::UnknownAnchor { span }
            | LoadError::Tag { span, .. }
            | LoadError::MultipleDocuments { span, .. }
            | LoadError::NotUtf8 { span, .. }
            | LoadError::ControlCharacter { span, .. } => *span,
            LoadError::Empty | LoadError::TooLarge { .. } => Span { line: 1, col: 1 },
        }
    }
}

/// Decodes bytes as UTF-8, refusing oversized input before looking at it.
pub fn decode(bytes: &[u8]) -> Result<&str, LoadError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(LoadError::TooLarge { size: bytes.len() });
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let before = &bytes[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        // valid_up_to guarantees the prefix is UTF-8.
        let col =
            std::str::from_utf8(&before[line_start..]).map_or(1, |s| s.chars().count() as u32 + 1);
        LoadError::NotUtf8 {
            offset,
            span: Span { line, col },
        }
    })
}

/// The first character YAML does not allow in a stream (outside its printable set:
/// C0 controls but tab, line feed and carriage return; DEL; C1 controls but NEL;
/// U+FFFE and U+FFFF), located. Written escaped in a double-quoted string, such a
/// character is text, and the schema decides.
fn control_character(text: &str) -> Option<LoadError> {
    let allowed = |c: char| match c {
        '\t' | '\n' | '\r' | '\u{85}' => true,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    };
    let (offset, c) = text.char_indices().find(|&(_, c)| !allowed(c))?;
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32 + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let col = before[line_start..].chars().count() as u32 + 1;
    Some(LoadError::ControlCharacter {
        code: u32::from(c),
        span: Span { line, col },
    })
}

/// Loads one YAML document into a [`Node`] tree. Collects every duplicate key;
/// stops at the first syntax error (the parser cannot recover past one).
pub fn load(text: &str) -> Result<Node, Vec<LoadError>> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(vec![LoadError::TooLarge { size: text.len() }]);
    }
    // A byte-order mark is allowed at the start of a YAML stream.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(e) = control_character(text) {
        return Err(vec![e]);
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, marker) = match parser.next_token() {
            Ok(t) => t,
            Err(e) => {
                let span = Span::from_marker(e.marker());
                builder.errors.push(if e.info().contains("unknown anchor") {
                    LoadError::UnknownAnchor { span }
                } else {
                    LoadError::Syntax {
                        message: e.info().to_string(),
                        span,
                    }
                });
                return Err(builder.errors);
            }
        };
        if matches!(event, Event::StreamEnd) {
            break;
        }
        if let Err(e) = builder.event(event, Span::from_marker(&marker)) {
            builder.errors.push(e);
            return Err(builder.errors);
        }
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    match builder.documents.len() {
        0 => Err(vec![LoadError::Empty]),
        1 => {
            let doc = builder.documents.pop().expect("one document");
            if matches!(doc.kind, Kind::Null) {
                Err(vec![LoadError::Empty])
            } else {
                Ok(doc)
            }
        }
        n => Err(vec![LoadError::MultipleDocuments {
            count: n,
            span: builder.second_document.unwrap_or_default(),
        }]),
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
    },
    Map {
        entries: Vec<(Key, Node)>,
        pending_key: Option<Key>,
        span: Span,
        anchor: usize,
        /// Entries brought in by `<<` merge keys; explicit keys win over them.
        merged: Vec<(Key, Node)>,
        /// Line of each key seen so far, to find duplicates without a scan.
        lines: HashMap<String, Span>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    documents: Vec<Node>,
    second_document: Option<Span>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    errors: Vec<LoadError>,
}

fn node_count(node: &Node) -> usize {
    match &node.kind {
        Kind::Seq(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        Kind::Map(entries) => 1 + entries.iter().map(|(_, v)| node_count(v)).sum::<usize>(),
        _ => 1,
    }
}

impl Builder {
    /// The pointer of the next child of the innermost open collection.
    fn child_pointer(&self) -> Arc<str> {
        let mut pointer = Pointer::root();
        for frame in &self.stack {
            match frame {
                Frame::Seq { items, .. } => pointer.push(&items.len().to_string()),
                Frame::Map { pending_key, .. } => {
                    if let Some(k) = pending_key {
                        pointer.push(&k.name);
                    }
                }
            }
        }
        Arc::from(pointer.as_str())
    }

    fn event(&mut self, event: Event, span: Span) -> Result<(), LoadError> {
        match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => Ok(()),
            Event::StreamEnd => Ok(()),
            Event::DocumentStart => {
                if !self.documents.is_empty() && self.second_document.is_none() {
                    self.second_document = Some(span);
                }
                Ok(())
            }
            Event::Alias(id) => {
                let (node, size) = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or(LoadError::UnknownAnchor { span })?;
                self.count(size, span)?;
                self.complete(node, span)
            }
            Event::Scalar(value, style, anchor, tag) => {
                let is_key = matches!(
                    self.stack.last(),
                    Some(Frame::Map {
                        pending_key: None,
                        ..
                    })
                );
                if is_key {
                    if anchor > 0 {
                        // An anchored key is legal YAML but useless here; accept it.
                    }
                    return self.push_key(Key { name: value, span });
                }
                self.count(1, span)?;
                check_tag(tag.as_ref(), span)?;
                // An empty value is marked at the next token; show its key instead.
                let span = match self.stack.last() {
                    Some(Frame::Map {
                        pending_key: Some(k),
                        ..
                    }) if value.is_empty() && style == TScalarStyle::Plain => k.span,
                    _ => span,
                };
                let forced_str = matches!(
                    style,
                    TScalarStyle::SingleQuoted
                        | TScalarStyle::DoubleQuoted
                        | TScalarStyle::Literal
                        | TScalarStyle::Folded
                ) || tag.as_ref().is_some_and(|t| t.suffix == "str");
                let kind = if forced_str {
                    Kind::Str(value)
                } else {
                    resolve_plain(value)
                };
                let node = Node {
                    kind,
                    span,
                    origin: self.child_pointer(),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                self.complete(node, span)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if let Some(Frame::Map {
                    pending_key: None, ..
                }) = self.stack.last()
                {
                    let found = if matches!(event, Event::SequenceStart(..)) {
                        "sequence"
                    } else {
                        "mapping"
                    };
                    return Err(LoadError::ComplexKey { found, span });
                }
                match &event {
                    Event::SequenceStart(_, tag) | Event::MappingStart(_, tag) => {
                        check_tag(tag.as_ref(), span)?
                    }
                    _ => {}
                }
                if self.stack.len() >= MAX_DEPTH {
                    return Err(LoadError::TooDeep { span });
                }
                self.count(1, span)?;
                // Record the pointer now, while the parent's key is still pending.
                let frame = if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq {
                        items: Vec::new(),
                        span,
                        anchor,
                    }
                } else {
                    Frame::Map {
                        entries: Vec::new(),
                        pending_key: None,
                        span,
                        anchor,
                        merged: Vec::new(),
                        lines: HashMap::new(),
                    }
                };
                self.stack.push(frame);
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self.stack.pop().expect("parser balances collections");
                let origin = self.child_pointer();
                let (node, anchor) = match frame {
                    Frame::Seq {
                        items,
                        span,
                        anchor,
                    } => (
                        Node {
                            kind: Kind::Seq(items),
                            span,
                            origin,
                        },
                        anchor,
                    ),
                    Frame::Map {
                        mut entries,
                        span,
                        anchor,
                        merged,
                        ..
                    } => {
                        for (k, v) in merged {
                            if !entries.iter().any(|(e, _)| e.name == k.name) {
                                entries.push((k, v));
                            }
                        }
                        // A block mapping's start event is marked at its first `:`;
                        // its first key is where a reader sees it begin.
                        let span = entries.first().map_or(span, |(k, _)| k.span.min(span));
                        (
                            Node {
                                kind: Kind::Map(entries),
                                span,
                                origin,
                            },
                            anchor,
                        )
                    }
                };
                if anchor > 0 {
                    let size = node_count(&node);
                    self.anchors.insert(anchor, (node.clone(), size));
                }
                let span = node.span;
                self.complete(node, span)
            }
        }
    }

    fn count(&mut self, n: usize, span: Span) -> Result<(), LoadError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            Err(LoadError::AliasBomb { span })
        } else {
            Ok(())
        }
    }

    fn push_key(&mut self, key: Key) -> Result<(), LoadError> {
        if let Some(Frame::Map {
            pending_key, lines, ..
        }) = self.stack.last_mut()
        {
            if key.name != "<<" {
                if let Some(first) = lines.get(&key.name) {
                    self.errors.push(LoadError::DuplicateKey {
                        key: key.name.clone(),
                        span: key.span,
                        first_line: first.line,
                    });
                } else {
                    lines.insert(key.name.clone(), key.span);
                }
            }
            *pending_key = Some(key);
        }
        Ok(())
    }

    /// Places a finished node into its parent, or makes it a document.
    fn complete(&mut self, node: Node, span: Span) -> Result<(), LoadError> {
        match self.stack.last_mut() {
            None => {
                self.documents.push(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                pending_key,
                merged,
                lines,
                ..
            }) => match pending_key.take() {
                // A key that is itself an alias or a collection.
                None => Err(LoadError::ComplexKey {
                    found: node.type_name(),
                    span,
                }),
                Some(key) if key.name == "<<" => {
                    // YAML merge key: bring in the entries of a mapping (or of each
                    // mapping in a sequence) without overriding explicit keys.
                    let sources: Vec<Node> = match node.kind {
                        Kind::Map(_) => vec![node],
                        Kind::Seq(items) => items,
                        _ => {
                            return Err(LoadError::Syntax {
                                message: "a merge key `<<` needs a mapping or a list of mappings"
                                    .into(),
                                span,
                            })
                        }
                    };
                    for source in sources {
                        match source.kind {
                            Kind::Map(src) => {
                                for (k, v) in src {
                                    if !merged.iter().any(|(m, _)| m.name == k.name) {
                                        merged.push((k, v));
                                    }
                                }
                            }
                            _ => {
                                return Err(LoadError::Syntax {
                                    message:
                                        "a merge key `<<` needs a mapping or a list of mappings"
                                            .into(),
                                    span: source.span,
                                })
                            }
                        }
                    }
                    Ok(())
                }
                Some(key) => {
                    // A duplicate was reported when its key was read; keep the first.
                    let first = lines.get(&key.name) == Some(&key.span);
                    if first {
                        entries.push((key, node));
                    }
                    Ok(())
                }
            },
        }
    }
}

/// Only the core schema's own tags are understood; any other tag (`!Ref`, `!!binary`)
/// would silently change meaning, so it is refused.
fn check_tag(tag: Option<&yaml_rust2::parser::Tag>, span: Span) -> Result<(), LoadError> {
    match tag {
        None => Ok(()),
        Some(t)
            if t.handle == "tag:yaml.org,2002:"
                && matches!(
                    t.suffix.as_str(),
                    "str" | "int" | "float" | "bool" | "null" | "map" | "seq"
                ) =>
        {
            Ok(())
        }
        Some(t) => Err(LoadError::Tag {
            tag: format!(
                "{}{}",
                if t.handle == "tag:yaml.org,2002:" {
                    "!!"
                } else {
                    &t.handle
                },
                t.suffix
            ),
            span,
        }),
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(value: String) -> Kind {
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Kind::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    let v = value.as_str();
    if let Some(hex) = v.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Kind::Int(i);
        }
    }
    if let Some(oct) = v.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Kind::Int(i);
        }
    }
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match v.parse::<i64>() {
            Ok(i) => Kind::Int(i),
            // Too large for an integer: keep the magnitude so range checks still fire.
            Err(_) => v.parse::<f64>().map_or(Kind::Str(value), Kind::Float),
        };
    }
    if is_yaml_float(digits) {
        if let Ok(f) = v.parse::<f64>() {
            return Kind::Float(f);
        }
    }
    Kind::Str(value)
}

/// `[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)?` with at least one digit in the mantissa.
fn is_yaml_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        digits(int) && frac.is_none_or(digits) && (int.len() + frac.map_or(0, str::len)) > 0;
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && (frac.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        load(text).expect("loads").to_json()
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let v = json("a: 1\nb: 1.5\nc: yes\nd: true\ne: ~\nf: '1'\ng: 0x1f\nh: 1e3\ni: 8000s\n");
        assert_eq!(
            v,
            serde_json::json!({"a":1,"b":1.5,"c":"yes","d":true,"e":null,"f":"1","g":31,"h":1000,"i":"8000s"})
        );
    }

    #[test]
    fn positions_are_one_based_and_pointers_escaped() {
        let node = load("top:\n  a/b:\n    - x\n    - y: 2\n").unwrap();
        let (n, ok) = node.lookup("/top/a~1b/1/y");
        assert!(ok);
        assert_eq!(n.span, Span { line: 4, col: 10 });
        assert_eq!(&*n.origin, "/top/a~1b/1/y");
        let key = node.get("top").unwrap().key("a/b").unwrap();
        assert_eq!(key.span, Span { line: 2, col: 3 });
    }

    #[test]
    fn reports_every_duplicate_key() {
        let errs = load("a: 1\nb: 2\na: 3\nb: 4\n").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(
            matches!(&errs[0], LoadError::DuplicateKey { key, first_line: 1, .. } if key == "a")
        );
    }

    #[test]
    fn merge_keys_do_not_override_explicit_keys() {
        let v = json("base: &b {x: 1, y: 2}\nsvc:\n  <<: *b\n  y: 3\n");
        assert_eq!(v["svc"], serde_json::json!({"y": 3, "x": 1}));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let errs = load(&text).unwrap_err();
        assert!(matches!(errs[0], LoadError::AliasBomb { .. }), "{errs:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text: String = (0..100)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        let errs = load(&text).unwrap_err();
        assert!(matches!(errs[0], LoadError::TooDeep { .. }), "{errs:?}");
        // Flow collections hit the parser's own recursion limit first: still an error.
        assert!(load(&"[".repeat(10_000)).is_err());
    }

    #[test]
    fn empty_and_multi_document_files_are_refused() {
        assert_eq!(load("").unwrap_err(), vec![LoadError::Empty]);
        assert_eq!(
            load("# only a comment\n").unwrap_err(),
            vec![LoadError::Empty]
        );
        let errs = load("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(matches!(
            errs[0],
            LoadError::MultipleDocuments { count: 2, .. }
        ));
    }

    #[test]
    fn control_characters_are_located_and_escapes_are_not_them() {
        let err = load("a: 1\nb: x\u{0}y\n").unwrap_err();
        assert_eq!(
            err,
            vec![LoadError::ControlCharacter {
                code: 0,
                span: Span { line: 2, col: 5 }
            }]
        );
        assert!(matches!(
            load("a: \u{1b}[31m").unwrap_err()[..],
            [LoadError::ControlCharacter { code: 0x1b, .. }]
        ));
        assert!(load("a: \"x\\0y\"\n").is_ok());
    }

    #[test]
    fn non_utf8_is_located() {
        let err = decode(b"a: 1\nb: \xff\n").unwrap_err();
        assert_eq!(
            err,
            LoadError::NotUtf8 {
                offset: 8,
                span: Span { line: 2, col: 4 }
            }
        );
    }
}
