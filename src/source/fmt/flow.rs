//! Flow mappings written on one line (`{ path: /, service: web }`) take the schema's
//! key order too: their text is cut at each key and put back in order, joined by the
//! separator written between their first two entries. Flow style stays flow style, and
//! a flow collection over several lines is left as written.

use super::layout::{anchors_in_order, scalar_of};
use super::order::Schema;
use crate::source::yaml::outline::{Outline, Shape};

/// `line` (number `number`, 1-based) with each flow mapping in `node` put in the
/// schema's order; `None` when `node` is not a flow collection all on this line.
pub fn reorder(line: &str, number: usize, node: &Outline, schema: Schema<'_>) -> Option<String> {
    if !is_flow(node) || !on_line(node, number) {
        return None;
    }
    let chars: Vec<char> = line.chars().collect();
    let end = node.end.1 + 1;
    if end > chars.len() || !matches!(chars.get(node.col), Some('{' | '[')) {
        return None;
    }
    let mut out: String = chars[..node.col].iter().collect();
    out.push_str(&render(&chars, node, schema)?);
    out.extend(&chars[end..]);
    Some(out)
}

fn is_flow(node: &Outline) -> bool {
    matches!(
        node.shape,
        Shape::Map { flow: true, .. } | Shape::Seq { flow: true, .. }
    )
}

/// Whether every part of `node` is on line `number`.
fn on_line(node: &Outline, number: usize) -> bool {
    node.line == number
        && node.end.0 == number
        && match &node.shape {
            Shape::Map { entries, .. } => entries
                .iter()
                .all(|e| e.line == number && on_line(&e.value, number)),
            Shape::Seq { items, .. } => items.iter().all(|i| on_line(i, number)),
            Shape::Scalar { block, .. } => !block,
            Shape::Alias(_) => true,
        }
}

fn text(chars: &[char], from: usize, to: usize) -> String {
    chars[from.min(to)..to].iter().collect()
}

/// `chars[from..to]`, which holds `child`, with `child` rendered in order.
fn with_child(
    chars: &[char],
    from: usize,
    to: usize,
    child: &Outline,
    schema: Schema<'_>,
) -> Option<String> {
    if !is_flow(child) || child.col < from || child.end.1 >= to {
        return Some(text(chars, from, to));
    }
    Some(format!(
        "{}{}{}",
        text(chars, from, child.col),
        render(chars, child, schema)?,
        text(chars, child.end.1 + 1, to)
    ))
}

/// Where an entry's text ends: before the comma (and spaces) ahead of `next`.
fn entry_end(chars: &[char], next: usize) -> usize {
    let mut p = next;
    while p > 0 && chars[p - 1].is_whitespace() {
        p -= 1;
    }
    if p > 0 && chars[p - 1] == ',' {
        p -= 1;
    }
    while p > 0 && chars[p - 1].is_whitespace() {
        p -= 1;
    }
    p
}

/// A flow collection's text, from its opening to its closing bracket, in order.
fn render(chars: &[char], node: &Outline, schema: Schema<'_>) -> Option<String> {
    let close = node.end.1;
    match &node.shape {
        Shape::Map { entries, .. } if chars.get(node.col) == Some(&'{') && !entries.is_empty() => {
            let ends: Vec<usize> = (0..entries.len())
                .map(|i| entry_end(chars, entries.get(i + 1).map_or(close, |e| e.col)))
                .collect();
            let map = schema.map(&|k| scalar_of(entries, k));
            let mut parts = Vec::with_capacity(entries.len());
            for (e, &end) in entries.iter().zip(&ends) {
                if end <= e.col {
                    return None;
                }
                parts.push(with_child(chars, e.col, end, &e.value, map.child(&e.key))?);
            }
            let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
            let mut order = map.order(&keys);
            if !anchors_in_order(entries, &order) {
                order = (0..entries.len()).collect();
            }
            let separator = match entries.get(1) {
                Some(second) => text(chars, ends[0], second.col),
                None => ", ".into(),
            };
            let body: Vec<&str> = order.iter().map(|&i| parts[i].as_str()).collect();
            Some(format!(
                "{}{}{}",
                text(chars, node.col, entries[0].col),
                body.join(&separator),
                text(chars, ends[entries.len() - 1], close + 1)
            ))
        }
        Shape::Seq { items, .. } if chars.get(node.col) == Some(&'[') => {
            let schema = schema.items();
            let mut out = String::new();
            let mut at = node.col;
            for item in items.iter().filter(|i| is_flow(i)) {
                if item.col < at || item.end.1 >= close {
                    return None;
                }
                out.push_str(&text(chars, at, item.col));
                out.push_str(&render(chars, item, schema)?);
                at = item.end.1 + 1;
            }
            out.push_str(&text(chars, at, close + 1));
            Some(out)
        }
        _ => Some(text(chars, node.col, close + 1)),
    }
}
