//! `<phase>/ARCHITECTURE.md`: a Mermaid flowchart of the phase (balancer → pools →
//! services → datastores, with instance counts, autoscaling targets and queues), what
//! changed from the phase before (styled in the picture, listed under it), the signals
//! for moving on to the next phase, and the phase's capacity table, so a reader on
//! GitHub sees the architecture and the decision to move instead of reading YAML.

use std::collections::BTreeMap;

use crate::model::Condition;
use crate::plan::watch::{AlertPlan, Move};
use crate::plan::Plan;
use crate::report::capacity;
use crate::report::diff::{summarize, Change, Mark};

use super::bundle::generated_header;

mod flowchart;

pub use flowchart::flowchart;
use flowchart::id;

/// How a box of the picture stands to the phase before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Marked {
    Added,
    Changed,
}

impl Marked {
    /// Its word in the labels and the legend, and its Mermaid class.
    pub fn word(self) -> &'static str {
        match self {
            Marked::Added => "added",
            Marked::Changed => "changed",
        }
    }

    /// Its Mermaid style on a box: a green box with a thick border, an orange one with a dashed
    /// border (told apart without colour too).
    fn style(self) -> &'static str {
        match self {
            Marked::Added => "fill:#dafbe1,stroke:#1a7f37,stroke-width:3px,color:#000",
            Marked::Changed => {
                "fill:#ffe2c2,stroke:#bc4c00,stroke-width:3px,stroke-dasharray:5 3,color:#000"
            }
        }
    }

    /// Its style on a tier, which holds boxes of its own: the border only.
    fn tier_style(self) -> &'static str {
        match self {
            Marked::Added => "stroke:#1a7f37,stroke-width:3px",
            Marked::Changed => "stroke:#bc4c00,stroke-width:3px,stroke-dasharray:5 3",
        }
    }
}

/// The phases around the one drawn: the one before (to mark what changed) and the
/// next (its signals for moving on).
#[derive(Debug, Clone, Copy, Default)]
pub struct Around<'a> {
    /// The plan of the blueprint's phase before this one; none for the first.
    pub previous: Option<&'a Plan>,
}

/// The field of a change that adds or removes its subject as a whole.
fn whole(c: &Change) -> bool {
    matches!(
        c.field.as_str(),
        "service" | "datastore" | "balancer" | "tier"
    )
}

/// The box of `plan`'s picture that a change is about, if it is drawn.
fn box_of(plan: &Plan, c: &Change) -> Option<String> {
    if c.subject == "balancer" {
        return plan.balancer.as_ref().map(|_| "lb".to_string());
    }
    if let Some(tier) = c.subject.strip_prefix("tier ") {
        return plan.tiers.contains_key(tier).then(|| id("tier", tier));
    }
    if c.field != "datastore" && plan.services.contains_key(&c.subject) {
        return Some(id("svc", &c.subject));
    }
    if c.field != "service"
        && (plan.datastores.contains_key(&c.subject) || plan.managed.contains_key(&c.subject))
    {
        return Some(id("ds", &c.subject));
    }
    None
}

/// Each box of `plan`'s picture that `changes` add or change.
pub fn marks(plan: &Plan, changes: &[Change]) -> BTreeMap<String, Marked> {
    let mut out = BTreeMap::new();
    for c in changes {
        let Some(b) = box_of(plan, c) else { continue };
        let m = if c.mark == Mark::Added && whole(c) {
            Marked::Added
        } else {
            Marked::Changed
        };
        let slot = out.entry(b).or_insert(m);
        *slot = (*slot).min(m);
    }
    out
}

/// The list under the picture: one line per subject, what was added, removed (not
/// drawn) and changed.
fn changes_list(changes: &[Change]) -> String {
    // Runs of one subject; a whole addition or removal starts a run of its own (a
    // removed service and an added datastore may share a name).
    let mut runs: Vec<Vec<&Change>> = Vec::new();
    for c in changes {
        match runs.last_mut() {
            Some(run) if run[0].subject == c.subject && !whole(c) => run.push(c),
            _ => runs.push(vec![c]),
        }
    }
    let mut out = String::new();
    for run in runs {
        let verb = match run.iter().find(|c| whole(c)) {
            Some(c) if c.mark == Mark::Added => "added",
            Some(c) if c.mark == Mark::Removed => "removed",
            _ => "changed",
        };
        let subject = match run[0].subject.strip_prefix("tier ") {
            Some(t) => format!("tier `{t}`"),
            None if ["platforms", "balancer"].contains(&run[0].subject.as_str()) => {
                run[0].subject.clone()
            }
            None => format!("`{}`", run[0].subject),
        };
        let parts: Vec<String> = run
            .iter()
            .filter(|c| !(whole(c) && c.text == "removed"))
            .map(|c| match c.mark {
                _ if whole(c) || verb != "changed" => c.text.clone(),
                Mark::Added => format!("added {}", c.text),
                Mark::Removed => format!("removed {}", c.text),
                Mark::Changed => c.text.clone(),
            })
            .collect();
        out.push_str(&format!("- **{verb}** {subject}"));
        if !parts.is_empty() {
            out.push_str(&format!(": {}", parts.join("; ")));
        }
        out.push('\n');
    }
    out
}

/// What changed from the phase before, under the picture.
fn changed_section(plan: &Plan, previous: Option<&Plan>, changes: &[Change]) -> String {
    let Some(prev) = previous else {
        return format!(
            "`{}` is the blueprint's first phase: nothing before it to compare with.\n\n",
            plan.phase
        );
    };
    if changes.is_empty() {
        return format!(
            "Nothing in the phase diff's summary changed from the phase before, `{}` \
             (`tierform diff` lists the files that differ).\n\n",
            prev.phase
        );
    }
    let mut out = format!(
        "Marked in the picture: **(added)** since `{}`, the phase before (green, thick \
         border); **(changed)** (orange, dashed border; a tier's border only). What was \
         removed is listed below and not drawn.\n\n",
        prev.phase
    );
    out.push_str(&format!("## Changed from `{}`\n\n", prev.phase));
    out.push_str(&changes_list(changes));
    out.push('\n');
    out
}

/// The signals for leaving the phase: the next phase's `enter_when`, and this one's
/// `leave_when` back to the phase before.
fn leaving_section(plan: &Plan) -> String {
    let mut out = String::from("## Leaving this phase\n\n");
    let w = &plan.watch;
    match &w.next {
        None => out.push_str(&format!(
            "`{}` is the blueprint's last phase: there is none to move on to.\n\n",
            plan.phase
        )),
        Some((name, c)) if c.is_empty() => out.push_str(&format!(
            "The next phase, `{name}`, gives no signal for moving on (its `enter_when` is empty).\n\n"
        )),
        Some((name, conditions)) => {
            out.push_str(&format!("Move on to `{name}` when:\n"));
            out.push_str(&condition_list(conditions));
            out.push('\n');
        }
    }
    if let (Some(previous), false) = (&w.previous, w.leave_when.is_empty()) {
        out.push_str(&format!(
            "Move back to `{previous}` when all of these hold together:\n"
        ));
        out.push_str(&condition_list(&w.leave_when));
        out.push('\n');
    }
    let files = alert_files(plan, |a| a.direction != Move::Hold);
    if !files.is_empty() {
        out.push_str(&format!(
            "Each signal above is an alert, `{}` or `{}`, in {}; a condition marked *not measured* is for people to judge.\n\n",
            crate::plan::watch::NEXT_PHASE_ALERT,
            crate::plan::watch::OVER_PROVISIONED_ALERT,
            files.join(" and "),
        ));
    }
    out
}

/// The phase's objectives: what it should hold to, each an alert when missed.
fn objectives_section(plan: &Plan) -> String {
    let w = &plan.watch;
    if w.objectives.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Objectives\n\nThis phase should hold to:\n");
    for o in &w.objectives {
        out.push_str(&format!("- `{}`\n", o.objective_line()));
    }
    out.push('\n');
    let files = alert_files(plan, |a| a.direction == Move::Hold);
    if !files.is_empty() {
        out.push_str(&format!(
            "Each is an alert, `{}`, in {}, while it is missed: for people to look into (a slow query, a cold cache, a bad release), not a signal to change phase, which is what the next phase's `enter_when` says.\n\n",
            crate::plan::watch::OBJECTIVE_ALERT,
            files.join(" and "),
        ));
    }
    out
}

/// Where the alerts that `which` picks are rendered, one entry per platform.
fn alert_files(plan: &Plan, which: impl Fn(&AlertPlan) -> bool) -> Vec<String> {
    let w = &plan.watch;
    plan.platforms
        .iter()
        .filter(|p| w.alerts.iter().any(|a| which(a) && a.exprs.contains_key(p)))
        .map(|p| match p {
            crate::model::Platform::Kubernetes => format!(
                "`kubernetes/{}` (the PrometheusRule `{}`)",
                crate::render::monitoring::KUBERNETES_FILE,
                crate::render::monitoring::PROMETHEUS_RULE
            ),
            // In the monitoring machine's folder.
            crate::model::Platform::Hosts => match plan
                .scrape
                .get(p)
                .and_then(|s| s.home.as_ref())
                .and_then(|h| h.machine.as_deref())
            {
                Some(m) => format!(
                    "`hosts/{}/{}`",
                    crate::render::bundle::machine_dir(m),
                    crate::render::monitoring::RULES_FILE
                ),
                None => format!("`hosts/{}`", crate::render::monitoring::RULES_FILE),
            },
            _ => format!("`{}/{}`", p.as_str(), crate::render::monitoring::RULES_FILE),
        })
        .collect()
}

/// Conditions as a Markdown list: a signal in code, text marked as not measured.
fn condition_list(conditions: &[Condition]) -> String {
    let mut out = String::new();
    for c in conditions {
        match c {
            Condition::Signal(s) => out.push_str(&format!("- `{s}`\n")),
            Condition::Text(t) => out.push_str(&format!("- {t} (*not measured*)\n")),
        }
    }
    out
}

/// What the Docker hosts need for the GPUs the services take (compose and hosts; the
/// Kubernetes README says what the cluster needs).
fn gpu_section(plan: &Plan) -> String {
    use crate::model::Platform;
    if !plan
        .platforms
        .iter()
        .any(|p| matches!(p, Platform::Compose | Platform::Hosts))
    {
        return String::new();
    }
    let vendors = plan.gpu_vendors();
    if vendors.is_empty() {
        return String::new();
    }
    let mut out = String::from("## GPUs on the Docker hosts\n\n");
    for v in vendors {
        let given = match v.visible_devices_var() {
            None => "each instance is given its own GPUs by index (`device_ids`)".to_string(),
            Some(var) => {
                format!("each instance gets the device files and `{var}` naming its own GPUs")
            }
        };
        out.push_str(&format!(
            "- {}: {given}.\n",
            crate::render::docker_gpu_needs(v)
        ));
    }
    out.push('\n');
    out
}

/// The whole ARCHITECTURE.md of a phase.
pub fn render(plan: &Plan, around: Around) -> String {
    let changes = around
        .previous
        .map(|prev| summarize(prev, plan))
        .unwrap_or_default();
    let marks = marks(plan, &changes);
    let mut out = format!("<!-- {} -->\n\n", generated_header(plan));
    out.push_str(&format!("# {}: phase `{}`\n\n", plan.blueprint, plan.phase));
    out.push_str("```mermaid\n");
    out.push_str(&flowchart(plan, &marks));
    out.push_str("```\n\n");
    out.push_str(&changed_section(plan, around.previous, &changes));
    out.push_str(&gpu_section(plan));
    out.push_str(&leaving_section(plan));
    out.push_str(&objectives_section(plan));
    out.push_str(&capacity::markdown(
        &capacity::capacity(plan),
        "## Capacity of",
    ));
    out
}
