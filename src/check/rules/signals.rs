//! Signals: each phase condition names something the phase that watches it can
//! measure, with a threshold of the right kind; a service's own metrics endpoint has a
//! port.

use super::{service_ptr, Checker};
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::signal::{Subject, Unit};
use crate::model::units::DurationError;
use crate::model::{Blueprint, Condition, Datastore, Service, Signal, SignalCondition, Threshold};
use crate::source::pointer::Pointer;

/// The largest number a threshold takes (a trillion requests per second or messages).
const MAX_THRESHOLD: f64 = 1e12;

/// Which list a condition is in, and so which phase watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// `enter_when`: watched in the phase before.
    Enter,
    /// `leave_when`: watched in the phase itself.
    Leave,
    /// `objectives`: watched in the phase itself.
    Objective,
}

impl Checker<'_> {
    /// A service's `metrics`: a port to scrape.
    pub(super) fn metrics(&mut self, name: &str, s: &Service) {
        let Some(m) = &s.metrics else {
            return;
        };
        if m.port.is_none() && s.port.is_none() {
            self.push(
                Diagnostic::error(
                    Code::MissingField,
                    service_ptr(name).child("metrics"),
                    format!("service `{name}` has no `port`, so its metrics need one of their own"),
                )
                .hint(
                    "add `port` under `metrics`: where the process serves its Prometheus metrics",
                ),
            );
        }
    }
}

/// Every finding about the conditions of one list, `at` its pointer. `watched_in` is
/// the blueprint of the phase whose monitoring watches them, with its name, or `None`
/// when no phase does (the first phase's `enter_when`, `leave_when` with no phase
/// before).
pub fn check_conditions(
    conditions: &[Condition],
    at: &Pointer,
    watch: Watch,
    watched_in: Option<(&str, &Blueprint)>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, condition) in conditions.iter().enumerate() {
        let ptr = at.child(i);
        let signal = match condition {
            Condition::Text(text) => {
                out.push(
                    Diagnostic::warning(
                        Code::Unmeasured,
                        ptr,
                        format!("no metric measures `{text}`: it stays text for people, and no alert watches it"),
                    )
                    .hint("where a metric can tell, write the condition as a signal, e.g. `{ signal: p95_latency, service: api, above: 500ms, for: 5m }` (the signals: docs/blueprint.md)"),
                );
                continue;
            }
            Condition::Signal(s) => s,
        };
        let Some((phase, bp)) = watched_in else {
            let what = match watch {
                Watch::Enter => "the first phase has no phase before it to watch this signal",
                Watch::Leave | Watch::Objective => {
                    "the first phase has no phase before it to move back to"
                }
            };
            out.push(
                Diagnostic::warning(
                    Code::Unwatched,
                    ptr,
                    format!("{what}: no alert is rendered for it"),
                )
                .hint(match watch {
                    Watch::Enter => {
                        "move the condition to the next phase's `enter_when`, or remove it"
                    }
                    Watch::Leave | Watch::Objective => {
                        "remove it: it would only say to scale down below the smallest phase"
                    }
                }),
            );
            continue;
        };
        let same = conditions[..i].iter().position(|c| match c {
            Condition::Signal(o) => {
                o.signal == signal.signal
                    && o.subject_name() == signal.subject_name()
                    && o.above.is_some() == signal.above.is_some()
            }
            Condition::Text(_) => false,
        });
        if let Some(j) = same {
            out.push(
                Diagnostic::error(
                    Code::DuplicateItem,
                    ptr.clone(),
                    format!(
                        "`{}` repeats condition {j} of this list: the same signal of the same {} in the same direction",
                        signal.signal,
                        if signal.service.is_some() { "service" } else { "datastore" }
                    ),
                )
                .hint("keep the one with the threshold you mean; two alerts with the same labels are one rule twice"),
            );
        }
        check_signal(signal, &ptr, phase, bp, &mut out);
    }
    out
}

fn check_signal(
    s: &SignalCondition,
    ptr: &Pointer,
    phase: &str,
    bp: &Blueprint,
    out: &mut Vec<Diagnostic>,
) {
    let name = s.signal.as_str();
    // The subject: a service or a datastore, as the signal reads.
    match (s.signal.subject(), &s.service, &s.datastore) {
        (_, Some(_), Some(_)) => {
            out.push(
                Diagnostic::error(
                    Code::ConflictingFields,
                    ptr.clone(),
                    format!("signal `{name}` names both a `service` and a `datastore`"),
                )
                .hint("a signal measures one thing: keep one of them"),
            );
        }
        (Subject::Service, None, _)
        | (Subject::Either, None, None)
        | (Subject::Datastore, _, None) => {
            let field = match s.signal.subject() {
                Subject::Datastore => "`datastore`",
                Subject::Service => "`service`",
                Subject::Either => "`service` or `datastore`",
            };
            let wrong = match s.signal.subject() {
                Subject::Datastore if s.service.is_some() => Some("service"),
                Subject::Service if s.datastore.is_some() => Some("datastore"),
                _ => None,
            };
            let mut d = Diagnostic::error(
                Code::MissingField,
                ptr.clone(),
                match wrong {
                    Some(w) => format!(
                        "signal `{name}` measures a {}, not a {w}",
                        if w == "service" {
                            "datastore"
                        } else {
                            "service"
                        }
                    ),
                    None => format!("signal `{name}` needs {field}: what it measures"),
                },
            );
            d = d.hint(format!("name it with {field}"));
            out.push(d);
        }
        (_, Some(service), None) => check_service_signal(s, service, ptr, phase, bp, out),
        (_, None, Some(store)) => check_datastore_signal(s, store, ptr, phase, bp, out),
    }
    if matches!(s.signal, Signal::Cpu | Signal::Memory) {
        check_resources(s, ptr, phase, bp, out);
    }
    check_threshold(s, ptr, out);
    if let Some(d) = &s.for_ {
        match d.checked_millis(false) {
            Ok(_) => {}
            Err(DurationError::TooLong) => out.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    ptr.child("for"),
                    format!("`for: {d}` is longer than a week"),
                )
                .hint("an alert that waits a week is never seen: use hours"),
            ),
            Err(_) => out.push(Diagnostic::error(
                Code::InvalidDuration,
                ptr.child("for"),
                format!("`{d}` is not a duration"),
            )),
        }
    }
}

fn check_threshold(s: &SignalCondition, ptr: &Pointer, out: &mut Vec<Diagnostic>) {
    let name = s.signal.as_str();
    let (field, threshold) = match (&s.above, &s.below) {
        (Some(_), Some(_)) => {
            out.push(
                Diagnostic::error(
                    Code::ConflictingFields,
                    ptr.clone(),
                    format!("signal `{name}` has both `above` and `below`"),
                )
                .hint("give one threshold; a range is two conditions"),
            );
            return;
        }
        (None, None) => {
            out.push(
                Diagnostic::error(
                    Code::MissingField,
                    ptr.clone(),
                    format!("signal `{name}` has no threshold"),
                )
                .hint("add `above: …` or `below: …`"),
            );
            return;
        }
        (Some(t), None) => ("above", t),
        (None, Some(t)) => ("below", t),
    };
    let at = ptr.child(field);
    match (s.signal.unit(), threshold) {
        (Unit::Seconds, Threshold::Duration(d)) => {
            if let Err(e) = d.checked_millis(true) {
                out.push(Diagnostic::error(
                    if e == DurationError::NotADuration {
                        Code::InvalidDuration
                    } else {
                        Code::OutOfRange
                    },
                    at,
                    match e {
                        DurationError::NotADuration => format!("`{d}` is not a duration"),
                        DurationError::Zero => format!("`{field}: {d}` is zero"),
                        DurationError::TooLong => format!("`{field}: {d}` is longer than a week"),
                    },
                ));
            }
        }
        (Unit::Seconds, Threshold::Number(n)) => out.push(
            Diagnostic::error(
                Code::WrongType,
                at,
                format!("signal `{name}` measures time: `{field}: {n}` needs a unit"),
            )
            .expected("a duration such as `200ms` or `2s`")
            .hint(format!(
                "write `{field}: {n}s` for seconds, `{field}: {n}ms` for milliseconds"
            )),
        ),
        (unit, Threshold::Duration(d)) => out.push(
            Diagnostic::error(
                Code::WrongType,
                at,
                format!("signal `{name}` is not a time: `{field}: {d}` must be a number"),
            )
            .expected(match unit {
                Unit::Percent => "a percentage, 0–100",
                Unit::PerSecond => "requests per second",
                _ => "a number of messages",
            }),
        ),
        (Unit::Percent, Threshold::Number(n)) if *n > 100.0 => out.push(
            Diagnostic::error(
                Code::OutOfRange,
                at,
                format!("signal `{name}` is a percentage: {n} is over 100"),
            )
            .expected("0–100"),
        ),
        (Unit::Percent, Threshold::Number(n)) if *n >= 100.0 && field == "above" => out.push(
            Diagnostic::error(
                Code::OutOfRange,
                at,
                format!("signal `{name}` is a percentage: it is never above {n}, so the alert never fires"),
            )
            .expected("below 100"),
        ),
        (_, Threshold::Number(n)) if *n <= 0.0 && field == "below" => out.push(
            Diagnostic::error(
                Code::OutOfRange,
                at,
                format!("signal `{name}` is never below {n}, so the alert never fires"),
            )
            .expected("above 0"),
        ),
        (_, Threshold::Number(n)) if *n > MAX_THRESHOLD => out.push(
            Diagnostic::error(
                Code::OutOfRange,
                at,
                format!("`{field}: {n:e}` is beyond any value the signal reaches"),
            )
            .expected(format!("at most {MAX_THRESHOLD:e}")),
        ),
        _ => {}
    }
}

fn check_service_signal(
    s: &SignalCondition,
    service: &str,
    ptr: &Pointer,
    phase: &str,
    bp: &Blueprint,
    out: &mut Vec<Diagnostic>,
) {
    let name = s.signal.as_str();
    let Some(svc) = bp.services.get(service) else {
        out.push(missing(
            ptr.child("service"),
            "service",
            service,
            phase,
            bp.services.keys(),
        ));
        return;
    };
    if s.signal.from_requests() && svc.metrics.is_none() {
        out.push(
            Diagnostic::error(
                Code::NoSignalSource,
                ptr.child("signal"),
                format!("signal `{name}` reads service `{service}`'s request histogram, but in phase `{phase}` it declares no `metrics`"),
            )
            .hint(format!("add `metrics: {{ path: /metrics }}` to `{service}` (a request-duration histogram such as prometheus-fastapi-instrumentator's), or use `cpu`/`memory`")),
        );
    }
    let managed_broker = svc
        .queue
        .as_ref()
        .and_then(|q| bp.datastores.get(&q.broker))
        .and_then(|d| d.managed());
    if let (Signal::QueueDepth, Some(m)) = (s.signal, managed_broker) {
        out.push(
            Diagnostic::error(
                Code::NoSignalSource,
                ptr.child("service"),
                format!("service `{service}`'s queue is on a managed broker (at {}): no exporter of tierform's reads its length", m.host),
            )
            .hint("scale on the queue with `scaling.target.queue_depth` (KEDA reads the broker itself), or watch the provider's metrics"),
        );
    }
    if s.signal == Signal::QueueDepth && svc.queue.is_none() {
        out.push(
            Diagnostic::error(
                Code::NoSignalSource,
                ptr.child("service"),
                format!("signal `queue_depth` needs a queue, but in phase `{phase}` service `{service}` works none"),
            )
            .hint("name a service with `queue`, the worker whose backlog this is"),
        );
    }
}

fn check_datastore_signal(
    s: &SignalCondition,
    store: &str,
    ptr: &Pointer,
    phase: &str,
    bp: &Blueprint,
    out: &mut Vec<Diagnostic>,
) {
    let name = s.signal.as_str();
    let Some(ds) = bp.datastores.get(store) else {
        out.push(missing(
            ptr.child("datastore"),
            "datastore",
            store,
            phase,
            bp.datastores.keys(),
        ));
        return;
    };
    if let Some(m) = ds.managed() {
        out.push(
            Diagnostic::error(
                Code::NoSignalSource,
                ptr.child("datastore"),
                format!("datastore `{store}` is managed (at {}): no exporter of tierform's reads it, so nothing measures `{name}`", m.host),
            )
            .hint("watch it with the provider's metrics (CloudWatch, Cloud Monitoring), or write the condition as text"),
        );
        return;
    }
    let wants = match s.signal {
        Signal::RedisMemory | Signal::CacheHitRate => Some("redis"),
        Signal::DbConnections | Signal::ReplicationLag | Signal::QueryLatency => Some("postgres"),
        _ => None,
    };
    if let Some(engine) = wants {
        if ds.engine() != engine {
            out.push(
                Diagnostic::error(
                    Code::NoSignalSource,
                    ptr.child("datastore"),
                    format!(
                        "signal `{name}` measures a {engine} datastore; `{store}` is {}",
                        ds.engine()
                    ),
                )
                .hint(format!("name a {engine} datastore")),
            );
            return;
        }
    }
    if let (Signal::RedisMemory, Datastore::Redis(r)) = (s.signal, ds) {
        if r.role != Some(crate::model::RedisRole::Broker) {
            out.push(
                Diagnostic::warning(
                    Code::NoSignalSource,
                    ptr.child("signal"),
                    format!("`{store}` is a cache: it fills to `maxmemory` by design and evicts the least recently used keys, so `redis_memory` stays near 100% once it is warm and the alert never settles"),
                )
                .hint("watch `cache_hit_rate` (below a threshold) for a cache; `redis_memory` suits a broker (`role: broker`), which must never fill"),
            );
        }
    }
    if let (Signal::ReplicationLag, Datastore::Postgres(pg)) = (s.signal, ds) {
        if pg.replicas == 0 {
            out.push(
                Diagnostic::error(
                    Code::NoSignalSource,
                    ptr.child("signal"),
                    format!("signal `replication_lag` needs a replica, but in phase `{phase}` datastore `{store}` has none"),
                )
                .hint("watch it from a phase where `replicas` is 1 or more, or watch `db_connections`"),
            );
        }
    }
}

fn missing<'a>(
    ptr: Pointer,
    what: &str,
    name: &str,
    phase: &str,
    known: impl Iterator<Item = &'a String>,
) -> Diagnostic {
    let known: Vec<String> = known.cloned().collect();
    Diagnostic::error(
        Code::UnknownReference,
        ptr,
        format!("phase `{phase}`, which watches this signal, has no {what} `{name}`"),
    )
    .maybe_hint(
        super::did_you_mean(name, &known)
            .map(|s| super::did_you_mean_hint(&s))
            .or_else(|| (!known.is_empty()).then(|| format!("its {what}s: {}", known.join(", ")))),
    )
}

/// `cpu` and `memory` are percentages of what the subject may use: its limit, else
/// its request.
fn check_resources(
    s: &SignalCondition,
    ptr: &Pointer,
    phase: &str,
    bp: &Blueprint,
    out: &mut Vec<Diagnostic>,
) {
    let (what, name, resources) = match (&s.service, &s.datastore) {
        (Some(n), None) => match bp.services.get(n) {
            Some(svc) => ("service", n, svc.resources.as_ref()),
            None => return,
        },
        // A managed datastore's signals are refused as such.
        (None, Some(n)) => match bp.datastores.get(n) {
            Some(ds) if ds.runs_here() => ("datastore", n, ds.resources()),
            _ => return,
        },
        _ => return,
    };
    let given = resources.is_some_and(|r| match s.signal {
        Signal::Cpu => r.cpu.is_some() || r.cpu_limit.is_some(),
        _ => r.memory.is_some() || r.memory_limit.is_some(),
    });
    if !given {
        let field = if s.signal == Signal::Cpu {
            "cpu"
        } else {
            "memory"
        };
        out.push(
            Diagnostic::error(
                Code::NoSignalSource,
                ptr.child("signal"),
                format!("signal `{field}` is a percentage of what {what} `{name}` may use, but in phase `{phase}` it gives no {field} request or limit"),
            )
            .hint(format!("add `resources: {{ {field}: … }}` (or `{field}_limit`) to `{name}`")),
        );
    }
}
