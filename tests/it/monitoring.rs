//! Prometheus judges the rendered alert rules: `promtool check rules` on every rules
//! file, and `promtool test rules` on synthetic series built from what each exporter
//! really emits (the names and labels of redis_exporter 1.69, postgres_exporter 0.17,
//! cAdvisor and a Prometheus client histogram). For every alert of every bundled and
//! fixture blueprint, series over its threshold make it fire once its `for` has passed,
//! not before, and series on the quiet side of it fire nothing; every other alert of
//! the file reads the same series and must do exactly what its own threshold says.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use tierform::monitoring::{AlertPlan, Signal, Source, Unit, RULES_FILE};
use tierform::{Platform, Selection};

use crate::common;
use tierform_lab as lab;

/// One minute, the series' step and the rules' evaluation interval.
const STEP_MS: u64 = 60_000;

fn promtool() -> Option<std::path::PathBuf> {
    lab::require("promtool")
}

/// Every rendered rules file, with the plan alerts it holds, per blueprint.
struct RulesFile {
    /// `<blueprint stem>/<phase>/<platform>/monitoring/rules.yml`.
    name: String,
    text: String,
    platform: Platform,
    alerts: Vec<AlertPlan>,
}

fn rules_files() -> Vec<RulesFile> {
    let mut out = Vec::new();
    for path in common::render_blueprints() {
        let v = tierform::validate_bytes(&std::fs::read(&path).unwrap());
        assert_eq!(v.errors(), 0, "{} is invalid", path.display());
        let plans = tierform::plans(&v.phases, &Selection::default()).unwrap();
        let set = common::render_all(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for plan in plans {
            for platform in [Platform::Compose, Platform::Hosts] {
                let rel = format!("{}/{}/{RULES_FILE}", plan.phase, platform.as_str());
                let Some(text) = set.get(&rel) else {
                    assert!(
                        !plan
                            .watch
                            .alerts
                            .iter()
                            .any(|a| a.exprs.contains_key(&platform)),
                        "{stem}: {rel} is missing though the phase has alerts"
                    );
                    continue;
                };
                out.push(RulesFile {
                    name: format!("{stem}/{rel}"),
                    text: text.to_string(),
                    platform,
                    alerts: plan.watch.alerts.clone(),
                });
            }
        }
    }
    out
}

#[test]
fn every_rules_file_passes_promtool_check_rules() {
    let Some(promtool) = promtool() else {
        return;
    };
    let files = rules_files();
    assert!(
        files.len() >= 4,
        "the bundled blueprints render rules files (found {})",
        files.len()
    );
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in files.iter().enumerate() {
        let path = dir.path().join(format!("rules-{i}.yml"));
        std::fs::write(&path, &f.text).unwrap();
        let out = Command::new(&promtool)
            .args(["check", "rules"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check rules refused {}:\n{}{}\n{}",
            f.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            f.text
        );
    }
}

/// What the synthetic series of one test say, per source: a value for the signal
/// tested, and the neutral request mix of a histogram.
#[derive(Debug, Clone, Copy)]
struct Load {
    signal: Signal,
    value: f64,
}

/// The request mix a histogram's series describe: requests per second, the latency of
/// every request, and the share of 5xx responses.
#[derive(Debug, Clone, Copy)]
struct Requests {
    rate: f64,
    latency: f64,
    errors: f64,
}

/// The histogram's bucket bounds: half, once and twice each latency threshold of the
/// file on that histogram.
fn bounds(file: &RulesFile, source: &Source) -> Vec<f64> {
    let mut b: Vec<f64> = Vec::new();
    for a in &file.alerts {
        if a.sources.get(&file.platform) == Some(source) && a.signal.unit() == Unit::Seconds {
            b.extend([a.threshold / 2.0, a.threshold, a.threshold * 2.0]);
        }
    }
    if b.is_empty() {
        b = vec![0.1, 1.0];
    }
    b.sort_by(|x, y| x.partial_cmp(y).unwrap());
    b.dedup();
    b
}

fn requests(load: Load, bounds: &[f64]) -> Requests {
    let mut r = Requests {
        rate: 1.0,
        latency: bounds[0] / 2.0,
        errors: 0.0,
    };
    match load.signal {
        Signal::RequestRate => r.rate = load.value,
        Signal::ErrorRate => r.errors = load.value,
        _ => r.latency = load.value,
    }
    r
}

/// A signal's value on the synthetic series, as the rendered expression must compute
/// it; `None` where the series do not feed it.
fn predicted(
    a: &AlertPlan,
    platform: Platform,
    tested: &Source,
    load: Load,
    bounds: &[f64],
) -> Option<f64> {
    if a.sources.get(&platform) != Some(tested) {
        return None;
    }
    match tested {
        Source::Histogram { .. } => {
            let r = requests(load, bounds);
            Some(match a.signal {
                Signal::RequestRate => r.rate,
                Signal::ErrorRate => r.errors,
                Signal::MeanLatency => r.latency,
                s => {
                    let q: f64 = match s {
                        Signal::P50Latency => 0.5,
                        Signal::P90Latency => 0.9,
                        Signal::P95Latency => 0.95,
                        _ => 0.99,
                    };
                    let hi = *bounds
                        .iter()
                        .find(|b| **b >= r.latency)
                        .expect("a bound above");
                    let lo = bounds
                        .iter()
                        .rev()
                        .find(|b| **b < r.latency)
                        .copied()
                        .unwrap_or(0.0);
                    lo + (hi - lo) * q
                }
            })
        }
        // Each other source feeds one signal with its own series.
        _ => (a.signal == load.signal).then_some(load.value),
    }
}

/// Whether the signal is a rate (its first value one step after the series start).
fn is_rate(s: Signal) -> bool {
    !matches!(
        s,
        Signal::Memory
            | Signal::QueueDepth
            | Signal::RedisMemory
            | Signal::DbConnections
            | Signal::ReplicationLag
    )
}

/// promtool's series for a counter growing `per_second`, or a gauge at `value`.
fn counter(per_second: f64, steps: u64) -> String {
    format!("0+{}x{steps}", per_second * 60.0)
}
fn gauge(value: f64, steps: u64) -> String {
    format!("{value}+0x{steps}")
}

fn series(source: &Source, load: Load, bounds: &[f64], steps: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut push =
        |name: String, values: String| out.push(json!({ "series": name, "values": values }));
    match source {
        Source::Containers { containers, capacity } => {
            for c in containers {
                let sel = format!("{{container_label_com_docker_compose_service=\"{c}\",cpu=\"total\"}}");
                if load.signal == Signal::Cpu {
                    push(
                        format!("container_cpu_usage_seconds_total{sel}"),
                        counter(load.value / 100.0 * capacity, steps),
                    );
                } else {
                    push(
                        format!("container_memory_working_set_bytes{sel}"),
                        gauge(load.value / 100.0 * capacity, steps),
                    );
                }
            }
        }
        Source::Histogram { job, histogram, status_label } => {
            let r = requests(load, bounds);
            for (status, share) in [("200", 1.0 - r.errors / 100.0), ("500", r.errors / 100.0)] {
                let per_second = r.rate * share;
                let labels = format!("job=\"{job}\",{status_label}=\"{status}\"");
                push(format!("{histogram}_count{{{labels}}}"), counter(per_second, steps));
                push(format!("{histogram}_sum{{{labels}}}"), counter(per_second * r.latency, steps));
                for b in bounds.iter().map(|b| b.to_string()).chain(["+Inf".to_string()]) {
                    let inside = b == "+Inf" || r.latency <= b.parse::<f64>().unwrap();
                    push(
                        format!("{histogram}_bucket{{{labels},le=\"{b}\"}}"),
                        counter(if inside { per_second } else { 0.0 }, steps),
                    );
                }
            }
        }
        Source::RedisKey { job, key } => push(
            format!("redis_key_size{{job=\"{job}\",instance=\"{job}-exporter:9121\",db=\"db0\",key=\"{key}\"}}"),
            gauge(load.value, steps),
        ),
        Source::RabbitmqQueue { job, queue } => push(
            format!("rabbitmq_detailed_queue_messages_ready{{job=\"{job}\",vhost=\"/\",queue=\"{queue}\"}}"),
            gauge(load.value, steps),
        ),
        Source::Redis { job } => {
            for node in ["a:6379", "b:6379"] {
                let l = format!("job=\"{job}\",instance=\"{node}\"");
                if load.signal == Signal::RedisMemory {
                    // The second node is half as full: the fullest one counts.
                    let share = if node.starts_with('a') { 1.0 } else { 0.5 };
                    push(format!("redis_memory_max_bytes{{{l}}}"), gauge(1e9, steps));
                    push(format!("redis_memory_used_bytes{{{l}}}"), gauge(load.value / 100.0 * 1e9 * share, steps));
                } else {
                    push(format!("redis_keyspace_hits_total{{{l}}}"), counter(load.value, steps));
                    push(format!("redis_keyspace_misses_total{{{l}}}"), counter(100.0 - load.value, steps));
                }
            }
        }
        Source::Postgres { job } => {
            for (node, share) in [("db:5432", 1.0), ("db-replica-1:5432", 0.5)] {
                let l = format!("job=\"{job}\",instance=\"{node}\"");
                if load.signal == Signal::ReplicationLag {
                    push(format!("pg_replication_lag_seconds{{{l}}}"), gauge(load.value * share, steps));
                } else {
                    push(format!("pg_settings_max_connections{{{l},server=\"{node}\"}}"), gauge(200.0, steps));
                    // Backends split over two databases: their sum counts.
                    for db in ["app", "postgres"] {
                        push(
                            format!("pg_stat_database_numbackends{{{l},datid=\"1\",datname=\"{db}\"}}"),
                            gauge(load.value * share, steps),
                        );
                    }
                }
            }
        }
    }
    out
}

/// Go's `%.3g`, which the description's `{{ $value | printf "%.3g" }}` prints.
fn g3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let trim = |t: String| -> String {
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t
        }
    };
    let sci = format!("{v:.2e}");
    let (mantissa, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    if !(-4..3).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa.to_string()), exp.abs())
    } else {
        trim(format!("{:.*}", (2 - exp) as usize, v))
    }
}

/// The value on the firing side of an alert's threshold, and on the quiet side.
fn sides(a: &AlertPlan) -> (f64, f64) {
    let t = a.threshold;
    let (over, under) = (t * 1.5, t * 0.5);
    let over = match a.signal.unit() {
        Unit::Percent if over > 100.0 => (t + 100.0) / 2.0,
        _ => over,
    };
    if a.above {
        (over, under)
    } else {
        (under, over)
    }
}

/// The alerts expected at `eval_ms` for each alert name, with their labels and
/// annotations from the rules file.
fn expected(
    file: &RulesFile,
    rules: &[Value],
    tested: &Source,
    load: Load,
    bounds: &[f64],
    eval_ms: u64,
) -> Vec<Value> {
    let mut by_name: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    for (a, rule) in file
        .alerts
        .iter()
        .filter(|a| a.exprs.contains_key(&file.platform))
        .zip(rules)
    {
        by_name.entry(a.alert).or_default();
        let Some(v) = predicted(a, file.platform, tested, load, bounds) else {
            continue;
        };
        let holds = if a.above {
            v > a.threshold
        } else {
            v < a.threshold
        };
        let since = if is_rate(a.signal) { STEP_MS } else { 0 };
        if !holds || eval_ms < since + a.for_ms {
            continue;
        }
        let mut annotations = rule["annotations"].clone();
        let d = annotations["description"]
            .as_str()
            .unwrap()
            .replace("{{ $value | printf \"%.3g\" }}", &g3(v));
        annotations["description"] = Value::from(d);
        by_name
            .get_mut(a.alert)
            .unwrap()
            .push(json!({ "exp_labels": rule["labels"], "exp_annotations": annotations }));
    }
    by_name
        .into_iter()
        .map(|(name, alerts)| json!({ "eval_time": tierform::monitoring::prom_duration(eval_ms), "alertname": name, "exp_alerts": alerts }))
        .collect()
}

#[test]
fn each_alert_fires_past_its_threshold_after_its_for_and_never_on_the_quiet_side() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut tests = 0;
    for (i, file) in rules_files().iter().enumerate() {
        let rules_path = dir.path().join(format!("rules-{i}.yml"));
        std::fs::write(&rules_path, &file.text).unwrap();
        let doc = tierform::load_yaml(&file.text).unwrap().to_json();
        let rules: Vec<Value> = doc["groups"][0]["rules"].as_array().unwrap().clone();
        let alerts: Vec<&AlertPlan> = file
            .alerts
            .iter()
            .filter(|a| a.exprs.contains_key(&file.platform))
            .collect();
        assert_eq!(
            rules.len(),
            alerts.len(),
            "{}: one rule per alert",
            file.name
        );
        let longest = alerts.iter().map(|a| a.for_ms).max().unwrap_or(0);
        let after = longest + 10 * STEP_MS;
        let steps = after / STEP_MS + 5;
        let mut cases = Vec::new();
        for a in &alerts {
            let source = &a.sources[&file.platform];
            let bounds = bounds(file, source);
            let (fire, quiet) = sides(a);
            for value in [fire, quiet] {
                let load = Load {
                    signal: a.signal,
                    value,
                };
                let mut checks = expected(file, &rules, source, load, &bounds, after);
                // Before its `for` has passed, the alert is only pending.
                let since = if is_rate(a.signal) { STEP_MS } else { 0 };
                if a.for_ms >= 2 * STEP_MS {
                    checks.extend(expected(
                        file,
                        &rules,
                        source,
                        load,
                        &bounds,
                        since + a.for_ms - STEP_MS,
                    ));
                }
                cases.push(json!({
                    "name": format!("{} at {value}", a.text),
                    "interval": "1m",
                    "input_series": series(source, load, &bounds, steps),
                    "alert_rule_test": checks,
                }));
            }
        }
        // The fire case must expect the tested alert itself (or the test proves nothing).
        for (a, case) in alerts.iter().zip(cases.iter().step_by(2)) {
            let listed = case["alert_rule_test"].as_array().unwrap().iter().any(|c| {
                c["exp_alerts"].as_array().unwrap().iter().any(|e| {
                    e["exp_labels"]["signal"] == a.signal.as_str()
                        && e["exp_labels"]["to_phase"] == a.to_phase.as_str()
                })
            });
            assert!(
                listed,
                "{}: the firing case of `{}` expects it to fire",
                file.name, a.text
            );
        }
        tests += cases.len();
        let test = json!({
            "rule_files": [rules_path.file_name().unwrap().to_str().unwrap()],
            "evaluation_interval": "1m",
            "tests": cases,
        });
        let test_path = dir.path().join(format!("test-{i}.yml"));
        std::fs::write(&test_path, serde_json::to_string_pretty(&test).unwrap()).unwrap();
        let out = Command::new(&promtool)
            .current_dir(dir.path())
            .args(["test", "rules"])
            .arg(Path::new(test_path.file_name().unwrap()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool test rules failed for {}:\n{}{}\n--- rules\n{}",
            file.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            file.text
        );
    }
    eprintln!("promtool ran {tests} alert tests");
}

#[test]
fn go_printf_g3_reads_as_go_writes_it() {
    assert_eq!(g3(105.00000000000001), "105");
    assert_eq!(g3(0.39), "0.39");
    assert_eq!(g3(1500.0), "1.5e+03");
    assert_eq!(g3(0.0001), "0.0001");
    assert_eq!(g3(0.00001), "1e-05");
    assert_eq!(g3(45.0), "45");
    assert_eq!(g3(2.5), "2.5");
}
