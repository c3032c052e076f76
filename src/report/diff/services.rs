//! A service's changes: kind, image, command, instances, autoscaling, resources,
//! placement, health, environment, secrets, what it uses, its queue.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{cpu, instances_text, mem, opt, Both, Mark, Summary};
use crate::model::units::format_duration;
use crate::plan::{BehaviorPlan, ResourcesPlan, ServicePlan};

/// How fast an autoscaler may move in one direction: `after 30s, up to 2 pods per
/// 1m`, `disabled`, or `default` (the platform's).
fn behavior_text(b: Option<&BehaviorPlan>) -> String {
    let Some(b) = b else {
        return "default".into();
    };
    if b.select == "disabled" {
        return "disabled".into();
    }
    let mut parts = Vec::new();
    if let Some(ms) = b.stabilization_ms {
        parts.push(format!("after {}", format_duration(ms)));
    }
    let mut rate = Vec::new();
    if let Some(p) = b.pods {
        rate.push(format!("{p} pod{}", if p == 1 { "" } else { "s" }));
    }
    if let Some(p) = b.percent {
        rate.push(format!("{p}%"));
    }
    if !rate.is_empty() {
        let which = match (rate.len(), b.select.as_str()) {
            (1, _) => "",
            (_, "min") => " (the fewer)",
            _ => " (the more)",
        };
        parts.push(format!(
            "up to {} per {}{which}",
            rate.join(" or "),
            format_duration(b.period_ms)
        ));
    }
    if parts.is_empty() {
        "default".into()
    } else {
        parts.join(", ")
    }
}

/// What the autoscaler of `s` watches: `cpu 70%, 100 req/s`, empty for none.
pub fn targets_text(s: &ServicePlan) -> String {
    let sc = &s.scaling;
    let mut t = Vec::new();
    if let Some(c) = sc.cpu_percent {
        t.push(format!("cpu {c}%"));
    }
    if let Some(m) = sc.memory_percent {
        t.push(format!("memory {m}%"));
    }
    if let Some(r) = sc.requests_per_second {
        t.push(format!("{r} req/s"));
    }
    if let Some(q) = sc.queue_depth {
        t.push(format!("queue depth {q}"));
    }
    if let Some(c) = sc.connections {
        t.push(format!("{c} connections"));
    }
    t.join(", ")
}

/// The autoscaler's targets as JSON, null when the service is not autoscaled.
fn targets_json(s: &ServicePlan) -> Value {
    let sc = &s.scaling;
    if !sc.autoscaled {
        return Value::Null;
    }
    json!({
        "cpu_percent": sc.cpu_percent,
        "memory_percent": sc.memory_percent,
        "requests_per_second": sc.requests_per_second,
        "queue_depth": sc.queue_depth,
        "connections": sc.connections,
    })
}

/// The fewest and most instances: equal unless autoscaled.
fn instances_json(s: &ServicePlan) -> Value {
    if s.scaling.autoscaled {
        json!({"min": s.scaling.min, "max": s.scaling.max})
    } else {
        json!({"min": s.instances, "max": s.instances})
    }
}

fn service_json(s: &ServicePlan) -> Value {
    match &s.job {
        Some(_) => json!({"kind": s.kind.as_str(), "job": job_json(s)}),
        None => json!({"kind": s.kind.as_str(), "instances": instances_json(s)}),
    }
}

/// A job's content hash, retries and time limit.
fn job_json(s: &ServicePlan) -> Value {
    match &s.job {
        Some(j) => json!({"hash": j.hash, "retries": j.retries, "timeout_ms": j.timeout_ms}),
        None => Value::Null,
    }
}

pub(super) fn services(s: &mut Summary) {
    let names: BTreeSet<&String> = s.from.services.keys().chain(s.to.services.keys()).collect();
    for name in names {
        match (s.from.services.get(name), s.to.services.get(name)) {
            (None, Some(b)) if b.job.is_some() => {
                let hash = b.job.as_ref().map_or("", |j| j.hash.as_str());
                let text = format!("job, runs once to completion (content {hash})");
                s.added(name, "service", text, service_json(b));
            }
            (None, Some(b)) => {
                let n = instances_text(b);
                let text = format!(
                    "{} service, {n} instance{}",
                    b.kind.as_str(),
                    if n == "1" { "" } else { "s" }
                );
                s.added(name, "service", text, service_json(b));
            }
            (Some(a), None) => {
                let text = format!("{} service", a.kind.as_str());
                s.removed(name, "service", text, service_json(a));
            }
            (Some(a), Some(b)) => service_fields(s, name, a, b),
            (None, None) => {}
        }
    }
}

fn service_fields(s: &mut Summary, name: &str, a: &ServicePlan, b: &ServicePlan) {
    s.same(name, "kind", "kind", a.kind.as_str(), b.kind.as_str());
    s.same(name, "image", "image", &a.image, &b.image);
    let command = |x: &ServicePlan| (format!("`{}`", x.command.join(" ")), json!(x.command));
    if a.command != b.command {
        s.field(name, "command", "command", command(a), command(b));
    }
    // A job's content: another hash is another run (a new Job on Kubernetes).
    if let (Some(ja), Some(jb)) = (&a.job, &b.job) {
        if ja.hash != jb.hash {
            let text = format!("content {} → {}: the job runs again", ja.hash, jb.hash);
            s.changed(name, Mark::Changed, text, "job", (job_json(a), job_json(b)));
        }
    } else {
        let instances = |x: &ServicePlan| (instances_text(x), instances_json(x));
        s.field(name, "instances", "instances", instances(a), instances(b));
    }
    set_diff(s, name, "after", &a.after, &b.after);
    let (ta, tb) = (targets_text(a), targets_text(b));
    if ta != tb && b.scaling.autoscaled {
        let text = format!(
            "autoscaling on {}",
            if tb.is_empty() {
                "no target".into()
            } else {
                tb
            }
        );
        let mark = if a.scaling.autoscaled {
            Mark::Changed
        } else {
            Mark::Added
        };
        s.changed(
            name,
            mark,
            text,
            "autoscaling",
            (targets_json(a), targets_json(b)),
        );
    } else if a.scaling.autoscaled && !b.scaling.autoscaled {
        s.removed(name, "autoscaling", "autoscaling", targets_json(a));
    }
    // How fast the autoscaler may add and remove instances.
    let policy = |p: &Option<BehaviorPlan>| (behavior_text(p.as_ref()), json!(p));
    for (what, field, pa, pb) in [
        (
            "scale-up",
            "scale_up",
            &a.scaling.scale_up,
            &b.scaling.scale_up,
        ),
        (
            "scale-down",
            "scale_down",
            &a.scaling.scale_down,
            &b.scaling.scale_down,
        ),
    ] {
        s.field(name, what, field, policy(pa), policy(pb));
    }
    resource_fields(s, name, &a.resources, &b.resources);
    s.field(name, "tier", "tier", opt(&a.tier), opt(&b.tier));
    let port = |p: Option<u16>| (p.map_or("none".to_string(), |p| p.to_string()), json!(p));
    s.field(name, "port", "port", port(a.port), port(b.port));
    let health = |x: &ServicePlan| -> Both {
        match &x.health {
            None => ("none".into(), Value::Null),
            Some(h) if h.path.is_empty() => (
                format!("`{}`", h.command.join(" ")),
                json!({"command": h.command}),
            ),
            Some(h) => (h.path.clone(), json!({"path": h.path})),
        }
    };
    s.field(name, "health", "health", health(a), health(b));
    let shutdown = |x: &ServicePlan| -> Both {
        match &x.shutdown {
            None => ("default".into(), Value::Null),
            Some(d) => (
                format!("grace {}s, drain {}s", d.grace_s, d.drain_s),
                json!({"grace_s": d.grace_s, "drain_s": d.drain_s}),
            ),
        }
    };
    s.field(name, "shutdown", "shutdown", shutdown(a), shutdown(b));
    for (k, v) in &b.env {
        match a.env.get(k) {
            None => s.added(name, "env", format!("env {k}"), json!({ k: v })),
            Some(old) if old != v => s.changed(
                name,
                Mark::Changed,
                format!("env {k}"),
                "env",
                (json!({ k: old }), json!({ k: v })),
            ),
            _ => {}
        }
    }
    for (k, v) in a.env.iter().filter(|(k, _)| !b.env.contains_key(*k)) {
        s.removed(name, "env", format!("env {k}"), json!({ k: v }));
    }
    set_diff(s, name, "secret", &a.secrets, &b.secrets);
    set_diff(s, name, "uses", &a.uses, &b.uses);
    let queue = |x: &ServicePlan| match &x.queue {
        None => ("none".into(), Value::Null),
        Some(q) => (
            format!("{} on {}", q.name, q.broker),
            json!({"name": q.name, "broker": q.broker}),
        ),
    };
    s.field(name, "queue", "queue", queue(a), queue(b));
}

/// Names added to or removed from a list (`secret`, `uses`): the field is the list's,
/// the value the name.
fn set_diff(s: &mut Summary, name: &str, what: &str, a: &[String], b: &[String]) {
    for x in b.iter().filter(|x| !a.contains(x)) {
        s.added(name, what, format!("{what} {x}"), json!(x));
    }
    for x in a.iter().filter(|x| !b.contains(x)) {
        s.removed(name, what, format!("{what} {x}"), json!(x));
    }
}

/// Requests and limits that change, of a service or a datastore.
pub(super) fn resource_fields(s: &mut Summary, name: &str, ra: &ResourcesPlan, rb: &ResourcesPlan) {
    let fields = [
        (
            "cpu request",
            "cpu_request_millicores",
            cpu(ra.cpu_millis),
            cpu(rb.cpu_millis),
        ),
        (
            "cpu limit",
            "cpu_limit_millicores",
            cpu(ra.cpu_limit_millis),
            cpu(rb.cpu_limit_millis),
        ),
        (
            "memory request",
            "memory_request_bytes",
            mem(ra.memory_bytes),
            mem(rb.memory_bytes),
        ),
        (
            "memory limit",
            "memory_limit_bytes",
            mem(ra.memory_limit_bytes),
            mem(rb.memory_limit_bytes),
        ),
    ];
    for (what, field, a, b) in fields {
        s.field(name, what, field, a, b);
    }
    s.field(name, "gpus", "gpu", super::gpu(ra.gpu), super::gpu(rb.gpu));
}
