//! Sizes and times: CPU and memory quantities, requests against limits, durations.

use super::Checker;
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::units::{DurationError, Measure};
use crate::model::{Duration, Quantity, Resources};
use crate::source::pointer::Pointer;

impl Checker<'_> {
    pub(super) fn resources(&mut self, ptr: &Pointer, r: &Resources) {
        let cpu = r
            .cpu
            .as_ref()
            .and_then(|q| self.quantity(&ptr.child("cpu"), q, Measure::Cpu));
        let cpu_limit = r
            .cpu_limit
            .as_ref()
            .and_then(|q| self.quantity(&ptr.child("cpu_limit"), q, Measure::Cpu));
        let mem = r
            .memory
            .as_ref()
            .and_then(|q| self.quantity(&ptr.child("memory"), q, Measure::Memory));
        let mem_limit = r
            .memory_limit
            .as_ref()
            .and_then(|q| self.quantity(&ptr.child("memory_limit"), q, Measure::Memory));
        if let (Some(req), Some(lim)) = (cpu, cpu_limit) {
            if req > lim {
                self.push(request_above_limit(
                    ptr,
                    "cpu",
                    r.cpu.as_ref(),
                    r.cpu_limit.as_ref(),
                ));
            }
        }
        if let (Some(req), Some(lim)) = (mem, mem_limit) {
            if req > lim {
                self.push(request_above_limit(
                    ptr,
                    "memory",
                    r.memory.as_ref(),
                    r.memory_limit.as_ref(),
                ));
            }
        }
    }

    pub(super) fn quantity(
        &mut self,
        ptr: &Pointer,
        q: &Quantity,
        measure: Measure,
    ) -> Option<u64> {
        match q.check(measure) {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(
                    Diagnostic::error(Code::InvalidQuantity, ptr.to_string(), e.message)
                        .maybe_hint(e.hint),
                );
                None
            }
        }
    }

    pub(super) fn duration(&mut self, ptr: &Pointer, d: &Duration, positive: bool) {
        match d.checked_millis(positive) {
            Err(DurationError::NotADuration) => self.push(
                Diagnostic::error(
                    Code::InvalidDuration,
                    ptr.to_string(),
                    format!("`{d}` is not a duration"),
                )
                .expected("a number and a unit (ms, s, m, h, d), like `30s` or `5m`"),
            ),
            Err(DurationError::Zero) => self.push(
                Diagnostic::error(Code::OutOfRange, ptr.to_string(), format!("`{d}` is zero"))
                    .expected("a duration longer than zero"),
            ),
            Err(DurationError::TooLong) => self.push(Diagnostic::error(
                Code::OutOfRange,
                ptr.to_string(),
                format!("`{d}` is longer than a week"),
            )),
            Ok(_) => {}
        }
    }
}

fn request_above_limit(
    ptr: &Pointer,
    what: &str,
    req: Option<&Quantity>,
    lim: Option<&Quantity>,
) -> Diagnostic {
    Diagnostic::error(
        Code::RequestAboveLimit,
        ptr.child(what),
        format!(
            "the {what} request ({}) is above its limit ({})",
            req.map(|q| q.0.as_str()).unwrap_or_default(),
            lim.map(|q| q.0.as_str()).unwrap_or_default()
        ),
    )
    .hint(format!(
        "a request can be at most the limit: lower `{what}` or raise `{what}_limit`"
    ))
}
