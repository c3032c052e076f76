//! The blueprint language, version 1: what a user writes.
//!
//! Every type here derives `JsonSchema`; the committed `schema/blueprint.schema.json`
//! is generated from these definitions and their doc comments (which become the
//! schema's descriptions, so editors show them on hover). Unknown fields are
//! rejected everywhere.

pub mod capabilities;
pub mod schema;
pub mod units;

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};

pub use crate::model::units::{Duration, Quantity};

/// Names of services, datastores, tiers, phases and the blueprint: a DNS-1035 label of
/// at most 40 characters, so every name derived from it stays a valid Kubernetes name.
pub const NAME_PATTERN: &str = "^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$";
/// Environment variable and secret names.
pub const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]{0,127}$";
/// Route prefixes: a path of safe characters only, so no route can inject a directive.
pub const ROUTE_PATTERN: &str = "^/[A-Za-z0-9._~/-]{0,200}$";
/// Health-check paths: a path with an optional simple query string.
pub const HEALTH_PATH_PATTERN: &str = "^/[A-Za-z0-9._~/-]{0,200}(\\?[A-Za-z0-9._~=&-]{0,200})?$";
/// Container image references.
pub const IMAGE_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$";
/// Queue names.
pub const QUEUE_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$";
/// Host addresses: an IPv4 or IPv6 address or a DNS name.
pub const HOST_PATTERN: &str = "^[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}$";
/// SQL identifiers (database and user names).
pub const SQL_IDENT_PATTERN: &str = "^[a-z_][a-z0-9_]{0,62}$";
/// Rate-limit keys.
pub const RATE_KEY_PATTERN: &str = "^(client_ip|header:[A-Za-z0-9][A-Za-z0-9-]{0,63})$";
/// Session stickiness.
pub const STICKY_PATTERN: &str =
    "^(none|client_ip|header:[A-Za-z0-9][A-Za-z0-9-]{0,63}|cookie(:[A-Za-z0-9_.-]{1,64})?)$";
/// Datastore versions.
/// Text passed to a process (an argument, an environment value): anything but NUL,
/// which no program can receive.
pub const TEXT_PATTERN: &str = "^[^\\u0000]*$";
/// One line of text for people: no control characters.
pub const LINE_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f]*$";
pub const VERSION_PATTERN: &str = "^[0-9]+(\\.[0-9]+){0,2}$";

/// A tierform blueprint: the services, tiers, datastores, load balancing and scaling of
/// one application, and the phases it grows through.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tierform blueprint")]
pub struct Blueprint {
    /// The blueprint format version. Always `1`.
    #[schemars(extend("const" = 1))]
    pub version: u32,
    /// The application's name: lowercase letters, digits and `-`, starting with a
    /// letter, at most 40 characters. Prefixes generated resources.
    #[schemars(regex(pattern = NAME_PATTERN), example = &"bet-intel")]
    pub name: String,
    /// What the application is, for people reading the blueprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TEXT_PATTERN))]
    pub description: Option<String>,
    /// Platforms rendered for every phase that does not list its own. Default: `[compose]`.
    #[serde(default = "default_targets")]
    #[schemars(length(min = 1))]
    pub targets: Vec<Platform>,
    /// Groups of identical machines, by name. Services and datastores are placed on a tier.
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": NAME_PATTERN }))]
    pub tiers: BTreeMap<String, Tier>,
    /// The load balancer in front of the HTTP and WebSocket services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer: Option<Balancer>,
    /// The application's processes, by name.
    #[schemars(extend("propertyNames" = { "pattern": NAME_PATTERN }, "minProperties" = 1))]
    pub services: BTreeMap<String, Service>,
    /// Databases, caches and brokers, by name.
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": NAME_PATTERN }))]
    pub datastores: BTreeMap<String, Datastore>,
    /// The stages the application grows through, in order. Each phase patches the state
    /// the phase before it left. Without phases, the blueprint is one phase named `default`.
    #[serde(default)]
    #[schemars(extend("maxItems" = crate::check::phase::MAX_PHASES))]
    pub phases: Vec<Phase>,
}

fn default_targets() -> Vec<Platform> {
    vec![Platform::Compose]
}

/// A platform tierform renders a bundle for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// The whole stack on one Docker host, with Docker Compose.
    Compose,
    /// One Compose bundle per server, for phases whose tiers list their hosts.
    Hosts,
    /// Kubernetes manifests with autoscaling.
    Kubernetes,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Compose, Platform::Hosts, Platform::Kubernetes];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Compose => "compose",
            Platform::Hosts => "hosts",
            Platform::Kubernetes => "kubernetes",
        }
    }
}

/// A group of identical machines.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The size of each machine in the tier.
    pub machine: Machine,
    /// How many machines. Default: the number of `hosts`, or 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub count: Option<u32>,
    /// The machines' addresses (IP addresses or DNS names), used by the `hosts` platform.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = HOST_PATTERN)), example = &["10.0.1.11", "10.0.1.12"])]
    pub hosts: Vec<String>,
    /// What one machine costs per month, in the currency of your choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000000))]
    pub cost_per_month: Option<f64>,
}

/// The size of one machine.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// CPU cores, like `4`.
    pub cpu: Quantity,
    /// Memory, like `16Gi`.
    pub memory: Quantity,
}

/// The load balancer in front of the HTTP and WebSocket services.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Balancer {
    /// Which proxy to configure.
    pub engine: BalancerEngine,
    /// The tier the balancer runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub tier: Option<String>,
    /// The port clients connect to. Default: 80.
    #[serde(default = "default_listen")]
    #[schemars(range(min = 1, max = 65535))]
    pub listen: u32,
    /// Requests per second allowed per client; requests past the limit get HTTP 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Timeouts towards the backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
    /// Path-prefix routes to services. The longest matching prefix wins.
    #[schemars(length(min = 1))]
    pub routes: Vec<Route>,
}

fn default_listen() -> u32 {
    80
}

/// A proxy tierform can configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BalancerEngine {
    /// nginx (open source).
    Nginx,
    /// HAProxy.
    Haproxy,
}

/// A request rate limit.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second allowed per key.
    #[schemars(range(min = 1, max = 1000000))]
    pub requests_per_second: u32,
    /// Requests allowed above the rate in a burst before answering 429. Default: 0.
    #[serde(default)]
    #[schemars(range(max = 1000000))]
    pub burst: u32,
    /// What identifies a client: `client_ip`, or `header:NAME` for a request header
    /// such as `header:X-Device-Id`. Default: `client_ip`.
    #[serde(default = "default_rate_key")]
    #[schemars(regex(pattern = RATE_KEY_PATTERN), example = &"header:X-Device-Id")]
    pub key: String,
}

fn default_rate_key() -> String {
    "client_ip".into()
}

/// Timeouts from the balancer to the backends.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Time to establish a connection. Default: `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<Duration>,
    /// Time between two writes to the backend. Default: `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<Duration>,
    /// Time between two reads from the backend. Default: `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Duration>,
}

/// A path-prefix route: to one service, or split by weight between several.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The path prefix, starting with `/`. It matches as text, as nginx and HAProxy
    /// do: `/api` also takes `/apiary`; write `/api/` to take only that folder.
    #[schemars(regex(pattern = ROUTE_PATTERN), example = &"/api/aqi")]
    pub path: String,
    /// The service that answers this prefix. Give `service` or `split`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub service: Option<String>,
    /// Weighted split between services, for a canary or a blue-green switch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 2, max = 10))]
    pub split: Vec<WeightedService>,
}

/// One side of a weighted split.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedService {
    /// The service.
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub service: String,
    /// Its share of the traffic, relative to the others (e.g. 90 and 10).
    #[schemars(range(min = 0, max = 1000))]
    pub weight: u32,
}

/// One of the application's processes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// What the process does: serves HTTP, works a queue, runs a schedule, holds
    /// WebSocket connections or serves static files.
    pub kind: ServiceKind,
    /// What the service is, for people reading the blueprint.
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
    /// The command and its arguments, overriding the image's.
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
    /// Datastores the service connects to; their connection settings are injected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = NAME_PATTERN)))]
    pub uses: Vec<String>,
    /// How the balancer spreads requests over the service's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    /// The queue a worker consumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Queue>,
    /// How many instances run: a fixed count, or a range with autoscaling targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Scaling>,
}

impl Service {
    /// How many instances run on a platform without an autoscaler (compose, hosts):
    /// the fixed count, or the autoscaler's minimum but at least one; a scheduler
    /// always runs exactly one.
    pub fn fixed_instances(&self) -> u32 {
        if self.kind == ServiceKind::Scheduler {
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
}

impl ServiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Http => "http",
            ServiceKind::Worker => "worker",
            ServiceKind::Scheduler => "scheduler",
            ServiceKind::Websocket => "websocket",
            ServiceKind::Static => "static",
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
    /// HTTP path answered with 2xx when healthy. Give `path` or `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = HEALTH_PATH_PATTERN), example = &"/health")]
    pub path: Option<String>,
    /// Command that exits 0 when healthy.
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

/// CPU and memory for one instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
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
            "description": "The variable's value. Numbers and booleans are passed as text."
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
    /// Failed attempts within `fail_timeout` before an instance is taken out. Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_fails: Option<u32>,
    /// The window for `max_fails`, and how long a failed instance stays out. Default: `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_timeout: Option<Duration>,
    /// Keep a client on one instance: `none`, `client_ip`, `header:NAME` or
    /// `cookie[:NAME]`. Default: `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = STICKY_PATTERN), example = &"header:X-Device-Id")]
    pub sticky: Option<String>,
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

/// A database, cache or message broker.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "engine", rename_all = "snake_case")]
pub enum Datastore {
    /// PostgreSQL, with optional streaming replicas and a PgBouncer pool.
    Postgres(Postgres),
    /// Redis, standalone or as a Redis Cluster.
    Redis(Redis),
    /// RabbitMQ, as a message broker.
    Rabbitmq(Rabbitmq),
}

impl Datastore {
    pub fn engine(&self) -> &'static str {
        match self {
            Datastore::Postgres(_) => "postgres",
            Datastore::Redis(_) => "redis",
            Datastore::Rabbitmq(_) => "rabbitmq",
        }
    }

    pub fn tier(&self) -> Option<&str> {
        match self {
            Datastore::Postgres(p) => p.tier.as_deref(),
            Datastore::Redis(r) => r.tier.as_deref(),
            Datastore::Rabbitmq(r) => r.tier.as_deref(),
        }
    }

    pub fn resources(&self) -> Option<&Resources> {
        match self {
            Datastore::Postgres(p) => p.resources.as_ref(),
            Datastore::Redis(r) => r.resources.as_ref(),
            Datastore::Rabbitmq(r) => r.resources.as_ref(),
        }
    }

    /// Whether the datastore can broker a queue.
    pub fn is_broker(&self) -> bool {
        matches!(self, Datastore::Redis(_) | Datastore::Rabbitmq(_))
    }
}

/// A datastore version: `"15"`, `"7.2"` (a number is read as text).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Version(pub String);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
            Float(f64),
        }
        Ok(Version(match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
        }))
    }
}

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "number"],
            "pattern": VERSION_PATTERN,
            "description": "The major (or major.minor) version of the server image, like `\"15\"` or `\"7.2\"`.",
            "examples": ["16", "7.2"]
        })
    }
}

/// PostgreSQL.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    /// The PostgreSQL major version. Default: `"16"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// The tier the database servers run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub tier: Option<String>,
    /// The application database's name.
    #[schemars(regex(pattern = SQL_IDENT_PATTERN), example = &"bet_intel")]
    pub database: String,
    /// The application role's name. Default: the database name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SQL_IDENT_PATTERN))]
    pub user: Option<String>,
    /// CPU and memory of each server; they drive the memory settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Streaming read replicas. Default: 0.
    #[serde(default)]
    #[schemars(range(min = 0, max = 15))]
    pub replicas: u32,
    /// `async` (the primary does not wait) or `sync` (a commit waits for one replica).
    /// Default: `async`.
    #[serde(default)]
    pub replication: Replication,
    /// Most client connections the server accepts. Default: 100.
    #[serde(default = "default_max_connections")]
    #[schemars(range(min = 10, max = 10000))]
    pub max_connections: u32,
    /// A connection pooler in front of the primary (and replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooler: Option<Pooler>,
}

fn default_max_connections() -> u32 {
    100
}

/// Streaming replication mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Replication {
    /// The primary commits without waiting for replicas.
    #[default]
    Async,
    /// A commit waits until one replica has it.
    Sync,
}

/// A PgBouncer connection pool.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pooler {
    /// The pooler. Only `pgbouncer`.
    pub engine: PoolerEngine,
    /// When a server connection returns to the pool: after each `transaction`
    /// (default), `session` or `statement`.
    #[serde(default)]
    pub pool_mode: PoolMode,
    /// Most client connections PgBouncer accepts. Default: 500.
    #[serde(default = "default_max_client_conn")]
    #[schemars(range(min = 1, max = 100000))]
    pub max_client_conn: u32,
    /// Server connections per database and user. Default: 20.
    #[serde(default = "default_pool_size")]
    #[schemars(range(min = 1, max = 10000))]
    pub default_pool_size: u32,
    /// Extra server connections allowed when the pool is exhausted. Default: 0.
    #[serde(default)]
    #[schemars(range(max = 10000))]
    pub reserve_pool_size: u32,
}

fn default_max_client_conn() -> u32 {
    500
}

fn default_pool_size() -> u32 {
    20
}

/// A connection pooler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolerEngine {
    /// PgBouncer.
    Pgbouncer,
}

/// PgBouncer pool mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// A server connection per client connection.
    Session,
    /// A server connection per transaction.
    #[default]
    Transaction,
    /// A server connection per statement (no multi-statement transactions).
    Statement,
}

/// Redis.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    /// The Redis major version. Default: `"7"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// The tier the Redis servers run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub tier: Option<String>,
    /// `standalone` (one server) or `cluster` (a Redis Cluster). Default: `standalone`.
    #[serde(default)]
    pub mode: RedisMode,
    /// The cluster's shape; required when `mode` is `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterShape>,
    /// `cache` (evicts least recently used keys when full) or `broker` (never evicts:
    /// a queue must not lose messages). Default: `cache`, or `broker` when a service's
    /// queue uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RedisRole>,
    /// Memory (and CPU) per node; `maxmemory` is computed from the memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Share of the memory limit Redis may fill with data. Default: 80.
    #[serde(default = "default_maxmemory_percent")]
    #[schemars(range(min = 1, max = 100))]
    pub maxmemory_percent: u32,
}

fn default_maxmemory_percent() -> u32 {
    80
}

/// How Redis runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedisMode {
    /// One server.
    #[default]
    Standalone,
    /// A Redis Cluster of masters and their replicas.
    Cluster,
}

/// What Redis is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedisRole {
    /// A cache: evict least recently used keys when full.
    Cache,
    /// A message broker: never evict.
    Broker,
}

/// The shape of a Redis Cluster.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterShape {
    /// Master nodes (hash slots are spread over them). At least 3.
    #[schemars(range(min = 1, max = 100))]
    pub masters: u32,
    /// Replicas of each master. Default: 1.
    #[serde(default = "default_replicas_per_master")]
    #[schemars(range(min = 0, max = 5))]
    pub replicas_per_master: u32,
}

fn default_replicas_per_master() -> u32 {
    1
}

/// RabbitMQ.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rabbitmq {
    /// The RabbitMQ version. Default: `"3.13"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// The tier the broker runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub tier: Option<String>,
    /// CPU and memory of the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// A stage the application grows through.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// The phase's name; also its output folder.
    #[schemars(regex(pattern = NAME_PATTERN), example = &"horizontal")]
    pub name: String,
    /// What the phase is for, and the load it carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TEXT_PATTERN))]
    pub description: Option<String>,
    /// Signals that it is time to enter this phase, as text for people.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = LINE_PATTERN)), example = &["cpu > 70% for 5m", "memory > 80% for 5m"])]
    pub enter_when: Vec<String>,
    /// Platforms rendered for this phase. Default: the blueprint's `targets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub targets: Option<Vec<Platform>>,
    /// Changes from the previous phase, as a JSON merge patch (RFC 7386) of the
    /// blueprint: mappings merge, other values replace, `null` removes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PatchRef")]
    pub patch: Option<serde_json::Value>,
}

/// Stands for the patch schema in [`Phase::patch`]; the schema module fills it in.
struct PatchRef;

impl JsonSchema for PatchRef {
    fn schema_name() -> Cow<'static, str> {
        "BlueprintPatch".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Replaced by `schema::blueprint_schema` with the patch form of the blueprint.
        json_schema!({ "type": "object" })
    }
}
