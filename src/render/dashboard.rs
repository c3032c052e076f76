//! A Grafana dashboard per phase: each signal the phase watches, drawn against its
//! threshold, and whether what Prometheus scrapes is up. Provisioned into the Grafana
//! the compose bundle runs; on Kubernetes a ConfigMap that a Grafana sidecar (as
//! kube-prometheus-stack runs) loads.

use serde_json::{Map, Value};

use crate::model::signal::Unit;
use crate::model::Platform;
use crate::plan::watch::MeasuredCondition;
use crate::plan::{Move, Plan};

/// The dashboard's file in a compose bundle, where Grafana's provisioning reads it.
pub const COMPOSE_DIR: &str = "monitoring/grafana/dashboards";
/// The label kube-prometheus-stack's Grafana sidecar loads dashboards by.
pub const SIDECAR_LABEL: &str = "grafana_dashboard";
/// The dashboard JSON model version written (Grafana 11).
const SCHEMA_VERSION: u32 = 39;
/// Grafana's longest dashboard uid.
const MAX_UID: usize = 40;

/// The dashboard's uid: stable across renders, unique per blueprint and phase, at most
/// 40 characters (a long name is shortened with a hash of the whole).
pub fn uid(plan: &Plan) -> String {
    let full = format!("tierform-{}-{}", plan.blueprint, plan.phase);
    if full.len() <= MAX_UID {
        return full;
    }
    let hash = crate::render::files::short_hash(&full);
    format!("{}-{hash}", &full[..MAX_UID - hash.len() - 1])
}

/// The file name of the phase's dashboard.
pub fn file_name(plan: &Plan) -> String {
    format!("{}-{}.json", plan.blueprint, plan.phase)
}

fn unit(c: &MeasuredCondition) -> &'static str {
    match c.signal.unit() {
        Unit::Percent => "percent",
        Unit::Seconds => "s",
        Unit::PerSecond => "reqps",
        Unit::Count => "short",
    }
}

/// The phase's dashboard for `platform`, as Grafana's dashboard JSON.
pub fn dashboard(plan: &Plan, platform: Platform) -> Value {
    let datasource = object! { "type" => "prometheus", "uid" => "${datasource}" };
    let mut panels = Vec::new();
    let mut next_id = 1;
    let place = |w: u32, h: u32, at: &mut (u32, u32)| {
        if at.0 + w > 24 {
            *at = (0, at.1 + h);
        }
        let pos = object! { "h" => h, "w" => w, "x" => at.0, "y" => at.1 };
        at.0 += w;
        pos
    };
    let mut at = (0, 0);
    for a in &plan.watch.alerts {
        for c in &a.conditions {
            let Some(expr) = c.measures.get(&platform) else {
                continue;
            };
            // The zone the condition is about is red (time to move on), blue (more than
            // the load needs) or orange (an objective missed), the other side green.
            let (below, beyond) = match (a.direction, c.above) {
                (Move::Up, true) => ("green", "red"),
                (Move::Up, false) => ("red", "green"),
                (Move::Down, true) => ("green", "blue"),
                (Move::Down, false) => ("blue", "green"),
                (Move::Hold, true) => ("green", "orange"),
                (Move::Hold, false) => ("orange", "green"),
            };
            let description = match a.direction {
                Move::Up => format!("Past the line for its `for`: time for phase {}.", a.to_phase),
                Move::Down => format!(
                    "With the other leave conditions, past the line for its `for`: phase {} is enough.",
                    a.to_phase
                ),
                Move::Hold => {
                    "Past the line for its `for`: the phase misses this objective.".to_string()
                }
            };
            let mut steps = Vec::new();
            steps.push(object! { "color" => below, "value" => Value::Null });
            steps.push(object! { "color" => beyond, "value" => c.threshold });
            panels.push(object! {
                "id" => next_id,
                "type" => "timeseries",
                "title" => c.text.clone(),
                "description" => description,
                "datasource" => datasource.clone(),
                "gridPos" => place(12, 8, &mut at),
                "targets" => vec![object! {
                    "refId" => "A",
                    "datasource" => datasource.clone(),
                    "expr" => expr.clone(),
                    "legendFormat" => c.signal.as_str(),
                }],
                "fieldConfig" => object! {
                    "defaults" => object! {
                        "unit" => unit(c),
                        "min" => 0,
                        "thresholds" => object! { "mode" => "absolute", "steps" => steps },
                        "custom" => object! {
                            "drawStyle" => "line",
                            "lineWidth" => 2,
                            "fillOpacity" => 10,
                            "thresholdsStyle" => object! { "mode" => "line+area" },
                        },
                    },
                    "overrides" => Vec::<Value>::new(),
                },
                "options" => object! {
                    "legend" => object! { "displayMode" => "list", "placement" => "bottom", "showLegend" => true, "calcs" => Vec::<Value>::new() },
                    "tooltip" => object! { "mode" => "single", "sort" => "none" },
                },
            });
            next_id += 1;
        }
    }
    if let Some(scrape) = plan.scrape.get(&platform) {
        if !scrape.jobs.is_empty() {
            let jobs: Vec<&str> = scrape.jobs.keys().map(String::as_str).collect();
            let ns = if platform == Platform::Kubernetes {
                format!("namespace=\"{}\",", plan.namespace)
            } else {
                String::new()
            };
            at = (0, at.1 + if at.0 > 0 { 8 } else { 0 });
            panels.push(object! {
                "id" => next_id,
                "type" => "timeseries",
                "title" => "Scrape targets up",
                "description" => "1 while Prometheus scrapes the target, 0 while it cannot: the ScrapeTargetDown alert's series.",
                "datasource" => datasource.clone(),
                "gridPos" => place(24, 8, &mut at),
                "targets" => vec![object! {
                    "refId" => "A",
                    "datasource" => datasource.clone(),
                    "expr" => format!("up{{{ns}job=~\"{}\"}}", jobs.join("|")),
                    "legendFormat" => "{{job}} {{instance}}",
                }],
                "fieldConfig" => object! {
                    "defaults" => object! {
                        "unit" => "short",
                        "min" => 0,
                        "max" => 1,
                        "custom" => object! { "drawStyle" => "line", "lineWidth" => 1, "fillOpacity" => 0 },
                    },
                    "overrides" => Vec::<Value>::new(),
                },
                "options" => object! {
                    "legend" => object! { "displayMode" => "list", "placement" => "bottom", "showLegend" => true, "calcs" => Vec::<Value>::new() },
                    "tooltip" => object! { "mode" => "multi", "sort" => "none" },
                },
            });
        }
    }
    let mut d = Map::new();
    d.insert("uid".into(), Value::from(uid(plan)));
    d.insert(
        "title".into(),
        Value::from(format!("{} · {}", plan.blueprint, plan.phase)),
    );
    d.insert(
        "description".into(),
        // JSON has no comments: the header that marks every generated file is here.
        Value::from(format!(
            "{}. What phase {} of {} watches, each signal against the threshold the blueprint gives.",
            crate::render::bundle::generated_header(plan),
            plan.phase,
            plan.blueprint
        )),
    );
    d.insert(
        "tags".into(),
        Value::from(vec!["tierform".to_string(), plan.blueprint.clone()]),
    );
    d.insert("editable".into(), Value::from(false));
    d.insert("schemaVersion".into(), Value::from(SCHEMA_VERSION));
    d.insert("version".into(), Value::from(1));
    d.insert("refresh".into(), Value::from("30s"));
    d.insert("time".into(), object! { "from" => "now-6h", "to" => "now" });
    d.insert(
        "templating".into(),
        object! { "list" => vec![object! {
            "name" => "datasource",
            "label" => "Prometheus",
            "type" => "datasource",
            "query" => "prometheus",
            "hide" => 0,
        }] },
    );
    d.insert("panels".into(), Value::from(panels));
    Value::Object(d)
}

/// The dashboard as the file Grafana reads.
pub fn json(plan: &Plan, platform: Platform) -> String {
    let mut text =
        serde_json::to_string_pretty(&dashboard(plan, platform)).expect("a dashboard serializes");
    text.push('\n');
    text
}
