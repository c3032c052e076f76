//! What changes between two phases: a summary in the plan's own terms, the notes an
//! operator needs for moves that take more than applying files, and the per-file
//! differences of the rendered bundles.
//!
//! Each change is a line of prose for people and, for machines (`diff --format json`,
//! docs/json.md), the field that changed and its values before and after: numbers in
//! the unit the field's name says (`cpu_request_millicores`), null where there was none.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use crate::model::units::{format_bandwidth, format_bytes, format_disk, format_millicores};
use crate::model::Platform;
use crate::plan::{DatastorePlan, EnginePlan, Plan, ServicePlan, TierPlan};

mod balancer;
mod datastores;
mod notes;
mod services;

pub use notes::notes;
pub use services::targets_text;

/// `+` added, `-` removed, `~` changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Mark {
    #[serde(rename = "+")]
    Added,
    #[serde(rename = "-")]
    Removed,
    #[serde(rename = "~")]
    Changed,
}

impl Mark {
    pub fn symbol(self) -> char {
        match self {
            Mark::Added => '+',
            Mark::Removed => '-',
            Mark::Changed => '~',
        }
    }
}

/// One line of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What changed: `platforms`, `tier app`, `balancer`, a service or datastore name.
    pub subject: String,
    #[serde(rename = "change")]
    pub mark: Mark,
    /// The change, in the plan's terms: `instances 1 → 3`.
    pub text: String,
    /// The field of the subject that changed, as a stable name: `instances`,
    /// `cpu_request_millicores`, `route`, `service` (the subject itself added or
    /// removed).
    pub field: String,
    /// Its value before (null when there was none: an addition), structured.
    pub from: Value,
    /// Its value after (null when there is none: a removal), structured.
    pub to: Value,
}

/// A value of a change: its text in the summary line, and its JSON.
type Both = (String, Value);

struct Summary<'a> {
    from: &'a Plan,
    to: &'a Plan,
    out: Vec<Change>,
}

impl Summary<'_> {
    fn push(
        &mut self,
        subject: &str,
        mark: Mark,
        text: impl Into<String>,
        field: &str,
    ) -> &mut Change {
        self.out.push(Change {
            subject: subject.to_string(),
            mark,
            text: text.into(),
            field: field.to_string(),
            from: Value::Null,
            to: Value::Null,
        });
        self.out.last_mut().expect("just pushed")
    }

    /// The subject gains `field`, whose value is `to`.
    fn added(&mut self, subject: &str, field: &str, text: impl Into<String>, to: Value) {
        self.push(subject, Mark::Added, text, field).to = to;
    }

    /// The subject loses `field`, whose value was `from`.
    fn removed(&mut self, subject: &str, field: &str, text: impl Into<String>, from: Value) {
        self.push(subject, Mark::Removed, text, field).from = from;
    }

    /// `field` changes from `a` to `b`, as JSON; the line says `what a → b`.
    fn changed(
        &mut self,
        subject: &str,
        mark: Mark,
        text: impl Into<String>,
        field: &str,
        (a, b): (Value, Value),
    ) {
        let c = self.push(subject, mark, text, field);
        c.from = a;
        c.to = b;
    }

    /// A line `what a → b` when the texts differ, with each value's JSON.
    fn field(&mut self, subject: &str, what: &str, field: &str, a: Both, b: Both) {
        if a.0 != b.0 {
            let text = format!("{what} {} → {}", a.0, b.0);
            self.changed(subject, Mark::Changed, text, field, (a.1, b.1));
        }
    }

    /// [`Summary::field`] for a value that is its own text and JSON: a count, a name.
    fn same<T: PartialEq + std::fmt::Display + Serialize>(
        &mut self,
        subject: &str,
        what: &str,
        field: &str,
        a: T,
        b: T,
    ) {
        if a != b {
            let (ja, jb) = (json!(a), json!(b));
            self.field(
                subject,
                what,
                field,
                (a.to_string(), ja),
                (b.to_string(), jb),
            );
        }
    }
}

/// Millicores as the summary says them (`500m`, `none`) and as a number (null for none).
fn cpu(m: u64) -> Both {
    if m == 0 {
        ("none".into(), Value::Null)
    } else {
        (format_millicores(m), json!(m))
    }
}

/// Bytes as the summary says them (`4Gi`, `none`) and as a number (null for none).
fn mem(b: u64) -> Both {
    if b == 0 {
        ("none".into(), Value::Null)
    } else {
        (format_bytes(b), json!(b))
    }
}

/// An optional name: `none` and null when absent.
fn opt(x: &Option<String>) -> Both {
    match x {
        Some(v) => (v.clone(), json!(v)),
        None => ("none".into(), Value::Null),
    }
}

/// `3`, or `3–20` for an autoscaled service.
pub fn instances_text(s: &ServicePlan) -> String {
    if s.scaling.autoscaled {
        format!("{}–{}", s.scaling.min, s.scaling.max)
    } else {
        s.instances.to_string()
    }
}

/// `primary + 2 replicas + pgbouncer`, `cluster (3 masters × 1 replica)`, `standalone`.
pub fn shape_text(d: &DatastorePlan) -> String {
    match &d.engine {
        EnginePlan::Postgres(pg) => {
            let mut s = "primary".to_string();
            if pg.replicas > 0 {
                s.push_str(&format!(
                    " + {} {} replica{}",
                    pg.replicas,
                    if pg.synchronous { "sync" } else { "async" },
                    if pg.replicas == 1 { "" } else { "s" }
                ));
            }
            if pg.pooler.is_some() {
                s.push_str(" + pgbouncer");
            }
            if pg.patroni.is_some() {
                // On Kubernetes Patroni keeps its state in the cluster's own objects;
                // elsewhere in etcd, reached through a router.
                if d.nodes.keys().any(|p| *p != Platform::Kubernetes) {
                    s.push_str(" + Patroni failover (etcd ×3, router)");
                } else {
                    s.push_str(" + Patroni failover");
                }
            }
            s
        }
        EnginePlan::Redis(r) if r.cluster => format!(
            "cluster ({} masters × {} replica{})",
            r.masters,
            r.replicas_per_master,
            if r.replicas_per_master == 1 { "" } else { "s" }
        ),
        EnginePlan::Redis(_) => "standalone".into(),
        EnginePlan::Rabbitmq(r) if r.nodes > 1 => {
            format!("cluster of {} brokers (quorum queues)", r.nodes)
        }
        EnginePlan::Rabbitmq(_) => "single node".into(),
    }
}

/// Every change from `from` to `to`, grouped by subject in a stable order: platforms,
/// tiers, the balancer, services, datastores.
pub fn summarize(from: &Plan, to: &Plan) -> Vec<Change> {
    let mut s = Summary {
        from,
        to,
        out: Vec::new(),
    };
    platforms(&mut s);
    tiers(&mut s);
    balancer::balancer(&mut s);
    services::services(&mut s);
    datastores::datastores(&mut s);
    standby(&mut s);
    s.out
}

/// A standby region: its name and machines, as JSON and as the line says them.
fn standby_json(p: &Plan) -> Option<(String, Value)> {
    let r = p.standby.as_ref()?;
    let hosts: BTreeMap<&String, &Vec<String>> = r
        .plan
        .tiers
        .iter()
        .filter(|(_, t)| !t.hosts.is_empty())
        .map(|(n, t)| (n, &t.hosts))
        .collect();
    let machines: usize = hosts.values().map(|h| h.len()).sum();
    Some((
        format!(
            "`{}`, {machines} machine{}",
            r.name,
            if machines == 1 { "" } else { "s" }
        ),
        json!({ "name": r.name, "hosts": hosts }),
    ))
}

fn standby(s: &mut Summary) {
    match (standby_json(s.from), standby_json(s.to)) {
        (None, Some((text, v))) => s.added("standby region", "standby", text, v),
        (Some((text, v)), None) => s.removed("standby region", "standby", text, v),
        (Some((a, va)), Some((b, vb))) if va != vb => s.changed(
            "standby region",
            Mark::Changed,
            format!("{a} → {b}"),
            "standby",
            (va, vb),
        ),
        _ => {}
    }
}

fn platforms(s: &mut Summary) {
    let a: BTreeSet<Platform> = s.from.platforms.iter().copied().collect();
    let b: BTreeSet<Platform> = s.to.platforms.iter().copied().collect();
    for p in b.difference(&a) {
        s.added("platforms", "platform", p.as_str(), json!(p.as_str()));
    }
    for p in a.difference(&b) {
        s.removed("platforms", "platform", p.as_str(), json!(p.as_str()));
    }
}

/// A tier's machines, as JSON.
fn tier_json(t: &TierPlan) -> Value {
    let mut out = json!({
        "machines": t.count,
        "cpu_millicores": t.cpu_millis,
        "memory_bytes": t.memory_bytes,
        "hosts": t.hosts,
        "cost_per_machine": t.cost_per_month,
    });
    if let Some(d) = t.disk_bytes {
        out["disk_bytes"] = json!(d);
    }
    if let Some(n) = t.network_bps {
        out["network_bits_per_second"] = json!(n);
    }
    if let Some(g) = t.gpu {
        out["gpu"] = json!(g);
    }
    if let Some(p) = &t.pool {
        out["pool"] = json!(p);
    }
    out
}

/// GPUs as the diff shows them: `1 NVIDIA GPU`, or `none`.
fn gpu(g: Option<crate::model::Gpu>) -> Both {
    (g.map_or("none".into(), |g| g.to_string()), json!(g))
}

/// A node pool as the diff shows it: `pool=data; dedicated=data:NoSchedule`, or
/// `none`.
fn node_pool(p: Option<&crate::plan::NodePoolPlan>) -> Both {
    let Some(p) = p else {
        return ("none".into(), Value::Null);
    };
    let mut text = p.text();
    if let Some(m) = p.max_nodes {
        text.push_str(&format!(", grown up to {m} nodes"));
    }
    (text, json!(p))
}

fn tiers(s: &mut Summary) {
    let names: BTreeSet<&String> = s.from.tiers.keys().chain(s.to.tiers.keys()).collect();
    for name in names {
        let subject = format!("tier {name}");
        match (s.from.tiers.get(name), s.to.tiers.get(name)) {
            (None, Some(t)) => {
                let mut text = format!(
                    "{} × {} CPU, {}",
                    t.count,
                    cpu(t.cpu_millis).0,
                    mem(t.memory_bytes).0
                );
                if let Some(d) = t.disk_bytes {
                    text.push_str(&format!(", {} disk", format_disk(d)));
                }
                if let Some(n) = t.network_bps {
                    text.push_str(&format!(", {} network", format_bandwidth(n)));
                }
                if let Some(g) = t.gpu {
                    text.push_str(&format!(", {g}"));
                }
                if t.pool.is_some() {
                    text.push_str(&format!(", node pool {}", node_pool(t.pool.as_ref()).0));
                }
                s.added(&subject, "tier", text, tier_json(t));
            }
            (Some(t), None) => s.removed(&subject, "tier", "removed", tier_json(t)),
            (Some(a), Some(b)) => {
                s.same(&subject, "machines", "machines", a.count, b.count);
                if (a.cpu_millis, a.memory_bytes, a.disk_bytes, a.network_bps)
                    != (b.cpu_millis, b.memory_bytes, b.disk_bytes, b.network_bps)
                {
                    let machine = |t: &TierPlan| {
                        let mut text =
                            format!("{} CPU, {}", cpu(t.cpu_millis).0, mem(t.memory_bytes).0);
                        let mut value =
                            json!({"cpu_millicores": t.cpu_millis, "memory_bytes": t.memory_bytes});
                        if let Some(d) = t.disk_bytes {
                            text.push_str(&format!(", {} disk", format_disk(d)));
                            value["disk_bytes"] = json!(d);
                        }
                        if let Some(n) = t.network_bps {
                            text.push_str(&format!(", {} network", format_bandwidth(n)));
                            value["network_bits_per_second"] = json!(n);
                        }
                        (text, value)
                    };
                    s.field(&subject, "machine", "machine", machine(a), machine(b));
                }
                let hosts = |t: &TierPlan| (format!("[{}]", t.hosts.join(", ")), json!(t.hosts));
                s.field(&subject, "hosts", "hosts", hosts(a), hosts(b));
                s.field(&subject, "gpus per machine", "gpu", gpu(a.gpu), gpu(b.gpu));
                s.field(
                    &subject,
                    "node pool",
                    "pool",
                    node_pool(a.pool.as_ref()),
                    node_pool(b.pool.as_ref()),
                );
                if a.cost_per_month != b.cost_per_month {
                    let c =
                        |x: Option<f64>| (x.map_or("unknown".into(), |v| format!("{v}")), json!(x));
                    s.field(
                        &subject,
                        "cost per machine",
                        "cost_per_machine",
                        c(a.cost_per_month),
                        c(b.cost_per_month),
                    );
                }
            }
            (None, None) => {}
        }
    }
}
