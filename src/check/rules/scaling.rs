//! Scaling: fixed counts, autoscaling ranges, their targets and policies.

use super::{service_ptr, Checker};
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::{Service, ServiceKind};

impl Checker<'_> {
    pub(super) fn scaling(&mut self, name: &str, s: &Service) {
        let ptr = service_ptr(name).child("scaling");
        let Some(sc) = &s.scaling else {
            return;
        };
        let autoscaled = sc.min.is_some() || sc.max.is_some();
        if sc.replicas.is_some() && autoscaled {
            self.push(
                Diagnostic::error(
                    Code::ConflictingFields,
                    ptr.clone(),
                    "`replicas` fixes the count, `min`/`max` let an autoscaler choose it: give one or the other",
                )
                .hint("in a phase patch, remove the other with `replicas: null` or `min: null, max: null`"),
            );
        }
        match (sc.min, sc.max) {
            (Some(_), None) => self.push(
                Diagnostic::error(
                    Code::MissingField,
                    ptr.clone(),
                    "`min` is set but `max` is not",
                )
                .hint("add `max`: the most instances the autoscaler may start"),
            ),
            (None, Some(_)) => self.push(
                Diagnostic::error(
                    Code::MissingField,
                    ptr.clone(),
                    "`max` is set but `min` is not",
                )
                .hint("add `min`: the fewest instances the autoscaler keeps"),
            ),
            (Some(min), Some(max)) if min > max => self.push(
                Diagnostic::error(
                    Code::MinAboveMax,
                    ptr.child("min"),
                    format!("`min` ({min}) is larger than `max` ({max})"),
                )
                .hint("swap them, or raise `max`"),
            ),
            _ => {}
        }
        let target = sc.target.clone().unwrap_or_default();
        let has_target = target.cpu.is_some()
            || target.memory.is_some()
            || target.requests_per_second.is_some()
            || target.queue_depth.is_some()
            || target.connections.is_some();
        if autoscaled && !has_target && sc.min != sc.max {
            self.push(
                Diagnostic::error(
                    Code::MissingField,
                    ptr.clone(),
                    "autoscaling between `min` and `max` needs a `target`",
                )
                .hint("add e.g. `target: { cpu: 70 }` (percent of the CPU request)"),
            );
        }
        if sc.target.is_some() && !autoscaled {
            self.push(
                Diagnostic::error(
                    Code::MissingField,
                    ptr.child("target"),
                    "`target` has no effect without `min` and `max`",
                )
                .at_key()
                .hint("replace `replicas` with `min` and `max` to autoscale"),
            );
        }
        if sc.min == Some(0) && target.queue_depth.is_none() {
            self.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    ptr.child("min"),
                    "`min: 0` (scale to zero) needs a `queue_depth` target",
                )
                .hint(
                    "only a queue can wake a service from zero instances; use `min: 1` otherwise",
                ),
            );
        }
        if sc.replicas == Some(0) && s.kind.is_routable() {
            self.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    ptr.child("replicas"),
                    format!(
                        "`{name}` serves requests, and with `replicas: 0` nothing would answer them"
                    ),
                )
                .expected("at least 1 instance")
                .hint("use `replicas: 1`, or leave the service out of this phase's blueprint"),
            );
        }
        let requests = s.resources.clone().unwrap_or_default();
        for (field, set, request) in [
            ("cpu", target.cpu.is_some(), requests.cpu.is_some()),
            ("memory", target.memory.is_some(), requests.memory.is_some()),
        ] {
            if set && !request {
                self.push(
                    Diagnostic::error(
                        Code::MissingField,
                        ptr.child("target").child(field),
                        format!("a {field} target is a percentage of the {field} request, and `{name}` requests no {field}"),
                    )
                    .hint(format!("add `resources: {{ {field}: … }}` to the service")),
                );
            }
        }
        if target.queue_depth.is_some() && s.queue.is_none() {
            self.push(
                Diagnostic::error(
                    Code::MissingField,
                    ptr.child("target").child("queue_depth"),
                    format!("a `queue_depth` target needs a queue, and `{name}` has none"),
                )
                .hint("add `queue: { broker: NAME, name: QUEUE }` to the service"),
            );
        }
        if (target.requests_per_second.is_some() || target.connections.is_some())
            && !s.kind.is_routable()
        {
            let field = if target.requests_per_second.is_some() {
                "requests_per_second"
            } else {
                "connections"
            };
            self.push(Diagnostic::error(
                Code::NotRoutable,
                ptr.child("target").child(field),
                format!(
                    "a {} service takes no requests: `{field}` cannot drive its scaling",
                    s.kind.as_str()
                ),
            ));
        }
        if (sc.scale_up.is_some() || sc.scale_down.is_some()) && !autoscaled {
            self.push(Diagnostic::warning(
                Code::UnusedSetting,
                ptr.clone(),
                "`scale_up`/`scale_down` have no effect without `min` and `max`",
            ));
        }
        for (field, p) in [("scale_up", &sc.scale_up), ("scale_down", &sc.scale_down)] {
            if let Some(p) = p {
                if let Some(d) = &p.stabilization {
                    self.duration(&ptr.child(field).child("stabilization"), d, false);
                    if d.millis().is_some_and(|ms| ms > 3_600_000) {
                        self.push(Diagnostic::error(
                            Code::OutOfRange,
                            ptr.child(field).child("stabilization"),
                            "a stabilization window is at most 1h",
                        ));
                    }
                }
                if let Some(d) = &p.period {
                    self.duration(&ptr.child(field).child("period"), d, true);
                    if d.millis().is_some_and(|ms| ms > 1_800_000) {
                        self.push(Diagnostic::error(
                            Code::OutOfRange,
                            ptr.child(field).child("period"),
                            "a scaling policy period is at most 30m",
                        ));
                    }
                }
            }
        }
        if s.kind == ServiceKind::Scheduler && (sc.replicas.unwrap_or(1) > 1 || autoscaled) {
            let at = if sc.replicas.is_some() {
                ptr.child("replicas")
            } else {
                ptr.clone()
            };
            self.push(
                Diagnostic::error(
                    Code::SchedulerReplicas,
                    at,
                    format!("scheduler `{name}` must run exactly one instance"),
                )
                .hint("a second scheduler runs every job twice; remove `scaling` (or use `replicas: 1`)"),
            );
        }
    }
}
