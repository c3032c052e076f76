//! Validation of one blueprint file: load → schema → phases → semantic checks, with
//! every finding located in the file and reported once.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use serde::Deserialize;

use crate::check::budget;
use crate::check::diagnostic::{Code, Diagnostic, Severity};
use crate::check::phase::{self, PhaseDoc};
use crate::check::rules;
use crate::check::rules::signals::{self, Watch};
use crate::check::schema;
use crate::model::{Blueprint, Condition, Phase, Platform, SignalCondition};
use crate::source::pointer::Pointer;
use crate::source::yaml::{self, LoadError, Node, Span};

/// A phase's fully typed blueprint, ready to be resolved into a plan.
#[derive(Debug, Clone)]
pub struct ResolvedPhase {
    pub name: String,
    pub description: Option<String>,
    /// Signals that it is time to enter this phase (watched in the phase before).
    pub enter_when: Vec<Condition>,
    /// Signals that this phase is more than the load needs (watched in it).
    pub leave_when: Vec<Condition>,
    /// What this phase should hold to (watched in it).
    pub objectives: Vec<SignalCondition>,
    /// The phase before this one, where `leave_when` points back to.
    pub previous: Option<String>,
    /// The next phase's name and its `enter_when`: what this phase watches for.
    pub next: Option<(String, Vec<Condition>)>,
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
pub type PhaseRules<'a> = &'a (dyn Fn(&Blueprint, &[Platform]) -> Vec<Diagnostic> + Sync);

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

/// Texts from this length on have the schema's validator built beside their loading.
const PREPARE_BESIDE_LOADING: usize = 64 * 1024;

/// Validates the text of one blueprint file.
pub fn validate_str(text: &str, later: PhaseRules) -> Validated {
    // The schema's validator is built on a second thread while this one loads a long
    // text (whoever needs it first waits for it, once). For a short one, the thread
    // costs more than it saves.
    let loaded = std::thread::scope(|scope| {
        if text.len() >= PREPARE_BESIDE_LOADING {
            scope.spawn(schema::prepare);
        }
        yaml::load(text)
    });
    let root = match loaded {
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

/// A finding of one phase's checks, located, and the phase it is attributed to (`None`:
/// it holds in every phase).
type Found = (Diagnostic, Option<usize>);

/// What one phase's checks found and, when they pass, the phase typed.
#[derive(Default)]
struct PhaseOutcome {
    found: Vec<Found>,
    resolved: Option<ResolvedPhase>,
}

/// The root's checks: its schema findings (located), whether it had none, and the
/// outcome of each phase that is the blueprint as written, whose schema findings are
/// the root's.
struct RootOutcome {
    findings: Vec<Diagnostic>,
    ok: bool,
    phases: Vec<(usize, PhaseOutcome)>,
}

/// The root document is checked on a second thread while this one resolves the phases
/// and checks each one a patch changed: the two share nothing but the loaded tree. The
/// phases no patch changed (a prefix of the list) are sent to the root's thread, which
/// checks them after the root, without checking the schema again. Findings are
/// gathered per phase and reported in the order one thread would find them, so the
/// result is the same whatever runs first.
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
    // The phase list as written (names, targets), when it has the right shape.
    let phase_list = phase_list(root);
    let phase_list = &phase_list;

    let mut patch_findings = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut outcomes: Vec<PhaseOutcome> = Vec::new();
    let root_outcome = std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::channel::<(usize, PhaseDoc)>();
        let root_task = scope.spawn(move || {
            let schema = schema::check(root);
            let ok = schema.is_empty();
            let findings = schema.into_iter().map(|d| d.locate(root)).collect();
            // A phase no patch has changed yet is the blueprint as written (without
            // its phase list), whose schema findings are the root's.
            let phases = receive
                .into_iter()
                .map(|(i, doc)| (i, check_phase(i, &doc, root, ok, phase_list, later)))
                .collect();
            RootOutcome {
                findings,
                ok,
                phases,
            }
        });
        // Open while a phase may still be the blueprint as written; closed at the
        // first one a patch changed.
        let mut to_root = Some(send);
        let mut spent = budget::Spent::default();
        phase::resolve_each(root, &mut patch_findings, |doc: &PhaseDoc| {
            let i = names.len();
            names.push(doc.name.clone());
            outcomes.push(PhaseOutcome::default());
            let outcome = &mut outcomes[i];
            if let Some(d) = spent.add(&doc.root, i, &doc.name) {
                outcome.found.push((d.locate(root), None));
                return ControlFlow::Break(());
            }
            // The blueprint as written passed these limits above (they read the
            // services, datastores, tiers and balancer, never the phase list).
            let over = if doc.as_written {
                Vec::new()
            } else {
                budget::phase_limits(&doc.root)
            };
            if !over.is_empty() {
                for d in over {
                    outcome
                        .found
                        .push((d.locate_in(&doc.root, &doc.removed), Some(i)));
                }
                return ControlFlow::Continue(());
            }
            if !doc.as_written {
                to_root = None;
            }
            match &to_root {
                Some(send) => {
                    // The root's thread is alive until this sender is dropped.
                    let _ = send.send((i, doc.clone()));
                }
                None => *outcome = check_phase(i, doc, root, false, phase_list, later),
            }
            ControlFlow::Continue(())
        });
        drop(to_root);
        root_task
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    });
    for (i, outcome) in root_outcome.phases {
        outcomes[i] = outcome;
    }

    for d in root_outcome.findings {
        add(d, None, &mut collected);
    }
    if root_outcome.ok {
        for d in rules::check_phases(phase_list) {
            add(d.locate(root), None, &mut collected);
        }
    }
    // The phases' conditions, each checked against the phase that watches it (once
    // the phase list has passed the schema).
    let listed = if root_outcome.ok {
        phase_list.as_slice()
    } else {
        &[]
    };
    for (i, phase) in listed.iter().enumerate() {
        let at = |list: &str| Pointer::root().child("phases").child(i).child(list);
        let watcher = |j: usize| {
            outcomes
                .get(j)
                .and_then(|o| o.resolved.as_ref())
                .map(|r| (r.name.as_str(), &r.blueprint, r.targets.as_slice()))
        };
        let objectives: Vec<Condition> = phase
            .objectives
            .iter()
            .cloned()
            .map(Condition::Signal)
            .collect();
        let lists = [
            (
                &phase.enter_when,
                "enter_when",
                Watch::Enter,
                i.checked_sub(1),
            ),
            (
                &phase.leave_when,
                "leave_when",
                Watch::Leave,
                (i > 0).then_some(i),
            ),
            (&objectives, "objectives", Watch::Objective, Some(i)),
        ];
        for (conditions, list, watch, by) in lists {
            // A watching phase with errors of its own is not checked against.
            let watched_in = match by {
                Some(j) => match watcher(j) {
                    Some((name, bp, _)) => Some((name, bp)),
                    None => continue,
                },
                None => None,
            };
            for d in signals::check_conditions(conditions, &at(list), watch, watched_in) {
                add(d.locate(root), None, &mut collected);
            }
        }
        // A queue the phase before consumed, on a broker this phase keeps, that no
        // service of this phase consumes.
        if let (Some((before, was, _)), Some((_, now, _))) =
            (i.checked_sub(1).and_then(watcher), watcher(i))
        {
            for d in rules::stranded_queues(before, was, now, &at("name")) {
                add(d.locate(root), None, &mut collected);
            }
        }
    }
    // Tiers' hosts that no phase renders a bundle for: a phase without one is fine
    // when another phase places the same machines.
    let hosts_rendered = outcomes.iter().any(|o| {
        o.resolved
            .as_ref()
            .is_some_and(|r| crate::model::capabilities::any_has_machines(&r.targets))
    });
    let mut resolved = Vec::new();
    for outcome in outcomes {
        for (d, phase) in outcome.found {
            if hosts_rendered && d.code == Code::HostsNotRendered {
                continue;
            }
            add(d, phase, &mut collected);
        }
        resolved.extend(outcome.resolved);
    }
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
    if !ok {
        return (diagnostics, Vec::new());
    }
    // Each phase knows its neighbours: it watches the next one's `enter_when` and
    // points back to the one before.
    let neighbours: Vec<(String, Vec<Condition>)> = resolved
        .iter()
        .map(|p: &ResolvedPhase| (p.name.clone(), p.enter_when.clone()))
        .collect();
    for (i, p) in resolved.iter_mut().enumerate() {
        p.previous = i.checked_sub(1).map(|j| neighbours[j].0.clone());
        p.next = neighbours.get(i + 1).cloned();
    }
    (diagnostics, resolved)
}

/// The phase list as written (names, descriptions, targets; not the patches, which the
/// phases' documents hold), or none when it does not have the right shape.
fn phase_list(root: &Node) -> Vec<Phase> {
    let Some(yaml::Kind::Seq(items)) = root.get("phases").map(|p| &p.kind) else {
        return Vec::new();
    };
    let mut list = Vec::with_capacity(items.len());
    for item in items.iter() {
        // A patch is any value (its own checks come with its phase's document).
        let mut item = item.clone();
        if let yaml::Kind::Map(entries) = &mut item.kind {
            Arc::make_mut(entries).retain(|(k, _)| k.name != "patch");
        }
        match Phase::deserialize(&item) {
            Ok(phase) => list.push(phase),
            Err(_) => return Vec::new(),
        }
    }
    list
}

/// One phase's checks: the schema on its document (unless it is the blueprint as
/// written and the root passed, `as_root_passed`), then the typed blueprint, read from
/// the tree, and the semantic rules. Findings are located in the phase's document.
fn check_phase(
    i: usize,
    doc: &PhaseDoc,
    root: &Node,
    as_root_passed: bool,
    phase_list: &[Phase],
    later: PhaseRules,
) -> PhaseOutcome {
    let mut outcome = PhaseOutcome::default();
    let findings = if as_root_passed {
        Vec::new()
    } else {
        schema::check(&doc.root)
    };
    // Unknown fields alone do not stop the semantic checks: without them the
    // document is well-formed, and the user gets every finding in one run.
    let only_unknown = findings.iter().all(|d| d.code == Code::UnknownField);
    let typed = if findings.is_empty() {
        Some(Blueprint::deserialize(&doc.root))
    } else if only_unknown {
        // Read from a JSON copy of the document without its unknown fields.
        let mut json = doc.root.to_json();
        for d in &findings {
            remove_pointer(&mut json, &d.pointer);
        }
        Some(Blueprint::deserialize(&json))
    } else {
        None
    };
    for d in findings {
        outcome
            .found
            .push((d.locate_in(&doc.root, &doc.removed), Some(i)));
    }
    let blueprint: Blueprint = match typed {
        None => return outcome,
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            outcome.found.push((
                Diagnostic::error(Code::Invalid, "", e.to_string())
                    .locate_in(&doc.root, &doc.removed),
                Some(i),
            ));
            return outcome;
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
        outcome
            .found
            .push((d.locate_in(&doc.root, &doc.removed), Some(i)));
    }
    outcome.resolved = Some(ResolvedPhase {
        name: doc.name.clone(),
        description: meta.and_then(|p| p.description.clone()),
        enter_when: meta.map(|p| p.enter_when.clone()).unwrap_or_default(),
        leave_when: meta.map(|p| p.leave_when.clone()).unwrap_or_default(),
        objectives: meta.map(|p| p.objectives.clone()).unwrap_or_default(),
        previous: None,
        next: None,
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
    outcome
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
