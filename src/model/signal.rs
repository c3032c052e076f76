//! Signals: the conditions that say when to move between phases, as data a monitoring
//! system can watch (`enter_when`, `leave_when`), or as text for people where no
//! metric measures them.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use super::{LINE_PATTERN, NAME_PATTERN};
use crate::model::units::Duration;

/// The pattern of a Prometheus metric name a blueprint gives (a histogram's base name).
pub const METRIC_NAME_PATTERN: &str = "^[a-zA-Z_][a-zA-Z0-9_]{0,127}$";
/// The pattern of a Prometheus label name a blueprint gives.
pub const LABEL_NAME_PATTERN: &str = "^[a-zA-Z_][a-zA-Z0-9_]{0,63}$";

/// One condition of `enter_when` or `leave_when`: a signal with a threshold, which the
/// rendered alerts watch, or a line of text for what no metric measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    Signal(SignalCondition),
    Text(String),
}

impl JsonSchema for Condition {
    fn schema_name() -> Cow<'static, str> {
        "Condition".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let signal = generator.subschema_for::<SignalCondition>();
        json_schema!({
            "description": "A signal with a threshold (`{ signal: p95_latency, service: api, above: 200ms, for: 5m }`), which the rendered alerts watch, or a line of text for people, for what no metric measures (validation warns that nothing watches it).",
            "anyOf": [
                signal,
                {
                    "type": "string",
                    "pattern": LINE_PATTERN,
                    "description": "A condition no metric measures, for people: one line, without control characters, Unicode line separators or bidirectional overrides."
                }
            ]
        })
    }
}

/// A measured condition: a signal of one service or datastore, compared with a
/// threshold for a length of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalCondition {
    /// What is measured. Percentages are 0–100; latencies (`query_latency` too) and
    /// replication lag are durations; `request_rate` is requests per second over all instances;
    /// `queue_depth` is messages waiting.
    pub signal: Signal,
    /// The service measured (its containers' CPU or memory, its requests, its queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub service: Option<String>,
    /// The datastore measured (its servers' CPU or memory, Redis memory and hit rate,
    /// PostgreSQL connections, replication lag and query latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub datastore: Option<String>,
    /// The condition holds while the signal is above this: a number (a percentage, a
    /// rate or a count) or, for latencies and lag, a duration. Give `above` or `below`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<Threshold>,
    /// The condition holds while the signal is below this. Give `above` or `below`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<Threshold>,
    /// How long the condition must hold before the alert fires. Default: 5m.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<Duration>,
}

/// A threshold: a number, or a duration for the signals that measure time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    Number(f64),
    Duration(Duration),
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Number(n) => write!(f, "{n}"),
            Threshold::Duration(d) => f.write_str(&d.0),
        }
    }
}

impl JsonSchema for Threshold {
    fn schema_name() -> Cow<'static, str> {
        "Threshold".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let duration = generator.subschema_for::<Duration>();
        json_schema!({
            "description": "A number (a percentage 0–100, requests per second, or messages), or a duration for latencies and replication lag.",
            "anyOf": [ { "type": "number", "minimum": 0 }, duration ]
        })
    }
}

/// The signals tierform knows how to measure, each from a real metric.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// CPU use of a service's or datastore's containers, in percent of the CPU each may
    /// use (its limit, else its request), on its busiest instance (cAdvisor).
    Cpu,
    /// Memory use (working set) of a service's or datastore's containers, in percent of
    /// its memory limit, else its request, on its fullest instance (cAdvisor).
    Memory,
    /// Requests per second to a service, over all its instances (the request counter
    /// of the service's own `metrics`).
    RequestRate,
    /// A service's mean response time (its histogram's sum over its count).
    MeanLatency,
    /// A service's median response time (from its histogram's buckets).
    P50Latency,
    /// A service's 90th-percentile response time.
    P90Latency,
    /// A service's 95th-percentile response time.
    P95Latency,
    /// A service's 99th-percentile response time.
    P99Latency,
    /// A service's share of responses with a 5xx status, in percent (the request
    /// counter's status label).
    ErrorRate,
    /// Messages waiting in a worker service's queue (redis_exporter's key length for a
    /// Redis broker, RabbitMQ's own metrics for RabbitMQ).
    QueueDepth,
    /// A Redis datastore's memory use, in percent of its `maxmemory`, on its fullest
    /// node (redis_exporter). For a broker: a cache fills to `maxmemory` by design and
    /// evicts, so watch its `cache_hit_rate` instead.
    RedisMemory,
    /// A Redis datastore's cache hit rate, in percent of key lookups (redis_exporter).
    CacheHitRate,
    /// A PostgreSQL datastore's connections, in percent of `max_connections`, on its
    /// busiest server (postgres_exporter).
    DbConnections,
    /// How far a PostgreSQL datastore's most lagging replica is behind its primary,
    /// as a duration (postgres_exporter on the replicas: the time since the last
    /// replayed transaction while WAL is left to replay, 0 when none is).
    ReplicationLag,
    /// A PostgreSQL datastore's mean statement execution time, as a duration: the
    /// application's statements in its database (pg_stat_statements, through
    /// postgres_exporter's `stat_statements` collector), on every server, weighted by
    /// calls, so reads on the replicas count where they serve some. Watching it loads
    /// `pg_stat_statements` on the servers and creates the extension; the exporter
    /// reports the 100 statements with the most time, so the mean leans to the
    /// heaviest.
    QueryLatency,
}

/// What a signal's threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 0–100.
    Percent,
    /// A duration, compared in seconds.
    Seconds,
    /// Requests per second.
    PerSecond,
    /// A count of messages.
    Count,
}

/// What a signal is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A service or a datastore.
    Either,
    Service,
    Datastore,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Cpu => "cpu",
            Signal::Memory => "memory",
            Signal::RequestRate => "request_rate",
            Signal::MeanLatency => "mean_latency",
            Signal::P50Latency => "p50_latency",
            Signal::P90Latency => "p90_latency",
            Signal::P95Latency => "p95_latency",
            Signal::P99Latency => "p99_latency",
            Signal::ErrorRate => "error_rate",
            Signal::QueueDepth => "queue_depth",
            Signal::RedisMemory => "redis_memory",
            Signal::CacheHitRate => "cache_hit_rate",
            Signal::DbConnections => "db_connections",
            Signal::ReplicationLag => "replication_lag",
            Signal::QueryLatency => "query_latency",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Signal::Cpu
            | Signal::Memory
            | Signal::ErrorRate
            | Signal::RedisMemory
            | Signal::CacheHitRate
            | Signal::DbConnections => Unit::Percent,
            Signal::MeanLatency
            | Signal::P50Latency
            | Signal::P90Latency
            | Signal::P95Latency
            | Signal::P99Latency
            | Signal::ReplicationLag
            | Signal::QueryLatency => Unit::Seconds,
            Signal::RequestRate => Unit::PerSecond,
            Signal::QueueDepth => Unit::Count,
        }
    }

    pub fn subject(self) -> Subject {
        match self {
            Signal::Cpu | Signal::Memory => Subject::Either,
            Signal::RequestRate
            | Signal::MeanLatency
            | Signal::P50Latency
            | Signal::P90Latency
            | Signal::P95Latency
            | Signal::P99Latency
            | Signal::ErrorRate
            | Signal::QueueDepth => Subject::Service,
            Signal::RedisMemory
            | Signal::CacheHitRate
            | Signal::DbConnections
            | Signal::ReplicationLag
            | Signal::QueryLatency => Subject::Datastore,
        }
    }

    /// The quantile of a percentile signal.
    pub fn quantile(self) -> Option<&'static str> {
        match self {
            Signal::P50Latency => Some("0.5"),
            Signal::P90Latency => Some("0.9"),
            Signal::P95Latency => Some("0.95"),
            Signal::P99Latency => Some("0.99"),
            _ => None,
        }
    }

    /// Whether the signal is a rate: an average over the rate window, whose first value
    /// comes once two samples are in.
    pub fn is_rate(self) -> bool {
        !matches!(
            self,
            Signal::Memory
                | Signal::QueueDepth
                | Signal::RedisMemory
                | Signal::DbConnections
                | Signal::ReplicationLag
        )
    }

    /// Whether the signal is read from a datastore's exporter (redis_exporter,
    /// postgres_exporter, RabbitMQ's metrics), which tierform renders on no platform
    /// yet: on Kubernetes, where its NetworkPolicies would keep one out, such a signal
    /// gets no alert.
    pub fn from_exporter(self) -> bool {
        matches!(
            self,
            Signal::QueueDepth
                | Signal::RedisMemory
                | Signal::CacheHitRate
                | Signal::DbConnections
                | Signal::ReplicationLag
                | Signal::QueryLatency
        )
    }

    /// Whether the signal is read from the service's own request metrics.
    pub fn from_requests(self) -> bool {
        matches!(
            self,
            Signal::RequestRate
                | Signal::MeanLatency
                | Signal::P50Latency
                | Signal::P90Latency
                | Signal::P95Latency
                | Signal::P99Latency
                | Signal::ErrorRate
        )
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a service serves its own Prometheus metrics, and the series the request
/// signals read: a request counter with a status label (rate, errors) and a
/// request-duration histogram (latencies). The defaults are
/// prometheus-fastapi-instrumentator's; give the names of another library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// The path the service serves Prometheus metrics on. Default: `/metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = super::HEALTH_PATH_PATTERN), example = &"/metrics")]
    pub path: Option<String>,
    /// The port it serves them on. Default: the service's `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u32>,
    /// Its counter of requests, with the response status as a label: `request_rate`
    /// and `error_rate` read it. Default: `http_requests_total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = METRIC_NAME_PATTERN), example = &"http_requests_total")]
    pub requests: Option<String>,
    /// The counter's label that holds the response status (`500` or `5xx`: both
    /// match `5..`). Default: `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = LABEL_NAME_PATTERN), example = &"status")]
    pub status_label: Option<String>,
    /// The counter's (and the histogram's, where it has one) label that holds the
    /// request's route: the requests to the service's health check and metrics paths
    /// are left out of the signals that read it (probes and scrapes are not load; the
    /// instrumentator's default histogram has no such label: exclude them in the
    /// application). Default: `handler`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = LABEL_NAME_PATTERN), example = &"handler")]
    pub path_label: Option<String>,
    /// The base name of its request-duration histogram, in seconds (the series
    /// `NAME_bucket`, `NAME_sum` and `NAME_count`): the latencies read it. Default:
    /// `http_request_duration_highr_seconds`, the instrumentator's histogram with
    /// fine buckets (10ms to 60s). A percentile is only as fine as the buckets: one
    /// above the largest finite bucket reads as that bucket, so keep thresholds
    /// within them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = METRIC_NAME_PATTERN), example = &"http_request_duration_highr_seconds")]
    pub histogram: Option<String>,
}

/// The schema's example of `enter_when`.
pub fn enter_example() -> serde_json::Value {
    serde_json::json!([
        { "signal": "p95_latency", "service": "api", "above": "200ms", "for": "5m" },
        "concurrent users > 500"
    ])
}

/// An example of a phase's `objectives`.
pub fn objectives_example() -> serde_json::Value {
    serde_json::json!([
        { "signal": "p95_latency", "service": "api", "below": "200ms" },
        { "signal": "error_rate", "service": "api", "below": 0.1, "for": "10m" }
    ])
}

impl SignalCondition {
    /// The condition that holds while this one, read as an objective, is missed: the
    /// same signal past the other side of its threshold.
    pub fn missed(&self) -> SignalCondition {
        SignalCondition {
            above: self.below.clone(),
            below: self.above.clone(),
            ..self.clone()
        }
    }

    /// This condition read as an objective, with how long it may be missed before it
    /// alerts: `p95_latency of api < 200ms (an alert after 5m past it)`.
    pub fn objective_line(&self) -> String {
        format!(
            "{} (an alert after {} past it)",
            self.objective_text(),
            self.for_text()
        )
    }

    /// The signal, its subject and its threshold, for people: `p95_latency of api <
    /// 200ms` (an objective as written; `Display` adds the `for`).
    pub fn objective_text(&self) -> String {
        let mut text = format!("{}", self.signal);
        if let Some(name) = self.subject_name() {
            text.push_str(&format!(" of {name}"));
        }
        if let Some((above, t)) = self.threshold() {
            let unit = match (self.signal.unit(), t) {
                (Unit::Percent, Threshold::Number(_)) => "%",
                (Unit::PerSecond, Threshold::Number(_)) => "/s",
                _ => "",
            };
            text.push_str(&format!(" {} {t}{unit}", if above { ">" } else { "<" }));
        }
        text
    }

    /// How long it must hold, as written or the default: `5m`.
    fn for_text(&self) -> String {
        match &self.for_ {
            Some(d) => d.to_string(),
            None => format!("{}m", DEFAULT_FOR_MS / 60_000),
        }
    }
}

/// The defaults of [`Metrics`].
pub const DEFAULT_METRICS_PATH: &str = "/metrics";
pub const DEFAULT_HISTOGRAM: &str = "http_request_duration_highr_seconds";
pub const DEFAULT_REQUESTS: &str = "http_requests_total";
pub const DEFAULT_STATUS_LABEL: &str = "status";
pub const DEFAULT_PATH_LABEL: &str = "handler";
/// How long a signal's condition holds before its alert fires, when not given.
pub const DEFAULT_FOR_MS: u64 = 5 * 60_000;

impl SignalCondition {
    /// The service or datastore measured.
    pub fn subject_name(&self) -> Option<&str> {
        self.service.as_deref().or(self.datastore.as_deref())
    }

    /// The threshold and whether the signal must be above it.
    pub fn threshold(&self) -> Option<(bool, &Threshold)> {
        match (&self.above, &self.below) {
            (Some(t), None) => Some((true, t)),
            (None, Some(t)) => Some((false, t)),
            _ => None,
        }
    }

    /// How long the condition must hold, in milliseconds.
    pub fn for_ms(&self) -> u64 {
        self.for_
            .as_ref()
            .and_then(|d| d.millis())
            .unwrap_or(DEFAULT_FOR_MS)
    }
}

/// `p95_latency of api > 200ms for 5m`, `cpu of api > 70% for 5m`.
impl fmt::Display for SignalCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for {}", self.objective_text(), self.for_text())
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Signal(s) => s.fmt(f),
            Condition::Text(t) => f.write_str(t),
        }
    }
}
