//! Semantic checks: what the schema cannot say. Runs on each phase's resolved, typed
//! blueprint; every finding carries a pointer into that phase's document.
//!
//! [`check`] runs the rules in a fixed order (so findings come out in that order); each
//! file holds the rules about one part of the blueprint.

mod balancer;
mod datastores;
mod jobs;
mod monitoring;
mod names;
mod pools;
mod resources;
mod scaling;
mod secrets;
mod services;
pub mod signals;
mod standby;
mod tiers;
mod tls;

use std::collections::BTreeMap;

use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::check::suggest::{did_you_mean, did_you_mean_hint};
use crate::model::{Blueprint, Phase, Platform};
use crate::source::pointer::Pointer;

/// Every semantic finding for one phase's blueprint, rendered for `targets`.
pub fn check(bp: &Blueprint, targets: &[Platform]) -> Vec<Diagnostic> {
    let mut c = Checker {
        bp,
        out: Vec::new(),
    };
    c.names();
    c.monitoring(targets);
    c.tiers(targets);
    c.standby(targets);
    c.node_pools(targets);
    c.gpus(targets);
    c.balancer();
    c.tls(targets);
    for (name, service) in &bp.services {
        c.service(name, service);
        c.job_fields(name, service);
        c.metrics(name, service);
    }
    c.after();
    for (name, store) in &bp.datastores {
        c.datastore(name, store);
        c.backup(name, store, targets);
        c.failover(name, store, targets);
    }
    c.host_ports();
    c.nginx_max_fails();
    // Where the balancer reaches a service through one address, not each instance.
    if let Some(lb) = &bp.balancer {
        if targets
            .iter()
            .any(|p| !p.addresses_instances(lb.engine, true))
        {
            c.kubernetes_balance();
        }
        if targets.contains(&Platform::Kubernetes) {
            c.pod_service_names(lb.engine);
        }
    }
    if targets
        .iter()
        .any(|p| matches!(p, Platform::Compose | Platform::Hosts))
    {
        c.monitoring_names();
    }
    c.out
}

/// The queues phase `before`'s blueprint `was` consumed, on a broker that `now` keeps,
/// that no service of `now` consumes: what is in them, or still sent to them, waits
/// for a consumer that never comes. Warned at the phase's name (`at`).
pub fn stranded_queues(
    before: &str,
    was: &Blueprint,
    now: &Blueprint,
    at: &Pointer,
) -> Vec<Diagnostic> {
    let consumed = |bp: &Blueprint| -> std::collections::BTreeSet<(String, String)> {
        bp.services
            .values()
            .filter_map(|s| s.queue.as_ref())
            .map(|q| (q.broker.clone(), q.name.clone()))
            .collect()
    };
    let now_consumed = consumed(now);
    consumed(was)
        .into_iter()
        .filter(|(broker, _)| now.datastores.contains_key(broker))
        .filter(|q| !now_consumed.contains(q))
        .map(|(broker, name)| {
            let consumers: Vec<&str> = was
                .services
                .iter()
                .filter(|(_, s)| {
                    s.queue
                        .as_ref()
                        .is_some_and(|q| q.broker == broker && q.name == name)
                })
                .map(|(n, _)| n.as_str())
                .collect();
            Diagnostic::warning(
                Code::QueueWithoutConsumer,
                at.clone(),
                format!(
                    "queue `{name}` on `{broker}` has no consumer in this phase (`{}` consumed it in `{before}`): the tasks in it when this phase starts, or still sent to it, wait forever",
                    consumers.join("`, `")
                ),
            )
            .hint(format!("drain `{name}` before the move (let the old consumers finish), and make sure nothing sends to it; or give a service of this phase `queue: {{ broker: {broker}, name: {name} }}`"))
        })
        .collect()
}

/// Findings about the phase list as a whole.
pub fn check_phases(phases: &[Phase]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, phase) in phases.iter().enumerate() {
        if let Some(first) = seen.insert(&phase.name, i) {
            out.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    Pointer::root().child("phases").child(i).child("name"),
                    format!("phase `{}` is defined twice", phase.name),
                )
                .hint(format!(
                    "phase names must be unique (each is an output folder); the first `{}` is /phases/{first}",
                    phase.name
                )),
            );
        }
    }
    out
}

struct Checker<'a> {
    bp: &'a Blueprint,
    out: Vec<Diagnostic>,
}

fn service_ptr(name: &str) -> Pointer {
    Pointer::build(["services", name])
}

fn store_ptr(name: &str) -> Pointer {
    Pointer::build(["datastores", name])
}

impl Checker<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    fn reference(&mut self, pointer: Pointer, what: &str, name: &str, candidates: Vec<String>) {
        let hint = did_you_mean(name, &candidates)
            .map(|s| did_you_mean_hint(&s))
            .or_else(|| (candidates.is_empty()).then(|| format!("define it under `{what}s`")));
        let mut d = Diagnostic::error(
            Code::UnknownReference,
            pointer,
            format!("no {what} named `{name}`"),
        )
        .maybe_hint(hint);
        if !candidates.is_empty() {
            d = d.expected(format!(
                "one of {}",
                candidates
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.push(d);
    }

    fn tier_ref(&mut self, pointer: Pointer, tier: Option<&String>) {
        if let Some(t) = tier {
            if !self.bp.tiers.contains_key(t) {
                let candidates = self.bp.tiers.keys().cloned().collect();
                self.reference(pointer, "tier", t, candidates);
            }
        }
    }
}
