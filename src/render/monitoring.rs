//! Monitoring: the Prometheus rules that say when to move between phases, from the
//! plan's alerts (`plan::watch`). One rules file per bundle that runs from a compose
//! file (compose, hosts), `monitoring/rules.yml`, in Prometheus's rule file format.

use serde_json::{Map, Value};

use super::bundle::generated_header;
use super::templates::TemplateError;
use crate::model::Platform;
use crate::plan::{AlertPlan, Move, Plan};

/// Where the rules file goes in a bundle.
pub const RULES_FILE: &str = "monitoring/rules.yml";

/// The rules file of `platform`'s bundle, when the phase watches anything.
pub fn rules(plan: &Plan, platform: Platform) -> Result<Option<String>, TemplateError> {
    let alerts: Vec<&AlertPlan> = plan
        .watch
        .alerts
        .iter()
        .filter(|a| a.exprs.contains_key(&platform))
        .collect();
    if alerts.is_empty() {
        return Ok(None);
    }
    let rules: Vec<Value> = alerts.iter().map(|a| rule(plan, a, platform)).collect();
    let doc = object! {
        "groups" => vec![object! {
            "name" => format!("tierform-{}-{}", plan.blueprint, plan.phase),
            "rules" => rules,
        }],
    };
    let header = generated_header(plan);
    let about = format!(
        "When phase {} of {} has outgrown its shape or is more than the load needs. Load it with `rule_files` in prometheus.yml; check it with `promtool check rules`.",
        plan.phase, plan.blueprint
    );
    crate::render::yaml_emit::emit_checked(&[&header, "", &about], &doc)
        .map(Some)
        .map_err(|e| TemplateError::Template {
            name: RULES_FILE.into(),
            message: e.to_string(),
        })
}

fn rule(plan: &Plan, a: &AlertPlan, platform: Platform) -> Value {
    let (kind, subject) = &a.subject;
    let mut labels = Map::new();
    labels.insert(
        "severity".into(),
        Value::from(match a.direction {
            Move::Up => "warning",
            Move::Down => "info",
        }),
    );
    labels.insert("blueprint".into(), Value::from(plan.blueprint.clone()));
    labels.insert("phase".into(), Value::from(plan.phase.clone()));
    labels.insert("to_phase".into(), Value::from(a.to_phase.clone()));
    labels.insert("signal".into(), Value::from(a.signal.as_str()));
    labels.insert((*kind).into(), Value::from(subject.clone()));
    let (summary, why) = match a.direction {
        Move::Up => (
            format!("Time for phase {}: {}", a.to_phase, a.text),
            format!(
                "{} of {kind} {subject} has been {} {} for {}, the signal the blueprint gives for entering phase {}.",
                a.signal,
                if a.above { "above" } else { "below" },
                threshold_text(a),
                prom_duration(a.for_ms),
                a.to_phase
            ),
        ),
        Move::Down => (
            format!("Phase {} is more than the load needs: {}", plan.phase, a.text),
            format!(
                "{} of {kind} {subject} has been {} {} for {}, the signal the blueprint gives for moving back to phase {}.",
                a.signal,
                if a.above { "above" } else { "below" },
                threshold_text(a),
                prom_duration(a.for_ms),
                a.to_phase
            ),
        ),
    };
    let description = format!(
        "{why} Now: {{{{ $value | printf \"%.3g\" }}}}{}. See what changes with `tierform diff BLUEPRINT {} {}`.",
        value_unit(a),
        plan.phase,
        a.to_phase
    );
    object! {
        "alert" => a.alert,
        "expr" => a.exprs[&platform].clone(),
        "for" => prom_duration(a.for_ms),
        "labels" => Value::Object(labels),
        "annotations" => object! {
            "summary" => summary,
            "description" => description,
            "tierform_diff" => format!("tierform diff BLUEPRINT {} {}", plan.phase, a.to_phase),
        },
    }
}

/// The threshold as the expression compares it, with its unit.
fn threshold_text(a: &AlertPlan) -> String {
    use crate::model::signal::Unit;
    match a.signal.unit() {
        Unit::Percent => format!("{}%", a.threshold),
        Unit::Seconds => format!("{}s", a.threshold),
        Unit::PerSecond => format!("{} requests/s", a.threshold),
        Unit::Count => format!("{} messages", a.threshold),
    }
}

/// The unit written after the alert's current value.
fn value_unit(a: &AlertPlan) -> &'static str {
    use crate::model::signal::Unit;
    match a.signal.unit() {
        Unit::Percent => "%",
        Unit::Seconds => "s",
        Unit::PerSecond => " requests/s",
        Unit::Count => " messages",
    }
}

/// Milliseconds as a Prometheus duration: `5m`, `1h30m`, `500ms`, `0s`.
pub fn prom_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::prom_duration;

    #[test]
    fn durations_read_as_prometheus_writes_them() {
        assert_eq!(prom_duration(0), "0s");
        assert_eq!(prom_duration(500), "500ms");
        assert_eq!(prom_duration(300_000), "5m");
        assert_eq!(prom_duration(5_400_000), "1h30m");
        assert_eq!(prom_duration(90_061_001), "1d1h1m1s1ms");
    }
}
