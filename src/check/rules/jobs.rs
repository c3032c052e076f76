//! Jobs (`kind: job`): the fields a run to completion cannot have, the fields only a
//! job has, and the services' `after` (what they wait for: known jobs, no cycle).

use std::collections::{BTreeMap, BTreeSet};

use super::{service_ptr, Checker};
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::{Service, ServiceKind};

/// What a job cannot have, with what to do instead.
const NOT_FOR_JOBS: &[(&str, &str)] = &[
    ("port", "a job takes no traffic: remove `port`, or make it an `http` service"),
    ("host_port", "a job takes no traffic: remove `host_port`"),
    ("balance", "no balancer sends a job traffic: remove `balance`"),
    ("queue", "a job runs once; a service that works a queue is a `worker`"),
    ("scaling", "a job runs one instance to completion: remove `scaling` (`retries` sets how often a failed run is repeated)"),
    ("health", "a job is done when its process exits 0: remove `health` (`timeout` bounds how long it may run)"),
];

impl Checker<'_> {
    /// A job's fields, and the fields only a job has.
    pub(super) fn job_fields(&mut self, name: &str, s: &Service) {
        let ptr = service_ptr(name);
        if s.kind == ServiceKind::Job {
            let set = [
                s.port.is_some(),
                s.host_port.is_some(),
                s.balance.is_some(),
                s.queue.is_some(),
                s.scaling.is_some(),
                s.health.is_some(),
            ];
            for ((field, hint), set) in NOT_FOR_JOBS.iter().zip(set) {
                if set {
                    self.push(
                        Diagnostic::error(
                            Code::NotForJobs,
                            ptr.child(field),
                            format!("job `{name}` cannot have `{field}`"),
                        )
                        .at_key()
                        .hint(*hint),
                    );
                }
            }
            if let Some(t) = &s.timeout {
                self.duration(&ptr.child("timeout"), t, true);
            }
        } else {
            for (field, set) in [
                ("retries", s.retries.is_some()),
                ("timeout", s.timeout.is_some()),
            ] {
                if set {
                    self.push(
                        Diagnostic::error(
                            Code::JobOnly,
                            ptr.child(field),
                            format!(
                                "`{field}` is a job's setting, and `{name}` is not a job (kind `{}`)",
                                s.kind.as_str()
                            ),
                        )
                        .at_key()
                        .hint(format!("remove `{field}`, or set `kind: job` if `{name}` runs once to completion")),
                    );
                }
            }
        }
    }

    /// Each `after` names a job of this phase, once, and jobs do not wait for each
    /// other in a circle.
    pub(super) fn after(&mut self) {
        let jobs: Vec<String> = self
            .bp
            .services
            .iter()
            .filter(|(_, s)| s.kind == ServiceKind::Job)
            .map(|(n, _)| n.clone())
            .collect();
        for (name, s) in &self.bp.services {
            let mut seen = BTreeSet::new();
            for (i, dep) in s.after.iter().enumerate() {
                let at = service_ptr(name).child("after").child(i);
                if !seen.insert(dep) {
                    self.push(Diagnostic::error(
                        Code::DuplicateItem,
                        at,
                        format!("`{dep}` is listed twice in `after`"),
                    ));
                    continue;
                }
                match self.bp.services.get(dep) {
                    None => self.unknown_job(at, dep, &jobs),
                    Some(_) if dep == name => self.push(
                        Diagnostic::error(
                            Code::JobCycle,
                            at,
                            format!("`{name}` waits for itself"),
                        )
                        .hint(format!("remove `{name}` from its own `after`")),
                    ),
                    Some(d) if d.kind != ServiceKind::Job => self.push(
                        Diagnostic::error(
                            Code::NotAJob,
                            at,
                            format!(
                                "`{dep}` is not a job (kind `{}`): it never completes, so nothing can wait for it",
                                d.kind.as_str()
                            ),
                        )
                        .hint("`after` names jobs (`kind: job`); to reach a service, use its address"),
                    ),
                    Some(_) => {}
                }
            }
        }
        self.job_cycles();
    }

    /// A job that waits, through other jobs, for itself: reported once per cycle, at
    /// the `after` entry of its first job (by name) that closes it.
    fn job_cycles(&mut self) {
        let edges: BTreeMap<&str, Vec<&str>> = self
            .bp
            .services
            .iter()
            .filter(|(_, s)| s.kind == ServiceKind::Job)
            .map(|(n, s)| {
                let deps = s
                    .after
                    .iter()
                    .filter(|d| *d != n)
                    .filter(|d| {
                        self.bp
                            .services
                            .get(*d)
                            .is_some_and(|j| j.kind == ServiceKind::Job)
                    })
                    .map(String::as_str)
                    .collect();
                (n.as_str(), deps)
            })
            .collect();
        let mut found = Vec::new();
        for &start in edges.keys() {
            // A path from `start` back to it, depth first, in name order.
            let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
            // Jobs already reached from `start`: one that did not lead back never will.
            let mut reached: BTreeSet<&str> = BTreeSet::from([start]);
            while let Some((node, next)) = stack.last().copied() {
                let deps = &edges[node];
                if next >= deps.len() {
                    stack.pop();
                    continue;
                }
                stack.last_mut().expect("a node").1 += 1;
                let dep = deps[next];
                if dep == start {
                    let mut cycle: Vec<&str> = stack.iter().map(|(n, _)| *n).collect();
                    cycle.push(start);
                    let first = deps_index(&self.bp.services[start].after, cycle[1]);
                    found.push((start, first, cycle.join(" → ")));
                    break;
                }
                // Each circle is found once, from its first job by name.
                if dep > start && reached.insert(dep) {
                    stack.push((dep, 0));
                }
            }
        }
        for (job, index, path) in found {
            self.push(
                Diagnostic::error(
                    Code::JobCycle,
                    service_ptr(job).child("after").child(index),
                    format!("jobs wait for each other in a circle: {path}"),
                )
                .hint("none of them could ever start: remove one `after` of the circle"),
            );
        }
    }
}

impl Checker<'_> {
    /// `after` names no service of this phase: a typo, or a job that a phase's patch
    /// removes while a service of that phase still waits for it.
    fn unknown_job(&mut self, at: crate::source::pointer::Pointer, dep: &str, jobs: &[String]) {
        let hint = crate::check::suggest::did_you_mean(dep, jobs)
            .map(|s| crate::check::suggest::did_you_mean_hint(&s))
            .unwrap_or_else(|| {
                format!("define `{dep}` under `services` with `kind: job` in every phase whose services wait for it, or remove it from `after`")
            });
        self.push(
            Diagnostic::error(Code::UnknownReference, at, format!("no job named `{dep}`"))
                .hint(hint),
        );
    }
}

fn deps_index(after: &[String], dep: &str) -> usize {
    after.iter().position(|d| d == dep).unwrap_or(0)
}
