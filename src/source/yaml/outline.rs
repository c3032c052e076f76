//! The outline of a YAML document as written: where each collection, key and item
//! starts, whether a collection is block or flow style, block scalars, anchors and
//! aliases. Unlike [`super::load`] it neither expands aliases nor merges `<<` keys:
//! it describes the text, for `tierform fmt` to move its lines.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use super::{LoadError, Span};

/// One node as written. `line` is 1-based, `col` 0-based (in characters).
#[derive(Debug, Clone)]
pub struct Outline {
    pub line: usize,
    pub col: usize,
    /// The anchor this node defines (0: none).
    pub anchor: usize,
    /// Where a collection's end event is: a flow collection's closing bracket.
    pub end: (usize, usize),
    pub shape: Shape,
}

#[derive(Debug, Clone)]
pub enum Shape {
    /// A scalar: its value, and whether it is a block scalar (`|`, `>`).
    Scalar {
        value: String,
        block: bool,
    },
    /// An alias (`*name`), by the anchor id it refers to.
    Alias(usize),
    Map {
        flow: bool,
        entries: Vec<Entry>,
    },
    /// A sequence; a block one has the position (line, col) of each item's dash.
    Seq {
        flow: bool,
        items: Vec<Outline>,
        dashes: Vec<(usize, usize)>,
    },
}

/// A mapping entry: its key as loaded, where the key starts, and its value.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub line: usize,
    pub col: usize,
    pub value: Outline,
}

impl Outline {
    /// Whether this is a block-style mapping or sequence.
    pub fn is_block_collection(&self) -> bool {
        matches!(
            self.shape,
            Shape::Map { flow: false, .. } | Shape::Seq { flow: false, .. }
        )
    }

    /// Every anchor defined and every alias used in this subtree.
    pub fn anchors(&self, defined: &mut Vec<usize>, used: &mut Vec<usize>) {
        if self.anchor > 0 {
            defined.push(self.anchor);
        }
        match &self.shape {
            Shape::Scalar { .. } => {}
            Shape::Alias(id) => used.push(*id),
            Shape::Map { entries, .. } => {
                for e in entries {
                    e.value.anchors(defined, used);
                }
            }
            Shape::Seq { items, .. } => {
                for i in items {
                    i.anchors(defined, used);
                }
            }
        }
    }
}

struct Open {
    node: Outline,
    /// A mapping's key waiting for its value.
    pending: Option<(String, usize, usize)>,
    /// Whether the style is known yet (it is decided at the first child).
    decided: bool,
}

/// A line's characters without a trailing comment and spaces.
fn content(chars: &[char]) -> &[char] {
    let comment = (0..chars.len())
        .find(|&h| chars[h] == '#' && (h == 0 || chars[h - 1].is_whitespace()))
        .unwrap_or(chars.len());
    let end = chars[..comment]
        .iter()
        .rposition(|c| !c.is_whitespace())
        .map_or(0, |p| p + 1);
    &chars[..end]
}

/// The dash before a block entry's content at (`line`, `col`), which the scanner
/// marks after any spaces and comment: on the same line, or alone on an earlier one
/// (comment and blank lines between).
fn dash_before(lines: &[Vec<char>], line: usize, col: usize) -> Option<(usize, usize)> {
    let chars = lines.get(line.checked_sub(1)?)?;
    let before = content(&chars[..col.min(chars.len())]);
    if !before.is_empty() {
        return (before.last() == Some(&'-')).then(|| (line, before.len() - 1));
    }
    for above in (1..line).rev() {
        let before = content(&lines[above - 1]);
        if before.is_empty() {
            continue;
        }
        return (before.last() == Some(&'-')).then(|| (above, before.len() - 1));
    }
    None
}

/// The position of each block sequence entry's dash, in document order. The scanner
/// marks a block entry where its content starts; the dash is the `-` before it.
fn dashes(text: &str, lines: &[Vec<char>]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for token in yaml_rust2::scanner::Scanner::new(text.chars()) {
        if token.1 != yaml_rust2::scanner::TokenType::BlockEntry {
            continue;
        }
        let (line, col) = (token.0.line(), token.0.col());
        if let Some(dash) = dash_before(lines, line, col) {
            out.push(dash);
        }
    }
    out
}

/// The outline of a one-document text. Errors are the parser's; [`super::load`] is
/// the place that explains a text it refuses, so call it first.
pub fn outline(text: &str) -> Result<Outline, LoadError> {
    let lines: Vec<Vec<char>> = text.split('\n').map(|l| l.chars().collect()).collect();
    let char_at = |line: usize, col: usize| {
        lines
            .get(line.wrapping_sub(1))
            .and_then(|l| l.get(col))
            .copied()
    };
    let mut dash_marks = dashes(text, &lines).into_iter();
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut root = None;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| LoadError::Syntax {
            message: e.info().to_string(),
            span: Span::from_marker(e.marker()),
        })?;
        let (line, col) = (mark.line(), mark.col());
        let starts = matches!(
            event,
            Event::Scalar(..)
                | Event::Alias(..)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
        );
        if starts {
            if let Some(open) = stack.last_mut() {
                // A collection is flow style when its bracket comes before its first
                // child (an indentless sequence starts where its first item does).
                if !open.decided {
                    open.decided = true;
                    let bracket = matches!(char_at(open.node.line, open.node.col), Some('[' | '{'));
                    let flow = bracket && (line, col) > (open.node.line, open.node.col);
                    match &mut open.node.shape {
                        Shape::Map { flow: f, .. } | Shape::Seq { flow: f, .. } => *f = flow,
                        _ => {}
                    }
                    if !flow {
                        if let Shape::Map { .. } = open.node.shape {
                            open.node.line = line;
                            open.node.col = col;
                        }
                    }
                }
                if let Shape::Seq {
                    flow: false,
                    dashes,
                    ..
                } = &mut open.node.shape
                {
                    let dash = dash_marks.next().ok_or(LoadError::Syntax {
                        message: "a block sequence entry without its dash".into(),
                        span: Span::from_marker(&mark),
                    })?;
                    if dashes.is_empty() {
                        (open.node.line, open.node.col) = dash;
                    }
                    dashes.push(dash);
                }
            }
        }
        let done = match event {
            Event::StreamEnd => break,
            Event::Scalar(value, style, anchor, _) => {
                if let Some(Open {
                    pending,
                    node:
                        Outline {
                            shape: Shape::Map { .. },
                            ..
                        },
                    ..
                }) = stack.last_mut()
                {
                    if pending.is_none() {
                        *pending = Some((value, line, col));
                        continue;
                    }
                }
                let block = matches!(style, TScalarStyle::Literal | TScalarStyle::Folded);
                Some(Outline {
                    line,
                    col,
                    anchor,
                    end: (line, col),
                    shape: Shape::Scalar { value, block },
                })
            }
            Event::Alias(id) => Some(Outline {
                line,
                col,
                anchor: 0,
                end: (line, col),
                shape: Shape::Alias(id),
            }),
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                let shape = if matches!(event, Event::MappingStart(..)) {
                    Shape::Map {
                        flow: true,
                        entries: Vec::new(),
                    }
                } else {
                    Shape::Seq {
                        flow: true,
                        items: Vec::new(),
                        dashes: Vec::new(),
                    }
                };
                stack.push(Open {
                    node: Outline {
                        line,
                        col,
                        anchor,
                        end: (line, col),
                        shape,
                    },
                    pending: None,
                    decided: false,
                });
                None
            }
            Event::MappingEnd | Event::SequenceEnd => stack.pop().map(|mut open| {
                open.node.end = (line, col);
                open.node
            }),
            _ => None,
        };
        let Some(node) = done else { continue };
        match stack.last_mut() {
            Some(open) => match &mut open.node.shape {
                Shape::Map { entries, .. } => {
                    let (key, kline, kcol) = open.pending.take().ok_or(LoadError::ComplexKey {
                        found: "collection",
                        span: Span::from_marker(&mark),
                    })?;
                    entries.push(Entry {
                        key,
                        line: kline,
                        col: kcol,
                        value: node,
                    });
                }
                Shape::Seq { items, .. } => items.push(node),
                _ => {}
            },
            None => {
                if root.is_some() {
                    return Err(LoadError::MultipleDocuments {
                        count: 2,
                        span: Span::from_marker(&mark),
                    });
                }
                root = Some(node);
            }
        }
    }
    root.ok_or(LoadError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_styles_and_positions() {
        let o =
            outline("a: &x\n  b: 1\nc: [1, *x]\nd:\n- e: |\n    text\n- [y]\n-   - z\n").unwrap();
        let Shape::Map { flow, entries } = &o.shape else {
            panic!()
        };
        assert!(!flow);
        assert_eq!((entries[0].line, entries[0].col), (1, 0));
        assert!(entries[0].value.is_block_collection());
        assert_eq!((entries[0].value.line, entries[0].value.col), (2, 2));
        assert!(matches!(
            entries[1].value.shape,
            Shape::Seq { flow: true, .. }
        ));
        let Shape::Seq {
            items,
            flow,
            dashes,
        } = &entries[2].value.shape
        else {
            panic!()
        };
        assert!(!flow);
        assert_eq!(dashes, &[(5, 0), (7, 0), (8, 0)]);
        assert!(matches!(items[1].shape, Shape::Seq { flow: true, .. }));
        assert!(
            matches!(&items[2].shape, Shape::Seq { flow: false, dashes, .. } if dashes == &[(8, 4)])
        );
        let mut defined = Vec::new();
        let mut used = Vec::new();
        o.anchors(&mut defined, &mut used);
        assert_eq!(defined.len(), 1);
        assert_eq!(used, defined);
    }
}
