//! The tree builder: parser events → [`Node`]s, with their pointers, anchors and
//! merge keys, and the loader's limits and refusals (duplicate and complex keys, tags).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use yaml_rust2::parser::Event;
use yaml_rust2::scanner::TScalarStyle;

use super::scalar::resolve_plain;
use super::{Key, Kind, LoadError, Node, Span, MAX_ALIAS_BYTES, MAX_DEPTH, MAX_NODES};
use crate::source::pointer::Pointer;

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
        /// Where each key seen so far is, to find duplicates without a scan; kept
        /// only once the mapping has [`INDEXED`] entries (a scan is cheaper below).
        lines: HashMap<String, Span>,
        /// Whether the pending key is a merge key: `<<` written plain (a quoted
        /// `"<<"` is a key like any other).
        merging: bool,
    },
}

/// Entries from which a mapping finds duplicate keys through an index.
const INDEXED: usize = 16;

#[derive(Default)]
pub(super) struct Builder {
    stack: Vec<Frame>,
    pub(super) documents: Vec<Node>,
    pub(super) second_document: Option<Span>,
    /// Each anchored node, with its node count and text bytes.
    anchors: HashMap<usize, (Node, usize, usize)>,
    /// The bytes of text the aliases so far copied.
    alias_bytes: usize,
    nodes: usize,
    pub(super) errors: Vec<LoadError>,
}

/// The nodes of a tree, and the bytes of its text (scalars and keys).
fn node_size(node: &Node) -> (usize, usize) {
    let add = |(n, b): (usize, usize), (m, c): (usize, usize)| (n + m, b.saturating_add(c));
    match &node.kind {
        Kind::Seq(items) => items.iter().map(node_size).fold((1, 0), add),
        Kind::Map(entries) => entries
            .iter()
            .map(|(k, v)| add((0, k.name.len()), node_size(v)))
            .fold((1, 0), add),
        Kind::Str(s) => (1, s.len()),
        _ => (1, 0),
    }
}

impl Builder {
    /// The pointer of the next child of the innermost open collection.
    /// The pointer of the next child of the innermost open collection. Nodes do not
    /// keep it (where a node sits is its pointer); it is written down only for what an
    /// alias or a merge key copies elsewhere, so a finding there points at the original.
    fn child_pointer(&self) -> Arc<str> {
        let mut pointer = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Seq { items, .. } => {
                    let _ = write!(pointer, "/{}", items.len());
                }
                Frame::Map { pending_key, .. } => {
                    if let Some(k) = pending_key {
                        Pointer::push_name(&mut pointer, &k.name);
                    }
                }
            }
        }
        Arc::from(pointer)
    }

    pub(super) fn event(&mut self, event: Event, span: Span) -> Result<(), LoadError> {
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
                let (size, bytes) = self
                    .anchors
                    .get(&id)
                    .map(|(_, size, bytes)| (*size, *bytes))
                    .ok_or(LoadError::UnknownAnchor { span })?;
                // Counted before the copy is made: a copy is what a bomb costs.
                self.count(size, span)?;
                self.alias_bytes = self.alias_bytes.saturating_add(bytes);
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(LoadError::AliasBomb { span });
                }
                let node = self.anchors[&id].0.clone();
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
                    let merge = value == "<<" && style == TScalarStyle::Plain;
                    return self.push_key(Key { name: value, span }, merge);
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
                    origin: None,
                };
                if anchor > 0 {
                    let bytes = node_size(&node).1;
                    let copy = Node {
                        origin: Some(self.child_pointer()),
                        ..node.clone()
                    };
                    self.anchors.insert(anchor, (copy, 1, bytes));
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
                        merging: false,
                    }
                };
                self.stack.push(frame);
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self.stack.pop().expect("parser balances collections");
                let (node, anchor) = match frame {
                    Frame::Seq {
                        items,
                        span,
                        anchor,
                    } => (
                        Node {
                            kind: Kind::Seq(Arc::new(items)),
                            span,
                            origin: None,
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
                                kind: Kind::Map(Arc::new(entries)),
                                span,
                                origin: None,
                            },
                            anchor,
                        )
                    }
                };
                if anchor > 0 {
                    let (size, bytes) = node_size(&node);
                    // The parent's key is still pending: this is the node's pointer.
                    let copy = Node {
                        origin: Some(self.child_pointer()),
                        ..node.clone()
                    };
                    self.anchors.insert(anchor, (copy, size, bytes));
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

    fn push_key(&mut self, key: Key, merge: bool) -> Result<(), LoadError> {
        if let Some(Frame::Map {
            entries,
            pending_key,
            lines,
            merging,
            ..
        }) = self.stack.last_mut()
        {
            *merging = merge;
            if !merge {
                if lines.is_empty() && entries.len() >= INDEXED {
                    lines.extend(entries.iter().map(|(k, _)| (k.name.clone(), k.span)));
                }
                let seen = if lines.is_empty() {
                    entries
                        .iter()
                        .find(|(k, _)| k.name == key.name)
                        .map(|(k, _)| k.span)
                } else {
                    lines.get(&key.name).copied()
                };
                if let Some(first) = seen {
                    self.errors.push(LoadError::DuplicateKey {
                        key: key.name.clone(),
                        span: key.span,
                        first_line: first.line,
                    });
                } else if !lines.is_empty() {
                    lines.insert(key.name.clone(), key.span);
                }
            }
            *pending_key = Some(key);
        }
        Ok(())
    }

    /// Places a finished node into its parent, or makes it a document.
    fn complete(&mut self, node: Node, span: Span) -> Result<(), LoadError> {
        // Where a merge key's value is written (`.../<<`), for the entries it brings in.
        let merge_at = match self.stack.last() {
            Some(Frame::Map { merging: true, .. }) => Some(self.child_pointer()),
            _ => None,
        };
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
                merging,
                ..
            }) => match pending_key.take() {
                // A key that is itself an alias or a collection.
                None => Err(LoadError::ComplexKey {
                    found: node.type_name(),
                    span,
                }),
                Some(_) if std::mem::take(merging) => {
                    // YAML merge key: bring in the entries of a mapping (or of each
                    // mapping in a sequence) without overriding explicit keys.
                    let at = merge_at.unwrap_or_else(|| Arc::from(""));
                    // Each source with where it is written: an alias's anchor, else
                    // its place under the merge key (a list's items: under the list,
                    // which may itself be an alias's copy).
                    let list_at = node.origin.clone().unwrap_or_else(|| at.clone());
                    let sources: Vec<(Node, String)> = match node.kind {
                        Kind::Map(_) => {
                            let from = node.origin.as_deref().unwrap_or(&at).to_string();
                            vec![(node, from)]
                        }
                        Kind::Seq(items) => Arc::unwrap_or_clone(items)
                            .into_iter()
                            .enumerate()
                            .map(|(i, n)| {
                                let from = match &n.origin {
                                    Some(o) => o.to_string(),
                                    None => format!("{list_at}/{i}"),
                                };
                                (n, from)
                            })
                            .collect(),
                        _ => {
                            return Err(LoadError::Syntax {
                                message: "a merge key `<<` needs a mapping or a list of mappings"
                                    .into(),
                                span,
                            })
                        }
                    };
                    for (source, from) in sources {
                        match source.kind {
                            Kind::Map(src) => {
                                for (k, mut v) in Arc::unwrap_or_clone(src) {
                                    if !merged.iter().any(|(m, _)| m.name == k.name) {
                                        if v.origin.is_none() {
                                            let mut o = from.clone();
                                            Pointer::push_name(&mut o, &k.name);
                                            v.origin = Some(Arc::from(o));
                                        }
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
                    let first = if lines.is_empty() {
                        !entries.iter().any(|(k, _)| k.name == key.name)
                    } else {
                        lines.get(&key.name) == Some(&key.span)
                    };
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
