//! Validation of one blueprint file: load → schema → phases → semantic checks, with
//! every finding located in the file and reported once.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use serde::Deserialize;

use crate::check::budget;
use crate::check::diagnostic::{Code, Diagnostic, Severity};
use crate::check::phase::{self, PhaseDoc};
use crate::check::rules;
use crate::check::schema;
use crate::model::{Blueprint, Phase, Platform};
use crate::source::pointer::Pointer;
use crate::source::yaml::{self, LoadError, Node, Span};

/// A phase's fully typed blueprint, ready to be resolved into a plan.
#[derive(Debug, Clone)]
pub struct ResolvedPhase {
    pub name: String,
    pub description: Option<String>,
    pub enter_when: Vec<String>,
    /// The platforms this phase is rendered for.
    pub targets: Vec<Platform>,
    pub blueprint: Blueprint,
    /// Where the phase's name is written; `None` for a blueprint without phases.
    pub name_at: Option<Span>,
}

/// The outcome of validating one file.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The text, when it could be decoded (for showing source lines).
    pub source: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// Every phase, when the blueprint has no errors.
    pub phases: Vec<ResolvedPhase>,
}

impl Validated {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// The code of a loading error.
fn load_code(e: &LoadError) -> Code {
    match e {
        LoadError::Syntax { .. } => Code::YamlSyntax,
        LoadError::DuplicateKey { .. } => Code::DuplicateKey,
        LoadError::ComplexKey { .. } => Code::ComplexKey,
        LoadError::TooDeep { .. } => Code::TooDeep,
        LoadError::AliasBomb { .. } => Code::AliasBomb,
        LoadError::UnknownAnchor { .. } => Code::UnknownAnchor,
        LoadError::Tag { .. } => Code::UnsupportedTag,
        LoadError::MultipleDocuments { .. } => Code::MultipleDocuments,
        LoadError::Empty => Code::EmptyFile,
        LoadError::TooLarge { .. } => Code::TooLarge,
        LoadError::NotUtf8 { .. } => Code::NotUtf8,
        LoadError::ControlCharacter { .. } => Code::ControlCharacter,
    }
}

fn load_diagnostic(e: &LoadError) -> Diagnostic {
    let hint = match e {
        LoadError::DuplicateKey { .. } => {
            Some("remove one of the two; YAML keeps only one value per key".to_string())
        }
        LoadError::Syntax { message, .. } if message.contains("tab") => {
            Some("YAML indents with spaces only: replace the tab".to_string())
        }
        LoadError::Syntax { .. } => {
            Some("check the indentation and the quoting around this line".to_string())
        }
        LoadError::Tag { .. } => {
            Some("remove the tag; tierform reads plain YAML values".to_string())
        }
        LoadError::NotUtf8 { .. } => Some("save the file as UTF-8".to_string()),
        LoadError::ControlCharacter { .. } => Some(
            "a binary file, or a stray control character: remove it, or write it escaped in a double-quoted string (like \"\\e\")"
                .to_string(),
        ),
        LoadError::AliasBomb { .. } => {
            Some("expand fewer aliases; a blueprint needs only a few".to_string())
        }
        LoadError::MultipleDocuments { .. } => {
            Some("keep one blueprint per file: remove the `---` separator".to_string())
        }
        _ => None,
    };
    Diagnostic::error(load_code(e), "", e.to_string())
        .at(e.span())
        .maybe_hint(hint)
}

/// Rules a later stage contributes, run on each phase's typed blueprint and located
/// like the check stage's own findings: the plan stage's placement rules, which the
/// library's `validate_bytes` passes here (the check stage never imports the plan).
/// Without them a blueprint the plan cannot place would pass: every caller outside
/// tests goes through `crate::validate_bytes`.
pub type PhaseRules<'a> = &'a dyn Fn(&Blueprint, &[Platform]) -> Vec<Diagnostic>;

/// Validates the bytes of one blueprint file.
pub fn validate_bytes(bytes: &[u8], later: PhaseRules) -> Validated {
    let text = match yaml::decode(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Validated {
                source: None,
                diagnostics: vec![load_diagnostic(&e)],
                phases: Vec::new(),
            }
        }
    };
    validate_str(text, later)
}

/// Validates the text of one blueprint file.
pub fn validate_str(text: &str, later: PhaseRules) -> Validated {
    let root = match yaml::load(text) {
        Ok(root) => root,
        Err(errors) => {
            return Validated {
                source: Some(text.to_string()),
                diagnostics: errors.iter().map(load_diagnostic).collect(),
                phases: Vec::new(),
            }
        }
    };
    let (diagnostics, phases) = check_root(&root, later);
    Validated {
        source: Some(text.to_string()),
        diagnostics,
        phases,
    }
}

struct Collected {
    diagnostic: Diagnostic,
    /// Found on the document as written (so it holds in every phase).
    in_base: bool,
    phases: BTreeSet<usize>,
}

fn check_root(root: &Node, later: PhaseRules) -> (Vec<Diagnostic>, Vec<ResolvedPhase>) {
    let mut collected: Vec<Collected> = Vec::new();
    let add = |d: Diagnostic, phase: Option<usize>, collected: &mut Vec<Collected>| {
        if let Some(c) = collected.iter_mut().find(|c| c.diagnostic.key() == d.key()) {
            if let Some(p) = phase {
                c.phases.insert(p);
            }
            return;
        }
        collected.push(Collected {
            diagnostic: d,
            in_base: phase.is_none(),
            phases: phase.into_iter().collect(),
        });
    };

    // A document over a limit is refused before it is converted or checked: the
    // checks cost memory in proportion to what it asks for.
    let over = budget::phase_limits(root);
    if !over.is_empty() {
        let mut diagnostics: Vec<Diagnostic> = over.into_iter().map(|d| d.locate(root)).collect();
        diagnostics.sort_by_key(|a| (a.line, a.column));
        return (diagnostics, Vec::new());
    }
    let mut spent = budget::Spent::default();

    let mut root_json = root.to_json();
    let root_schema = schema::check(&root_json);
    let root_ok = root_schema.is_empty();
    for d in root_schema {
        add(d.locate(root), None, &mut collected);
    }
    // The phase list as written (names, targets), when it has the right shape. What is
    // left is the blueprint as written without its phases: the document of each phase
    // no patch has changed yet, whose schema findings are the root's.
    let phase_list: Vec<Phase> = match &mut root_json {
        serde_json::Value::Object(map) => map.shift_remove("phases"),
        _ => None,
    }
    .and_then(|p| serde_json::from_value(p).ok())
    .unwrap_or_default();
    // Kept while a phase may still be the blueprint as written, then dropped: a phase
    // holds its own document's JSON, not the root's too.
    let mut root_json = Some(root_json);
    if root_ok {
        for d in rules::check_phases(&phase_list) {
            add(d.locate(root), None, &mut collected);
        }
    }

    // Each phase is checked as soon as it is resolved, and its tree dropped before the
    // next is made.
    let mut patch_findings = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut resolved = Vec::new();
    phase::resolve_each(root, &mut patch_findings, |doc: &PhaseDoc| {
        let i = names.len();
        names.push(doc.name.clone());
        if let Some(d) = spent.add(&doc.root, i, &doc.name) {
            add(d.locate(root), None, &mut collected);
            return ControlFlow::Break(());
        }
        let over = budget::phase_limits(&doc.root);
        if !over.is_empty() {
            for d in over {
                add(
                    d.locate_in(&doc.root, &doc.removed),
                    Some(i),
                    &mut collected,
                );
            }
            return ControlFlow::Continue(());
        }
        // The blueprint as written was checked whole above; a phase no patch changed
        // is that document, so its JSON and its (empty) findings are the root's.
        if !doc.as_written {
            root_json = None;
        }
        let reuse = doc.as_written && root_ok && root_json.is_some();
        let mut own_json = None;
        let findings = if reuse {
            Vec::new()
        } else {
            let json = own_json.insert(doc.root.to_json());
            schema::check(json)
        };
        // Unknown fields alone do not stop the semantic checks: without them the
        // document is well-formed, and the user gets every finding in one run.
        let only_unknown = findings.iter().all(|d| d.code == Code::UnknownField);
        if let Some(json) = own_json.as_mut() {
            for d in &findings {
                if only_unknown {
                    remove_pointer(json, &d.pointer);
                }
            }
        }
        let had_findings = !findings.is_empty();
        for d in findings {
            add(
                d.locate_in(&doc.root, &doc.removed),
                Some(i),
                &mut collected,
            );
        }
        if had_findings && !only_unknown {
            return ControlFlow::Continue(());
        }
        // Either this phase's own JSON or, when it reuses the root's, that one.
        let Some(json) = own_json.as_ref().or(root_json.as_ref()) else {
            return ControlFlow::Continue(());
        };
        let blueprint: Blueprint = match Blueprint::deserialize(json) {
            Ok(b) => b,
            Err(e) => {
                add(
                    Diagnostic::error(Code::Invalid, "", e.to_string())
                        .locate_in(&doc.root, &doc.removed),
                    Some(i),
                    &mut collected,
                );
                return ControlFlow::Continue(());
            }
        };
        let meta = phase_list.get(i);
        // The phase's own `targets`, else the blueprint's as patched so far (a patch
        // may change them, for this phase and the ones after it).
        let targets = meta
            .and_then(|p| p.targets.clone())
            .unwrap_or_else(|| blueprint.targets.clone());
        for d in rules::check(&blueprint, &targets)
            .into_iter()
            .chain(later(&blueprint, &targets))
        {
            add(
                d.locate_in(&doc.root, &doc.removed),
                Some(i),
                &mut collected,
            );
        }
        resolved.push(ResolvedPhase {
            name: doc.name.clone(),
            description: meta.and_then(|p| p.description.clone()),
            enter_when: meta.map(|p| p.enter_when.clone()).unwrap_or_default(),
            targets,
            blueprint,
            name_at: root
                .get("phases")
                .and_then(|p| match &p.kind {
                    yaml::Kind::Seq(items) => items.get(i),
                    _ => None,
                })
                .and_then(|p| p.get("name"))
                .map(|n| n.span),
        });
        ControlFlow::Continue(())
    });
    for d in patch_findings {
        add(d, None, &mut collected);
    }

    let all = names.len();
    let mut diagnostics: Vec<Diagnostic> = collected
        .into_iter()
        .map(|c| {
            let mut d = c.diagnostic;
            d.phases = if c.in_base || c.phases.len() == all || all <= 1 {
                Vec::new()
            } else {
                c.phases.iter().map(|&i| names[i].clone()).collect()
            };
            d
        })
        .collect();
    diagnostics.sort_by(|a, b| {
        (a.line, a.column, a.severity, a.code).cmp(&(b.line, b.column, b.severity, b.code))
    });
    let ok = !diagnostics.iter().any(|d| d.severity == Severity::Error);
    (diagnostics, if ok { resolved } else { Vec::new() })
}

/// Removes the member a pointer names from a JSON document.
fn remove_pointer(json: &mut serde_json::Value, pointer: &str) {
    let pointer = Pointer::from(pointer);
    let Some(last) = pointer.last() else {
        return;
    };
    if let Some(serde_json::Value::Object(map)) = json.pointer_mut(pointer.parent().as_str()) {
        map.remove(&last);
    }
}
