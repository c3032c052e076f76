//! What a phase's Prometheus scrapes, per platform: the one tierform runs beside the
//! stack on compose (with cAdvisor for the containers' CPU and memory, and the
//! receivers Alertmanager sends the alerts to), and the monitoring namespace's on
//! Kubernetes, through PodMonitors (exporters as sidecars, on the pod's loopback).
//! One scrape job per service with metrics, per datastore and for the balancer, named
//! after it (the `job` the alert rules of [`super::watch`] select), and the exporters
//! that turn each server's own statistics into metrics.
//!
//! - Redis: one redis_exporter per node, bound to it (never asked for another target,
//!   which would get the password), with the queue keys the workers read
//!   (`--check-single-keys`).
//! - PostgreSQL: one postgres_exporter per server (the primary and each replica), as
//!   the `postgres_exporter` role (`pg_monitor`), which `init-primary.sh` creates;
//!   with its `stat_statements` collector where the phase watches `query_latency`.
//! - RabbitMQ: its own Prometheus plugin, on each node (the per-queue family).
//! - The balancer: nginx's `stub_status`, read by nginx-prometheus-exporter; HAProxy's
//!   built-in exporter. Both on [`BALANCER_METRICS_PORT`], which the platform does not
//!   publish.

use std::collections::BTreeMap;

use serde::Serialize;

use super::placement::HostsMonitoring;
use super::{
    BalancerPlan, DatastorePlan, EnginePlan, EnvValue, NodeRole, PostgresPlan, ResourcesPlan,
    ServicePlan,
};
use crate::model::versions::{self, MonitoringTool};
use crate::model::{BalancerEngine, Platform};

/// Where the balancer serves its metrics (HAProxy) or its `stub_status` (nginx),
/// inside its container.
pub const BALANCER_METRICS_PORT: u16 = 8405;
/// Prometheus's port.
pub const PROMETHEUS_PORT: u16 = 9090;
/// Alertmanager's port.
pub const ALERTMANAGER_PORT: u16 = 9093;
/// Grafana's port.
pub const GRAFANA_PORT: u16 = 3000;
/// The secret holding Grafana's `admin` password.
pub const GRAFANA_ADMIN_SECRET: &str = "GRAFANA_ADMIN_PASSWORD";
/// cAdvisor's port.
pub const CADVISOR_PORT: u16 = 8080;
/// redis_exporter's port.
pub const REDIS_EXPORTER_PORT: u16 = 9121;
/// postgres_exporter's port.
pub const POSTGRES_EXPORTER_PORT: u16 = 9187;
/// nginx-prometheus-exporter's port.
pub const NGINX_EXPORTER_PORT: u16 = 9113;
/// node_exporter's port.
pub const NODE_EXPORTER_PORT: u16 = 9100;
/// The scrape job of the machines' node_exporter (a name no service may take: it ends
/// in `-exporter`).
pub const NODE_JOB: &str = "node-exporter";
/// RabbitMQ's Prometheus plugin's port.
pub const RABBITMQ_METRICS_PORT: u16 = 15692;
pub use crate::model::POSTGRES_MONITOR_ROLE;
/// How long Prometheus keeps what it scraped.
pub const RETENTION: &str = "15d";
/// How often Prometheus scrapes and evaluates its rules.
pub const INTERVAL: &str = "15s";

/// What one platform's Prometheus scrapes, and the exporters it runs for that.
/// On Kubernetes the jobs have no targets (PodMonitors find the pods) and the
/// exporters are sidecars, by datastore.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrapePlan {
    /// By job name.
    pub jobs: BTreeMap<String, ScrapeJob>,
    /// By container name.
    pub exporters: BTreeMap<String, ExporterPlan>,
    /// Where an Alertmanager beside Prometheus sends the alerts; empty: none runs.
    pub notify: Vec<NotifyPlan>,
    /// Where Prometheus, Alertmanager and Grafana run, where tierform runs them
    /// (compose, hosts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home: Option<MonitoringHome>,
    /// Labels for the objects a cluster's Prometheus selects (Kubernetes:
    /// `monitoring.labels`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// On hosts, the services' metrics ports published on their machines, by
    /// container: (address, port on it, port in the container).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub published: BTreeMap<String, (String, u16, u16)>,
}

/// Where Prometheus, Alertmanager and Grafana run, and how they reach each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitoringHome {
    /// The machine (hosts), on whose loopback address the three listen, in its
    /// network; `None`: the compose host, where they reach each other by name on the
    /// monitoring network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    pub prometheus: u16,
    pub alertmanager: u16,
    pub grafana: u16,
    /// Prometheus's container's requests and limits ([`prometheus_resources`]).
    pub prometheus_resources: ResourcesPlan,
    /// Whether the blueprint budgets Prometheus (`monitoring.resources`): `plan`
    /// counts it in the phase's requests then.
    pub budgeted: bool,
}

/// Prometheus's limits where the blueprint gives it no budget: 1 CPU and 1 GiB, no
/// reservation.
pub const PROMETHEUS_LIMITS: ResourcesPlan = ResourcesPlan {
    cpu_millis: 0,
    memory_bytes: 0,
    cpu_limit_millis: 1000,
    memory_limit_bytes: 1 << 30,
    gpu: None,
};

/// Prometheus's requests and limits from its budget (`monitoring.resources`, 0 where
/// not set): each request as given, each limit as given, else its request (a budget
/// is what it may use), else [`PROMETHEUS_LIMITS`]'s.
pub fn prometheus_resources(budget: Option<&ResourcesPlan>) -> ResourcesPlan {
    let Some(budget) = budget else {
        return PROMETHEUS_LIMITS;
    };
    let or = |v: u64, default: u64| if v > 0 { v } else { default };
    ResourcesPlan {
        cpu_millis: budget.cpu_millis,
        memory_bytes: budget.memory_bytes,
        cpu_limit_millis: or(
            budget.cpu_limit_millis,
            or(budget.cpu_millis, PROMETHEUS_LIMITS.cpu_limit_millis),
        ),
        memory_limit_bytes: or(
            budget.memory_limit_bytes,
            or(budget.memory_bytes, PROMETHEUS_LIMITS.memory_limit_bytes),
        ),
        gpu: None,
    }
}

impl MonitoringHome {
    fn at(&self, name: &str, port: u16) -> String {
        match &self.machine {
            Some(m) => address(&local_address(m), port),
            None => format!("{name}:{port}"),
        }
    }

    /// The address the three listen on: the machine's loopback address (see
    /// [`local_address`]); empty on compose, where they listen on every address of
    /// their containers.
    pub fn listen_address(&self) -> String {
        self.machine
            .as_deref()
            .map(local_address)
            .unwrap_or_default()
    }

    /// Where Prometheus scrapes itself.
    pub fn prometheus_self(&self) -> String {
        self.at("localhost", self.prometheus)
    }

    /// Where Grafana reaches Prometheus.
    pub fn prometheus_address(&self) -> String {
        self.at("prometheus", self.prometheus)
    }

    /// Where Prometheus reaches Alertmanager.
    pub fn alertmanager_address(&self) -> String {
        self.at("alertmanager", self.alertmanager)
    }
}

/// The address on `machine` that only the machine itself reaches: 127.0.0.1, or the
/// machine's own address when it is a loopback one (machines on one host's loopback
/// addresses, as in a lab, would otherwise share 127.0.0.1).
pub fn local_address(machine: &str) -> String {
    match machine.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => machine.to_string(),
        _ => "127.0.0.1".to_string(),
    }
}

/// Where the metrics of what runs on `machine` are served on hosts: the machine's
/// address, for the monitoring machine `home`'s Prometheus; on `home` itself its
/// loopback address, so that nothing there serves metrics to the network (the
/// balancer's machine, where the monitoring runs by default, faces the clients).
pub fn metrics_address(machine: &str, home: &str) -> String {
    if machine == home {
        local_address(machine)
    } else {
        machine.to_string()
    }
}

/// `host:port`, an IPv6 address in brackets.
pub fn address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One receiver of the alerts, its URL in a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotifyPlan {
    Webhook {
        secret: String,
    },
    Slack {
        secret: String,
        channel: Option<String>,
    },
}

impl NotifyPlan {
    /// The secret holding its URL.
    pub fn secret(&self) -> &str {
        match self {
            NotifyPlan::Webhook { secret } | NotifyPlan::Slack { secret, .. } => secret,
        }
    }

    /// The file Alertmanager reads the URL from: the secret, mounted.
    pub fn secret_file(&self) -> String {
        format!("/run/secrets/{}", self.secret().to_ascii_lowercase())
    }
}

/// The receivers of `monitoring.notify`, in order (validation made sure each names
/// exactly one).
pub fn notify_plan(m: Option<&crate::model::Monitoring>) -> Vec<NotifyPlan> {
    let Some(m) = m else { return Vec::new() };
    m.notify
        .iter()
        .filter_map(|n| match (&n.webhook, &n.slack) {
            (Some(secret), None) => Some(NotifyPlan::Webhook {
                secret: secret.clone(),
            }),
            (None, Some(secret)) => Some(NotifyPlan::Slack {
                secret: secret.clone(),
                channel: n.channel.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// One scrape job.
#[derive(Debug, Clone, Serialize)]
pub struct ScrapeJob {
    pub path: String,
    /// Query parameters of every scrape.
    pub params: BTreeMap<String, String>,
    /// The addresses scraped (`host:port`).
    pub targets: Vec<String>,
}

/// What an exporter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExporterKind {
    Cadvisor,
    Node,
    Redis,
    Postgres,
    Nginx,
}

/// One exporter container.
#[derive(Debug, Clone, Serialize)]
pub struct ExporterPlan {
    pub kind: ExporterKind,
    pub image: String,
    /// The machine it runs on (hosts), in the machine's network; `None`: in its
    /// container's network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// The address it listens on, in the machine's network (hosts): the machine's,
    /// or its loopback one on the monitoring machine, where Prometheus runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    pub port: u16,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its environment (passwords as secret references).
    pub env: Vec<(String, EnvValue)>,
}

/// The container name of the exporter of `of` (a datastore node, or the balancer).
pub fn exporter_name(of: &str) -> String {
    format!("{of}-exporter")
}

fn exporter(kind: ExporterKind, tool: MonitoringTool, port: u16) -> ExporterPlan {
    ExporterPlan {
        kind,
        image: tool.image.to_string(),
        machine: None,
        listen: None,
        port,
        args: Vec::new(),
        env: Vec::new(),
    }
}

fn job(path: &str, targets: Vec<String>) -> ScrapeJob {
    ScrapeJob {
        path: path.to_string(),
        params: BTreeMap::new(),
        targets,
    }
}

/// What the compose platform's Prometheus scrapes.
pub fn compose_scrape(
    services: &BTreeMap<String, ServicePlan>,
    datastores: &BTreeMap<String, DatastorePlan>,
    balancer: Option<&BalancerPlan>,
    notify: Vec<NotifyPlan>,
    budget: Option<&ResourcesPlan>,
) -> ScrapePlan {
    let platform = Platform::Compose;
    let mut plan = ScrapePlan {
        notify,
        home: Some(MonitoringHome {
            machine: None,
            prometheus: PROMETHEUS_PORT,
            alertmanager: ALERTMANAGER_PORT,
            grafana: GRAFANA_PORT,
            prometheus_resources: prometheus_resources(budget),
            budgeted: budget.is_some(),
        }),
        ..ScrapePlan::default()
    };
    let cadvisor = exporter(ExporterKind::Cadvisor, versions::CADVISOR, CADVISOR_PORT);
    plan.jobs.insert(
        "cadvisor".into(),
        job("/metrics", vec![format!("cadvisor:{CADVISOR_PORT}")]),
    );
    plan.exporters.insert("cadvisor".into(), cadvisor);
    let node = exporter(
        ExporterKind::Node,
        versions::NODE_EXPORTER,
        NODE_EXPORTER_PORT,
    );
    plan.jobs.insert(
        NODE_JOB.into(),
        job("/metrics", vec![format!("{NODE_JOB}:{NODE_EXPORTER_PORT}")]),
    );
    plan.exporters.insert(NODE_JOB.into(), node);

    for s in services.values() {
        let Some(m) = &s.metrics else { continue };
        let targets = s
            .containers
            .iter()
            .map(|c| format!("{c}:{}", m.port))
            .collect();
        plan.jobs.insert(s.name.clone(), job(&m.path, targets));
    }

    for store in datastores.values() {
        let nodes = store.nodes.get(&platform).cloned().unwrap_or_default();
        match &store.engine {
            EnginePlan::Redis(r) => {
                // One exporter per node, each bound to its node: asked for another
                // target (`/scrape?target=`), an exporter would send it the password.
                let keys = queue_keys(services, &store.name);
                let mut targets = Vec::new();
                for n in &nodes {
                    let name = exporter_name(&n.id);
                    targets.push(format!("{name}:{REDIS_EXPORTER_PORT}"));
                    plan.exporters
                        .insert(name, redis_exporter(r, &n.id, n.port, &keys));
                }
                plan.jobs
                    .insert(store.name.clone(), job("/metrics", targets));
            }
            EnginePlan::Postgres(pg) => {
                let mut targets = Vec::new();
                // The servers, not PgBouncer: it has none of their statistics.
                for n in nodes
                    .iter()
                    .filter(|n| matches!(n.role, NodeRole::Primary | NodeRole::Replica))
                {
                    let name = exporter_name(&n.id);
                    targets.push(format!("{name}:{POSTGRES_EXPORTER_PORT}"));
                    plan.exporters
                        .insert(name, postgres_exporter(pg, &n.id, n.port));
                }
                plan.jobs
                    .insert(store.name.clone(), job("/metrics", targets));
            }
            EnginePlan::Rabbitmq(_) => {
                let targets = nodes
                    .iter()
                    .map(|n| format!("{}:{RABBITMQ_METRICS_PORT}", n.host))
                    .collect();
                plan.jobs.insert(store.name.clone(), rabbitmq_job(targets));
            }
        }
    }

    if let Some(lb) = balancer {
        // The balancer's container is named after its engine.
        let container = lb.engine.as_str();
        match lb.engine {
            BalancerEngine::Nginx => {
                let name = exporter_name(container);
                let e = nginx_exporter(&address(container, BALANCER_METRICS_PORT));
                plan.jobs.insert(
                    "balancer".into(),
                    job("/metrics", vec![format!("{name}:{NGINX_EXPORTER_PORT}")]),
                );
                plan.exporters.insert(name, e);
            }
            BalancerEngine::Haproxy => {
                plan.jobs.insert(
                    "balancer".into(),
                    job(
                        "/metrics",
                        vec![format!("{container}:{BALANCER_METRICS_PORT}")],
                    ),
                );
            }
        }
    }
    watch_alertmanager(&mut plan);
    plan
}

/// Where an Alertmanager runs, Prometheus scrapes it too: its failed notifications
/// are the one thing that says alerts are not reaching anyone.
fn watch_alertmanager(plan: &mut ScrapePlan) {
    if let (false, Some(home)) = (plan.notify.is_empty(), &plan.home) {
        let target = home.alertmanager_address();
        plan.jobs
            .insert("alertmanager".into(), job("/metrics", vec![target]));
    }
}

/// The key of an exporter of the hosts platform: its machine's folder, then its
/// container's name (one cAdvisor per machine, say).
pub fn hosts_exporter_key(machine: &str, container: &str) -> String {
    format!("{machine}/{container}")
}

/// What the hosts platform's Prometheus scrapes, from the machine `m` places it on:
/// every exporter runs on the machine of what it reads, in the machine's network and
/// on its address, on the port [`HostsMonitoring`] gives it; the balancer's metrics
/// and the services' on the machine's address too. Prometheus reaches them across the
/// machines; on its own machine, on the loopback address ([`metrics_address`]).
pub fn hosts_scrape(
    services: &BTreeMap<String, ServicePlan>,
    datastores: &BTreeMap<String, DatastorePlan>,
    balancer: Option<&BalancerPlan>,
    notify: Vec<NotifyPlan>,
    budget: Option<&ResourcesPlan>,
    m: &HostsMonitoring,
) -> ScrapePlan {
    let platform = Platform::Hosts;
    let mut plan = ScrapePlan {
        notify,
        home: Some(MonitoringHome {
            machine: Some(m.machine.clone()),
            prometheus: m.prometheus,
            alertmanager: m.alertmanager,
            grafana: m.grafana,
            prometheus_resources: prometheus_resources(budget),
            budgeted: budget.is_some(),
        }),
        ..ScrapePlan::default()
    };
    let at = |machine: &str| metrics_address(machine, &m.machine);
    // Places an exporter; returns the address Prometheus scrapes.
    let put = |plan: &mut ScrapePlan, machine: &str, name: &str, mut e: ExporterPlan| {
        e.machine = Some(machine.to_string());
        e.listen = Some(at(machine));
        let target = address(&at(machine), e.port);
        plan.exporters.insert(hosts_exporter_key(machine, name), e);
        target
    };
    let mut targets = Vec::new();
    for (machine, port) in &m.cadvisor {
        let e = exporter(ExporterKind::Cadvisor, versions::CADVISOR, *port);
        targets.push(put(&mut plan, machine, "cadvisor", e));
    }
    plan.jobs
        .insert("cadvisor".into(), job("/metrics", targets));
    let mut targets = Vec::new();
    for (machine, port) in &m.node {
        let e = exporter(ExporterKind::Node, versions::NODE_EXPORTER, *port);
        targets.push(put(&mut plan, machine, NODE_JOB, e));
    }
    plan.jobs.insert(NODE_JOB.into(), job("/metrics", targets));

    for s in services.values() {
        let Some(mx) = &s.metrics else { continue };
        let targets = match m.service_metrics.get(&s.name) {
            Some(placed) => {
                let mut targets = Vec::new();
                for ((host, port), container) in placed.iter().zip(&s.containers) {
                    plan.published
                        .insert(container.clone(), (at(host), *port, mx.port));
                    targets.push(address(&at(host), *port));
                }
                targets
            }
            None => s
                .endpoints
                .get(&platform)
                .into_iter()
                .flatten()
                .map(|e| address(&e.node, e.port))
                .collect(),
        };
        plan.jobs.insert(s.name.clone(), job(&mx.path, targets));
    }

    for store in datastores.values() {
        let nodes = store.nodes.get(&platform).cloned().unwrap_or_default();
        let mut targets = Vec::new();
        match &store.engine {
            EnginePlan::Redis(r) => {
                let keys = queue_keys(services, &store.name);
                for n in &nodes {
                    let Some(port) = m.exporters.get(&n.id) else {
                        continue;
                    };
                    let mut e = redis_exporter(r, &n.host, n.port, &keys);
                    e.port = *port;
                    targets.push(put(&mut plan, &n.machine, &exporter_name(&n.id), e));
                }
                plan.jobs
                    .insert(store.name.clone(), job("/metrics", targets));
            }
            EnginePlan::Postgres(pg) => {
                for n in &nodes {
                    let Some(port) = m.exporters.get(&n.id) else {
                        continue;
                    };
                    let mut e = postgres_exporter(pg, &n.host, n.port);
                    e.port = *port;
                    targets.push(put(&mut plan, &n.machine, &exporter_name(&n.id), e));
                }
                plan.jobs
                    .insert(store.name.clone(), job("/metrics", targets));
            }
            EnginePlan::Rabbitmq(_) => {
                let targets = nodes
                    .iter()
                    .map(|n| address(&n.machine, RABBITMQ_METRICS_PORT))
                    .collect();
                plan.jobs.insert(store.name.clone(), rabbitmq_job(targets));
            }
        }
    }

    if let Some(lb) = balancer {
        let mut targets = Vec::new();
        for node in lb.nodes.get(&platform).into_iter().flatten() {
            let Some(&(metrics, exporter_port)) = m.balancer.get(&node.host) else {
                continue;
            };
            match lb.engine {
                BalancerEngine::Nginx => {
                    let mut e = nginx_exporter(&address(&local_address(&node.host), metrics));
                    e.port = exporter_port;
                    targets.push(put(
                        &mut plan,
                        &node.host,
                        &exporter_name(lb.engine.as_str()),
                        e,
                    ));
                }
                BalancerEngine::Haproxy => targets.push(address(&at(&node.host), metrics)),
            }
        }
        plan.jobs
            .insert("balancer".into(), job("/metrics", targets));
    }
    watch_alertmanager(&mut plan);
    plan
}

/// What the monitoring namespace's Prometheus scrapes on Kubernetes, through the
/// bundle's PodMonitors: the balancer's pods (job `balancer`) and each datastore's,
/// as the job named after the datastore.
/// Redis and PostgreSQL pods each run their exporter as a sidecar (`exporters`, by
/// datastore), bound to the server on the pod's loopback; RabbitMQ serves its own.
/// The services' PodMonitors come from their `metrics`.
pub fn kubernetes_scrape(
    services: &BTreeMap<String, ServicePlan>,
    datastores: &BTreeMap<String, DatastorePlan>,
    balancer: Option<&BalancerPlan>,
    labels: BTreeMap<String, String>,
) -> ScrapePlan {
    let mut plan = ScrapePlan {
        labels,
        ..ScrapePlan::default()
    };
    // The balancer's pods: nginx's stub_status through an exporter sidecar (keyed
    // `balancer`), HAProxy's own exporter.
    if let Some(lb) = balancer {
        if lb.engine == BalancerEngine::Nginx {
            plan.exporters.insert(
                "balancer".into(),
                nginx_exporter(&address("127.0.0.1", BALANCER_METRICS_PORT)),
            );
        }
        plan.jobs
            .insert("balancer".into(), job("/metrics", Vec::new()));
    }
    for s in services.values() {
        if let Some(m) = &s.metrics {
            plan.jobs.insert(s.name.clone(), job(&m.path, Vec::new()));
        }
    }
    for store in datastores.values() {
        let port = store.kubernetes.port;
        match &store.engine {
            EnginePlan::Redis(r) => {
                let keys = queue_keys(services, &store.name);
                plan.jobs
                    .insert(store.name.clone(), job("/metrics", Vec::new()));
                plan.exporters.insert(
                    store.name.clone(),
                    redis_exporter(r, "127.0.0.1", port, &keys),
                );
            }
            EnginePlan::Postgres(pg) => {
                plan.jobs
                    .insert(store.name.clone(), job("/metrics", Vec::new()));
                plan.exporters
                    .insert(store.name.clone(), postgres_exporter(pg, "127.0.0.1", port));
            }
            EnginePlan::Rabbitmq(_) => {
                plan.jobs
                    .insert(store.name.clone(), rabbitmq_job(Vec::new()));
            }
        }
    }
    plan
}

/// The Redis keys of the queues workers read from `broker` (`db0=NAME`), for
/// redis_exporter's `--check-single-keys`.
fn queue_keys(services: &BTreeMap<String, ServicePlan>, broker: &str) -> Vec<String> {
    services
        .values()
        .filter_map(|s| s.queue.as_ref())
        .filter(|q| q.broker == broker)
        .map(|q| format!("db0={}", q.name))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A redis_exporter bound to the node at `host`:`port` (never asked for
/// another target, which would get the password), with the queue keys to measure.
fn redis_exporter(r: &super::RedisPlan, host: &str, port: u16, keys: &[String]) -> ExporterPlan {
    let mut e = exporter(
        ExporterKind::Redis,
        versions::REDIS_EXPORTER,
        REDIS_EXPORTER_PORT,
    );
    e.args
        .push(format!("--redis.addr=redis://{}", address(host, port)));
    if !keys.is_empty() {
        e.args
            .push(format!("--check-single-keys={}", keys.join(",")));
    }
    e.env.push((
        "REDIS_PASSWORD".into(),
        EnvValue::Secret(r.password_secret.clone()),
    ));
    e
}

/// A postgres_exporter of the server at `host`:`port`, as the monitoring role: the
/// address and user apart from the password, so that no URL has to hold it.
fn postgres_exporter(pg: &PostgresPlan, host: &str, port: u16) -> ExporterPlan {
    let mut e = exporter(
        ExporterKind::Postgres,
        versions::POSTGRES_EXPORTER,
        POSTGRES_EXPORTER_PORT,
    );
    e.env = vec![
        (
            "DATA_SOURCE_URI".into(),
            // The servers speak plain TCP on the platform's private network. The
            // application's database: its tables' statistics are the ones that
            // matter (the role may connect to it, as PUBLIC may).
            EnvValue::Literal(format!(
                "{}/{}?sslmode=disable",
                address(host, port),
                pg.database
            )),
        ),
        (
            "DATA_SOURCE_USER".into(),
            EnvValue::Literal(pg.monitor_user.clone()),
        ),
        (
            "DATA_SOURCE_PASS".into(),
            EnvValue::Secret(pg.monitor_secret.clone()),
        ),
    ];
    // pg_stat_statements, where the phase watches `query_latency` (off by default:
    // a series per statement).
    if pg.stat_statements {
        e.args.push("--collector.stat_statements".into());
    }
    e
}

/// The nginx-prometheus-exporter of the balancer's `stub_status` at `at`
/// (`host:port`).
fn nginx_exporter(at: &str) -> ExporterPlan {
    let mut e = exporter(
        ExporterKind::Nginx,
        versions::NGINX_EXPORTER,
        NGINX_EXPORTER_PORT,
    );
    e.args
        .push(format!("--nginx.scrape-uri=http://{at}/stub_status"));
    e
}

/// RabbitMQ's own plugin at `targets`: per-queue ready and unacknowledged messages,
/// without the rest of the detailed families.
fn rabbitmq_job(targets: Vec<String>) -> ScrapeJob {
    let mut j = job("/metrics/detailed", targets);
    j.params
        .insert("family".into(), "queue_coarse_metrics".into());
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a budget, Prometheus keeps its fixed limits; with one, each limit not
    /// given is its request, and a measure the budget leaves out keeps its default.
    #[test]
    fn prometheus_budget_fills_its_limits() {
        assert_eq!(prometheus_resources(None), PROMETHEUS_LIMITS);
        let half = ResourcesPlan {
            cpu_millis: 500,
            memory_bytes: 512 << 20,
            ..ResourcesPlan::default()
        };
        let r = prometheus_resources(Some(&half));
        assert_eq!(
            (
                r.cpu_millis,
                r.cpu_limit_millis,
                r.memory_bytes,
                r.memory_limit_bytes
            ),
            (500, 500, 512 << 20, 512 << 20)
        );
        let memory_only = ResourcesPlan {
            memory_bytes: 1 << 30,
            memory_limit_bytes: 2 << 30,
            ..ResourcesPlan::default()
        };
        let r = prometheus_resources(Some(&memory_only));
        assert_eq!(
            (
                r.cpu_millis,
                r.cpu_limit_millis,
                r.memory_bytes,
                r.memory_limit_bytes
            ),
            (0, 1000, 1 << 30, 2 << 30)
        );
    }
}
