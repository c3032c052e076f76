//! Moving lines: each block mapping entry is its key's line, its value's lines and
//! the comment lines right above it; entries are put in the schema's order and every
//! line is re-indented to two spaces a level. Values that are not block collections
//! (scalars, flow collections, aliases, block scalars) are moved as they are written,
//! shifted as a whole, so their meaning cannot change.

use std::ops::Range;

use super::order::Schema;
use crate::source::yaml::outline::{Entry, Outline, Shape};

/// One output line; a verbatim one (inside a block scalar) keeps its spaces and is
/// never merged with its neighbours.
pub struct Line {
    pub text: String,
    pub verbatim: bool,
}

/// A layout the formatter does not take apart (it leaves the file as it is).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct Unsupported {
    pub line: usize,
    pub reason: &'static str,
}

/// The indentation of a line: its leading spaces.
fn indent_of(s: &str) -> usize {
    s.len() - s.trim_start_matches(' ').len()
}

fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// A comment line, or a document end marker (`...`), which stays where it is.
fn is_comment(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with('#') || t.trim_end() == "..."
}

fn shifted(line: &str, delta: isize, verbatim: bool) -> Line {
    if !verbatim && is_blank(line) {
        return Line {
            text: String::new(),
            verbatim: false,
        };
    }
    let n = indent_of(line);
    let new = (n as isize + delta).max(0) as usize;
    Line {
        text: format!("{}{}", " ".repeat(new), &line[n..]),
        verbatim,
    }
}

/// A comment or blank line between entries, indented as the entry it belongs to.
fn loose(line: &str, indent: usize) -> Line {
    let text = if is_blank(line) {
        String::new()
    } else {
        format!("{}{}", " ".repeat(indent), line.trim_start())
    };
    Line {
        text,
        verbatim: false,
    }
}

/// The scalar value a mapping holds under `key`, to choose among a schema's
/// alternatives (a datastore's `engine`).
pub(super) fn scalar_of(entries: &[Entry], key: &str) -> Option<String> {
    entries
        .iter()
        .find(|e| e.key == key)
        .and_then(|e| match &e.value.shape {
            Shape::Scalar { value, .. } => Some(value.clone()),
            _ => None,
        })
}

/// Whether entries in `order` still define each anchor before an alias uses it.
pub(super) fn anchors_in_order(entries: &[Entry], order: &[usize]) -> bool {
    let sets: Vec<(Vec<usize>, Vec<usize>)> = entries
        .iter()
        .map(|e| {
            let (mut defined, mut used) = (Vec::new(), Vec::new());
            e.value.anchors(&mut defined, &mut used);
            (defined, used)
        })
        .collect();
    let mut placed = vec![false; entries.len()];
    for &i in order {
        for alias in &sets[i].1 {
            let later =
                (0..entries.len()).any(|j| j != i && !placed[j] && sets[j].0.contains(alias));
            if later {
                return false;
            }
        }
        placed[i] = true;
    }
    true
}

/// The source's lines (0-based), which the layout edits as it goes: a sequence
/// item's dash becomes indentation while its mapping is laid out.
pub struct Layout {
    lines: Vec<String>,
}

impl Layout {
    pub fn new(text: &str) -> Self {
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        if text.ends_with('\n') {
            lines.pop();
        }
        Layout { lines }
    }

    /// The whole document, laid out.
    pub fn document(
        &mut self,
        root: &Outline,
        schema: Schema<'_>,
    ) -> Result<Vec<Line>, Unsupported> {
        let all = 0..self.lines.len();
        if root.is_block_collection() {
            return self.block(root, all, 0, schema);
        }
        Ok(all
            .map(|i| Line {
                text: self.lines[i].clone(),
                verbatim: true,
            })
            .collect())
    }

    fn block(
        &mut self,
        node: &Outline,
        region: Range<usize>,
        target: usize,
        schema: Schema<'_>,
    ) -> Result<Vec<Line>, Unsupported> {
        match &node.shape {
            Shape::Map { entries, .. } => self.map(entries, region, target, schema),
            Shape::Seq { items, dashes, .. } => self.seq(items, dashes, region, target, schema),
            _ => Ok(self.raw(node, region, 0, schema)),
        }
    }

    /// Whether a value's trailing blank lines are part of it: it ends in a block
    /// scalar kept whole (`|+`, `>+`). `first` is the line of its key or dash.
    fn keeps_blanks(&self, value: &Outline, first: usize) -> bool {
        match &value.shape {
            Shape::Scalar { block: true, .. } => {
                // The header (`|+`, `>2+`) is on the line of the key or dash.
                let line = &self.lines[first];
                line.char_indices().any(|(i, c)| {
                    (c == '|' || c == '>')
                        && line[i + 1..]
                            .chars()
                            .take_while(|c| c.is_ascii_digit() || *c == '+' || *c == '-')
                            .any(|c| c == '+')
                })
            }
            Shape::Map {
                flow: false,
                entries,
            } => entries
                .last()
                .is_some_and(|e| self.keeps_blanks(&e.value, e.line - 1)),
            Shape::Seq {
                flow: false,
                items,
                dashes,
            } => match (items.last(), dashes.last()) {
                (Some(item), Some(dash)) => self.keeps_blanks(item, dash.0 - 1),
                _ => false,
            },
            _ => false,
        }
    }

    /// Where a body ends once its trailing blank lines and comments no deeper than
    /// `col` are taken off (they belong to what follows).
    fn peel(&self, from: usize, end: usize, col: usize, keep_blanks: bool) -> usize {
        let mut p = end;
        while p > from {
            let line = &self.lines[p - 1];
            if is_blank(line) && !keep_blanks
                || !is_blank(line) && is_comment(line) && indent_of(line) <= col
            {
                p -= 1;
            } else {
                break;
            }
        }
        p
    }

    fn map(
        &mut self,
        entries: &[Entry],
        region: Range<usize>,
        target: usize,
        schema: Schema<'_>,
    ) -> Result<Vec<Line>, Unsupported> {
        let Some(first) = entries.first() else {
            return Ok(self.raw_lines(region, 0));
        };
        let col = first.col;
        let starts: Vec<usize> = entries.iter().map(|e| e.line - 1).collect();
        for (e, &s) in entries.iter().zip(&starts) {
            let indented = self.lines[s].chars().take(e.col).all(|c| c == ' ');
            if e.col != col || !indented || !region.contains(&s) {
                return Err(Unsupported {
                    line: e.line,
                    reason: "a mapping key that does not start its line",
                });
            }
        }
        // Above the first key: a head (up to its last blank line, or `---` marker)
        // that stays first, then the comments that belong to the first entry.
        let head_end = (region.start..starts[0])
            .rev()
            .find(|&i| !is_comment(&self.lines[i]))
            .map_or(region.start, |i| i + 1);
        let mut out: Vec<Line> = (region.start..head_end)
            .map(|i| loose(&self.lines[i], target))
            .collect();
        let mut leads = Vec::with_capacity(entries.len() + 1);
        leads.push(head_end..starts[0]);
        let mut bodies = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(region.end);
            let p = self.peel(
                starts[i] + 1,
                end,
                col,
                self.keeps_blanks(&e.value, starts[i]),
            );
            bodies.push(starts[i]..p);
            leads.push(p..end);
        }
        let trailer = leads.pop().unwrap_or_default();
        let schema = schema.map(&|k| scalar_of(entries, k));
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        let mut order = schema.order(&keys);
        if !anchors_in_order(entries, &order) {
            order = (0..entries.len()).collect();
        }
        for i in order {
            for l in leads[i].clone() {
                out.push(loose(&self.lines[l], target));
            }
            let e = &entries[i];
            out.extend(self.entry(e, bodies[i].clone(), target, schema.child(&e.key))?);
        }
        out.extend(trailer.map(|l| loose(&self.lines[l], target)));
        Ok(out)
    }

    fn entry(
        &mut self,
        e: &Entry,
        body: Range<usize>,
        target: usize,
        schema: Schema<'_>,
    ) -> Result<Vec<Line>, Unsupported> {
        let delta = target as isize - e.col as isize;
        let value = &e.value;
        if !value.is_block_collection() {
            return Ok(self.raw(value, body, delta, schema));
        }
        if value.line - 1 <= body.start {
            return Err(Unsupported {
                line: value.line,
                reason: "a block collection on its key's line",
            });
        }
        let mut out = vec![shifted(&self.lines[body.start], delta, false)];
        out.extend(self.block(value, body.start + 1..body.end, target + 2, schema)?);
        Ok(out)
    }

    fn seq(
        &mut self,
        items: &[Outline],
        dashes: &[(usize, usize)],
        region: Range<usize>,
        target: usize,
        schema: Schema<'_>,
    ) -> Result<Vec<Line>, Unsupported> {
        let dash_col = dashes.first().map_or(0, |d| d.1);
        for &(line, col) in dashes {
            let indented = self.lines[line - 1].chars().take(col).all(|c| c == ' ');
            if col != dash_col || !indented || !region.contains(&(line - 1)) {
                return Err(Unsupported {
                    line,
                    reason: "a sequence dash that does not start its line",
                });
            }
        }
        let dashes: Vec<usize> = dashes.iter().map(|d| d.0 - 1).collect();
        let Some(&first) = dashes.first() else {
            return Ok(self.raw_lines(region, 0));
        };
        let mut out: Vec<Line> = (region.start..first)
            .map(|i| loose(&self.lines[i], target))
            .collect();
        let schema = schema.items();
        for (i, item) in items.iter().enumerate() {
            let end = dashes.get(i + 1).copied().unwrap_or(region.end);
            let p = self.peel(
                dashes[i] + 1,
                end,
                dash_col,
                self.keeps_blanks(item, dashes[i]),
            );
            out.extend(self.item(item, dashes[i]..p, dash_col, target, schema)?);
            out.extend((p..end).map(|l| loose(&self.lines[l], target)));
        }
        Ok(out)
    }

    fn item(
        &mut self,
        item: &Outline,
        body: Range<usize>,
        dash_col: usize,
        target: usize,
        schema: Schema<'_>,
    ) -> Result<Vec<Line>, Unsupported> {
        let delta = target as isize - dash_col as isize;
        if !item.is_block_collection() {
            return Ok(self.raw(item, body, delta, schema));
        }
        if item.line - 1 > body.start {
            let mut out = vec![shifted(&self.lines[body.start], delta, false)];
            out.extend(self.block(item, body.start + 1..body.end, target + 2, schema)?);
            return Ok(out);
        }
        // `- key: value`: the dash is indentation while the mapping is laid out, and
        // goes back on its first line.
        self.lines[body.start].replace_range(dash_col..dash_col + 1, " ");
        let nested = self.block(item, body, target + 2, schema)?;
        let mut out = Vec::with_capacity(nested.len());
        let mut dashed = false;
        for mut line in nested {
            if !dashed && !is_blank(&line.text) {
                if is_comment(&line.text) {
                    line = loose(&line.text, target);
                } else {
                    line.text.replace_range(target..target + 1, "-");
                    dashed = true;
                }
            }
            out.push(line);
        }
        Ok(out)
    }

    /// A value as written, shifted as a whole; a block scalar's lines are verbatim,
    /// a flow mapping on one line is put in order.
    fn raw(
        &self,
        value: &Outline,
        body: Range<usize>,
        delta: isize,
        schema: Schema<'_>,
    ) -> Vec<Line> {
        let block = matches!(value.shape, Shape::Scalar { block: true, .. });
        let first = body.start;
        body.map(|l| {
            let reordered = (l == first)
                .then(|| super::flow::reorder(&self.lines[l], l + 1, value, schema))
                .flatten();
            let line = reordered.as_deref().unwrap_or(&self.lines[l]);
            shifted(line, delta, block && l > first)
        })
        .collect()
    }

    fn raw_lines(&self, region: Range<usize>, delta: isize) -> Vec<Line> {
        region
            .map(|l| shifted(&self.lines[l], delta, false))
            .collect()
    }
}
