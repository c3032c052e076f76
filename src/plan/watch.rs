//! What a phase watches: the next phase's entry signals, its own leave signals and its
//! objectives, each resolved into an alert with its PromQL expression per platform.
//!
//! Every expression reads the series of one exporter or of the service's own metrics,
//! selected by the scrape job named after the service or datastore (`job="api"`,
//! `job="db"`); CPU and memory are cAdvisor's, selected by the compose service of each
//! container.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{DatastorePlan, EnginePlan, ServicePlan};
use crate::model::signal::{Unit, DEFAULT_HISTOGRAM, DEFAULT_STATUS_LABEL};
use crate::model::{Condition, Platform, Signal, SignalCondition, Threshold};

/// The name of the alert that says it is time for the next phase.
pub const NEXT_PHASE_ALERT: &str = "TimeForNextPhase";
/// The name of the alert that says the phase is more than the load needs.
pub const OVER_PROVISIONED_ALERT: &str = "PhaseOverProvisioned";
/// The name of the alert that says the phase misses one of its objectives.
pub const OBJECTIVE_ALERT: &str = "ObjectiveMissed";
/// The window every rate is taken over.
pub const RATE_WINDOW: &str = "5m";

/// What a phase watches for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WatchPlan {
    /// The next phase and the conditions for entering it, as written.
    pub next: Option<(String, Vec<Condition>)>,
    /// The phase before, where the leave conditions point.
    pub previous: Option<String>,
    /// This phase's leave conditions, as written.
    pub leave_when: Vec<Condition>,
    /// This phase's objectives, as written.
    pub objectives: Vec<SignalCondition>,
    /// One alert per measured condition of the next phase, then one for this phase's
    /// leave conditions together, then one per objective.
    pub alerts: Vec<AlertPlan>,
}

/// Which way an alert says to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    /// To the next phase: the load has outgrown this one.
    Up,
    /// Back to the phase before: this one is more than the load needs.
    Down,
    /// Nowhere: the phase misses one of its objectives, for people to look into.
    Hold,
}

/// One measured condition, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct MeasuredCondition {
    pub signal: Signal,
    /// `service` or `datastore`, and its name.
    pub subject: (&'static str, String),
    pub above: bool,
    /// The threshold in the expression's unit: percent, seconds, per second, messages.
    pub threshold: f64,
    /// How long it must hold, in milliseconds.
    pub for_ms: u64,
    /// The condition as written, for people (`p95_latency of api > 200ms for 5m`).
    pub text: String,
    /// The series it reads, per platform it is rendered for.
    pub sources: BTreeMap<Platform, Source>,
    /// Its value per platform it is rendered for (what a dashboard draws).
    pub measures: BTreeMap<Platform, String>,
    /// Its comparison per platform it is rendered for.
    pub exprs: BTreeMap<Platform, String>,
}

/// One alert: a condition of the next phase's `enter_when` (any one is reason to move
/// on), or this phase's `leave_when` as a whole (all must hold to move back).
#[derive(Debug, Clone, Serialize)]
pub struct AlertPlan {
    /// The alert's name ([`NEXT_PHASE_ALERT`], [`OVER_PROVISIONED_ALERT`] or
    /// [`OBJECTIVE_ALERT`]).
    pub alert: &'static str,
    pub direction: Move,
    /// The phase it says to move to (the phase itself for an objective).
    pub to_phase: String,
    /// What must hold: one condition moving up, every leave condition moving down.
    pub conditions: Vec<MeasuredCondition>,
    /// How long they must hold together: the condition's `for`, or the longest of them.
    pub for_ms: u64,
    /// The expression per platform it is rendered for: the comparisons, joined by
    /// `and on ()` when there are several.
    pub exprs: BTreeMap<Platform, String>,
}

/// Resolves what the phase watches, on each of its `platforms`; `namespace` is its
/// Kubernetes namespace.
#[allow(clippy::too_many_arguments)]
pub fn watch_plan(
    phase: &str,
    next: Option<&(String, Vec<Condition>)>,
    previous: Option<&String>,
    leave_when: &[Condition],
    objectives: &[SignalCondition],
    services: &BTreeMap<String, ServicePlan>,
    datastores: &BTreeMap<String, DatastorePlan>,
    platforms: &[Platform],
    namespace: &str,
) -> Result<WatchPlan, String> {
    let measured = |conditions: &[Condition]| -> Result<Vec<MeasuredCondition>, String> {
        conditions
            .iter()
            .filter_map(|c| match c {
                Condition::Signal(s) => Some(s),
                Condition::Text(_) => None,
            })
            .map(|s| measure_condition(s, services, datastores, platforms, namespace))
            .collect()
    };
    let mut alerts = Vec::new();
    if let Some((to, conditions)) = next {
        for c in measured(conditions)? {
            alerts.push(alert(Move::Up, to, vec![c], platforms));
        }
    }
    if let Some(to) = previous {
        let all = measured(leave_when)?;
        if !all.is_empty() {
            alerts.push(alert(Move::Down, to, all, platforms));
        }
    }
    for o in objectives {
        // Measured as the condition under which it is missed, told as written.
        let mut c = measure_condition(&o.missed(), services, datastores, platforms, namespace)?;
        c.text = o.objective_text();
        alerts.push(alert(Move::Hold, phase, vec![c], platforms));
    }
    Ok(WatchPlan {
        next: next.cloned(),
        previous: previous.cloned(),
        leave_when: leave_when.to_vec(),
        objectives: objectives.to_vec(),
        alerts,
    })
}

fn alert(
    direction: Move,
    to: &str,
    conditions: Vec<MeasuredCondition>,
    platforms: &[Platform],
) -> AlertPlan {
    let mut exprs = BTreeMap::new();
    for p in platforms {
        let parts: Vec<&String> = conditions.iter().filter_map(|c| c.exprs.get(p)).collect();
        // A condition with no expression on the platform leaves the whole alert out
        // there: the others joined without it would say something else.
        if parts.len() < conditions.len() {
            continue;
        }
        let expr = match parts.as_slice() {
            [] => continue,
            [one] => (*one).clone(),
            many => many
                .iter()
                .map(|e| format!("({e})"))
                .collect::<Vec<_>>()
                .join(" and on () "),
        };
        exprs.insert(*p, expr);
    }
    AlertPlan {
        alert: match direction {
            Move::Up => NEXT_PHASE_ALERT,
            Move::Down => OVER_PROVISIONED_ALERT,
            Move::Hold => OBJECTIVE_ALERT,
        },
        direction,
        to_phase: to.to_string(),
        for_ms: conditions.iter().map(|c| c.for_ms).max().unwrap_or(0),
        conditions,
        exprs,
    }
}

fn measure_condition(
    s: &SignalCondition,
    services: &BTreeMap<String, ServicePlan>,
    datastores: &BTreeMap<String, DatastorePlan>,
    platforms: &[Platform],
    namespace: &str,
) -> Result<MeasuredCondition, String> {
    let (above, t) = s
        .threshold()
        .ok_or_else(|| format!("signal `{}` has no single threshold", s.signal))?;
    let threshold = match (s.signal.unit(), t) {
        (Unit::Seconds, Threshold::Duration(d)) => {
            d.millis()
                .ok_or_else(|| format!("`{d}` is not a duration"))? as f64
                / 1000.0
        }
        (_, Threshold::Number(n)) => *n,
        (_, Threshold::Duration(d)) => return Err(format!("`{d}` is not a number")),
    };
    let subject = match (&s.service, &s.datastore) {
        (Some(n), None) => ("service", n.clone()),
        (None, Some(n)) => ("datastore", n.clone()),
        _ => return Err(format!("signal `{}` names no single subject", s.signal)),
    };
    let mut sources = BTreeMap::new();
    let mut measures = BTreeMap::new();
    let mut exprs = BTreeMap::new();
    for &platform in platforms {
        let from = source(
            s.signal, &subject, platform, namespace, services, datastores,
        )?;
        let value = measure(s.signal, &from);
        exprs.insert(
            platform,
            format!(
                "{value} {} {}",
                if above { ">" } else { "<" },
                number(threshold)
            ),
        );
        measures.insert(platform, value);
        sources.insert(platform, from);
    }
    Ok(MeasuredCondition {
        signal: s.signal,
        subject,
        above,
        threshold,
        for_ms: s.for_ms(),
        text: s.to_string(),
        sources,
        measures,
        exprs,
    })
}

/// A number as PromQL reads it (no exponent for the values a blueprint gives).
fn number(n: f64) -> String {
    format!("{n}")
}

/// The series a signal is read from on one platform. On Kubernetes every selector
/// also names the bundle's namespace.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// cAdvisor's series of these containers (compose services), each allowed
    /// `capacity`: CPU cores or memory bytes.
    Containers {
        /// The blueprint, which every container tierform renders carries as the label
        /// [`BLUEPRINT_LABEL`]: cAdvisor sees every container of the host.
        blueprint: String,
        containers: Vec<String>,
        capacity: f64,
    },
    /// The kubelet's cAdvisor series of a container in the namespace's pods: a
    /// service's (its container has its name), or a datastore's server in the pods of
    /// these StatefulSets. Each allowed `capacity`.
    Pods {
        namespace: String,
        container: String,
        statefulsets: Vec<String>,
        capacity: f64,
    },
    /// A service's own request counter and request-duration histogram, scraped by the
    /// job named after it.
    Requests {
        job: String,
        namespace: Option<String>,
        requests: String,
        status_label: String,
        /// The label of the request's route, and the routes left out (the health
        /// check's and the metrics' own).
        path_label: String,
        excluded: Vec<String>,
        histogram: String,
        /// Whether the histogram has the route label too (prometheus-fastapi-
        /// instrumentator's fine one has no label at all: the application must leave
        /// those paths out itself).
        histogram_by_path: bool,
    },
    /// redis_exporter's length of a list key (a Redis broker's queue).
    RedisKey {
        job: String,
        namespace: Option<String>,
        key: String,
    },
    /// RabbitMQ's ready messages in a queue.
    RabbitmqQueue {
        job: String,
        namespace: Option<String>,
        queue: String,
    },
    /// redis_exporter's series, scraped by the job named after the datastore.
    Redis {
        job: String,
        namespace: Option<String>,
    },
    /// postgres_exporter's series, scraped by the job named after the datastore.
    Postgres {
        job: String,
        namespace: Option<String>,
    },
    /// postgres_exporter's `stat_statements` series (pg_stat_statements), scraped by
    /// the job named after the datastore: the statements run in the application's
    /// `database`, but for the monitoring role's own (`monitor_user`: the exporter's
    /// queries are not load).
    PgStatements {
        job: String,
        namespace: Option<String>,
        database: String,
        monitor_user: String,
    },
}

/// The matchers of a scrape job's series: `job="db"`, with the namespace on
/// Kubernetes.
fn job_matcher(job: &str, namespace: &Option<String>) -> String {
    match namespace {
        Some(ns) => format!("namespace=\"{ns}\",job=\"{job}\""),
        None => format!("job=\"{job}\""),
    }
}

/// Where a signal is read on one platform.
fn source(
    signal: Signal,
    (kind, name): &(&'static str, String),
    platform: Platform,
    namespace: &str,
    services: &BTreeMap<String, ServicePlan>,
    datastores: &BTreeMap<String, DatastorePlan>,
) -> Result<Source, String> {
    let service = || {
        services
            .get(name)
            .ok_or_else(|| format!("no service `{name}` to measure"))
    };
    let datastore = || {
        datastores
            .get(name)
            .ok_or_else(|| format!("no datastore `{name}` to measure"))
    };
    let job = name.clone();
    let ns = (platform == Platform::Kubernetes).then(|| namespace.to_string());
    Ok(match signal {
        Signal::Cpu | Signal::Memory => {
            // Compose containers; on Kubernetes a container name and, for a datastore,
            // its server's StatefulSets.
            let (containers, pods, resources) = match *kind {
                "service" => {
                    let s = service()?;
                    let pods = (name.clone(), Vec::new());
                    // On Kubernetes, of the requests and limits the manifests set.
                    let r = match platform {
                        Platform::Kubernetes => s.reserved.clone(),
                        _ => s.resources.clone(),
                    };
                    (s.containers.clone(), pods, r)
                }
                _ => {
                    let d = datastore()?;
                    let nodes = d
                        .nodes
                        .get(&platform)
                        .map(|n| n.iter().map(|n| n.id.clone()).collect())
                        .unwrap_or_default();
                    let k = &d.kubernetes;
                    let mut sets = vec![k.workload.clone()];
                    sets.extend(k.replicas.as_ref().map(|r| r.workload.clone()));
                    // The server's container is named after its engine.
                    let pods = (d.engine.name().to_string(), sets);
                    let r = match platform {
                        Platform::Kubernetes => d.server_resources.clone(),
                        _ => d.resources.clone(),
                    };
                    (nodes, pods, r)
                }
            };
            // A percentage of the limit, else of the request.
            let capacity = if signal == Signal::Cpu {
                resources.cpu_ceiling() as f64 / 1000.0
            } else {
                resources.memory_ceiling() as f64
            };
            if capacity == 0.0 {
                return Err(format!("{kind} `{name}` has no {signal} request or limit"));
            }
            match ns {
                Some(namespace) => Source::Pods {
                    namespace,
                    container: pods.0,
                    statefulsets: pods.1,
                    capacity,
                },
                // The namespace is the blueprint's name.
                None => Source::Containers {
                    blueprint: namespace.to_string(),
                    containers,
                    capacity,
                },
            }
        }
        Signal::RequestRate
        | Signal::MeanLatency
        | Signal::P50Latency
        | Signal::P90Latency
        | Signal::P95Latency
        | Signal::P99Latency
        | Signal::ErrorRate => {
            let m = service()?
                .metrics
                .as_ref()
                .ok_or_else(|| format!("service `{name}` has no metrics"))?;
            // Probes and scrapes are not load: the health check's path and the
            // metrics' own, without a query.
            let s = service()?;
            let mut excluded: Vec<String> = s
                .health
                .as_ref()
                .map(|h| h.path.clone())
                .into_iter()
                .chain([m.path.clone()])
                .filter(|p| !p.is_empty())
                .map(|p| p.split('?').next().unwrap_or_default().to_string())
                .collect();
            excluded.sort();
            excluded.dedup();
            Source::Requests {
                job,
                namespace: ns,
                requests: m.requests.clone(),
                status_label: m.status_label.clone(),
                path_label: m.path_label.clone(),
                excluded,
                histogram: m.histogram.clone(),
                histogram_by_path: m.histogram != crate::model::signal::DEFAULT_HISTOGRAM,
            }
        }
        Signal::QueueDepth => {
            let q = service()?
                .queue
                .as_ref()
                .ok_or_else(|| format!("service `{name}` works no queue"))?;
            let broker = datastores
                .get(&q.broker)
                .ok_or_else(|| format!("no broker `{}`", q.broker))?;
            match &broker.engine {
                EnginePlan::Rabbitmq(_) => Source::RabbitmqQueue {
                    job: q.broker.clone(),
                    namespace: ns,
                    queue: q.name.clone(),
                },
                _ => Source::RedisKey {
                    job: q.broker.clone(),
                    namespace: ns,
                    key: q.name.clone(),
                },
            }
        }
        Signal::RedisMemory | Signal::CacheHitRate => {
            datastore()?;
            Source::Redis { job, namespace: ns }
        }
        Signal::DbConnections | Signal::ReplicationLag => {
            datastore()?;
            Source::Postgres { job, namespace: ns }
        }
        Signal::QueryLatency => match &datastore()?.engine {
            EnginePlan::Postgres(pg) => Source::PgStatements {
                job,
                namespace: ns,
                database: pg.database.clone(),
                monitor_user: pg.monitor_user.clone(),
            },
            _ => return Err(format!("datastore `{name}` is not PostgreSQL")),
        },
    })
}

/// The expression of a signal's value, read from `source`.
fn measure(signal: Signal, source: &Source) -> String {
    let w = RATE_WINDOW;
    match (signal, source) {
        // Each container's CPU (the sum of its per-CPU series, or its one total), then
        // the busiest container: one hot instance is what saturates. Memory: the
        // fullest container.
        (
            _,
            Source::Containers {
                blueprint,
                containers,
                capacity,
            },
        ) => usage(
            signal,
            &compose_services(blueprint, containers),
            "name",
            *capacity,
        ),
        (
            _,
            Source::Pods {
                namespace,
                container,
                statefulsets,
                capacity,
            },
        ) => usage(
            signal,
            &pod_containers(namespace, container, statefulsets),
            "pod",
            *capacity,
        ),
        (
            _,
            Source::Requests {
                job,
                namespace,
                requests,
                status_label,
                path_label,
                excluded,
                histogram: h,
                histogram_by_path,
            },
        ) => {
            let plain = job_matcher(job, namespace);
            let mut job = plain.clone();
            // The paths validation admits hold no quote or backslash.
            for path in excluded {
                job.push_str(&format!(",{path_label}!=\"{path}\""));
            }
            // The histogram's selector: without the route label, no matcher on it.
            let hjob = if *histogram_by_path { &job } else { &plain };
            match signal.quantile() {
                Some(q) => format!(
                    "histogram_quantile({q}, sum by (le) (rate({h}_bucket{{{hjob}}}[{w}])))"
                ),
                None => match signal {
                    Signal::RequestRate => format!("sum(rate({requests}{{{job}}}[{w}]))"),
                    Signal::MeanLatency => format!(
                        "sum(rate({h}_sum{{{hjob}}}[{w}])) / sum(rate({h}_count{{{hjob}}}[{w}]))"
                    ),
                    // No 5xx series at all is no errors, not no value.
                    _ => format!(
                        "100 * (sum(rate({requests}{{{job},{status_label}=~\"5..\"}}[{w}])) or vector(0)) / sum(rate({requests}{{{job}}}[{w}]))"
                    ),
                },
            }
        }
        (
            _,
            Source::RedisKey {
                job,
                namespace,
                key,
            },
        ) => {
            let job = job_matcher(job, namespace);
            // Redis deletes a list once it is empty, and the exporter may then have no
            // series for it: while Redis answers, that reads as 0 (a drained queue
            // must satisfy `below`), and as nothing when it does not. In parentheses:
            // the comparison that follows binds tighter than `or`.
            format!(
                "(sum(redis_key_size{{{job},key=\"{key}\"}}) or max(redis_up{{{job}}} == 1) * 0)"
            )
        }
        (
            _,
            Source::RabbitmqQueue {
                job,
                namespace,
                queue,
            },
        ) => format!(
            "sum(rabbitmq_detailed_queue_messages_ready{{{},queue=\"{queue}\"}})",
            job_matcher(job, namespace)
        ),
        (Signal::CacheHitRate, Source::Redis { job, namespace }) => {
            let job = job_matcher(job, namespace);
            format!(
                "100 * sum(rate(redis_keyspace_hits_total{{{job}}}[{w}])) / (sum(rate(redis_keyspace_hits_total{{{job}}}[{w}])) + sum(rate(redis_keyspace_misses_total{{{job}}}[{w}])))"
            )
        }
        (_, Source::Redis { job, namespace }) => {
            let job = job_matcher(job, namespace);
            // A node without `maxmemory` (0) has no share to count.
            format!("max(100 * redis_memory_used_bytes{{{job}}} / (redis_memory_max_bytes{{{job}}} > 0))")
        }
        (Signal::ReplicationLag, Source::Postgres { job, namespace }) => format!(
            "max(pg_replication_lag_seconds{{{}}})",
            job_matcher(job, namespace)
        ),
        // Every server's statements together (the primary's, and the replicas' where
        // they serve reads), weighted by calls: the mean time of a statement.
        (
            _,
            Source::PgStatements {
                job,
                namespace,
                database,
                monitor_user,
            },
        ) => {
            // Database and role names validation admits hold no quote or backslash.
            let s = format!(
                "{},datname=\"{database}\",user!=\"{monitor_user}\"",
                job_matcher(job, namespace)
            );
            format!(
                "sum(rate(pg_stat_statements_seconds_total{{{s}}}[{w}])) / sum(rate(pg_stat_statements_calls_total{{{s}}}[{w}]))"
            )
        }
        (_, Source::Postgres { job, namespace }) => {
            let job = job_matcher(job, namespace);
            format!(
                "max(100 * sum by (instance) (pg_stat_database_numbackends{{{job}}}) / on (instance) max by (instance) (pg_settings_max_connections{{{job}}}))"
            )
        }
    }
}

/// A container's CPU or memory in percent of `capacity`, on the busiest of those
/// `selector` picks, each summed over its series `per` container (`name`, `pod`).
fn usage(signal: Signal, selector: &str, per: &str, capacity: f64) -> String {
    let w = RATE_WINDOW;
    let capacity = number(capacity);
    match signal {
        Signal::Cpu => format!(
            "100 * max(sum by ({per}) (rate(container_cpu_usage_seconds_total{{{selector}}}[{w}]))) / {capacity}"
        ),
        _ => format!("100 * max(container_memory_working_set_bytes{{{selector}}}) / {capacity}"),
    }
}

/// The kubelet's selector of a container in the namespace's pods: by its name, and
/// for a datastore's server by the pods of its StatefulSets (`db-0`, `db-replica-1`).
fn pod_containers(namespace: &str, container: &str, statefulsets: &[String]) -> String {
    // `image!=""`: the kubelet's own resource series (its /metrics/resource endpoint
    // has the same names, without an image) are not counted twice.
    let mut out = format!("namespace=\"{namespace}\",container=\"{container}\",image!=\"\"");
    if !statefulsets.is_empty() {
        out.push_str(&format!(",pod=~\"({})-[0-9]+\"", statefulsets.join("|")));
    }
    out
}

/// The label every container of a compose file tierform renders carries, with the
/// blueprint's name: cAdvisor exports it as `container_label_io_tierform_blueprint`.
pub const BLUEPRINT_LABEL: &str = "io.tierform.blueprint";

/// [`BLUEPRINT_LABEL`] as cAdvisor exports it.
pub const BLUEPRINT_METRIC_LABEL: &str = "container_label_io_tierform_blueprint";

/// cAdvisor's selector of the containers of these compose services, of this blueprint
/// (another stack on the same Docker host may have an `api` too).
fn compose_services(blueprint: &str, containers: &[String]) -> String {
    format!(
        "{BLUEPRINT_METRIC_LABEL}=\"{blueprint}\",container_label_com_docker_compose_service=~\"{}\"",
        containers.join("|")
    )
}

/// The defaults of a service's metrics, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsPlan {
    pub path: String,
    pub port: u16,
    /// The request counter.
    pub requests: String,
    /// Its status label.
    pub status_label: String,
    /// The label of the request's route.
    pub path_label: String,
    /// The request-duration histogram's base name.
    pub histogram: String,
}

/// A service's metrics with every default applied.
pub fn metrics_plan(m: &crate::model::Metrics, service_port: Option<u16>) -> Option<MetricsPlan> {
    use crate::model::signal::{DEFAULT_METRICS_PATH, DEFAULT_REQUESTS};
    let port = m
        .port
        .and_then(|p| u16::try_from(p).ok())
        .or(service_port)?;
    let or = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
    Some(MetricsPlan {
        path: or(&m.path, DEFAULT_METRICS_PATH),
        port,
        requests: or(&m.requests, DEFAULT_REQUESTS),
        status_label: or(&m.status_label, DEFAULT_STATUS_LABEL),
        path_label: or(&m.path_label, crate::model::signal::DEFAULT_PATH_LABEL),
        histogram: or(&m.histogram, DEFAULT_HISTOGRAM),
    })
}
