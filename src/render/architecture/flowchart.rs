//! The Mermaid flowchart of a phase: the balancer (how many run, per platform) → its
//! pools → the services (instance counts, what the autoscaler watches) → the
//! datastores (their shape and number of servers, one box each), grouped by tier.
//!
//! Large pictures stay readable: the routes to one service are one edge, and services
//! of one kind on one tier that reach a datastore the same way are drawn in a group
//! with one edge from the group (three worker pools on one Redis: one edge, its label
//! naming their queues).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::units::{format_bytes, format_disk, format_millicores};
use crate::model::BalancerEngine;
use crate::plan::{Plan, ServicePlan};
use crate::report::capacity::server_nodes;
use crate::report::diff::{instances_text, shape_text, targets_text};

use super::Marked;

/// A Mermaid node id: names are `[a-z0-9-]`, ids get `_` for `-`.
pub(super) fn id(prefix: &str, name: &str) -> String {
    format!("{prefix}_{}", name.replace('-', "_"))
}

/// A quoted Mermaid label. Names, paths and numbers only reach it, but quotes and the
/// characters Mermaid reads as markup are written as entities all the same.
fn label(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' => out.push_str("<br/>"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How a service reaches a datastore: it uses it, or it consumes a queue on it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    Uses,
    Queue(String),
}

impl Link {
    fn is_queue(&self) -> bool {
        matches!(self, Link::Queue(_))
    }
}

/// The datastores `s` reaches, in the order it names them, its queue's broker last
/// when it does not also use it.
fn links<'a>(plan: &Plan, s: &'a ServicePlan) -> Vec<(&'a str, Link)> {
    let mut out = Vec::new();
    let known = |n: &str| plan.datastores.contains_key(n) || plan.managed.contains_key(n);
    for u in &s.uses {
        if !known(u) {
            continue;
        }
        let link = match &s.queue {
            Some(q) if &q.broker == u => Link::Queue(q.name.clone()),
            _ => Link::Uses,
        };
        out.push((u.as_str(), link));
    }
    if let Some(q) = &s.queue {
        if !s.uses.contains(&q.broker) && known(&q.broker) {
            out.push((q.broker.as_str(), Link::Queue(q.name.clone())));
        }
    }
    out
}

/// Services of one kind on one tier (or on none) drawn as a group: at least two, and
/// every one reaches each of `shared` the same way, so one edge stands for them all.
struct Group<'a> {
    id: String,
    tier: Option<&'a str>,
    kind: &'static str,
    members: Vec<&'a ServicePlan>,
    /// Datastore name → whether the members consume a queue on it (else use it).
    shared: Vec<(&'a str, bool)>,
}

fn groups(plan: &Plan) -> Vec<Group<'_>> {
    let mut by_place: BTreeMap<(Option<&str>, &'static str), Vec<&ServicePlan>> = BTreeMap::new();
    for s in plan.services.values() {
        by_place
            .entry((s.tier.as_deref(), s.kind.as_str()))
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for ((tier, kind), members) in by_place {
        if members.len() < 2 {
            continue;
        }
        let all: Vec<Vec<(&str, Link)>> = members.iter().map(|s| links(plan, s)).collect();
        let shared: Vec<(&str, bool)> = all[0]
            .iter()
            .filter(|(ds, link)| {
                all.iter().all(|l| {
                    l.iter()
                        .any(|(d, k)| d == ds && k.is_queue() == link.is_queue())
                })
            })
            .map(|(ds, link)| (*ds, link.is_queue()))
            .collect();
        if shared.is_empty() {
            continue;
        }
        let id = match tier {
            Some(t) => id("grp", &format!("{kind}_{t}")),
            None => id("grp", kind),
        };
        out.push(Group {
            id,
            tier,
            kind,
            members,
            shared,
        });
    }
    out
}

/// The balancer's box: its engine and ports, its rate limit, and how many run on each
/// platform of the phase.
fn balancer_label(plan: &Plan) -> Option<String> {
    let lb = plan.balancer.as_ref()?;
    let engine = match lb.engine {
        BalancerEngine::Nginx => "nginx",
        BalancerEngine::Haproxy => "HAProxy",
    };
    let mut text = format!("{engine} :{}", lb.listen);
    if let Some(t) = &lb.tls {
        text.push_str(&format!(", HTTPS :{}", t.listen));
    }
    if let Some(r) = &lb.rate_limit {
        let per = if r.per_minute { "min" } else { "s" };
        text.push_str(&format!("\n{} req/{per} per client", r.rate));
    }
    let counts: Vec<String> = plan
        .platforms
        .iter()
        .map(|p| {
            let n = lb.instances(*p);
            let per = if p.has_machines() && n > 1 {
                " (1 per machine)"
            } else {
                ""
            };
            format!("{} {n}{per}", p.as_str())
        })
        .collect();
    if !counts.is_empty() {
        text.push_str(&format!("\ninstances: {}", counts.join(", ")));
    }
    Some(text)
}

fn service_label(plan: &Plan, s: &ServicePlan) -> String {
    let autoscales =
        s.scaling.autoscaled && crate::model::capabilities::any_autoscales(&plan.platforms);
    let count = if autoscales {
        instances_text(s)
    } else {
        s.instances.to_string()
    };
    let mut text = match &s.job {
        Some(job) => format!("{}\njob: runs once\ncontent {}", s.name, job.hash),
        None => format!("{} ×{}\n{}", s.name, count, s.kind.as_str()),
    };
    if let Some(p) = s.port {
        text.push_str(&format!(" :{p}"));
    }
    if autoscales {
        let targets = targets_text(s);
        if targets.is_empty() {
            text.push_str("\nautoscaled");
        } else {
            text.push_str(&format!("\nautoscaled on {targets}"));
        }
    }
    text
}

/// The Mermaid flowchart of a phase, with the boxes in `marks` styled as added or
/// changed.
pub fn flowchart(plan: &Plan, marks: &BTreeMap<String, Marked>) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut declared: BTreeSet<String> = BTreeSet::new();
    let mut node = |out: &mut String, id: String, shape: (&str, &str), text: String| {
        let text = match marks.get(&id) {
            Some(m) => format!("{text}\n({})", m.word()),
            None => text,
        };
        out.push_str(&format!("  {id}{}{}{}\n", shape.0, label(&text), shape.1));
        declared.insert(id);
    };
    out.push_str("  clients([\"clients\"])\n");
    // Tiers as subgraphs holding what runs on them.
    let mut placed: Vec<(String, String)> = Vec::new(); // (tier, node id)
    if let Some(text) = balancer_label(plan) {
        node(&mut out, "lb".into(), ("[", "]"), text);
        out.push_str("  clients --> lb\n");
        if let Some(t) = plan.balancer.as_ref().and_then(|lb| lb.tier.as_ref()) {
            placed.push((t.clone(), "lb".into()));
        }
    }
    let groups = groups(plan);
    let grouped: BTreeMap<&str, &Group> = groups
        .iter()
        .flat_map(|g| g.members.iter().map(move |s| (s.name.as_str(), g)))
        .collect();
    for s in plan.services.values() {
        // A job's box has the shape of a one-off step.
        let shape = if s.job.is_some() {
            ("[/", "/]")
        } else {
            ("[", "]")
        };
        node(&mut out, id("svc", &s.name), shape, service_label(plan, s));
        if let (Some(t), false) = (&s.tier, grouped.contains_key(s.name.as_str())) {
            placed.push((t.clone(), id("svc", &s.name)));
        }
    }
    for d in plan.datastores.values() {
        let mut text = format!("{}\n{} {}\n{}", d.name, d.engine, d.version, shape_text(d));
        let n = server_nodes(d);
        if n > 1 {
            text.push_str(&format!("\n{n} nodes"));
        }
        if let Some(b) = d.backup() {
            let to = match &b.repo {
                crate::plan::BackupRepo::Local { path } => path.clone(),
                crate::plan::BackupRepo::S3 { bucket, .. } => format!("s3://{bucket}"),
            };
            text.push_str(&format!("\nbackups: pgBackRest → {to}"));
        }
        node(&mut out, id("ds", &d.name), ("[(", ")]"), text);
        if let Some(t) = &d.tier {
            placed.push((t.clone(), id("ds", &d.name)));
        }
    }
    // A provider's datastore: outside every tier, with its address.
    for m in plan.managed.values() {
        let text = format!(
            "{}
{}, managed
{}",
            m.name, m.engine, m.host
        );
        node(&mut out, id("ds", &m.name), ("[(", ")]"), text);
    }
    let group_block = |out: &mut String, g: &Group, indent: &str| {
        let text = format!("{} {} services", g.members.len(), g.kind);
        out.push_str(&format!("{indent}subgraph {}[{}]\n", g.id, label(&text)));
        for s in &g.members {
            out.push_str(&format!("{indent}  {}\n", id("svc", &s.name)));
        }
        out.push_str(&format!("{indent}end\n"));
    };
    let mut subgraphs: Vec<String> = Vec::new();
    for (name, t) in &plan.tiers {
        let members: Vec<&String> = placed
            .iter()
            .filter(|(tier, _)| tier == name)
            .map(|(_, n)| n)
            .collect();
        let nested: Vec<&Group> = groups
            .iter()
            .filter(|g| g.tier == Some(name.as_str()))
            .collect();
        if members.is_empty() && nested.is_empty() {
            continue;
        }
        let tier_id = id("tier", name);
        let count = match t.pool.as_ref().and_then(|p| p.max_nodes) {
            Some(most) => format!("{}–{most}", t.count),
            None => t.count.to_string(),
        };
        let mut text = format!(
            "tier {name}: {count} × {} CPU, {}",
            format_millicores(t.cpu_millis),
            format_bytes(t.memory_bytes)
        );
        if let Some(d) = t.disk_bytes {
            text.push_str(&format!(", {} disk", format_disk(d)));
        }
        if let Some(n) = t.network_bps {
            text.push_str(&format!(
                ", {} network",
                crate::model::units::format_bandwidth(n)
            ));
        }
        if let Some(g) = t.gpu {
            text.push_str(&format!(", {g}"));
        }
        if let Some(m) = marks.get(&tier_id) {
            text.push_str(&format!(" ({})", m.word()));
        }
        out.push_str(&format!("  subgraph {tier_id}[{}]\n", label(&text)));
        for m in members {
            out.push_str(&format!("    {m}\n"));
        }
        for g in nested {
            group_block(&mut out, g, "    ");
        }
        out.push_str("  end\n");
        subgraphs.push(tier_id);
    }
    for g in groups.iter().filter(|g| g.tier.is_none()) {
        group_block(&mut out, g, "  ");
    }
    subgraphs.extend(groups.iter().map(|g| g.id.clone()));
    // One edge from the balancer to each pool, labelled with every route to it.
    if let Some(lb) = &plan.balancer {
        let mut to: Vec<(&str, Vec<String>)> = Vec::new();
        for r in &lb.routes {
            for b in &r.backends {
                let text = if r.backends.len() > 1 {
                    format!("{} {}%", r.path, b.basis_points / 100)
                } else {
                    r.path.clone()
                };
                match to.iter_mut().find(|(pool, _)| *pool == b.pool) {
                    Some((_, paths)) => paths.push(text),
                    None => to.push((b.pool.as_str(), vec![text])),
                }
            }
        }
        for (pool, paths) in to {
            out.push_str(&format!(
                "  lb -->|{}| {}\n",
                label(&paths.join("\n")),
                id("svc", pool)
            ));
        }
    }
    // What waits for a job: a dotted arrow from the job, "before".
    for s in plan.services.values() {
        for job in s.after.iter().filter(|j| plan.services.contains_key(*j)) {
            out.push_str(&format!(
                "  {} -. before .-> {}\n",
                id("svc", job),
                id("svc", &s.name)
            ));
        }
    }
    for g in &groups {
        for (ds, queue) in &g.shared {
            if *queue {
                let mut names: Vec<String> = Vec::new();
                for s in &g.members {
                    if let Some(q) = s.queue.as_ref().filter(|q| q.broker == *ds) {
                        if !names.contains(&q.name) {
                            names.push(q.name.clone());
                        }
                    }
                }
                let text = match names.as_slice() {
                    [one] => format!("queue {one}"),
                    many => format!("queues {}", many.join(", ")),
                };
                edge_queue(&mut out, &g.id, &text, &id("ds", ds));
            } else {
                out.push_str(&format!("  {} --> {}\n", g.id, id("ds", ds)));
            }
        }
    }
    for s in plan.services.values() {
        let shared: &[(&str, bool)] = grouped
            .get(s.name.as_str())
            .map_or(&[], |g| g.shared.as_slice());
        for (ds, link) in links(plan, s) {
            if shared.iter().any(|(d, _)| *d == ds) {
                continue;
            }
            match link {
                Link::Queue(q) => edge_queue(
                    &mut out,
                    &id("svc", &s.name),
                    &format!("queue {q}"),
                    &id("ds", ds),
                ),
                Link::Uses => {
                    out.push_str(&format!("  {} --> {}\n", id("svc", &s.name), id("ds", ds)))
                }
            }
        }
    }
    // A standby region: its machines, and the stream each PostgreSQL feeds it.
    if let Some(region) = &plan.standby {
        let machines: u32 = region
            .plan
            .tiers
            .values()
            .filter(|t| !t.hosts.is_empty())
            .map(|t| t.count)
            .sum();
        let sid = id("standby", &region.name);
        out.push_str(&format!(
            "  {sid}[{}]\n",
            label(&format!(
                "standby region {}\n{machines} machines, hosts/{}/\nserves nothing until promoted",
                region.name, region.dir
            ))
        ));
        for (name, d) in &plan.datastores {
            if d.postgres().is_some_and(|pg| pg.standby.is_some()) {
                out.push_str(&format!("  {} -. streams .-> {sid}\n", id("ds", name)));
            }
        }
    }
    // Styles for what changed from the phase before, on the boxes that are drawn.
    let mut by_class: BTreeMap<(String, &str), Vec<&str>> = BTreeMap::new();
    for (id, m) in marks {
        let (class, style) = if declared.contains(id) {
            (m.word().to_string(), m.style())
        } else if subgraphs.contains(id) {
            (format!("{}_tier", m.word()), m.tier_style())
        } else {
            continue;
        };
        by_class.entry((class, style)).or_default().push(id);
    }
    for ((class, style), ids) in &by_class {
        out.push_str(&format!("  classDef {class} {style}\n"));
        out.push_str(&format!("  class {} {class}\n", ids.join(",")));
    }
    out
}

fn edge_queue(out: &mut String, from: &str, text: &str, to: &str) {
    out.push_str(&format!("  {from} -. {} .-> {to}\n", label(text)));
}
