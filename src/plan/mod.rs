//! Resolution: one validated phase of a blueprint → a [`Plan`].
//!
//! A plan is fully resolved: no optional settings are left for a target to default,
//! every count is concrete, durations are milliseconds, quantities are millicores and
//! bytes, and every address a config needs is computed here, per platform. Targets read
//! the plan and nothing else, so two targets can never disagree on a default.

use std::collections::BTreeMap;

pub mod apm;
mod balancer;
mod datastores;
mod health;
mod jobs;
pub mod placement;
mod platforms;
pub mod pools;
pub mod scrape;
mod services;
pub mod standby;
pub mod watch;

use balancer::balancer_plan;
pub use balancer::{TlsPlan, TLS_DIR};
pub use health::{Probe, Rollout, ServerHealth, Surge, RABBITMQ_QUORUM_WAIT_S};
pub use jobs::{JobPlan, JobWaitPlan, JOB_WAITER};
pub use platforms::stop_grace_ms;
use services::service_plan;
pub use watch::{AlertPlan, MetricsPlan, Move, WatchPlan};

pub use datastores::patroni::servers as patroni_servers;
pub use datastores::{
    BackupPlan, BackupRepo, DatastoreNode, DatastorePlan, EnginePlan, EnvPart, EnvValue, EnvVar,
    ManagedPlan, NodeRole, PatroniObjects, PatroniPlan, PoolerObjects, PoolerPlan, PostgresPlan,
    RabbitmqPlan, RedisPlan, Spread, StandbyLink,
};

use serde::Serialize;

use crate::check::validate::ResolvedPhase;
use crate::model::units::Quantity;
use crate::model::{
    Algorithm, Balancer, BalancerEngine, Blueprint, Condition, Gpu, GpuVendor, Platform, Resources,
    RetryOn, Service, ServiceKind, Taint,
};

/// The port nginx and HAProxy listen on inside a container: above 1024, so the
/// balancer runs unprivileged; the published port is the blueprint's `listen`.
pub const CONTAINER_LISTEN_PORT: u16 = 8080;
/// The port nginx and HAProxy serve HTTPS on inside a container (`balancer.tls`); the
/// published port is `balancer.tls.listen`.
pub const CONTAINER_TLS_PORT: u16 = 8443;
/// The cluster's DNS Service on Kubernetes (`kube-dns`, the name CoreDNS keeps in
/// kubeadm, EKS, GKE, AKS and k3s clusters), which nginx asks for the pods behind a
/// headless Service.
pub const CLUSTER_DNS: &str = "kube-dns.kube-system.svc.cluster.local";
/// Where HAProxy's stats page listens, always on the loopback interface.
pub const STATS_PORT: u16 = 8404;
/// The cookie hashed by `sticky: cookie` without a name.
pub const DEFAULT_STICKY_COOKIE: &str = "session";
/// Idle time allowed on an upgraded (WebSocket) connection.
pub const TUNNEL_TIMEOUT_MS: u64 = 3_600_000;
pub use crate::model::MAX_TRIES;
/// The user an application container runs as where the platform sets one (images' own
/// users vary; this one is numeric and not root).
pub const APP_UID: u32 = 10001;
/// The request of a container whose blueprint gives none, where the platform needs
/// one (Kubernetes): 100m CPU and 128Mi memory.
pub const DEFAULT_CPU_REQUEST_MILLIS: u64 = 100;
pub const DEFAULT_MEMORY_REQUEST_BYTES: u64 = 128 * 1024 * 1024;
/// The namespace of the Prometheus that scrapes a Kubernetes bundle's pods (the one
/// kube-prometheus-stack and prometheus-operator's quick start create): the only
/// namespace its NetworkPolicies let in to a metrics port.
pub const MONITORING_NAMESPACE: &str = "monitoring";
/// Instances of the balancer behind its one address, on a platform that runs copies
/// of it (Kubernetes).
pub const BALANCER_REPLICAS: u32 = 2;

/// One phase of a blueprint, fully resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The blueprint's name.
    pub blueprint: String,
    /// The phase's name.
    pub phase: String,
    pub description: Option<String>,
    pub enter_when: Vec<Condition>,
    /// What the phase watches for: when to move on, and when it is more than needed.
    pub watch: WatchPlan,
    /// What a Prometheus scrapes, per platform: the one tierform runs beside the stack
    /// (compose), the monitoring namespace's through PodMonitors (Kubernetes).
    pub scrape: BTreeMap<Platform, scrape::ScrapePlan>,
    /// The platforms this phase is rendered for, in a fixed order.
    pub platforms: Vec<Platform>,
    /// The Kubernetes namespace (the blueprint's name).
    pub namespace: String,
    pub tiers: BTreeMap<String, TierPlan>,
    pub services: BTreeMap<String, ServicePlan>,
    pub datastores: BTreeMap<String, DatastorePlan>,
    /// The datastores a provider runs (`managed`): no server, only their address.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub managed: BTreeMap<String, ManagedPlan>,
    pub balancer: Option<BalancerPlan>,
    /// The standby region (`standby`, rendered on `hosts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<Box<standby::StandbyPlan>>,
    /// In a standby region's own plan, the region's name: its PostgreSQL servers
    /// stream from the phase's, and everything else waits for promotion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby_region: Option<standby::StandbyRegion>,
    /// A vendor's APM (`monitoring.apm`): the traced services' variables, the Datadog
    /// Agent of compose and hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apm: Option<apm::ApmPlan>,
}

impl Plan {
    /// The node pool of a tier (that of a service, a datastore or the balancer), if it
    /// names one that has a pool.
    pub fn node_pool(&self, tier: Option<&str>) -> Option<&NodePoolPlan> {
        self.tiers.get(tier?)?.pool.as_ref()
    }

    /// The vendors of the GPUs its services take.
    pub fn gpu_vendors(&self) -> std::collections::BTreeSet<GpuVendor> {
        self.services
            .values()
            .filter_map(|s| s.resources.gpu.map(|g| g.vendor))
            .collect()
    }

    /// What a service that uses datastore `store` is given on `platform`: its
    /// connection variables, whether tierform runs it or a provider does.
    pub fn connection(&self, store: &str, platform: Platform) -> &[EnvVar] {
        match (self.datastores.get(store), self.managed.get(store)) {
            (Some(d), _) => d.connection.get(&platform).map_or(&[], Vec::as_slice),
            (None, Some(m)) => &m.connection,
            (None, None) => &[],
        }
    }

    /// The connection URL of datastore `store` on `platform`, run here or by a provider.
    pub fn url(&self, store: &str, platform: Platform) -> Option<&EnvValue> {
        match (self.datastores.get(store), self.managed.get(store)) {
            (Some(d), _) => d.url.get(&platform),
            (None, Some(m)) => m.url.as_ref(),
            (None, None) => None,
        }
    }

    /// The password secret a service needs to use datastore `store`.
    pub fn app_secret(&self, store: &str) -> Option<&str> {
        match (self.datastores.get(store), self.managed.get(store)) {
            (Some(d), _) => Some(d.engine.app_secret()),
            (None, Some(m)) => m.secrets.first().map(String::as_str),
            (None, None) => None,
        }
    }

    /// Each datastore password that goes into a connection URL (`urls`) as it is, with
    /// the URL variables that hold it: the deployer must give it URL-safe (letters,
    /// digits, `-._~`), or the URL breaks.
    pub fn url_passwords(&self) -> BTreeMap<String, std::collections::BTreeSet<String>> {
        let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for s in self.services.values() {
            for (var, store) in &s.urls {
                if let Some(secret) = self.app_secret(store) {
                    out.entry(secret.to_string())
                        .or_default()
                        .insert(var.clone());
                }
            }
        }
        // postgres_exporter 0.17 builds a connection string from DATA_SOURCE_PASS and
        // breaks on a quote or backslash in it.
        for e in self.scrape.values().flat_map(|s| s.exporters.values()) {
            if let Some(EnvValue::Secret(secret)) = e
                .env
                .iter()
                .find(|(k, _)| k == "DATA_SOURCE_PASS")
                .map(|(_, v)| v)
            {
                out.entry(secret.clone())
                    .or_default()
                    .insert("postgres_exporter's DATA_SOURCE_PASS".into());
            }
        }
        out
    }
}

/// The note beside a password a URL holds, for the files that ask the deployer for it.
pub fn url_safe_note(vars: &std::collections::BTreeSet<String>) -> String {
    format!(
        "goes into {} as it is: make it URL-safe (letters, digits, `-._~`)",
        vars.iter().cloned().collect::<Vec<_>>().join(", ")
    )
}

/// A tier's machines.
#[derive(Debug, Clone, Serialize)]
pub struct TierPlan {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    /// Each machine's disk, where the blueprint states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<u64>,
    /// Each machine's network bandwidth in bits per second, where the blueprint
    /// states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_bps: Option<u64>,
    /// How many machines.
    pub count: u32,
    /// Their addresses, when listed (the `hosts` platform needs them).
    pub hosts: Vec<String>,
    pub cost_per_month: Option<f64>,
    /// The GPUs each machine has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<Gpu>,
    /// The Kubernetes node pool its machines are: where the pods placed on it go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<NodePoolPlan>,
}

/// A Kubernetes node pool: the node labels a pod placed on it selects, and the taints
/// it tolerates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodePoolPlan {
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Taint>,
    /// The most nodes a cluster autoscaler may run it at (the tier's `count` the
    /// fewest), when more than `count`; `None`: a fixed pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<u32>,
}

impl NodePoolPlan {
    /// Its labels as `key=value`, in order.
    pub fn labels_text(&self) -> Vec<String> {
        self.node_selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Its labels and taints as people read them: `pool=data; dedicated=data:NoSchedule`.
    pub fn text(&self) -> String {
        let mut text = self.labels_text().join(", ");
        if !self.tolerations.is_empty() {
            let taints: Vec<String> = self.tolerations.iter().map(Taint::to_string).collect();
            text.push_str(&format!("; {}", taints.join(", ")));
        }
        text
    }
}

/// A service with every default applied.
#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub kind: ServiceKind,
    pub description: Option<String>,
    pub tier: Option<String>,
    pub image: String,
    pub command: Vec<String>,
    pub port: Option<u16>,
    pub host_port: Option<u16>,
    pub health: Option<HealthPlan>,
    pub resources: ResourcesPlan,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    pub uses: Vec<String>,
    /// Connection URLs it asks for, by variable name: the datastore whose `url` each is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub urls: BTreeMap<String, String>,
    pub queue: Option<QueuePlan>,
    /// Where its own Prometheus metrics are scraped, and its request histogram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsPlan>,
    /// The port a Prometheus scrapes it on: its `metrics` port, else its port when an
    /// autoscaler reads a per-pod metric (requests per second, connections) that a
    /// Prometheus serves to the custom-metrics adapter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_port: Option<u16>,
    pub scaling: ScalingPlan,
    /// Instances on platforms without an autoscaler (compose, hosts): the fixed count,
    /// or the autoscaler's minimum (at least 1).
    pub instances: u32,
    /// Where each instance is reached, per platform (routable services with a port).
    pub endpoints: BTreeMap<Platform, Vec<Endpoint>>,
    /// The machine of each instance on the `hosts` platform (every kind of service).
    pub machines: Vec<String>,
    /// The container name of each instance on the platforms that run one container per
    /// instance (compose, hosts): see [`placement::instance_names`].
    pub containers: Vec<String>,
    /// [`ServicePlan::resources`] with every request and limit set
    /// ([`ResourcesPlan::with_defaults`]), for platforms that reserve both (Kubernetes).
    pub reserved: ResourcesPlan,
    /// The numeric user its container runs as, where the platform sets one.
    pub run_as_user: u32,
    /// The time a stopping instance gets before it is killed, per platform where
    /// tierform sets one ([`stop_grace_ms`]).
    pub stop_grace_ms: BTreeMap<Platform, u64>,
    /// What `shutdown` asks for, resolved (`None`: the platforms' defaults, no drain).
    /// Its grace is already in [`ServicePlan::stop_grace_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<ShutdownPlan>,
    /// How new instances replace old ones where a platform rolls them out.
    pub rollout: Rollout,
    /// The GPUs each instance is given by index on its machine, per platform that
    /// runs Docker (compose, hosts), where the NVIDIA Container Toolkit would give every
    /// instance the machine's first GPUs: instances on one machine get different ones
    /// while the machine has enough.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub gpu_devices: BTreeMap<Platform, Vec<Vec<u32>>>,
    /// The jobs it waits for (`after`): each runs to completion before it starts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// A job's settings (`kind: job`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobPlan>,
    /// How its pods wait for those jobs on Kubernetes (when `after` names any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<JobWaitPlan>,
}

/// A service's `shutdown`, in whole seconds (rounded up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShutdownPlan {
    /// The time the process gets after the stop signal.
    pub grace_s: u64,
    /// The time it keeps serving first, while it is taken out of the balancer (0 for
    /// a service no balancer sends traffic).
    pub drain_s: u64,
    /// How long the Kubernetes `preStop` hook sleeps before the stop signal, while the
    /// pod's endpoint is removed from its Service: the drain, when there is one.
    /// Compose and hosts have no such step (see `Shutdown::drain`).
    pub pre_stop_sleep_s: Option<u64>,
}

/// How one instance (or, on Kubernetes, the Service in front of them) is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// A stable identifier for the instance, usable as a server name in configs.
    pub id: String,
    /// The host name or address to connect to.
    pub host: String,
    pub port: u16,
    /// The machine it runs on (the `hosts` platform), else empty.
    pub node: String,
    /// A name that resolves to one address per pod (a headless Service on Kubernetes):
    /// the most addresses it can hold, one balancer slot each, re-resolved at run
    /// time. 0: one instance.
    pub pods: u32,
}

impl Endpoint {
    /// Whether `host` is a name that needs resolving rather than an IP address.
    pub fn is_name(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_err()
    }

    /// How many instances it stands for: its pods, or one.
    pub fn addresses(&self) -> u32 {
        self.pods.max(1)
    }
}

/// A health check with its defaults applied.
#[derive(Debug, Clone, Serialize)]
pub struct HealthPlan {
    /// The HTTP path, or empty when the check is a command.
    pub path: String,
    pub command: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub failure_threshold: u32,
    /// Successful checks in a row before an instance is back in service.
    pub success_threshold: u32,
    pub start_period_ms: u64,
    /// Checks that may fail before the first success: the start period's worth of
    /// intervals plus the usual failures, so a slow start is not a failure.
    pub startup_failure_threshold: u32,
}

/// Requests and limits, in millicores and bytes; 0 means not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResourcesPlan {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub cpu_limit_millis: u64,
    pub memory_limit_bytes: u64,
    /// GPUs the instance takes for itself (its request and its limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<Gpu>,
}

impl ResourcesPlan {
    /// Requests and limits with defaults where the blueprint gives none: a request of
    /// [`DEFAULT_CPU_REQUEST_MILLIS`] and [`DEFAULT_MEMORY_REQUEST_BYTES`], a memory
    /// limit of twice the request, a CPU limit of four times the request (bursts
    /// allowed, runaway loops bounded); a limit is never below its request.
    pub fn with_defaults(&self) -> ResourcesPlan {
        let or = |v: u64, default: u64| if v > 0 { v } else { default };
        let cpu = or(self.cpu_millis, DEFAULT_CPU_REQUEST_MILLIS);
        let memory = or(self.memory_bytes, DEFAULT_MEMORY_REQUEST_BYTES);
        ResourcesPlan {
            cpu_millis: cpu,
            memory_bytes: memory,
            cpu_limit_millis: or(self.cpu_limit_millis, cpu * 4).max(cpu),
            memory_limit_bytes: or(self.memory_limit_bytes, memory * 2).max(memory),
            gpu: self.gpu,
        }
    }

    /// The memory a process may use: its limit, else its request, else 0.
    pub fn memory_ceiling(&self) -> u64 {
        if self.memory_limit_bytes > 0 {
            self.memory_limit_bytes
        } else {
            self.memory_bytes
        }
    }

    /// The CPU (millicores) a process may use: its limit, else its request, else 0.
    pub fn cpu_ceiling(&self) -> u64 {
        if self.cpu_limit_millis > 0 {
            self.cpu_limit_millis
        } else {
            self.cpu_millis
        }
    }
}

/// The queue a worker consumes.
#[derive(Debug, Clone, Serialize)]
pub struct QueuePlan {
    pub broker: String,
    pub name: String,
}

/// How many instances run.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingPlan {
    /// Whether an autoscaler owns the count (min–max with targets).
    pub autoscaled: bool,
    pub min: u32,
    pub max: u32,

    /// Whether its instances are spread over machines: it may run more than one.
    pub spread: bool,
    /// Whether a disruption budget keeps instances up while others are taken down on
    /// purpose (a node drained): two or more always run where an autoscaler owns the
    /// count (`min` when autoscaled, else the fixed count).
    pub disruption_budget: bool,
    pub cpu_percent: Option<u32>,
    pub memory_percent: Option<u32>,
    pub requests_per_second: Option<u32>,
    pub queue_depth: Option<u32>,
    pub connections: Option<u32>,
    pub scale_up: Option<BehaviorPlan>,
    pub scale_down: Option<BehaviorPlan>,
}

/// How fast an autoscaler may move in one direction.
#[derive(Debug, Clone, Serialize)]
pub struct BehaviorPlan {
    pub stabilization_ms: Option<u64>,
    pub pods: Option<u32>,
    pub percent: Option<u32>,
    pub period_ms: u64,
    /// `max`, `min` or `disabled`.
    pub select: String,
}

/// The load balancer, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct BalancerPlan {
    /// `nginx` or `haproxy`.
    pub engine: BalancerEngine,
    /// The engine's version, one of the supported table's (`model::versions`).
    pub version: String,
    /// The container image of that version.
    pub image: String,
    /// The numeric user the engine's image runs as (its own unprivileged user).
    pub run_as_user: u32,
    /// Its requests and limits, all set.
    pub resources: ResourcesPlan,
    /// Copies behind its one address, on platforms that run several
    /// ([`BALANCER_REPLICAS`]).
    pub replicas: u32,
    pub tier: Option<String>,
    /// The port clients connect to.
    pub listen: u16,
    /// Where the balancer answers its own health, exactly (`balancer.health_path`):
    /// every check of the balancer asks it, and no route gets that path.
    pub health_path: String,
    pub rate_limit: Option<RateLimitPlan>,
    /// The largest request body, in bytes (a route may have its own).
    pub max_body_bytes: u64,
    /// The proxies in front (CIDR): their `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// How many trusted hops of `X-Forwarded-For` HAProxy walks back (nginx walks any
    /// number with `real_ip_recursive`): a CDN in front of a cloud load balancer is two.
    pub trusted_hops: u32,
    /// The trusted proxies send a PROXY header: it names the client, and their
    /// `X-Forwarded-*` headers are not believed.
    pub proxy_protocol: bool,
    /// TLS termination, when the blueprint asks for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsPlan>,
    pub connect_timeout_ms: u64,
    pub send_timeout_ms: u64,
    pub read_timeout_ms: u64,
    pub tunnel_timeout_ms: u64,
    /// Routes, longest prefix first (the order a first-match router needs).
    pub routes: Vec<RoutePlan>,
    /// One pool per routed service, by service name.
    pub pools: BTreeMap<String, PoolPlan>,
    /// Where the balancer runs and listens, per platform: one node per balancer
    /// instance that gets its own config (one per host of the balancer's tier on the
    /// `hosts` platform, one elsewhere).
    pub nodes: BTreeMap<Platform, Vec<BalancerNode>>,
    /// How its copies are watched and stopped, where a platform runs copies.
    pub health: ServerHealth,
    pub rollout: Rollout,
    /// nginx workers (HAProxy threads), on the platforms that hold the balancer to its
    /// CPU limit (Kubernetes): one per whole CPU of the limit. Elsewhere nothing limits
    /// it and it runs one per core of its machine (`auto`).
    pub workers: BTreeMap<Platform, u32>,
}

impl BalancerPlan {
    /// The plain port of the balancer's own health (`health_path`) on `platform`, where
    /// its listeners expect the PROXY protocol.
    pub fn health_port(&self, platform: Platform) -> Option<u16> {
        self.nodes.get(&platform)?.first()?.health_port
    }
}

/// One balancer instance's listening address.
#[derive(Debug, Clone, Serialize)]
pub struct BalancerNode {
    /// The machine (the `hosts` platform), else empty.
    pub host: String,
    /// The address to bind, or empty for every address of the container.
    pub address: String,
    pub port: u16,
    /// The HTTPS port to bind (`balancer.tls`), on the same address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_port: Option<u16>,
    /// The plain HTTP port of the balancer's own health (`health_path`) when its
    /// listeners expect the PROXY protocol ([`crate::model::PROXY_HEALTH_PORT`]); else
    /// it is on `port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_port: Option<u16>,
    /// Where it serves its metrics (HAProxy) or `stub_status` (nginx, for its
    /// exporter), on a port no Service or published port exposes (compose,
    /// Kubernetes) or only the monitoring machine may reach (hosts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_port: Option<u16>,
    /// The address of `metrics_port`, or empty for every address of the container: on
    /// hosts, nginx's `stub_status` on the loopback address (its exporter runs beside
    /// it), HAProxy's metrics on the machine's (the monitoring machine scrapes them).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metrics_address: String,
}

/// A request rate limit per client.
#[derive(Debug, Clone, Serialize)]
pub struct RateLimitPlan {
    /// Sustained requests per second, or per minute with `per_minute`.
    pub rate: u32,
    pub per_minute: bool,
    /// Requests a client may send at once on top of the first (defaulted).
    pub burst: u32,
    /// The request header identifying a client, or empty for the client's IP address.
    pub header: String,
    /// The token bucket both engines keep per client, in microseconds: one request
    /// every `interval_us` (the period / rate), and a client's next due time at most
    /// `bucket_us` ahead of now ((burst + 1) × interval) before it gets 429.
    pub interval_us: u64,
    pub bucket_us: u64,
    /// How long HAProxy keeps an idle client's bucket: longer than a full bucket takes
    /// to drain, so forgetting a client never hands it a fresh burst early.
    pub expire_ms: u64,
}

impl RateLimitPlan {
    /// The plan of a limit (validation has checked it gives one rate).
    pub fn new(limit: &crate::model::RateLimit) -> RateLimitPlan {
        let (rate, per_minute) = limit.rate().unwrap_or((1, false));
        let burst = limit.burst_or_default();
        let interval_us = limit.interval_us();
        let bucket_us = (u64::from(burst) + 1) * interval_us;
        RateLimitPlan {
            rate,
            per_minute,
            burst,
            header: limit
                .key
                .strip_prefix("header:")
                .unwrap_or_default()
                .to_string(),
            interval_us,
            bucket_us,
            expire_ms: (bucket_us / 1000 + 1000).max(10_000),
        }
    }

    /// As people write it: `10/s`, `50/min`.
    pub fn rate_text(&self) -> String {
        format!(
            "{}/{}",
            self.rate,
            if self.per_minute { "min" } else { "s" }
        )
    }
}

/// A path prefix and where it goes.
#[derive(Debug, Clone, Serialize)]
pub struct RoutePlan {
    pub path: String,
    /// A name for the route, unique in the plan, usable as an identifier.
    pub id: String,
    /// One entry for a plain route; several for a weighted split.
    pub backends: Vec<WeightedPool>,
    /// Whether any pool behind the route holds WebSocket connections.
    pub websocket: bool,
    /// The first sticky pool behind the route: a split draws on its key, so a sticky
    /// client stays on one side of the split. None: each request draws anew.
    pub sticky_pool: Option<String>,
    /// Attempts per request over different instances (the first included), per
    /// platform: the most any pool behind the route allows.
    pub tries: BTreeMap<Platform, u32>,
    /// The time all attempts together may take, per platform: one connect timeout per
    /// attempt.
    pub next_upstream_timeout_ms: BTreeMap<Platform, u64>,
    /// The route's own limit, applied on top of the balancer's.
    pub rate_limit: Option<RateLimitPlan>,
    /// The route's own largest body, when it differs from the balancer's.
    pub max_body_bytes: Option<u64>,
    /// What nginx retries a request on (`proxy_next_upstream`), whichever pool takes
    /// it: what every pool behind the route retries on, in [`RetryOn`]'s order; empty:
    /// nothing.
    pub retry_on: Vec<RetryOn>,
    /// The route to its services' own health check (its path, never `/`, is the
    /// `health.path` of every service behind it, as a monitor polls it through the
    /// balancer): requests for exactly that path are not logged.
    pub quiet: bool,
}

/// A pool and its share of a route's traffic.
#[derive(Debug, Clone, Serialize)]
pub struct WeightedPool {
    pub pool: String,
    pub weight: u32,
    /// The share in hundredths of a percent (weights normalized to 10000), so configs
    /// that take percentages get an exact, deterministic split.
    pub basis_points: u32,
}

/// The instances of one routed service, as the balancer sees them.
#[derive(Debug, Clone, Serialize)]
pub struct PoolPlan {
    pub service: String,
    pub kind: ServiceKind,
    /// `round_robin`, `least_conn` or `hash`.
    pub algorithm: String,
    /// What a `hash` pool hashes.
    pub sticky: Sticky,
    /// Failures before an instance is taken out for `fail_timeout_ms`; 0: never (nginx's
    /// default, which then only steps past a failing instance).
    pub max_fails: u32,
    pub fail_timeout_ms: u64,
    /// Idle keep-alive connections each balancer worker keeps to the pool.
    pub keepalive: u32,
    /// The HTTP path the balancer probes, or empty for a TCP check.
    pub health_path: String,
    pub health_interval_ms: u64,
    pub health_timeout_ms: u64,
    pub health_fall: u32,
    pub health_rise: u32,
    /// Attempts per request (the first included) over different instances, per
    /// platform: one per instance the platform addresses, 1 to [`MAX_TRIES`].
    pub tries: BTreeMap<Platform, u32>,
    /// What a request is tried again on, in [`RetryOn`]'s order: the service's
    /// `retry_on`, or [`RetryOn::DEFAULT`].
    pub retry_on: Vec<RetryOn>,
    /// HAProxy: the backend's own `retry-on` keywords, in HAProxy's order, from the
    /// service's `retry_on` and always with `empty-response`; none: the service gives no
    /// `retry_on` and the `defaults` section's hold (or the engine is nginx).
    pub haproxy_retry_on: Option<Vec<&'static str>>,
    pub servers: BTreeMap<Platform, Vec<Endpoint>>,
    /// Kubernetes: the headless Service (no virtual IP, the service's selector) whose
    /// DNS name lists every ready pod, so the balancer spreads, hashes and counts
    /// failures per pod; none: not on Kubernetes, or nginx, which goes through the
    /// service's ClusterIP Service there.
    pub pod_service: Option<String>,
}

/// What keeps a client on one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "name", rename_all = "snake_case")]
pub enum Sticky {
    None,
    ClientIp,
    Header(String),
    Cookie(String),
}

/// A phase that cannot be resolved; validation rejects these blueprints first, so this
/// is reached only through the library with an unvalidated blueprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot resolve phase `{phase}`: {message}")]
pub struct PlanError {
    pub phase: String,
    pub message: String,
}

/// Resolves one validated phase.
pub fn resolve(blueprint_name: &str, phase: &ResolvedPhase) -> Result<Plan, PlanError> {
    let bp = &phase.blueprint;
    let fail = |message: String| PlanError {
        phase: phase.name.clone(),
        message,
    };
    let mut platforms = phase.targets.clone();
    platforms.sort();
    platforms.dedup();

    let mut tiers = BTreeMap::new();
    for (name, t) in &bp.tiers {
        tiers.insert(
            name.clone(),
            TierPlan {
                cpu_millis: quantity_millis(&t.machine.cpu).map_err(&fail)?,
                memory_bytes: quantity_bytes(&t.machine.memory).map_err(&fail)?,
                disk_bytes: t
                    .machine
                    .disk
                    .as_ref()
                    .map(|q| {
                        q.disk_bytes()
                            .map_err(|e| format!("`{}`: {}", q.0, e.message))
                    })
                    .transpose()
                    .map_err(&fail)?,
                network_bps: t
                    .machine
                    .network
                    .as_deref()
                    .map(|n| {
                        crate::model::units::bandwidth_bps(n)
                            .ok_or_else(|| format!("`{n}` is not a bandwidth"))
                    })
                    .transpose()
                    .map_err(&fail)?,
                count: t.machines(),
                hosts: t.hosts.clone(),
                cost_per_month: t.cost_per_month,
                gpu: t.machine.gpu,
                pool: t.pool.as_ref().map(|p| NodePoolPlan {
                    node_selector: p.labels.clone(),
                    tolerations: p.taints.clone(),
                    max_nodes: p.max_nodes.filter(|m| *m > t.machines()),
                }),
            },
        );
    }

    let layout = if crate::model::capabilities::any_has_machines(&platforms) {
        placement::hosts_layout(bp)
    } else {
        placement::HostsLayout::default()
    };
    if let Some((_, what)) = layout.unplaced.first() {
        return Err(fail(format!("the hosts platform cannot place {what}")));
    }
    if let Some((_, message)) = layout.conflicts.first() {
        return Err(fail(message.clone()));
    }

    let mut services = BTreeMap::new();
    for (name, s) in &bp.services {
        let sp = service_plan(name, s, bp, &platforms, &layout).map_err(&fail)?;
        services.insert(name.clone(), sp);
    }

    let mut datastores = BTreeMap::new();
    let mut managed = BTreeMap::new();
    for (name, d) in &bp.datastores {
        if let Some(m) = d.managed() {
            managed.insert(
                name.clone(),
                datastores::managed::plan(name, d, m, bp).map_err(&fail)?,
            );
            continue;
        }
        let dp = datastores::datastore_plan(name, d, bp, &platforms, &layout, &services)
            .map_err(&fail)?;
        datastores.insert(name.clone(), dp);
    }

    jobs::resolve_jobs(&mut services, &datastores);
    placement::assign_gpus(&mut services, &tiers, &platforms);

    let balancer = match &bp.balancer {
        None => None,
        Some(lb) => Some(
            balancer_plan(
                lb,
                bp,
                &services,
                &platforms,
                &tiers,
                layout.monitoring.as_ref(),
            )
            .map_err(&fail)?,
        ),
    };

    let watch = watch::watch_plan(
        &phase.name,
        phase.next.as_ref(),
        phase.previous.as_ref(),
        &phase.leave_when,
        &phase.objectives,
        &services,
        &datastores,
        &platforms,
        blueprint_name,
    )
    .map_err(&fail)?;
    watch_statements(&watch, &mut datastores);

    // Prometheus's budget, where the blueprint gives one.
    let budget = bp
        .monitoring
        .as_ref()
        .and_then(|m| m.resources.as_ref())
        .map(|r| resources_plan(Some(r)))
        .transpose()
        .map_err(&fail)?;
    let mut scrape = BTreeMap::new();
    if platforms.contains(&Platform::Compose) {
        scrape.insert(
            Platform::Compose,
            scrape::compose_scrape(
                &services,
                &datastores,
                balancer.as_ref(),
                scrape::notify_plan(bp.monitoring.as_ref()),
                budget.as_ref(),
            ),
        );
    }

    if let (true, Some(m)) = (
        platforms.contains(&Platform::Hosts),
        layout.monitoring.as_ref(),
    ) {
        scrape.insert(
            Platform::Hosts,
            scrape::hosts_scrape(
                &services,
                &datastores,
                balancer.as_ref(),
                scrape::notify_plan(bp.monitoring.as_ref()),
                budget.as_ref(),
                m,
            ),
        );
    }

    if platforms.contains(&Platform::Kubernetes) {
        scrape.insert(
            Platform::Kubernetes,
            scrape::kubernetes_scrape(
                &services,
                &datastores,
                balancer.as_ref(),
                bp.monitoring
                    .as_ref()
                    .map(|m| m.labels.clone())
                    .unwrap_or_default(),
            ),
        );
    }

    let apm = bp
        .monitoring
        .as_ref()
        .and_then(|m| m.apm.as_ref())
        .map(|a| apm::apm_plan(a, blueprint_name, &phase.name, &services, &platforms));
    let mut plan = Plan {
        blueprint: blueprint_name.to_string(),
        phase: phase.name.clone(),
        description: phase.description.clone(),
        enter_when: phase.enter_when.clone(),
        watch,
        scrape,
        platforms,
        namespace: blueprint_name.to_string(),
        tiers,
        services,
        datastores,
        managed,
        balancer,
        standby: None,
        standby_region: None,
        apm,
    };
    if let (Some(standby), true) = (&bp.standby, plan.platforms.contains(&Platform::Hosts)) {
        let region = standby::link(blueprint_name, phase, standby, &mut plan)?;
        plan.standby = Some(Box::new(region));
    }
    Ok(plan)
}

/// The PostgreSQL datastores whose `query_latency` an alert of the phase reads: their
/// servers load pg_stat_statements and their exporters read it. Nothing changes for
/// the others (the module costs a little on every statement).
fn watch_statements(watch: &watch::WatchPlan, datastores: &mut BTreeMap<String, DatastorePlan>) {
    let watched =
        watch.alerts.iter().flat_map(|a| &a.conditions).filter(|c| {
            c.signal == crate::model::Signal::QueryLatency && c.subject.0 == "datastore"
        });
    for c in watched {
        if let Some(EnginePlan::Postgres(pg)) =
            datastores.get_mut(&c.subject.1).map(|d| &mut d.engine)
        {
            pg.stat_statements = true;
        }
    }
}

fn quantity_millis(q: &Quantity) -> Result<u64, String> {
    q.millicores()
        .map_err(|e| format!("`{}`: {}", q.0, e.message))
}

fn quantity_bytes(q: &Quantity) -> Result<u64, String> {
    q.bytes().map_err(|e| format!("`{}`: {}", q.0, e.message))
}

fn ms(d: Option<&crate::model::units::Duration>, default: u64) -> Result<u64, String> {
    match d {
        None => Ok(default),
        Some(d) => d
            .millis()
            .ok_or_else(|| format!("`{}` is not a duration", d.0)),
    }
}

fn resources_plan(r: Option<&Resources>) -> Result<ResourcesPlan, String> {
    let Some(r) = r else {
        return Ok(ResourcesPlan::default());
    };
    let m = |q: &Option<Quantity>| q.as_ref().map(quantity_millis).transpose();
    let b = |q: &Option<Quantity>| q.as_ref().map(quantity_bytes).transpose();
    Ok(ResourcesPlan {
        cpu_millis: m(&r.cpu)?.unwrap_or(0),
        memory_bytes: b(&r.memory)?.unwrap_or(0),
        cpu_limit_millis: m(&r.cpu_limit)?.unwrap_or(0),
        memory_limit_bytes: b(&r.memory_limit)?.unwrap_or(0),
        gpu: r.gpu,
    })
}

fn port(p: u32) -> Result<u16, String> {
    u16::try_from(p)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("port {p} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_defaults_fill_only_what_is_unset() {
        const MI: u64 = 1024 * 1024;
        let none = ResourcesPlan::default().with_defaults();
        assert_eq!(
            (
                none.cpu_millis,
                none.memory_bytes,
                none.cpu_limit_millis,
                none.memory_limit_bytes
            ),
            (100, 128 * MI, 400, 256 * MI)
        );
        // A limit never falls below its request.
        let r = ResourcesPlan {
            cpu_millis: 500,
            memory_bytes: 512 * MI,
            cpu_limit_millis: 200,
            memory_limit_bytes: 0,
            gpu: None,
        }
        .with_defaults();
        assert_eq!(
            (
                r.cpu_millis,
                r.memory_bytes,
                r.cpu_limit_millis,
                r.memory_limit_bytes
            ),
            (500, 512 * MI, 500, 1024 * MI)
        );
    }

    #[test]
    fn stop_grace_is_set_where_a_platform_needs_it() {
        assert_eq!(stop_grace_ms(Platform::Compose, ServiceKind::Http), None);
        assert_eq!(
            stop_grace_ms(Platform::Hosts, ServiceKind::Worker),
            Some(60_000)
        );
        assert_eq!(
            stop_grace_ms(Platform::Kubernetes, ServiceKind::Http),
            Some(30_000)
        );
        assert_eq!(
            stop_grace_ms(Platform::Kubernetes, ServiceKind::Scheduler),
            Some(300_000)
        );
    }
}
