//! Prometheus judges the rendered alert rules: `promtool check rules --lint-fatal` on
//! every rules file, and `promtool test rules` on synthetic series shaped like what the
//! exporters really emit: cAdvisor with per-CPU series on some containers and one
//! total on others, one instance hotter than the rest; prometheus-fastapi-instrumentator's
//! request counter (statuses grouped as `2xx`/`5xx`, no `5xx` series at all when nothing
//! failed) and its fine-bucketed histogram; redis_exporter 1.69 and postgres_exporter
//! 0.17 series on two nodes (its `stat_statements` collector's per statement, with the
//! exporter's own statements beside the application's). For every alert of every bundled and fixture blueprint,
//! series on the firing side make it fire once its `for` has passed and not before,
//! and series on the quiet side fire nothing; every other alert of the file that reads
//! the same series must do exactly what its own conditions say.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use tierform::monitoring::{
    AlertPlan, MeasuredCondition, Move, Signal, Source, Unit, CONFIG_FILE, KUBERNETES_FILE,
    RULES_FILE,
};
use tierform::Platform;

use crate::common;
use tierform_lab as lab;

/// One minute, the series' step and the rules' evaluation interval.
const STEP_MS: u64 = 60_000;

/// The bucket bounds of prometheus-fastapi-instrumentator's
/// `http_request_duration_highr_seconds` (its default `latency_highr_buckets`).
const BUCKETS: [f64; 21] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0,
    7.5, 10.0, 30.0, 60.0,
];

fn promtool() -> Option<std::path::PathBuf> {
    lab::require("promtool")
}

/// Runs `promtool test rules` on `tests` (its unit test cases) against the rules file
/// `rules`, from a test file written to `test_path`; fails naming `what`, and showing
/// `context` after promtool's output.
fn promtool_test_rules(
    promtool: &Path,
    test_path: &Path,
    rules: &Path,
    tests: &[Value],
    what: &str,
    context: &str,
) {
    let doc = json!({
        "rule_files": [rules.to_str().unwrap()],
        "evaluation_interval": "1m",
        "tests": tests,
    });
    std::fs::write(test_path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let out = Command::new(promtool)
        .args(["test", "rules"])
        .arg(test_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules failed for {what}:\n{}{}{context}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// A rendered rules file, with the plan alerts it holds.
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
        let (plans, set) = common::plans_and_render(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        // A standby region's plan, whose bundle is in the hosts bundle: its own rules.
        let plans: Vec<(tierform::Plan, String)> = plans
            .into_iter()
            .flat_map(|p| {
                let region = p
                    .standby
                    .as_ref()
                    .map(|r| (r.plan.clone(), format!("{}/hosts/{}/", p.phase, r.dir)));
                let own = format!("{}/hosts/", p.phase);
                std::iter::once((p, own)).chain(region)
            })
            .collect();
        for (plan, prefix) in plans {
            for platform in Platform::ALL {
                if !plan.platforms.contains(&platform) {
                    continue;
                }
                let rel = match platform {
                    Platform::Kubernetes => {
                        format!("{}/kubernetes/{KUBERNETES_FILE}", plan.phase)
                    }
                    // In the monitoring machine's folder.
                    Platform::Hosts => {
                        let found: Vec<&str> = set
                            .iter()
                            .map(|(p, _)| p)
                            .filter(|p| {
                                common::hosts_bundle(p).is_some_and(|(b, _)| b == prefix)
                                    && p.ends_with(&format!("/{RULES_FILE}"))
                            })
                            .collect();
                        assert!(found.len() <= 1, "{stem}: several rules files: {found:?}");
                        found
                            .first()
                            .map_or(format!("{prefix}{RULES_FILE}"), |p| p.to_string())
                    }
                    _ => format!("{}/{}/{RULES_FILE}", plan.phase, platform.as_str()),
                };
                let alerts: Vec<AlertPlan> = plan
                    .watch
                    .alerts
                    .iter()
                    .filter(|a| a.exprs.contains_key(&platform))
                    .cloned()
                    .collect();
                let Some(text) = set.get(&rel) else {
                    assert!(
                        alerts.is_empty(),
                        "{stem}: {rel} is missing though the phase has alerts"
                    );
                    continue;
                };
                // The PrometheusRule's spec is a rules file.
                let text = match platform {
                    Platform::Kubernetes => {
                        let docs: Vec<Value> = text
                            .split("\n---\n")
                            .map(|d| tierform::load_yaml(d).unwrap().to_json())
                            .collect();
                        // A bundle whose phase watches nothing has PodMonitors alone.
                        let Some(rule) = docs.iter().find(|d| d["kind"] == "PrometheusRule") else {
                            assert!(alerts.is_empty(), "{stem}: {rel} has no PrometheusRule");
                            continue;
                        };
                        assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
                        serde_json::to_string_pretty(&rule["spec"]).unwrap()
                    }
                    _ => text.to_string(),
                };
                out.push(RulesFile {
                    name: format!("{stem}/{rel}"),
                    text,
                    platform,
                    alerts,
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
        files.len() >= 8,
        "the bundled blueprints render rules files (found {})",
        files.len()
    );
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in files.iter().enumerate() {
        let path = dir.path().join(format!("rules-{i}.yml"));
        std::fs::write(&path, &f.text).unwrap();
        let out = Command::new(&promtool)
            .args(["check", "rules", "--lint=all", "--lint-fatal"])
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

/// The job names a rules file's expressions select (`job="db"`, `job=~"api|db"`).
fn selected_jobs(rules: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in rules.match_indices("job=") {
        let rest = &rules[i + 4..];
        let rest = rest.strip_prefix('~').unwrap_or(rest);
        // In the YAML text the quotes are escaped: job=\"db\".
        let rest = rest.trim_start_matches('\\').trim_start_matches('"');
        let end = rest.find(['\\', '"']).unwrap();
        out.extend(rest[..end].split('|').map(String::from));
    }
    out
}

/// `promtool check config --lint-fatal` on `config` with `rules` beside it, as
/// Prometheus reads them; fails naming `what`.
fn check_config(promtool: &Path, config: &str, rules: &str, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let out = Command::new(promtool)
        .args(["check", "config", "--lint=all", "--lint-fatal"])
        .arg(dir.path().join("prometheus.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check config refused {what}:\n{}{}\n{config}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// Every job the rules select is one of the configuration's `jobs`: no alert reads
/// a job nothing scrapes.
fn scrapes_what_the_rules_read(rules: &str, jobs: &BTreeSet<String>, what: &str) {
    for job in selected_jobs(rules) {
        assert!(
            jobs.contains(&job),
            "{what}: the rules select job {job}, which prometheus.yml does not scrape"
        );
    }
}

/// Every compose bundle runs a Prometheus: its configuration passes `promtool check
/// config` with the rules beside it, it scrapes every job the rules select (no alert
/// reads a job nothing scrapes), and every address it scrapes is a container of the
/// same compose file.
#[test]
fn every_compose_prometheus_config_passes_promtool_and_scrapes_what_the_rules_read() {
    let Some(promtool) = promtool() else {
        return;
    };
    let mut checked = 0;
    for path in common::render_blueprints() {
        let (plans, set) = common::plans_and_render(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for plan in plans
            .iter()
            .filter(|p| p.platforms.contains(&Platform::Compose))
        {
            let bundle = format!("{}/compose", plan.phase);
            let config = set
                .get(&format!("{bundle}/{CONFIG_FILE}"))
                .unwrap_or_else(|| panic!("{stem}: {bundle} has no {CONFIG_FILE}"));
            let rules = set
                .get(&format!("{bundle}/{RULES_FILE}"))
                .unwrap_or_else(|| panic!("{stem}: {bundle} has no {RULES_FILE}"));
            check_config(&promtool, config, rules, &format!("{stem}/{bundle}"));

            let doc = tierform::load_yaml(config).unwrap().to_json();
            let compose =
                tierform::load_yaml(set.get(&format!("{bundle}/docker-compose.yml")).unwrap())
                    .unwrap()
                    .to_json();
            let containers: BTreeSet<&str> = compose["services"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut jobs = BTreeSet::new();
            for job in doc["scrape_configs"].as_array().unwrap() {
                let name = job["job_name"].as_str().unwrap();
                assert!(
                    jobs.insert(name.to_string()),
                    "{stem}/{bundle}: job {name} twice"
                );
                let mut addresses: Vec<String> = job["static_configs"][0]["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect();
                for relabel in job["relabel_configs"].as_array().into_iter().flatten() {
                    if relabel["target_label"] == "__address__" {
                        addresses.push(relabel["replacement"].as_str().unwrap().to_string());
                    }
                }
                for a in addresses {
                    let host = a.trim_start_matches("redis://");
                    let host = host.rsplit_once(':').unwrap().0;
                    assert!(
                        host == "localhost" || containers.contains(host),
                        "{stem}/{bundle}: job {name} scrapes {a}, which is no container of the compose file"
                    );
                }
            }
            // Compose copies a secret taken from the environment into its container,
            // and refuses to for a read-only one (docker/compose secrets.go).
            for (name, c) in compose["services"].as_object().unwrap() {
                for secret in c["secrets"].as_array().into_iter().flatten() {
                    let source = &compose["secrets"][secret.as_str().unwrap()];
                    if source["environment"].is_string() {
                        assert_ne!(
                            c["read_only"], true,
                            "{stem}/{bundle}: {name} is read-only, so compose cannot copy the secret {secret} into it"
                        );
                    }
                }
            }
            // Each exporter reads a server of its own engine (not PgBouncer in front).
            for (name, c) in compose["services"].as_object().unwrap() {
                let env = &c["environment"];
                let command = c["command"].as_array().cloned().unwrap_or_default();
                let target = if let Some(uri) = env["DATA_SOURCE_URI"].as_str() {
                    Some((uri.split(':').next().unwrap().to_string(), "postgres:"))
                } else {
                    command
                        .iter()
                        .filter_map(|a| a.as_str()?.strip_prefix("--redis.addr=redis://"))
                        .map(|a| (a.rsplit_once(':').unwrap().0.to_string(), "redis:"))
                        .next()
                };
                if let Some((server, image)) = target {
                    let mut got = compose["services"][&server]["image"].as_str().unwrap_or("");
                    // Built from the bundle's Dockerfile (PostgreSQL with pgBackRest).
                    if let Some(context) = compose["services"][&server]["build"]["context"].as_str()
                    {
                        let file =
                            format!("{bundle}/{}/Dockerfile", context.trim_start_matches("./"));
                        got = set
                            .get(&file)
                            .and_then(|t| t.lines().find_map(|l| l.strip_prefix("FROM ")))
                            .unwrap_or_else(|| panic!("{stem}: {file} has no FROM"));
                    }
                    assert!(
                        got.starts_with(image),
                        "{stem}/{bundle}: {name} reads {server}, whose image is {got}, not {image}…"
                    );
                }
            }
            scrapes_what_the_rules_read(rules, &jobs, &format!("{stem}/{bundle}"));
            checked += 1;
        }
    }
    assert!(checked >= 10, "checked only {checked} compose bundles");
    eprintln!("promtool checked {checked} Prometheus configurations");
}

/// Every hosts bundle runs a Prometheus on one machine: its configuration passes
/// `promtool check config` with the rules beside it, it scrapes every job the rules
/// select, and every address it scrapes is one a container of that machine's compose
/// file listens on (an exporter's `--web.listen-address`, cAdvisor's, a published
/// port) or the balancer's own metrics (`bind` in haproxy.cfg). Each exporter reads a
/// server on its own machine, and pg_hba.conf lets the monitoring role in from there.
#[test]
fn every_hosts_prometheus_config_passes_promtool_and_scrapes_what_listens() {
    let Some(promtool) = promtool() else {
        return;
    };
    let mut checked = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let configs: Vec<(String, String)> = set
            .iter()
            .filter(|(p, _)| p.contains("/hosts/") && p.ends_with(&format!("/{CONFIG_FILE}")))
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        for (rel, config) in configs {
            let (bundle, rest) = common::hosts_bundle(&rel).unwrap();
            let bundle = bundle.trim_end_matches('/').to_string();
            let home = rest.split('/').next().unwrap();
            let rules = set
                .get(&format!("{bundle}/{home}/{RULES_FILE}"))
                .unwrap_or_else(|| panic!("{stem}: {bundle}/{home} has no {RULES_FILE}"));
            check_config(&promtool, &config, rules, &format!("{stem}/{rel}"));

            // What listens where: every machine's compose file and balancer config.
            let mut listening: BTreeSet<String> = BTreeSet::new();
            for (p, text) in set.iter() {
                let Some(machine) = common::hosts_bundle(p)
                    .filter(|(b, _)| b.trim_end_matches('/') == bundle)
                    .and_then(|(_, r)| r.split_once('/'))
                    .map(|(m, _)| m.to_string())
                else {
                    continue;
                };
                let machine_dir = machine.clone();
                let machine = machine.replace('_', ":");
                if p.ends_with("/haproxy/haproxy.cfg") {
                    let mut in_metrics = false;
                    for line in text.lines() {
                        if line.starts_with("frontend ") {
                            in_metrics = line == "frontend metrics";
                        }
                        if let (true, Some(addr)) = (in_metrics, line.trim().strip_prefix("bind "))
                        {
                            listening.insert(addr.to_string());
                        }
                    }
                }
                // RabbitMQ's plugin: on its default port (15692), at `prometheus.tcp.ip`.
                if p.ends_with("/rabbitmq.conf") {
                    for line in text.lines() {
                        if let Some(ip) = line.strip_prefix("prometheus.tcp.ip = ") {
                            listening.insert(tierform_address(ip, "15692"));
                        }
                    }
                }
                if !p.ends_with("/docker-compose.yml") {
                    continue;
                }
                let compose = tierform::load_yaml(text).unwrap().to_json();
                for (name, c) in compose["services"].as_object().unwrap() {
                    let args: Vec<&str> = c["command"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    let host_network = c["network_mode"] == "host";
                    let on = if machine == home.replace('_', ":") {
                        tierform::monitoring::local_address(&machine)
                    } else {
                        machine.clone()
                    };
                    for a in &args {
                        if let Some(addr) = a.strip_prefix("--web.listen-address=") {
                            if !name.ends_with("-exporter") {
                                // Prometheus and Alertmanager, on the loopback address.
                                assert!(
                                    addr.starts_with("127."),
                                    "{stem}/{p}: {name} listens on {addr}"
                                );
                                listening.insert(addr.to_string());
                                continue;
                            }
                            assert!(host_network, "{stem}/{p}: {name} listens on {addr} outside the machine's network");
                            // Its machine's address; on the monitoring machine, its
                            // loopback one.
                            assert!(
                                addr.starts_with(&format!("{on}:"))
                                    || addr.starts_with(&format!("[{on}]:")),
                                "{stem}/{p}: {name} listens on {addr}, not on {on}"
                            );
                            listening.insert(addr.to_string());
                        }
                    }
                    let ip = args.iter().find_map(|a| a.strip_prefix("--listen_ip="));
                    let port = args.iter().find_map(|a| a.strip_prefix("--port="));
                    if let (Some(ip), Some(port)) = (ip, port) {
                        let ip = ip.trim_start_matches('[').trim_end_matches(']');
                        assert!(
                            host_network && ip == on,
                            "{stem}/{p}: cAdvisor on {ip}, not {on}"
                        );
                        listening.insert(tierform_address(ip, port));
                    }
                    for published in c["ports"].as_array().into_iter().flatten() {
                        let published = published.as_str().unwrap();
                        let (outside, _) = published.rsplit_once(':').unwrap();
                        listening.insert(outside.to_string());
                    }
                    // Each exporter reads a server on its own machine.
                    let read = c["environment"]["DATA_SOURCE_URI"].as_str().or_else(|| {
                        args.iter()
                            .find_map(|a| a.strip_prefix("--redis.addr=redis://"))
                    });
                    if let (true, Some(read)) = (host_network, read) {
                        let host = read.rsplit_once(':').unwrap().0.trim_matches(['[', ']']);
                        assert_eq!(
                            host, machine,
                            "{stem}/{p}: {name} reads {read}, on another machine"
                        );
                    }
                    if c["environment"]["DATA_SOURCE_URI"].is_string() {
                        let store = name.strip_suffix("-exporter").unwrap();
                        let hba = set
                            .iter()
                            .find(|(q, _)| {
                                q.starts_with(&format!("{bundle}/{}/postgres/", machine_dir))
                                    && q.ends_with("/pg_hba.conf")
                            })
                            .map(|(_, t)| t.to_string())
                            .unwrap_or_else(|| {
                                panic!("{stem}/{p}: {store} has no pg_hba.conf beside it")
                            });
                        let admits = hba.lines().any(|l| {
                            let f: Vec<&str> = l.split_whitespace().collect();
                            f.len() == 5
                                && f[0] == "host"
                                && (f[2] == "all" || f[2] == "postgres_exporter")
                                && f[1] != "replication"
                                && (f[3] == "samehost"
                                    || f[3] == format!("{machine}/32")
                                    || f[3] == format!("{machine}/128")
                                    || (f[3] == "127.0.0.0/8" && machine.starts_with("127.")))
                        });
                        assert!(
                            admits,
                            "{stem}/{p}: pg_hba.conf does not let {name} in from {machine}:\n{hba}"
                        );
                    }
                }
            }

            let doc = tierform::load_yaml(&config).unwrap().to_json();
            let mut jobs = BTreeSet::new();
            for job in doc["scrape_configs"].as_array().unwrap() {
                let name = job["job_name"].as_str().unwrap();
                jobs.insert(name.to_string());
                for t in job["static_configs"][0]["targets"].as_array().unwrap() {
                    let t = t.as_str().unwrap();
                    if name == "prometheus" {
                        continue;
                    }
                    assert!(
                        listening.contains(t),
                        "{stem}/{rel}: job {name} scrapes {t}, where nothing of the bundle listens ({listening:?})"
                    );
                }
            }
            scrapes_what_the_rules_read(rules, &jobs, &format!("{stem}/{rel}"));
            checked += 1;
        }
    }
    assert!(checked >= 5, "checked only {checked} hosts bundles");
    eprintln!("promtool checked {checked} hosts Prometheus configurations");
}

fn tierform_address(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// What the series of one source say.
#[derive(Debug, Clone, Default)]
struct State {
    /// By signal: the value of the busiest instance (cpu, memory), or the value.
    values: BTreeMap<Signal, f64>,
}

/// The request mix a service's series describe.
#[derive(Debug, Clone, Copy)]
struct Requests {
    rate: f64,
    latency: f64,
    errors: f64,
}

/// The request mix of a state: the values it sets, else a neutral mix (1 request/s,
/// 50ms, no errors). Every latency signal it sets is one latency, every request's.
fn requests(state: &State) -> Requests {
    let mut r = Requests {
        rate: 1.0,
        latency: 0.05,
        errors: 0.0,
    };
    for (signal, v) in &state.values {
        match signal {
            Signal::RequestRate => r.rate = *v,
            Signal::ErrorRate => r.errors = *v,
            _ => r.latency = *v,
        }
    }
    r
}

/// A condition's value on a source's series, as the rendered expression must compute
/// it; `None` where the series do not feed it.
fn predicted(
    c: &MeasuredCondition,
    platform: Platform,
    states: &BTreeMap<String, (Source, State)>,
) -> Option<f64> {
    let source = &c.sources[&platform];
    let (_, state) = states.get(&key(source))?;
    match source {
        Source::Requests { .. } => {
            let r = requests(state);
            Some(match c.signal {
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
                    let hi = *BUCKETS
                        .iter()
                        .find(|b| **b >= r.latency)
                        .expect("within the buckets");
                    let lo = BUCKETS
                        .iter()
                        .rev()
                        .find(|b| **b < r.latency)
                        .copied()
                        .unwrap_or(0.0);
                    lo + (hi - lo) * q
                }
            })
        }
        _ => state.values.get(&c.signal).copied(),
    }
}

/// Sources are compared by what they read.
fn key(source: &Source) -> String {
    serde_json::to_string(source).unwrap()
}

fn counter(per_second: f64, steps: u64) -> String {
    format!("0+{}x{steps}", per_second * 60.0)
}
fn gauge(value: f64, steps: u64) -> String {
    format!("{value}+0x{steps}")
}

/// The series of one source in one state.
fn series(source: &Source, state: &State, steps: u64, out: &mut Vec<Value>) {
    let mut push =
        |name: String, values: String| out.push(json!({ "series": name, "values": values }));
    match source {
        Source::Containers {
            blueprint,
            containers,
            capacity,
        } => {
            for (i, c) in containers.iter().enumerate() {
                // The first container is the busiest; the others run at half of it.
                let share = if i == 0 { 1.0 } else { 0.5 };
                let base = format!(
                    "container_label_io_tierform_blueprint=\"{blueprint}\",container_label_com_docker_compose_service=\"{c}\",name=\"app-{c}-1\""
                );
                if let Some(v) = state.values.get(&Signal::Cpu) {
                    let cores = v / 100.0 * capacity * share;
                    if i % 2 == 0 {
                        // cAdvisor with per-CPU metrics: one series per CPU, no total.
                        for cpu in ["cpu00", "cpu01"] {
                            push(
                                format!(
                                    "container_cpu_usage_seconds_total{{{base},cpu=\"{cpu}\"}}"
                                ),
                                counter(cores / 2.0, steps),
                            );
                        }
                    } else {
                        push(
                            format!("container_cpu_usage_seconds_total{{{base},cpu=\"total\"}}"),
                            counter(cores, steps),
                        );
                    }
                }
                if let Some(v) = state.values.get(&Signal::Memory) {
                    push(
                        format!("container_memory_working_set_bytes{{{base}}}"),
                        gauge(v / 100.0 * capacity * share, steps),
                    );
                }
            }
        }
        Source::Pods {
            namespace,
            container,
            statefulsets,
            capacity,
        } => {
            let pods: Vec<String> = if statefulsets.is_empty() {
                vec![
                    format!("{container}-5d8f7c9b4-x2k9p"),
                    format!("{container}-5d8f7c9b4-q7w3z"),
                ]
            } else {
                statefulsets.iter().map(|s| format!("{s}-0")).collect()
            };
            for (i, pod) in pods.iter().enumerate() {
                let share = if i == 0 { 1.0 } else { 0.5 };
                let base =
                    format!("namespace=\"{namespace}\",pod=\"{pod}\",container=\"{container}\"");
                if let Some(v) = state.values.get(&Signal::Cpu) {
                    let cores = v / 100.0 * capacity * share;
                    push(
                        format!("container_cpu_usage_seconds_total{{{base},image=\"app:1\",cpu=\"total\"}}"),
                        counter(cores, steps),
                    );
                    // The kubelet's /metrics/resource series: same name, no image.
                    push(
                        format!("container_cpu_usage_seconds_total{{{base},metrics_path=\"/metrics/resource\"}}"),
                        counter(cores, steps),
                    );
                }
                if let Some(v) = state.values.get(&Signal::Memory) {
                    push(
                        format!("container_memory_working_set_bytes{{{base},image=\"app:1\"}}"),
                        gauge(v / 100.0 * capacity * share, steps),
                    );
                }
            }
            // The pod's own cgroup series (no container label) must not count.
            push(
                format!(
                    "container_memory_working_set_bytes{{namespace=\"{namespace}\",pod=\"{}\"}}",
                    pods[0]
                ),
                gauge(1e15, steps),
            );
        }
        Source::Requests {
            job,
            namespace,
            requests: counter_name,
            status_label,
            path_label,
            excluded,
            histogram,
            histogram_by_path,
        } => {
            let job = &scoped(job, namespace);
            let r = requests(state);
            // Probes and scrapes of the left-out paths: many, failing and slow, which
            // would swamp every request signal if they were counted.
            for path in excluded {
                push(
                    format!("{counter_name}{{{job},{path_label}=\"{path}\",method=\"GET\",{status_label}=\"5xx\"}}"),
                    counter(1000.0, steps),
                );
                // A histogram without the route label (the instrumentator's fine one)
                // has no such series: the application leaves those paths out.
                if !histogram_by_path {
                    continue;
                }
                let l = format!("{job},instance=\"10.0.0.7:8000\",{path_label}=\"{path}\"");
                push(format!("{histogram}_count{{{l}}}"), counter(1000.0, steps));
                push(
                    format!("{histogram}_sum{{{l}}}"),
                    counter(1000.0 * 100.0, steps),
                );
                for b in BUCKETS
                    .iter()
                    .map(|b| b.to_string())
                    .chain(["+Inf".to_string()])
                {
                    let inside = if b == "+Inf" { 1000.0 } else { 0.0 };
                    push(
                        format!("{histogram}_bucket{{{l},le=\"{b}\"}}"),
                        counter(inside, steps),
                    );
                }
            }
            for (status, share) in [("2xx", 1.0 - r.errors / 100.0), ("5xx", r.errors / 100.0)] {
                // The instrumentator has no series for a status nothing answered with.
                if share == 0.0 {
                    continue;
                }
                for handler in ["/a", "/b"] {
                    push(
                        format!("{counter_name}{{{job},handler=\"{handler}\",method=\"GET\",{status_label}=\"{status}\"}}"),
                        counter(r.rate * share / 2.0, steps),
                    );
                }
            }
            let l = format!("{job},instance=\"10.0.0.7:8000\"");
            push(format!("{histogram}_count{{{l}}}"), counter(r.rate, steps));
            push(
                format!("{histogram}_sum{{{l}}}"),
                counter(r.rate * r.latency, steps),
            );
            for b in BUCKETS
                .iter()
                .map(|b| b.to_string())
                .chain(["+Inf".to_string()])
            {
                let inside = b == "+Inf" || r.latency <= b.parse::<f64>().unwrap();
                push(
                    format!("{histogram}_bucket{{{l},le=\"{b}\"}}"),
                    counter(if inside { r.rate } else { 0.0 }, steps),
                );
            }
        }
        Source::RedisKey {
            job,
            namespace,
            key,
        } => {
            if let Some(v) = state.values.get(&Signal::QueueDepth) {
                push(
                    format!(
                        "redis_key_size{{{},instance=\"exporter:9121\",db=\"db0\",key=\"{key}\"}}",
                        scoped(job, namespace)
                    ),
                    gauge(*v, steps),
                );
            }
        }
        Source::RabbitmqQueue {
            job,
            namespace,
            queue,
        } => {
            if let Some(v) = state.values.get(&Signal::QueueDepth) {
                push(
                    format!("rabbitmq_detailed_queue_messages_ready{{{},vhost=\"/\",queue=\"{queue}\"}}", scoped(job, namespace)),
                    gauge(*v, steps),
                );
            }
        }
        Source::Redis { job, namespace } => {
            for (node, share) in [("a:6379", 1.0), ("b:6379", 0.5)] {
                let l = format!("{},instance=\"{node}\"", scoped(job, namespace));
                if let Some(v) = state.values.get(&Signal::RedisMemory) {
                    push(format!("redis_memory_max_bytes{{{l}}}"), gauge(1e9, steps));
                    push(
                        format!("redis_memory_used_bytes{{{l}}}"),
                        gauge(v / 100.0 * 1e9 * share, steps),
                    );
                }
                if let Some(v) = state.values.get(&Signal::CacheHitRate) {
                    push(
                        format!("redis_keyspace_hits_total{{{l}}}"),
                        counter(*v, steps),
                    );
                    push(
                        format!("redis_keyspace_misses_total{{{l}}}"),
                        counter(100.0 - v, steps),
                    );
                }
            }
        }
        Source::Postgres { job, namespace } => {
            for (node, share) in [("db:5432", 1.0), ("db-replica-1:5432", 0.5)] {
                let l = format!("{},instance=\"{node}\"", scoped(job, namespace));
                if let Some(v) = state.values.get(&Signal::ReplicationLag) {
                    push(
                        format!("pg_replication_lag_seconds{{{l}}}"),
                        gauge(v * share, steps),
                    );
                }
                if let Some(v) = state.values.get(&Signal::DbConnections) {
                    push(
                        format!("pg_settings_max_connections{{{l},server=\"{node}\"}}"),
                        gauge(200.0, steps),
                    );
                    // Backends split over two databases: their sum counts.
                    for db in ["app", "postgres"] {
                        push(
                            format!(
                                "pg_stat_database_numbackends{{{l},datid=\"1\",datname=\"{db}\"}}"
                            ),
                            gauge(v * share, steps),
                        );
                    }
                }
            }
        }
        Source::PgStatements {
            job,
            namespace,
            database,
            monitor_user,
        } => {
            let Some(v) = state.values.get(&Signal::QueryLatency) else {
                return;
            };
            // The application's statements on two servers, each split over two
            // statements: the primary's 3 calls/s at 2/3 of the mean, the replica's
            // 1 call/s at twice it, so only a mean weighted by calls is the value.
            // Beside them, many slow ones the signal leaves out: the exporter's own,
            // and another database's.
            for (node, calls, mean) in [
                ("db:5432", 3.0, v * 2.0 / 3.0),
                ("db-replica-1:5432", 1.0, v * 2.0),
            ] {
                let l = format!("{},instance=\"{node}\"", scoped(job, namespace));
                for (user, db, calls, mean) in [
                    ("app", database.as_str(), calls, mean),
                    (monitor_user.as_str(), database.as_str(), 1000.0, 10.0),
                    ("app", "postgres", 1000.0, 10.0),
                ] {
                    for queryid in ["-4182921234", "771"] {
                        let l =
                            format!("{l},user=\"{user}\",datname=\"{db}\",queryid=\"{queryid}\"");
                        push(
                            format!("pg_stat_statements_calls_total{{{l}}}"),
                            counter(calls / 2.0, steps),
                        );
                        push(
                            format!("pg_stat_statements_seconds_total{{{l}}}"),
                            counter(calls / 2.0 * mean, steps),
                        );
                    }
                }
            }
        }
    }
}

/// A scrape job's labels: on Kubernetes with the namespace the operator adds.
fn scoped(job: &str, namespace: &Option<String>) -> String {
    match namespace {
        Some(ns) => format!("job=\"{job}\",namespace=\"{ns}\""),
        None => format!("job=\"{job}\""),
    }
}

/// Go's `%.Ng` for N significant digits.
fn go_g(v: f64, digits: i32) -> String {
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
    let sci = format!("{v:.*e}", (digits - 1) as usize);
    let (mantissa, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    if exp < -4 || exp >= digits {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa.to_string()), exp.abs())
    } else {
        trim(format!("{:.*}", (digits - 1 - exp) as usize, v))
    }
}

/// Prometheus's `humanizeDuration` template function.
fn humanize_duration(v: f64) -> String {
    if v == 0.0 {
        return "0s".into();
    }
    if v.abs() >= 1.0 {
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{m}m {s}s");
        }
        return format!("{}s", go_g(v, 4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_g(v, 4))
}

/// The description's current value, as the rule's template prints it.
fn shown(c: &MeasuredCondition, v: f64) -> (String, String) {
    let template = tierform::monitoring::current_value(c).to_string();
    let text = match c.signal.unit() {
        Unit::Percent => format!("{v:.1}%"),
        Unit::Seconds => humanize_duration(v),
        Unit::PerSecond => format!("{v:.1} requests/s"),
        Unit::Count => format!("{v:.0} messages"),
    };
    (template, text)
}

/// The value on a condition's firing side, and on its quiet side. A percentile's
/// values sit in buckets wholly past the threshold (its interpolated value passes it),
/// or wholly short of it.
fn sides(c: &MeasuredCondition) -> (f64, f64) {
    let t = c.threshold;
    let (over, under) = match c.signal.quantile() {
        Some(_) => {
            let b = BUCKETS
                .iter()
                .position(|b| *b >= t)
                .expect("a bucket past the threshold");
            let over = (BUCKETS[b] + BUCKETS[b + 1]) / 2.0;
            let under = *BUCKETS
                .iter()
                .rev()
                .find(|x| **x < t)
                .expect("a bucket short of it")
                / 2.0;
            (over, under)
        }
        None => {
            let over = t * 1.5;
            let over = if c.signal.unit() == Unit::Percent && over > 100.0 {
                (t + 100.0) / 2.0
            } else {
                over
            };
            (over, t * 0.5)
        }
    };
    if c.above {
        (over, under)
    } else if c.signal == Signal::ErrorRate {
        // A healthy service: no 5xx series at all.
        (0.0, over)
    } else {
        (under, over)
    }
}

/// The alerts expected at `eval_ms` under `states`, per alert name, with their labels
/// and annotations from the rules file.
fn expected(
    file: &RulesFile,
    rules: &[Value],
    states: &BTreeMap<String, (Source, State)>,
    eval_ms: u64,
) -> Vec<Value> {
    let mut by_name: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (a, rule) in file.alerts.iter().zip(rules) {
        by_name.entry(a.alert).or_default();
        let mut values = Vec::new();
        let mut since = 0;
        for c in &a.conditions {
            let Some(v) = predicted(c, file.platform, states) else {
                break;
            };
            if !(if c.above {
                v > c.threshold
            } else {
                v < c.threshold
            }) {
                break;
            }
            if c.signal.is_rate() {
                since = STEP_MS;
            }
            values.push(v);
        }
        if values.len() < a.conditions.len() || eval_ms < since + a.for_ms {
            continue;
        }
        let mut annotations = rule["annotations"].clone();
        if let ([c], [v]) = (a.conditions.as_slice(), values.as_slice()) {
            let (template, text) = shown(c, *v);
            let d = annotations["description"]
                .as_str()
                .unwrap()
                .replace(&template, &text);
            annotations["description"] = Value::from(d);
        }
        by_name
            .get_mut(a.alert)
            .unwrap()
            .push(json!({ "exp_labels": rule["labels"], "exp_annotations": annotations }));
    }
    by_name
        .into_iter()
        .map(|(name, alerts)| {
            json!({ "eval_time": tierform::monitoring::prom_duration(eval_ms), "alertname": name, "exp_alerts": alerts })
        })
        .collect()
}

/// The states of the sources an alert reads, each condition at `values[i]`.
fn states_of(
    a: &AlertPlan,
    platform: Platform,
    values: &[f64],
) -> BTreeMap<String, (Source, State)> {
    let mut states: BTreeMap<String, (Source, State)> = BTreeMap::new();
    for (c, v) in a.conditions.iter().zip(values) {
        let source = c.sources[&platform].clone();
        let entry = states
            .entry(key(&source))
            .or_insert((source, State::default()));
        entry.1.values.insert(c.signal, *v);
    }
    states
}

#[test]
fn each_alert_fires_past_its_thresholds_after_its_for_and_never_on_the_quiet_side() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut cases_run, mut down_alerts, mut objectives) = (0, 0, 0);
    for (i, file) in rules_files().iter().enumerate() {
        let rules_path = dir.path().join(format!("rules-{i}.yml"));
        std::fs::write(&rules_path, &file.text).unwrap();
        let doc = tierform::load_yaml(&file.text).unwrap().to_json();
        // The phase's signals; the health group beside them is tested on its own.
        let rules: Vec<Value> = doc["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| !g["name"].as_str().unwrap().ends_with("-health"))
            .map(|g| g["rules"].as_array().unwrap().clone())
            .unwrap_or_default();
        assert_eq!(
            rules.len(),
            file.alerts.len(),
            "{}: one rule per alert",
            file.name
        );
        let longest = file.alerts.iter().map(|a| a.for_ms).max().unwrap_or(0);
        let after = longest + 10 * STEP_MS;
        let steps = after / STEP_MS + 5;
        let mut cases = Vec::new();
        for a in &file.alerts {
            match a.direction {
                Move::Down => down_alerts += 1,
                Move::Hold => objectives += 1,
                Move::Up => {}
            }
            let fire: Vec<f64> = a.conditions.iter().map(|c| sides(c).0).collect();
            // Quiet: every condition fires but one (each in turn) on its quiet side.
            let mut scenarios = vec![(fire.clone(), true)];
            for k in 0..a.conditions.len() {
                let mut quiet = fire.clone();
                quiet[k] = sides(&a.conditions[k]).1;
                scenarios.push((quiet, false));
            }
            for (values, fires) in scenarios {
                let states = states_of(a, file.platform, &values);
                let mut input = Vec::new();
                for (source, state) in states.values() {
                    series(source, state, steps, &mut input);
                }
                let mut checks = expected(file, &rules, &states, after);
                // The firing case must expect this alert (or it proves nothing), the
                // quiet one must not.
                let me = |c: &Value| {
                    c["alertname"] == a.alert
                        && c["exp_alerts"].as_array().unwrap().iter().any(|e| {
                            let l = &e["exp_labels"];
                            match a.direction {
                                // An objective's alert names no phase to move to, but
                                // what it measures.
                                Move::Hold => {
                                    let (kind, subject) = &a.conditions[0].subject;
                                    l.get("to_phase").is_none()
                                        && l["signal"] == a.conditions[0].signal.as_str()
                                        && l[*kind] == subject.as_str()
                                }
                                Move::Down => l["to_phase"] == a.to_phase.as_str(),
                                Move::Up => {
                                    l["to_phase"] == a.to_phase.as_str()
                                        && l["signal"] == a.conditions[0].signal.as_str()
                                }
                            }
                        })
                };
                let listed = checks.iter().any(me);
                assert_eq!(
                    listed, fires,
                    "{}: `{}` to {} at {values:?}",
                    file.name, a.alert, a.to_phase
                );
                // Before its `for` has passed, the alert is only pending.
                let since = if a.conditions.iter().any(|c| c.signal.is_rate()) {
                    STEP_MS
                } else {
                    0
                };
                if a.for_ms >= 2 * STEP_MS {
                    let before = expected(file, &rules, &states, since + a.for_ms - STEP_MS);
                    assert!(
                        !before.iter().any(me),
                        "{}: `{}` fires before its `for`",
                        file.name,
                        a.alert
                    );
                    checks.extend(before);
                }
                cases.push(json!({
                    "name": format!("{} to {} at {values:?}", a.alert, a.to_phase),
                    "interval": "1m",
                    "input_series": input,
                    "alert_rule_test": checks,
                }));
            }
        }
        cases_run += cases.len();
        promtool_test_rules(
            &promtool,
            &dir.path().join(format!("test-{i}.yml")),
            &rules_path,
            &cases,
            &file.name,
            &format!("\n--- rules\n{}", file.text),
        );
    }
    assert!(down_alerts >= 2, "only {down_alerts} leave alerts tested");
    assert!(objectives >= 4, "only {objectives} objective alerts tested");
    eprintln!("promtool ran {cases_run} alert cases");
}

#[test]
fn go_formats_read_as_go_writes_them() {
    assert_eq!(go_g(105.00000000000001, 3), "105");
    assert_eq!(go_g(0.39, 3), "0.39");
    assert_eq!(go_g(1500.0, 3), "1.5e+03");
    assert_eq!(go_g(0.00001, 3), "1e-05");
    assert_eq!(humanize_duration(0.39), "390ms");
    assert_eq!(humanize_duration(1.25), "1.25s");
    assert_eq!(humanize_duration(45.0), "45s");
    assert_eq!(humanize_duration(90.0), "1m 30s");
}

/// One rules file of a compose or hosts bundle, and the render it belongs to.
struct BundleRules<'a> {
    /// `stem/path`, for messages.
    name: String,
    /// Its path in the render.
    rel: String,
    text: String,
    rules: Vec<Value>,
    /// The render of its blueprint.
    set: &'a tierform::OutputSet,
}

impl BundleRules<'_> {
    fn rule(&self, alert: &str) -> Option<Value> {
        self.rules.iter().find(|r| r["alert"] == alert).cloned()
    }

    /// Runs `promtool test rules` with `tests` on this file, as the `i`-th.
    fn test(&self, promtool: &Path, dir: &Path, i: usize, tests: &[Value]) {
        let rules_path = dir.join(format!("rules-{i}.yml"));
        std::fs::write(&rules_path, &self.text).unwrap();
        promtool_test_rules(
            promtool,
            &dir.join(format!("test-{i}.yml")),
            &rules_path,
            tests,
            &self.name,
            &format!("\n--- rules\n{}", self.text),
        );
    }
}

/// Calls `f` with every rules file of the compose and hosts bundles of the bundled
/// blueprints (Kubernetes' is a PrometheusRule, each selector in its namespace).
fn each_compose_and_hosts_rules(mut f: impl FnMut(&BundleRules)) {
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for (rel, text) in set.iter() {
            if !rel.ends_with(&format!("/{RULES_FILE}")) || rel.contains("/kubernetes/") {
                continue;
            }
            let doc = tierform::load_yaml(text).unwrap().to_json();
            let rules = doc["groups"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|g| g["rules"].as_array().unwrap().clone())
                .collect();
            f(&BundleRules {
                name: format!("{stem}/{rel}"),
                rel: rel.to_string(),
                text: text.to_string(),
                rules,
                set: &set,
            });
        }
    }
}

/// The alert promtool expects `rule` to fire on series labelled `labels`: the rule's
/// labels with those, its annotations with each `{{ $labels.NAME }}` filled in and
/// the `{{ $value … }}` template `value.0` shown as `value.1`.
fn fired(rule: &Value, labels: &[(&str, &str)], value: Option<(&str, &str)>) -> Value {
    let mut l = rule["labels"].clone();
    let mut annotations = rule["annotations"].clone();
    for key in ["summary", "description"] {
        let mut t = annotations[key].as_str().unwrap().to_string();
        for (k, v) in labels {
            t = t.replace(&format!("{{{{ $labels.{k} }}}}"), v);
        }
        if let Some((template, shown)) = value {
            t = t.replace(template, shown);
        }
        annotations[key] = json!(t);
    }
    for (k, v) in labels {
        l[*k] = json!(v);
    }
    json!({ "exp_labels": l, "exp_annotations": annotations })
}

/// A `promtool test rules` case: `series` at one-minute steps, and the alerts expected
/// at each evaluation time.
fn case(name: &str, series: Vec<Value>, checks: &[(&str, &str, Vec<Value>)]) -> Value {
    let checks: Vec<Value> = checks
        .iter()
        .map(|(at, alert, alerts)| json!({ "eval_time": at, "alertname": alert, "exp_alerts": alerts }))
        .collect();
    json!({ "name": name, "interval": "1m", "input_series": series, "alert_rule_test": checks })
}

/// The monitoring watches itself, under `promtool test rules`, in every compose and
/// hosts bundle: a cAdvisor that answers but reports none of the blueprint's
/// containers (only another stack's, or none at all) fires ContainerMetricsMissing
/// after 15 minutes, and one that reports them fires nothing; where Alertmanager runs,
/// notifications failing for 10 minutes fire AlertmanagerNotificationsFailing, and
/// none failing fires nothing.
#[test]
fn the_monitoring_alerts_when_it_cannot_see_or_cannot_send() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut files, mut alertmanagers) = (0, 0);
    each_compose_and_hosts_rules(|b| {
        let name = &b.name;
        let blueprint = b.rules[0]["labels"]["blueprint"].as_str().unwrap();
        let bundle_dir = b.rel.strip_suffix(RULES_FILE).unwrap();
        let config = tierform::load_yaml(b.set.get(&format!("{bundle_dir}{CONFIG_FILE}")).unwrap())
            .unwrap()
            .to_json();
        let scraped = |job: &str| {
            config["scrape_configs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|j| j["job_name"] == job)
        };
        let seen = b
            .rule("ContainerMetricsMissing")
            .unwrap_or_else(|| panic!("{name}: no ContainerMetricsMissing"));
        let up = json!({ "series": "up{job=\"cadvisor\",instance=\"m1:8080\"}", "values": "1x40" });
        let own = |bp: &str| {
            json!({
                "series": format!("container_last_seen{{job=\"cadvisor\",instance=\"m1:8080\",name=\"api-1\",container_label_io_tierform_blueprint=\"{bp}\"}}"),
                "values": "1x40",
            })
        };
        let alert = fired(&seen, &[("job", "cadvisor"), ("instance", "m1:8080")], None);
        let mut tests = Vec::new();
        for (what, series, fires) in [
            ("no container at all", vec![up.clone()], true),
            (
                "another stack's only",
                vec![up.clone(), own("another")],
                true,
            ),
            ("the blueprint's", vec![up.clone(), own(blueprint)], false),
        ] {
            let alerts = if fires { vec![alert.clone()] } else { vec![] };
            tests.push(case(
                &format!("cAdvisor reports {what}"),
                series,
                &[
                    ("16m", "ContainerMetricsMissing", alerts),
                    ("14m", "ContainerMetricsMissing", vec![]),
                ],
            ));
        }
        match b.rule("AlertmanagerNotificationsFailing") {
            None => assert!(
                !scraped("alertmanager"),
                "{name}: Alertmanager scraped, and no alert on its failures"
            ),
            Some(rule) => {
                assert!(scraped("alertmanager"), "{name}: no Alertmanager job");
                alertmanagers += 1;
                let alert = fired(
                    &rule,
                    &[
                        ("job", "alertmanager"),
                        ("instance", "am:9093"),
                        ("integration", "slack"),
                    ],
                    None,
                );
                // Alertmanager counts a failure per flush of a group (every
                // group_interval, 5m): one every 6 minutes is a broken receiver.
                let every_6m: Vec<String> = (0..40).map(|i| (i / 6).to_string()).collect();
                for (values, fires) in [(every_6m.join(" "), true), ("3x40".to_string(), false)] {
                    let alerts = if fires { vec![alert.clone()] } else { vec![] };
                    let series = json!({
                        "series": "alertmanager_notifications_failed_total{job=\"alertmanager\",instance=\"am:9093\",integration=\"slack\"}",
                        "values": values,
                    });
                    tests.push(case(
                        &format!("notifications failed: {values}"),
                        vec![series],
                        &[
                            ("20m", "AlertmanagerNotificationsFailing", alerts),
                            ("5m", "AlertmanagerNotificationsFailing", vec![]),
                        ],
                    ));
                }
            }
        }
        b.test(&promtool, dir.path(), files, &tests);
        files += 1;
    });
    assert!(
        files >= 20 && alertmanagers >= 2,
        "{files} rules files, {alertmanagers} with Alertmanager"
    );
}

/// The machines' disks, under `promtool test rules`, in every compose and hosts
/// bundle (node_exporter's series, as on a Docker host): a writable filesystem with 5%
/// left fires DiskAlmostFull after 5 minutes; one with half left, a read-only one or a
/// tmpfs, nothing. One losing 6 GB an hour from 35% of 100 GB fires DiskFillingUp once
/// the next 4 hours would empty it and an hour has passed; a steady one, nothing.
#[test]
fn disk_alerts_fire_for_a_full_or_filling_filesystem_and_nothing_else() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = 0;
    let fs = |mountpoint: &str, fstype: &str| {
        format!("job=\"node-exporter\",instance=\"m1:9100\",device=\"/dev/sda1\",fstype=\"{fstype}\",mountpoint=\"{mountpoint}\"")
    };
    let disk = |l: &str, avail: &str, readonly: u8| {
        vec![
            json!({ "series": format!("node_filesystem_size_bytes{{{l}}}"), "values": "100e9x300" }),
            json!({ "series": format!("node_filesystem_avail_bytes{{{l}}}"), "values": avail }),
            json!({ "series": format!("node_filesystem_readonly{{{l}}}"), "values": format!("{readonly}x300") }),
        ]
    };
    let root = [
        ("job", "node-exporter"),
        ("instance", "m1:9100"),
        ("device", "/dev/sda1"),
        ("fstype", "ext4"),
        ("mountpoint", "/"),
    ];
    each_compose_and_hosts_rules(|b| {
        let rule = |alert: &str| {
            b.rule(alert)
                .unwrap_or_else(|| panic!("{}: no {alert}", b.name))
        };
        let full = fired(
            &rule("DiskAlmostFull"),
            &root,
            Some(("{{ $value | printf \"%.1f\" }}", "5.0")),
        );
        let filling = fired(&rule("DiskFillingUp"), &root, None);
        let quiet = |at: &'static str, alert: &'static str| (at, alert, vec![]);
        let tests = vec![
            case(
                "5% left",
                disk(&fs("/", "ext4"), "5e9x300", 0),
                &[
                    ("6m", "DiskAlmostFull", vec![full]),
                    quiet("4m", "DiskAlmostFull"),
                ],
            ),
            case(
                "half left",
                disk(&fs("/", "ext4"), "50e9x300", 0),
                &[quiet("30m", "DiskAlmostFull")],
            ),
            case(
                "read-only",
                disk(&fs("/", "ext4"), "5e9x300", 1),
                &[quiet("30m", "DiskAlmostFull")],
            ),
            case(
                "a tmpfs",
                disk(&fs("/run", "tmpfs"), "1e9x300", 0),
                &[quiet("30m", "DiskAlmostFull")],
            ),
            case(
                "6 GB an hour from 35 GB",
                disk(&fs("/", "ext4"), "35e9-1e8x300", 0),
                &[
                    ("4h", "DiskFillingUp", vec![filling]),
                    quiet("2h", "DiskFillingUp"),
                ],
            ),
            case(
                "steady",
                disk(&fs("/", "ext4"), "35e9x300", 0),
                &[quiet("4h", "DiskFillingUp")],
            ),
        ];
        b.test(&promtool, dir.path(), files, &tests);
        files += 1;
    });
    assert!(files >= 20, "only {files} rules files");
}

/// The archiving alert of a backed-up PostgreSQL, under `promtool test rules`, in
/// every compose and hosts bundle that has one: an archiver failing every minute fires
/// PostgresArchiveFailing once its 10 minutes have passed, not before; one that failed
/// once long ago and archives since, nothing.
#[test]
fn archive_alert_fires_while_archiving_fails_and_not_after() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = 0;
    each_compose_and_hosts_rules(|b| {
        let Some(rule) = b.rule("PostgresArchiveFailing") else {
            return;
        };
        let expr = rule["expr"].as_str().unwrap();
        let job = expr
            .split("job=~\"")
            .nth(1)
            .and_then(|r| r.split(['|', '"']).next())
            .unwrap_or_else(|| panic!("{}: no job in {expr}", b.name));
        let labels = [("job", job), ("instance", "db-exporter:9187")];
        let alert = fired(&rule, &labels, None);
        let series = |values: &str| {
            vec![json!({
                "series": format!("pg_stat_archiver_failed_count{{job=\"{job}\",instance=\"db-exporter:9187\"}}"),
                "values": values,
            })]
        };
        let tests = vec![
            case(
                "failing every minute",
                series("0+1x40"),
                &[
                    ("16m", "PostgresArchiveFailing", vec![alert]),
                    ("8m", "PostgresArchiveFailing", vec![]),
                ],
            ),
            case(
                "failed once, archiving since",
                series("0 1 1x38"),
                &[("30m", "PostgresArchiveFailing", vec![])],
            ),
        ];
        b.test(&promtool, dir.path(), files, &tests);
        files += 1;
    });
    assert!(
        files >= 2,
        "only {files} rules files with the archiving alert"
    );
}

/// HAProxy's 429 alert, under `promtool test rules`, in every compose and hosts bundle
/// whose HAProxy limits rates: with 10% of its requests refused (its `rate_limited`
/// backend's 4xx against its `http` frontend's requests) it fires once its 10 minutes
/// have passed, saying so; pending before; with 1% refused, nothing. A bundle whose
/// balancer limits no rate, or is nginx, has no such alert.
#[test]
fn haproxy_429_alert_fires_past_its_share_of_refused_requests() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut tested = 0;
    each_compose_and_hosts_rules(|b| {
        // The balancer configs of the same bundle (compose, or every machine of hosts).
        let bundle = match b.rel.split_once("/hosts/") {
            Some((phase, _)) => format!("{phase}/hosts/"),
            None => b.rel.strip_suffix(RULES_FILE).unwrap().to_string(),
        };
        let limits = b.set.iter().any(|(p, t)| {
            p.starts_with(&bundle)
                && p.ends_with("haproxy/haproxy.cfg")
                && t.contains("\nbackend rate_limited\n")
        });
        let Some(rule) = b.rule("TooManyRequestsRefused") else {
            assert!(
                !limits,
                "{}: HAProxy limits rates, and no 429 alert",
                b.name
            );
            return;
        };
        assert!(
            limits,
            "{}: a 429 alert without HAProxy's rate_limited backend",
            b.name
        );
        let instance = "lb:8405";
        let alert = fired(
            &rule,
            &[("job", "balancer"), ("instance", instance)],
            Some(("{{ $value | humanizePercentage }}", "10%")),
        );
        let mut tests = Vec::new();
        for (refused_per_min, fires) in [(60, true), (6, false)] {
            let series = vec![
                json!({
                    "series": format!("haproxy_frontend_http_requests_total{{job=\"balancer\",instance=\"{instance}\",proxy=\"http\"}}"),
                    "values": "0+600x40",
                }),
                json!({
                    "series": format!("haproxy_backend_http_responses_total{{job=\"balancer\",instance=\"{instance}\",proxy=\"rate_limited\",code=\"4xx\"}}"),
                    "values": format!("0+{refused_per_min}x40"),
                }),
                // Another backend's 4xx (404s, say) are no 429s.
                json!({
                    "series": format!("haproxy_backend_http_responses_total{{job=\"balancer\",instance=\"{instance}\",proxy=\"api\",code=\"4xx\"}}"),
                    "values": "0+300x40",
                }),
            ];
            let alerts = if fires { vec![alert.clone()] } else { vec![] };
            tests.push(case(
                &format!("{refused_per_min} of 600 requests a minute refused"),
                series,
                // 5 minutes of rate window, then 10 of `for`.
                &[
                    ("30m", "TooManyRequestsRefused", alerts),
                    ("9m", "TooManyRequestsRefused", vec![]),
                ],
            ));
        }
        // The backend that refuses has no server, and is no backend down.
        let serverless = json!({
            "series": format!("haproxy_backend_active_servers{{job=\"balancer\",instance=\"{instance}\",proxy=\"rate_limited\"}}"),
            "values": "0x40",
        });
        tests.push(case(
            "the rate_limited backend has no server",
            vec![serverless],
            &[("30m", "BalancerBackendDown", vec![])],
        ));
        b.test(&promtool, dir.path(), tested, &tests);
        tested += 1;
    });
    assert!(
        tested >= 3,
        "only {tested} bundles with HAProxy rate limits"
    );
}

/// The health rules of every compose bundle, under `promtool test rules`: for each
/// job a rule watches, its series at 0 (down) fire the alert once the rule's `for` has
/// passed, named with the job and instance, and not before; at 1 (up) they fire
/// nothing.
#[test]
fn health_alerts_fire_for_what_is_down_after_their_for_and_never_for_what_is_up() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cases_run = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let rules_files: Vec<(String, String)> = set
            .iter()
            .filter(|(p, _)| p.ends_with(&format!("/{RULES_FILE}")) && !p.contains("/kubernetes/"))
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        for (rel, text) in rules_files {
            let doc = tierform::load_yaml(&text).unwrap().to_json();
            let health = doc["groups"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["name"].as_str().unwrap().ends_with("-health"))
                .unwrap_or_else(|| panic!("{stem}/{rel} has no health group"))
                .clone();
            let rules_path = dir.path().join(format!("rules-{cases_run}.yml"));
            std::fs::write(&rules_path, &text).unwrap();
            let mut tests = Vec::new();
            for rule in health["rules"].as_array().unwrap() {
                // Tested on their own: a ratio, and the monitoring watching itself.
                if [
                    "TooManyRequestsRefused",
                    "ContainerMetricsMissing",
                    "AlertmanagerNotificationsFailing",
                    "DiskAlmostFull",
                    "DiskFillingUp",
                    "PostgresArchiveFailing",
                ]
                .iter()
                .any(|a| rule["alert"] == *a)
                {
                    continue;
                }
                let expr = rule["expr"].as_str().unwrap();
                // `METRIC{job=~"a|b",label="value"…} == 0`
                let (metric, rest) = expr.split_once('{').unwrap();
                let (matchers, tail) = rest.split_once('}').unwrap();
                assert_eq!(tail, " == 0", "{stem}/{rel}: {expr}");
                let mut jobs = "";
                let mut fixed: Vec<(&str, String)> = Vec::new();
                for m in matchers.split(',') {
                    if let Some(j) = m.strip_prefix("job=~") {
                        jobs = j.trim_matches('"');
                    } else if let Some((k, v)) = m.split_once("=~") {
                        // One of the values it admits (HAProxy's pools, say).
                        let first = v.trim_matches('"').split('|').next().unwrap();
                        fixed.push((k, first.to_string()));
                    } else {
                        let (k, v) = m.split_once('=').unwrap();
                        fixed.push((k, v.trim_matches('"').to_string()));
                    }
                }
                let for_ms = duration_ms(rule["for"].as_str().unwrap());
                for job in jobs.split('|') {
                    // The series' labels: HAProxy's per backend (`proxy`) too.
                    let mut own = vec![
                        ("job", job.to_string()),
                        ("instance", format!("{job}-node:1")),
                    ];
                    if metric.starts_with("haproxy_") && !fixed.iter().any(|(k, _)| *k == "proxy") {
                        own.push(("proxy", "api".to_string()));
                    }
                    if metric.starts_with("pg_replication_slot_") {
                        own.push(("slot_name", format!("{job}_replica_1")));
                    }
                    own.extend(fixed.iter().cloned());
                    let selector: Vec<String> =
                        own.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                    for (value, fires) in [(0, true), (1, false)] {
                        let series = json!([{
                            "series": format!("{metric}{{{}}}", selector.join(",")),
                            "values": format!("{value}x30"),
                        }]);
                        let mut labels = rule["labels"].clone();
                        let mut annotations = rule["annotations"].clone();
                        for (k, v) in &own {
                            labels[*k] = Value::from(v.clone());
                            for key in ["summary", "description"] {
                                let t = annotations[key]
                                    .as_str()
                                    .unwrap()
                                    .replace(&format!("{{{{ $labels.{k} }}}}"), v);
                                annotations[key] = Value::from(t);
                            }
                        }
                        let alert = rule["alert"].as_str().unwrap();
                        let at = |ms: u64, alerts: Vec<Value>| {
                            json!({
                                "eval_time": tierform::monitoring::prom_duration(ms),
                                "alertname": alert,
                                "exp_alerts": alerts,
                            })
                        };
                        let after = for_ms + STEP_MS;
                        let mut checks = vec![at(
                            after,
                            if fires {
                                vec![
                                    json!({ "exp_labels": labels, "exp_annotations": annotations }),
                                ]
                            } else {
                                vec![]
                            },
                        )];
                        // One step short of its `for`, it is only pending.
                        checks.push(at(for_ms - STEP_MS, vec![]));
                        tests.push(json!({
                            "name": format!("{alert} for {job} at {value}"),
                            "interval": "1m",
                            "input_series": series,
                            "alert_rule_test": checks,
                        }));
                        cases_run += 1;
                    }
                }
            }
            promtool_test_rules(
                &promtool,
                &dir.path().join(format!("test-{cases_run}.yml")),
                &rules_path,
                &tests,
                &format!("{stem}/{rel}"),
                "",
            );
        }
    }
    assert!(cases_run >= 40, "only {cases_run} health cases");
    eprintln!("promtool ran {cases_run} health cases");
}

/// A Prometheus duration of whole minutes (`2m`), in milliseconds.
fn duration_ms(text: &str) -> u64 {
    text.strip_suffix('m').unwrap().parse::<u64>().unwrap() * STEP_MS
}

/// Every rendered Alertmanager configuration passes `amtool check-config` of the
/// Alertmanager the image pins (Debian 13's 0.28), which reads the receivers' URL
/// files (`url_file`, `api_url_file`) as that release does.
#[test]
fn every_alertmanager_config_passes_amtool() {
    let Some(set) = lab::ServerSet::trixie() else {
        return;
    };
    let Some(amtool) = set.require("amtool") else {
        return;
    };
    let lab = lab::Lab::new();
    let mut checked = 0;
    for path in common::render_blueprints() {
        let set_files = common::render_all(&path);
        for (rel, text) in set_files.iter() {
            if !rel.ends_with(tierform::monitoring::ALERTMANAGER_FILE) {
                continue;
            }
            let file = lab.dir().join(format!("alertmanager-{checked}.yml"));
            std::fs::write(&file, text).unwrap();
            let out = lab
                .command(
                    set.root(),
                    &[&amtool, "check-config", file.to_str().unwrap()],
                )
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "amtool check-config refused {}/{rel}:\n{}{}\n{text}",
                path.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "only {checked} Alertmanager configurations");
    eprintln!("amtool checked {checked} Alertmanager configurations");
}

/// Every rendered dashboard (compose's provisioned file, Kubernetes' ConfigMap) is
/// type-checked by the TypeScript compiler against Grafana's published schema types
/// (`@grafana/schema`, pinned in `.ci/grafana`): the dashboard as `Dashboard`, each
/// time series panel's field config as `GraphFieldConfig` and its legend and tooltip
/// options, with excess-property checks, enums read as their string values (what the
/// JSON holds). A misspelt or misplaced field fails.
#[test]
fn every_dashboard_matches_grafanas_schema() {
    let root = std::env::current_dir().unwrap().join(".ci/grafana");
    let tsc = root.join("node_modules/.bin/tsc");
    if !tsc.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Grafana checker is required in CI: .ci/run installs it (npm ci --prefix .ci/grafana)"
        );
        eprintln!("skipping: .ci/grafana is not installed (npm ci --prefix .ci/grafana)");
        return;
    }
    let mut dashboards: Vec<(String, Value)> = Vec::new();
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for (rel, text) in set.iter() {
            if rel.contains("/monitoring/grafana/dashboards/") {
                dashboards.push((format!("{stem}/{rel}"), serde_json::from_str(text).unwrap()));
            }
            if rel.ends_with(&format!("kubernetes/{KUBERNETES_FILE}")) {
                for doc in text.split("\n---\n") {
                    let doc = tierform::load_yaml(doc).unwrap().to_json();
                    if doc["kind"] == "ConfigMap" {
                        for (name, json) in doc["data"].as_object().unwrap() {
                            dashboards.push((
                                format!("{stem}/{rel}:{name}"),
                                serde_json::from_str(json.as_str().unwrap()).unwrap(),
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        dashboards.len() >= 20,
        "only {} dashboards",
        dashboards.len()
    );
    let mut ts = String::from(
        "import type { Dashboard, GraphFieldConfig, VizLegendOptions, VizTooltipOptions } from '@grafana/schema';\n\
         // The JSON a dashboard file holds: each enum as its string values.\n\
         type Json<T> = unknown extends T ? T : T extends string ? `${T}` : T extends number | boolean | null | undefined ? T : T extends ReadonlyArray<infer U> ? Json<U>[] : { [K in keyof T]: Json<T[K]> };\n",
    );
    for (i, (name, d)) in dashboards.iter().enumerate() {
        ts.push_str(&format!(
            "// {name}\nexport const d{i} = {d} satisfies Json<Dashboard>;\n"
        ));
        for (j, p) in d["panels"].as_array().unwrap().iter().enumerate() {
            if p["type"] == "timeseries" {
                let custom = &p["fieldConfig"]["defaults"]["custom"];
                let legend = &p["options"]["legend"];
                let tooltip = &p["options"]["tooltip"];
                ts.push_str(&format!(
                    "export const c{i}_{j} = {custom} satisfies Json<GraphFieldConfig>;\n\
                     export const l{i}_{j} = {legend} satisfies Json<VizLegendOptions>;\n\
                     export const t{i}_{j} = {tooltip} satisfies Json<VizTooltipOptions>;\n"
                ));
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboards.ts"), &ts).unwrap();
    let schema = root.join("node_modules/@grafana/schema/dist/esm/index.d.mts");
    let config = json!({
        "compilerOptions": {
            "strict": true,
            "noEmit": true,
            "target": "es2022",
            "module": "esnext",
            "moduleResolution": "bundler",
            "skipLibCheck": true,
            "paths": { "@grafana/schema": [schema] },
        },
        "files": ["dashboards.ts"],
    });
    std::fs::write(
        dir.path().join("tsconfig.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let out = Command::new(&tsc)
        .arg("-p")
        .arg(dir.path().join("tsconfig.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tsc refused the dashboards:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!("tsc checked {} dashboards", dashboards.len());
}

/// On Kubernetes, VolumeAlmostFull fires for a datastore's claim (`data-<set>-<n>`)
/// with under 10% left once its `for` has passed, and not at half full; every
/// StatefulSet of the bundle that claims `data` is one the rule watches.
#[test]
fn volume_alerts_watch_every_datastore_claim() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for (rel, text) in set.iter() {
            if !rel.ends_with(&format!("kubernetes/{KUBERNETES_FILE}")) {
                continue;
            }
            let bundle = rel.trim_end_matches(KUBERNETES_FILE);
            // The StatefulSets that claim a `data` volume.
            let mut claiming: Vec<String> = Vec::new();
            for (file, manifest) in set.iter() {
                if !file.starts_with(bundle) || !file.ends_with(".yaml") {
                    continue;
                }
                for doc in manifest.split("\n---\n") {
                    let Ok(doc) = tierform::load_yaml(doc) else {
                        continue;
                    };
                    let doc = doc.to_json();
                    let claims = doc["spec"]["volumeClaimTemplates"].as_array();
                    if doc["kind"] == "StatefulSet"
                        && claims.is_some_and(|c| c.iter().any(|t| t["metadata"]["name"] == "data"))
                    {
                        claiming.push(doc["metadata"]["name"].as_str().unwrap().to_string());
                    }
                }
            }
            let rule_doc = text
                .split("\n---\n")
                .map(|d| tierform::load_yaml(d).unwrap().to_json())
                .find(|d| d["kind"] == "PrometheusRule");
            let rule = rule_doc.as_ref().and_then(|d| {
                d["spec"]["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|g| g["rules"].as_array().unwrap().iter())
                    .find(|r| r["alert"] == "VolumeAlmostFull")
                    .cloned()
            });
            let Some(rule) = rule else {
                assert!(
                    claiming.is_empty(),
                    "{stem}/{rel}: {claiming:?} claim volumes no rule watches"
                );
                continue;
            };
            let namespace = rule["labels"]["namespace"].as_str().unwrap().to_string();
            let rules_path = dir.path().join(format!("volume-rules-{checked}.yml"));
            std::fs::write(
                &rules_path,
                serde_json::to_string(&rule_doc.unwrap()["spec"]).unwrap(),
            )
            .unwrap();
            let mut tests = Vec::new();
            for set_name in &claiming {
                let claim = format!("{set_name}-0");
                let claim = format!("data-{claim}");
                for (available, fires) in [(5e8, true), (5e9, false)] {
                    let labels =
                        format!("namespace=\"{namespace}\",persistentvolumeclaim=\"{claim}\"");
                    let alert = fired(
                        &rule,
                        &[
                            ("namespace", namespace.as_str()),
                            ("persistentvolumeclaim", claim.as_str()),
                        ],
                        Some(("{{ $value | printf \"%.1f\" }}", "5.0")),
                    );
                    let alerts = if fires { vec![alert] } else { vec![] };
                    let series = vec![
                        json!({ "series": format!("kubelet_volume_stats_available_bytes{{{labels}}}"), "values": format!("{available}x20") }),
                        json!({ "series": format!("kubelet_volume_stats_capacity_bytes{{{labels}}}"), "values": "1e10x20" }),
                    ];
                    tests.push(case(
                        &format!("{claim} with {available} of 1e10 bytes free"),
                        series,
                        &[
                            ("4m", "VolumeAlmostFull", vec![]),
                            ("10m", "VolumeAlmostFull", alerts),
                        ],
                    ));
                }
            }
            promtool_test_rules(
                &promtool,
                &dir.path().join(format!("volume-test-{checked}.yml")),
                &rules_path,
                &tests,
                &format!("{stem}/{rel}"),
                "",
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "only {checked} bundles' volume alerts checked"
    );
}

/// The cluster's Prometheus selects what the blueprint labels for it
/// (`monitoring.labels`, e.g. kube-prometheus-stack's `release`): every PodMonitor and
/// the PrometheusRule of each Kubernetes bundle carry those labels, beside tierform's
/// own.
#[test]
fn kubernetes_monitoring_objects_carry_the_blueprints_labels() {
    let mut labelled = 0;
    for path in common::render_blueprints() {
        let (plans, set) = common::plans_and_render(&path);
        for plan in plans
            .iter()
            .filter(|p| p.platforms.contains(&Platform::Kubernetes))
        {
            let wanted = &plan.scrape[&Platform::Kubernetes].labels;
            let Some(text) = set.get(&format!("{}/kubernetes/{KUBERNETES_FILE}", plan.phase))
            else {
                continue;
            };
            for doc in text.split("\n---\n") {
                let doc = tierform::load_yaml(doc).unwrap().to_json();
                if doc["kind"] != "PodMonitor" && doc["kind"] != "PrometheusRule" {
                    continue;
                }
                let labels = &doc["metadata"]["labels"];
                assert_eq!(labels["app.kubernetes.io/managed-by"], "tierform", "{doc}");
                for (k, v) in wanted {
                    assert_eq!(
                        labels[k],
                        json!(v),
                        "{}: {} lacks {k}: {v}",
                        path.display(),
                        doc["metadata"]["name"]
                    );
                    labelled += 1;
                }
            }
        }
    }
    assert!(labelled >= 5, "only {labelled} labelled objects");
}
