//! Phases: each one's blueprint is the blueprint as written with the patches of every
//! phase up to and including it applied in order, as JSON merge patches (RFC 7386).
//!
//! Patching works on the loaded [`Node`] tree, so every value of a resolved phase
//! still knows its line in the file, whether it came from the base or from a patch.

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::check::diagnostic::{Code, Diagnostic, Removed};
use crate::check::suggest::{did_you_mean, did_you_mean_hint};
use crate::model::schema::PATCHABLE;
use crate::source::pointer::Pointer;
use crate::source::yaml::{Kind, Node};

/// The name of the one phase of a blueprint that lists none.
pub const DEFAULT_PHASE: &str = "default";
pub use crate::model::MAX_PHASES;

/// One phase's resolved document.
#[derive(Debug, Clone)]
pub struct PhaseDoc {
    pub name: String,
    pub root: Node,
    /// Keys removed by a patch's `null`, so a finding about their absence points there.
    pub removed: Removed,
    /// Whether no patch has changed anything yet: the document is the blueprint as
    /// written, without its phase list.
    pub as_written: bool,
}

/// Applies `patch` to `target` per RFC 7386 (the tests' entry to what phases use).
#[cfg(test)]
pub fn merge_patch(target: &mut Node, patch: &Node) {
    merge_patch_at(
        target,
        patch,
        "/patch",
        &Pointer::root(),
        &mut Removed::new(),
    );
}

/// Merges `patch`, written in the file at `from`, into `target`, which sits at `path` of
/// the phase's document. What the patch brings in is marked with where it is written.
fn merge_patch_at(
    target: &mut Node,
    patch: &Node,
    from: &str,
    path: &Pointer,
    removed: &mut Removed,
) {
    let Kind::Map(patch_entries) = &patch.kind else {
        *target = Node {
            origin: Some(Arc::from(from)),
            ..patch.clone()
        };
        return;
    };
    if !matches!(target.kind, Kind::Map(_)) {
        *target = Node {
            kind: Kind::Map(Default::default()),
            span: patch.span,
            origin: Some(Arc::from(from)),
        };
    }
    let Kind::Map(entries) = &mut target.kind else {
        unreachable!("target was made a mapping above")
    };
    // The mapping is copied here only if another tree still shares it; its entries
    // stay shared until the patch reaches into them.
    let entries = Arc::make_mut(entries);
    // A patch of many keys (one per service, at 10,000 services) finds each through an
    // index, not a scan of every entry: merging stays linear. Removed entries are
    // dropped at the end, so the index stays true while the patch is applied.
    let index: Option<std::collections::HashMap<String, usize>> =
        (patch_entries.len() > 8).then(|| {
            entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.name.clone(), i))
                .collect()
        });
    let mut gone = vec![false; entries.len()];
    for (key, value) in patch_entries.iter() {
        let written = match &value.origin {
            Some(o) => o.to_string(),
            None => {
                let mut o = from.to_string();
                Pointer::push_name(&mut o, &key.name);
                o
            }
        };
        let existing = match &index {
            Some(index) => index.get(&key.name).copied(),
            None => entries.iter().position(|(k, _)| k.name == key.name),
        }
        .filter(|&i| !gone.get(i).copied().unwrap_or(false));
        match (&value.kind, existing) {
            (Kind::Null, Some(i)) => {
                gone[i] = true;
                removed.insert(path.child(&key.name).into(), (key.span, written));
            }
            (Kind::Null, None) => {}
            (_, Some(i)) => {
                // A value the patch replaces is the patch's; a mapping it merges into
                // stays where the blueprint wrote it.
                if !matches!(value.kind, Kind::Map(_)) {
                    entries[i].0 = key.clone();
                }
                let child = path.child(&key.name);
                merge_patch_at(&mut entries[i].1, value, &written, &child, removed);
            }
            (_, None) => {
                let mut fresh = Node {
                    kind: Kind::Null,
                    span: value.span,
                    origin: None,
                };
                let child = path.child(&key.name);
                merge_patch_at(&mut fresh, value, &written, &child, removed);
                entries.push((key.clone(), fresh));
            }
        }
    }
    if gone.contains(&true) {
        let mut i = 0;
        entries.retain(|_| {
            let keep = !gone.get(i).copied().unwrap_or(false);
            i += 1;
            keep
        });
    }
}

/// Resolves every phase of a loaded blueprint. Findings about the phase list itself
/// (a patch that touches what no patch may) go to `findings`.
#[cfg(test)]
pub fn resolve(root: &Node, findings: &mut Vec<Diagnostic>) -> Vec<PhaseDoc> {
    let mut out = Vec::new();
    resolve_each(root, findings, |doc| {
        out.push(doc.clone());
        ControlFlow::Continue(())
    });
    out
}

/// [`resolve`], handing each phase to `each` as soon as it is resolved, so a caller
/// that is done with a phase before the next holds one phase in memory, not all. The
/// next phase is the same document patched in place: no phase is a copy.
/// `each` may stop the walk: the phases after the one it breaks on are not resolved.
pub fn resolve_each(
    root: &Node,
    findings: &mut Vec<Diagnostic>,
    mut each: impl FnMut(&PhaseDoc) -> ControlFlow<()>,
) {
    let mut base = root.clone();
    if let Kind::Map(entries) = &mut base.kind {
        Arc::make_mut(entries).retain(|(k, _)| k.name != "phases");
    }
    let phases = match root.get("phases").map(|p| &p.kind) {
        Some(Kind::Seq(items)) if !items.is_empty() => items,
        _ => {
            let _ = each(&PhaseDoc {
                name: DEFAULT_PHASE.into(),
                root: base,
                removed: Removed::new(),
                as_written: true,
            });
            return;
        }
    };
    let mut doc = PhaseDoc {
        name: String::new(),
        root: base,
        removed: Removed::new(),
        as_written: true,
    };
    for (i, phase) in phases.iter().take(MAX_PHASES).enumerate() {
        doc.name = match phase.get("name").map(|n| &n.kind) {
            Some(Kind::Str(s)) => s.clone(),
            _ => format!("#{}", i + 1),
        };
        if let Some(patch) = phase.get("patch") {
            // Where the patch is written: its place in the phase list, or the anchor
            // an alias copied it from.
            let from = root.walk_origin(&format!("/phases/{i}/patch")).2;
            if let Kind::Map(entries) = &patch.kind {
                let mut allowed = patch.clone();
                if let Kind::Map(keep) = &mut allowed.kind {
                    Arc::make_mut(keep).retain(|(k, _)| PATCHABLE.contains(&k.name.as_str()));
                }
                for (key, _) in entries.iter() {
                    if !PATCHABLE.contains(&key.name.as_str()) {
                        let known = PATCHABLE.map(String::from).to_vec();
                        let hint = did_you_mean(&key.name, &known)
                            .map(|s| did_you_mean_hint(&s))
                            .unwrap_or_else(|| {
                                "set it on the blueprint itself, not in a phase".into()
                            });
                        findings.push(
                            Diagnostic::error(
                                Code::Unpatchable,
                                Pointer::from(from.as_str()).child(&key.name),
                                format!("a phase patch cannot change `{}`", key.name),
                            )
                            .expected(format!(
                                "one of {}",
                                PATCHABLE.map(|p| format!("`{p}`")).join(", ")
                            ))
                            .hint(hint)
                            .at_key()
                            .at(key.span),
                        );
                    }
                }
                if matches!(&allowed.kind, Kind::Map(keep) if !keep.is_empty()) {
                    doc.as_written = false;
                }
                merge_patch_at(
                    &mut doc.root,
                    &allowed,
                    &from,
                    &Pointer::root(),
                    &mut doc.removed,
                );
            }
        }
        if each(&doc).is_break() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::yaml::load;
    use serde_json::json;

    fn apply(target: &str, patch: &str) -> serde_json::Value {
        let mut t = load(target).unwrap();
        merge_patch(&mut t, &load(patch).unwrap());
        t.to_json()
    }

    #[test]
    fn rfc7386_examples() {
        // From RFC 7386, appendix A.
        assert_eq!(apply("{a: b}", "{a: c}"), json!({"a": "c"}));
        assert_eq!(apply("{a: b}", "{b: c}"), json!({"a": "b", "b": "c"}));
        assert_eq!(apply("{a: b}", "{a: null}"), json!({}));
        assert_eq!(apply("{a: b, b: c}", "{a: null}"), json!({"b": "c"}));
        assert_eq!(apply("{a: [b]}", "{a: c}"), json!({"a": "c"}));
        assert_eq!(apply("{a: c}", "{a: [b]}"), json!({"a": ["b"]}));
        assert_eq!(
            apply("{a: {b: c}}", "{a: {b: d, c: null}}"),
            json!({"a": {"b": "d"}})
        );
        assert_eq!(apply("{a: [{b: c}]}", "{a: [1]}"), json!({"a": [1]}));
        assert_eq!(apply("[a, b]", "[c, d]"), json!(["c", "d"]));
        assert_eq!(apply("{a: b}", "[c]"), json!(["c"]));
        assert_eq!(apply("{e: null}", "{a: 1}"), json!({"e": null, "a": 1}));
        assert_eq!(apply("[1, 2]", "{a: b, c: null}"), json!({"a": "b"}));
        assert_eq!(
            apply("{}", "{a: {bb: {ccc: null}}}"),
            json!({"a": {"bb": {}}})
        );
    }

    /// RFC 7386 on JSON values: the reference the loaded-tree merge must agree with.
    fn reference(target: serde_json::Value, patch: &serde_json::Value) -> serde_json::Value {
        let serde_json::Value::Object(p) = patch else {
            return patch.clone();
        };
        let mut t = match target {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        for (k, v) in p {
            if v.is_null() {
                t.shift_remove(k);
            } else {
                let current = t.get(k).cloned().unwrap_or(serde_json::Value::Null);
                t.insert(k.clone(), reference(current, v));
            }
        }
        serde_json::Value::Object(t)
    }

    fn json_tree() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            (0..4i64).prop_map(|n| json!(n))
        ];
        leaf.prop_recursive(2, 64, 20, |inner| {
            proptest::collection::vec(("k[0-9]{1,2}", inner), 0..20)
                .prop_map(|entries| serde_json::Value::Object(entries.into_iter().collect()))
        })
    }

    /// A mapping of up to 19 keys (a document, like a blueprint and its patches).
    fn json_map() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        proptest::collection::vec(("k[0-9]{1,2}", json_tree()), 0..20)
            .prop_map(|entries| serde_json::Value::Object(entries.into_iter().collect()))
    }

    proptest::proptest! {
        /// Patches of any width (a scan below nine keys, an index above) merge as the
        /// RFC says, keys kept in order, removed ones gone, new ones last.
        #[test]
        fn merging_agrees_with_rfc7386(target in json_map(), patch in json_map()) {
            let expected = reference(target.clone(), &patch);
            let got = apply(&target.to_string(), &patch.to_string());
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn patched_values_keep_their_lines() {
        let root = load(
            "version: 1\nservices:\n  api: {replicas: 1}\nphases:\n  - name: one\n  - name: two\n    patch:\n      services: {api: {replicas: 3}}\n",
        )
        .unwrap();
        let mut findings = Vec::new();
        let phases = resolve(&root, &mut findings);
        assert!(findings.is_empty());
        assert_eq!(phases.len(), 2);
        let (one, _) = phases[0].root.lookup("/services/api/replicas");
        let (two, _) = phases[1].root.lookup("/services/api/replicas");
        assert_eq!(one.span.line, 3);
        assert_eq!(two.span.line, 8);
        assert_eq!(
            phases[1].root.walk_origin("/services/api/replicas").2,
            "/phases/1/patch/services/api/replicas"
        );
        assert_eq!(
            phases[0].root.walk_origin("/services/api/replicas").2,
            "/services/api/replicas"
        );
    }
}
