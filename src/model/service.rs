//! Services: the application's processes, their health, resources, environment,
//! balancing, queue and scaling.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};

use super::{
    ENV_NAME_PATTERN, HEALTH_PATH_PATTERN, IMAGE_PATTERN, NAME_PATTERN, QUEUE_PATTERN,
    STICKY_PATTERN, TEXT_PATTERN,
};
use crate::model::units::{Duration, Quantity};

/// One of the application's processes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// What the process does: serves HTTP, works a queue, runs a schedule, holds
    /// WebSocket connections, serves static files, or runs once to completion (`job`).
    pub kind: ServiceKind,
    /// What the service is, for people reading the blueprint. Free text: no control
    /// character but line feeds and tabs, no Unicode line separator or bidirectional
    /// override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TEXT_PATTERN))]
    pub description: Option<String>,
    /// The tier the service runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub tier: Option<String>,
    /// The container image.
    #[schemars(regex(pattern = IMAGE_PATTERN), example = &"bet-intel:1.4.2")]
    pub image: String,
    /// The command and its arguments, overriding the image's. The process receives them
    /// as written on every platform: no `$NAME`, `${NAME}` or `$(NAME)` is expanded
    /// (compose files and Kubernetes manifests write each `$` as `$$`). Free text: no
    /// control character but line feeds and tabs, no Unicode line separator or
    /// bidirectional override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = TEXT_PATTERN)), example = &["celery", "-A", "app.celery_app", "worker"])]
    pub command: Vec<String>,
    /// The port the process listens on. Required for http, websocket and static services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u32>,
    /// Publish the service's port on the host at this port, to reach it without the balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub host_port: Option<u32>,
    /// How to tell the process is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Where the service serves its own Prometheus metrics: they are scraped, and the
    /// request signals (`request_rate`, the latencies, `error_rate`) read its
    /// request-duration histogram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<super::signal::Metrics>,
    /// CPU and memory requests and limits, per instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Environment variables (not secrets: those go in `secrets`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = { "pattern": ENV_NAME_PATTERN }))]
    pub env: BTreeMap<String, EnvValue>,
    /// Names of secret environment variables. Values never enter a blueprint: they
    /// come from an env file or a Kubernetes Secret at run time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = ENV_NAME_PATTERN)), example = &["DATABASE_URL"])]
    pub secrets: Vec<String>,
    /// Variables of `env` whose values look like a secret but are not (a documented
    /// example key, a public test token): a value of a well-known secret shape (an AWS
    /// key, a URL with a password, a private key, a Stripe, GitHub, Slack or Google
    /// token; docs/hostile-input.md) is an error unless its variable is listed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = ENV_NAME_PATTERN)))]
    pub not_secrets: Vec<String>,
    /// Datastores the service connects to; their connection settings are injected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = NAME_PATTERN)))]
    pub uses: Vec<String>,
    /// Connection URLs, by the variable name the application's framework reads, each
    /// naming a datastore of `uses`: `DATABASE_URL: db` gives
    /// `postgresql://USER:PASSWORD@HOST:PORT/NAME`, `REDIS_URL: cache` or
    /// `CELERY_BROKER_URL: queue` `redis://:PASSWORD@HOST:PORT/0`, `AMQP_URL: events`
    /// (RabbitMQ) `amqp://USER:PASSWORD@HOST:PORT/%2F`, with the platform's addresses
    /// (a Redis Cluster's first node). The password is never written: Kubernetes
    /// expands `$(<NAME>_PASSWORD)` from the variable before it, compose fills
    /// `${<NAME>_PASSWORD}` from the `.env`. It goes into the URL as it is, so a password
    /// used this way must be URL-safe (letters, digits, `-._~`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(
        extend("propertyNames" = { "pattern": ENV_NAME_PATTERN }),
        extend("additionalProperties" = { "type": "string", "pattern": NAME_PATTERN }),
        example = serde_json::json!({ "DATABASE_URL": "db", "CELERY_BROKER_URL": "queue" })
    )]
    pub urls: BTreeMap<String, String>,
    /// How the balancer spreads requests over the service's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    /// The queue a worker consumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Queue>,
    /// How many instances run: a fixed count, or a range with autoscaling targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Scaling>,
    /// Jobs (`kind: job`) that must run to completion before this service starts: on
    /// compose it waits for each to complete successfully, on Kubernetes its pods wait
    /// for the Job of the current content, on hosts the jobs come earlier in the start
    /// order. The service names what it waits for, as it names the datastores it
    /// `uses`: a service's start conditions read in one place, one job can serve
    /// several services, and a job can wait for another job the same way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = NAME_PATTERN)), example = &["migrate"])]
    pub after: Vec<String>,
    /// How an instance stops: the time it gets to finish its work after the stop
    /// signal, and for a service behind the balancer the time it keeps serving while
    /// it is taken out of the balancer first. Without it a worker or scheduler gets
    /// 60 s on compose and hosts and 300 s on Kubernetes, any other service Docker's
    /// default 10 s and Kubernetes' 30 s, with no draining.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = serde_json::json!({ "grace": "30s", "drain": "5s" }))]
    pub shutdown: Option<Shutdown>,
    /// Only for `kind: job`: how many times a failed run is retried before the job
    /// counts as failed (Kubernetes `backoffLimit`). Default: 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub retries: Option<u32>,
    /// Only for `kind: job`: the longest the job may run, retries included, before it
    /// is stopped and counts as failed (Kubernetes `activeDeadlineSeconds`). Default: `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// The instances a service runs between: the one home of the counting rules that
/// every platform shares. `min` may be 0 (an autoscaler that scales to zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceRange {
    pub min: u32,
    pub max: u32,
    /// Whether an autoscaler picks the count between `min` and `max`.
    pub autoscaled: bool,
}

impl Service {
    /// The instances the service runs between, as a checked blueprint says: a
    /// scheduler exactly one; `replicas` a fixed count (1 when scaling says nothing);
    /// `min` and `max` an autoscaled range.
    pub fn instance_range(&self) -> InstanceRange {
        let sc = self.scaling.clone().unwrap_or_default();
        let autoscaled = sc.replicas.is_none() && (sc.min.is_some() || sc.max.is_some());
        if matches!(self.kind, ServiceKind::Scheduler | ServiceKind::Job) {
            return InstanceRange {
                min: 1,
                max: 1,
                autoscaled: false,
            };
        }
        if autoscaled {
            let max = sc.max.unwrap_or(1);
            InstanceRange {
                min: sc.min.unwrap_or(1).min(max),
                max,
                autoscaled,
            }
        } else {
            let n = sc.replicas.unwrap_or(1);
            InstanceRange {
                min: n,
                max: n,
                autoscaled,
            }
        }
    }

    /// How many instances run on a platform without an autoscaler (compose, hosts):
    /// the fixed count, or the autoscaler's minimum but at least one; a scheduler
    /// always runs exactly one, and so does a job (one run at a time).
    ///
    /// Also read by checks on a blueprint that may have errors, so each half of a
    /// half-written range counts as written (`min` without `max` is `min`).
    pub fn fixed_instances(&self) -> u32 {
        if matches!(self.kind, ServiceKind::Scheduler | ServiceKind::Job) {
            return 1;
        }
        match &self.scaling {
            None => 1,
            Some(sc) => match (sc.replicas, sc.min, sc.max) {
                (Some(n), _, _) => n,
                (None, None, None) => 1,
                (None, min, max) => min.unwrap_or(1).min(max.unwrap_or(u32::MAX)).max(1),
            },
        }
    }

    /// The most instances the service may run as written, before any check: `max`,
    /// else `replicas`, else 1. A `max` beside `replicas` (itself a finding) still
    /// counts, so a finding about many instances is not missed.
    pub fn most_instances(&self) -> u32 {
        match &self.scaling {
            None => 1,
            Some(sc) => sc.max.or(sc.replicas).unwrap_or(1),
        }
    }
}

/// What a service does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// Serves HTTP requests behind the balancer.
    Http,
    /// Consumes a queue; no inbound traffic.
    Worker,
    /// Runs periodic jobs; always exactly one instance.
    Scheduler,
    /// Holds long-lived WebSocket connections behind the balancer.
    Websocket,
    /// Serves static files behind the balancer.
    Static,
    /// Runs once to completion (database migrations, cache warm-up) before the services
    /// that name it in `after` start; takes no port, balancing, queue, scaling or health.
    Job,
}

impl ServiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Http => "http",
            ServiceKind::Worker => "worker",
            ServiceKind::Scheduler => "scheduler",
            ServiceKind::Websocket => "websocket",
            ServiceKind::Static => "static",
            ServiceKind::Job => "job",
        }
    }

    /// Whether the kind takes traffic from the balancer.
    pub fn is_routable(self) -> bool {
        matches!(
            self,
            ServiceKind::Http | ServiceKind::Websocket | ServiceKind::Static
        )
    }
}

/// A health check: an HTTP path, or a command run inside the container.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// HTTP path answered with 2xx when healthy, without `..`. Give `path` or `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = HEALTH_PATH_PATTERN), example = &"/health")]
    pub path: Option<String>,
    /// Command that exits 0 when healthy, run as written: no `$NAME`, `${NAME}` or
    /// `$(NAME)` is expanded (compose files and Kubernetes manifests write each `$` as `$$`).
    /// Free text: no control character but line feeds and tabs, no Unicode line separator
    /// or bidirectional override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = TEXT_PATTERN)), example = &["celery", "-A", "app.celery_app", "inspect", "ping"])]
    pub command: Vec<String>,
    /// Time between checks. Default: `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Time a check may take. Default: `3s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Failed checks in a row before the instance counts as unhealthy. Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: Option<u32>,
    /// Time after start during which failures do not count. Default: `0s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
}

/// The shortest `shutdown.grace`, in milliseconds.
pub const SHUTDOWN_GRACE_MIN_MS: u64 = 1_000;
/// The longest `shutdown.grace`, in milliseconds.
pub const SHUTDOWN_GRACE_MAX_MS: u64 = 3_600_000;

/// How a stopping instance ends (`shutdown`). Both are counted in whole seconds,
/// rounded up.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    /// The time the process gets after the stop signal (SIGTERM) to finish what it is
    /// doing before it is killed, from `1s` to `1h`: compose's and hosts'
    /// `stop_grace_period`; on Kubernetes `terminationGracePeriodSeconds` is `grace`
    /// plus `drain`.
    #[schemars(example = &"30s")]
    pub grace: Duration,
    /// Only for services behind the balancer (`http`, `websocket`, `static`): the time
    /// a stopping instance keeps serving before it gets the stop signal, while it is
    /// taken out of the balancer, from `0s` to `grace`. On Kubernetes a `preStop` hook
    /// sleeps this long while the endpoint is removed from the Service. Compose and
    /// hosts have no such step: Docker signals the container at once, and the
    /// balancer stops sending it requests when its health check fails (HAProxy) or
    /// its connections are refused (nginx tries the next instance). Default: `0s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"5s")]
    pub drain: Option<Duration>,
}

/// CPU and memory for one instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU reserved (request), like `200m` or `1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Memory reserved (request), like `256Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// CPU the instance may not exceed (limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<Quantity>,
    /// Memory the instance may not exceed (limit); past it the process is killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<Quantity>,
    /// GPUs each instance takes for itself, like `{ count: 1 }`: only on a tier whose
    /// machines have that many of the vendor's. Services only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<super::Gpu>,
}

/// An environment variable's value: text, a number or a boolean (written as text).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct EnvValue(pub String);

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Bool(bool),
            Int(i64),
            Float(f64),
        }
        Ok(EnvValue(match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Bool(b) => b.to_string(),
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
        }))
    }
}

impl JsonSchema for EnvValue {
    fn schema_name() -> Cow<'static, str> {
        "EnvValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "number", "boolean"],
            "pattern": TEXT_PATTERN,
            "description": "The variable's value, as the process receives it on every platform: no `$NAME`, `${NAME}` or `$(NAME)` in it is expanded (compose files and Kubernetes manifests write each `$` as `$$`). Free text: no control character but line feeds and tabs, no Unicode line separator or bidirectional override. Numbers and booleans are passed as text."
        })
    }
}

/// How the balancer spreads requests over a service's instances.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Balance {
    /// `round_robin`, `least_conn` (fewest active connections) or `hash` (by the
    /// `sticky` key). Default: `round_robin`, or `hash` when `sticky` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
    /// Failed attempts to reach an instance within `fail_timeout` before it is taken
    /// out. HAProxy counts failed connections in a row (its health checks take a dead
    /// instance out too); default 10. nginx counts every failed attempt (a refused or cut
    /// connection, a timeout), a request that crashes its backend once on each instance
    /// it is retried on, so a burst of such requests can take the whole pool out: by
    /// default nginx takes nothing out and steps past a failing instance to the next
    /// (each request that meets a dead one first pays its connect timeout). A request is
    /// tried on each instance at most once, so from 2 up no single request can take an
    /// instance out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 100))]
    pub max_fails: Option<u32>,
    /// The window for `max_fails`, and how long a failed instance stays out. Default: `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_timeout: Option<Duration>,
    /// Keep a client on one instance: `none`, `client_ip`, `header:NAME` or
    /// `cookie[:NAME]`. Default: `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = STICKY_PATTERN), example = &"header:X-Device-Id")]
    pub sticky: Option<String>,
    /// What makes the balancer try a GET, HEAD or OPTIONS request again on the next
    /// instance (up to 3 in all): a failed connection (`error`), a timeout
    /// (`timeout`), an answer that is not HTTP (`invalid_header`), or the answer's
    /// status (`http_500`, `http_502`, `http_503`, `http_504`, `http_429`). A POST or
    /// PATCH is tried again only if it was never sent, and other methods never. A
    /// service that answers 503 or 429 to shed load gets each such request up to 3
    /// times. nginx counts a listed status as a failed attempt toward `max_fails`, and
    /// retries a route split between services on what they all list. HAProxy reads
    /// `error` as `conn-failure`, `timeout` as `response-timeout` and `invalid_header`
    /// as `junk-response`, always with `empty-response` (a connection closed without an
    /// answer); 3.0 retries on a 429, 2.6 cannot. Default: `[error, timeout]` (HAProxy's
    /// own: a failed connection, or one closed without an answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8), example = &["error", "timeout", "http_502", "http_503"])]
    pub retry_on: Option<Vec<RetryOn>>,
}

/// A failure after which the balancer tries a request again on the next instance, as
/// nginx's `proxy_next_upstream` names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum RetryOn {
    /// The connection could not be made, or broke before the answer's header came.
    #[serde(rename = "error")]
    Error,
    /// Connecting, sending the request, or waiting for the answer's header took longer
    /// than the balancer's timeouts.
    #[serde(rename = "timeout")]
    Timeout,
    /// The answer was empty or not valid HTTP.
    #[serde(rename = "invalid_header")]
    InvalidHeader,
    /// The answer was 500 Internal Server Error.
    #[serde(rename = "http_500")]
    Http500,
    /// The answer was 502 Bad Gateway.
    #[serde(rename = "http_502")]
    Http502,
    /// The answer was 503 Service Unavailable.
    #[serde(rename = "http_503")]
    Http503,
    /// The answer was 504 Gateway Timeout.
    #[serde(rename = "http_504")]
    Http504,
    /// The answer was 429 Too Many Requests (HAProxy 3.0, not 2.6).
    #[serde(rename = "http_429")]
    Http429,
}

impl RetryOn {
    /// What the balancer retries on when a service gives no `retry_on`.
    pub const DEFAULT: &'static [RetryOn] = &[RetryOn::Error, RetryOn::Timeout];

    /// Its name in a blueprint, which is also nginx's (`proxy_next_upstream`).
    pub fn as_str(self) -> &'static str {
        match self {
            RetryOn::Error => "error",
            RetryOn::Timeout => "timeout",
            RetryOn::InvalidHeader => "invalid_header",
            RetryOn::Http500 => "http_500",
            RetryOn::Http502 => "http_502",
            RetryOn::Http503 => "http_503",
            RetryOn::Http504 => "http_504",
            RetryOn::Http429 => "http_429",
        }
    }

    /// Whether HAProxy `version` can retry on it: 2.6's `retry-on` knows no 429.
    pub fn on_haproxy(self, version: &str) -> bool {
        self != RetryOn::Http429 || version != "2.6"
    }
}

impl Balance {
    /// What the balancer retries on for this service, in [`RetryOn`]'s order, each once:
    /// its `retry_on`, or [`RetryOn::DEFAULT`].
    pub fn retry_on_or_default(balance: Option<&Balance>) -> Vec<RetryOn> {
        let mut list = balance
            .and_then(|b| b.retry_on.clone())
            .unwrap_or_else(|| RetryOn::DEFAULT.to_vec());
        list.sort();
        list.dedup();
        list
    }
}

/// A load-balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Each instance in turn.
    RoundRobin,
    /// The instance with the fewest active connections.
    LeastConn,
    /// Consistent hashing of the `sticky` key.
    Hash,
}

/// The queue a worker consumes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// The datastore that brokers the queue (Redis or RabbitMQ).
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub broker: String,
    /// The queue's name.
    #[schemars(regex(pattern = QUEUE_PATTERN), example = &"ev_calculation")]
    pub name: String,
}

/// How many instances of a service run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// A fixed number of instances. Give `replicas`, or `min` and `max`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub replicas: Option<u32>,
    /// The fewest instances the autoscaler keeps (0 only with a `queue_depth` target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub min: Option<u32>,
    /// The most instances the autoscaler starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max: Option<u32>,
    /// What the autoscaler aims for, per instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ScalingTarget>,
    /// How fast to add instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<ScalePolicy>,
    /// How fast to remove instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScalePolicy>,
}

/// Autoscaling targets, per instance. Several may be given; the largest demand wins.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalingTarget {
    /// Average CPU use, as a percentage of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub cpu: Option<u32>,
    /// Average memory use, as a percentage of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub memory: Option<u32>,
    /// Requests per second per instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub requests_per_second: Option<u32>,
    /// Messages waiting in the service's queue, per instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub queue_depth: Option<u32>,
    /// Open connections per instance (WebSocket hubs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000000))]
    pub connections: Option<u32>,
}

/// How fast the autoscaler may change the number of instances in one direction.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalePolicy {
    /// How long the demand must last before acting (prevents flapping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilization: Option<Duration>,
    /// At most this many instances per `period`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub pods: Option<u32>,
    /// At most this percentage of the current instances per `period`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub percent: Option<u32>,
    /// The period for `pods` and `percent`. Default: `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Duration>,
    /// With both `pods` and `percent`: `max` (the larger change) or `min`. Default: `max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<SelectPolicy>,
}

/// Which of several rate policies applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelectPolicy {
    /// The policy allowing the larger change.
    Max,
    /// The policy allowing the smaller change.
    Min,
    /// Never scale in this direction.
    Disabled,
}
