//! The YAML loader: text → a tree of [`Node`]s that remember where they came from.
//!
//! This is the only module that knows which YAML parser tierform uses (the event
//! parser of `yaml-rust2`, chosen because it reports a position for every event;
//! `serde_yaml` is archived upstream and reports none). Swapping the parser means
//! rewriting this module (this file, `builder.rs` and `scalar.rs`) and nothing else.
//!
//! The loader is defensive: it enforces a size limit, a nesting limit and a budget
//! on alias expansion (so a "billion laughs" document fails fast), rejects duplicate
//! keys and non-string keys, and resolves plain scalars by the YAML 1.2 core schema
//! (`yes`/`no`/`on`/`off` stay strings).

mod builder;
mod de;
pub mod outline;
mod scalar;

use std::sync::Arc;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

use crate::source::pointer::Pointer;
use builder::Builder;

/// Largest blueprint accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 8 * 1024 * 1024;
/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a document may expand to, aliases included.
pub const MAX_NODES: usize = 1_000_000;
/// The most bytes of text (scalars and keys) aliases may copy: a 7 MB string
/// repeated by a thousand aliases is 7 GB.
pub const MAX_ALIAS_BYTES: usize = 16 << 20;

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
    /// Where this node is written in its source file (RFC 6901), when that is not
    /// where it sits: a copy made by an alias or a merge key, or a phase patch's value
    /// merged into the blueprint. `None` for a node where the file wrote it, and for
    /// what lies under a node with an origin (reached by the same keys from there).
    /// [`Node::walk_origin`] gives any node's, so a finding always names the place the
    /// user has to edit.
    pub origin: Option<Arc<str>>,
}

/// A mapping key with its own position.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

/// A node's value. Collections are shared: a copy of a tree (each phase's document
/// starts as one) costs nothing until a patch changes it, and then only the path to
/// what changed is copied (`Arc::make_mut`).
#[derive(Debug, Clone)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Arc<Vec<Node>>),
    Map(Arc<Vec<(Key, Node)>>),
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
            match node.step(&token) {
                Some(n) => node = n,
                None => return (node, followed),
            }
        }
        (node, Pointer::split(pointer).count())
    }

    /// The child one (unescaped) pointer token names: a key, or a list index.
    fn step(&self, token: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(_) => self.get(token),
            Kind::Seq(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }
    }

    /// [`Node::walk`], also giving where the deepest node reached is written in the
    /// file: the origin of the nearest node on the way that has one, followed by the
    /// tokens after it.
    pub fn walk_origin(&self, pointer: &str) -> (&Node, usize, String) {
        let mut node = self;
        let mut origin = self.origin.as_deref().unwrap_or("").to_string();
        let mut followed = 0;
        for token in Pointer::split(pointer) {
            let Some(n) = node.step(&token) else { break };
            match &n.origin {
                Some(o) => {
                    origin.clear();
                    origin.push_str(o);
                }
                None => Pointer::push_name(&mut origin, &token),
            }
            node = n;
            followed += 1;
        }
        (node, followed, origin)
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

    /// What this node is in JSON, without converting it: the one rule every reader of
    /// the tree follows ([`Node::to_json`], the schema's instance, the typed
    /// deserializer).
    pub fn json(&self) -> Json<'_> {
        match &self.kind {
            Kind::Null => Json::Null,
            Kind::Bool(b) => Json::Bool(*b),
            Kind::Int(i) => Json::Int(*i),
            // `8000.0` is the whole number 8000, as JSON Schema counts it; below 9e15
            // it converts exactly.
            Kind::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Json::Int(*f as i64),
            Kind::Float(f) if f.is_finite() => Json::Float(*f),
            Kind::Float(f) => Json::Text(*f),
            Kind::Str(s) => Json::Str(s),
            Kind::Seq(items) => Json::Seq(items),
            Kind::Map(entries) => Json::Map(entries),
        }
    }

    /// The JSON value of this node (mapping order kept).
    pub fn to_json(&self) -> Value {
        match self.json() {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Int(i) => Value::Number(i.into()),
            Json::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Json::Text(f) => Value::String(f.to_string()),
            Json::Str(s) => Value::String(s.to_string()),
            Json::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Json::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    map.insert(k.name.clone(), v.to_json());
                }
                Value::Object(map)
            }
        }
    }
}

/// A node as JSON has it ([`Node::json`]).
#[derive(Debug, Clone, Copy)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// An integer, or a whole float below 9e15.
    Int(i64),
    /// Any other finite float.
    Float(f64),
    Str(&'a str),
    /// Infinity or not-a-number, which JSON cannot hold: it is the float's text (`inf`,
    /// `NaN`).
    Text(f64),
    Seq(&'a [Node]),
    Map(&'a [(Key, Node)]),
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
    #[error("aliases expand to more than {MAX_NODES} nodes or {MAX_ALIAS_BYTES} bytes of text (an alias bomb?)")]
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
        assert_eq!(node.walk_origin("/top/a~1b/1/y").2, "/top/a~1b/1/y");
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

    /// Only a plain `<<` merges: a quoted one is a key like any other (the YAML emitter
    /// quotes it, and a property test found the loader merging it).
    #[test]
    fn a_quoted_merge_key_is_a_plain_key() {
        assert_eq!(
            json("a:\n  \"<<\": null\n")["a"],
            serde_json::json!({"<<": null})
        );
        assert_eq!(
            json("a: {'<<': 1, '<<x': 2}\n")["a"],
            serde_json::json!({"<<": 1, "<<x": 2})
        );
        let errs = load("a: {\"<<\": 1, \"<<\": 2}\n").unwrap_err();
        assert!(
            matches!(&errs[0], LoadError::DuplicateKey { key, .. } if key == "<<"),
            "{errs:?}"
        );
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
