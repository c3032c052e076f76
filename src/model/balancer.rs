//! The load balancer: the proxy, its limits and timeouts, and its routes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    CIDR_PATTERN, FILE_PATH_PATTERN, NAME_PATTERN, RATE_KEY_PATTERN, ROUTE_PATTERN,
    SECRET_NAME_PATTERN,
};
use crate::model::units::Duration;

/// Most attempts for one request over a pool's instances.
pub const MAX_TRIES: u32 = 3;

/// Where the balancer answers its own health (`health_path`) over plain HTTP when
/// `proxy_protocol` is on (its main listeners then expect a PROXY header first), on
/// every platform.
pub const PROXY_HEALTH_PORT: u16 = 8081;

/// Where the balancer answers its own health when the blueprint gives no `health_path`.
pub const DEFAULT_HEALTH_PATH: &str = "/health";

/// The load balancer in front of the HTTP and WebSocket services.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Balancer {
    /// Which proxy to configure.
    pub engine: BalancerEngine,
    /// The version of the engine: nginx `"1.30"`; HAProxy `"3.0"` or `"2.6"`. Default:
    /// the engine's newest supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<super::BalancerVersion>,
    /// The tier the balancer runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub tier: Option<String>,
    /// The port clients connect to. Default: 80.
    #[serde(default = "default_listen")]
    #[schemars(range(min = 1, max = 65535))]
    pub listen: u32,
    /// The path at which the balancer answers for its own health (200, unlogged), for
    /// whatever watches it: compose's healthcheck, the Kubernetes probes of its pods, a
    /// load balancer or monitor in front. That exact path never reaches a route (a route
    /// with that path gets a warning; an error when `health_path` is given): to pass
    /// `/health` through to a service (`{ path: /health, service: api }`), move the
    /// balancer's own elsewhere, e.g. `/lb-health`. Default: `/health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ROUTE_PATTERN), example = &"/lb-health")]
    pub health_path: Option<String>,
    /// HTTPS at the balancer: it terminates TLS with a certificate you provide and
    /// answers plain HTTP on `listen` with a redirect to HTTPS. Default: none (plain
    /// HTTP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// Requests per second allowed per client, with a burst; requests past the limit get
    /// HTTP 429. Both engines apply it as the same token bucket (see `RateLimit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The networks of the proxies in front of this balancer (a cloud load balancer, a
    /// CDN), in CIDR notation. A request from one of them is taken to come from the last
    /// address of `X-Forwarded-For` that is not one of them (a chain of trusted proxies is
    /// walked back: any length on nginx, 4 on HAProxy), so per-client limits,
    /// stickiness and the backends see the real client, and its `X-Forwarded-Proto`
    /// (`http` or `https`) is kept. From any other address, both headers are replaced.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(regex(pattern = CIDR_PATTERN)), example = &["10.0.0.0/8"])]
    pub trusted_proxies: Vec<String>,
    /// The trusted proxies speak the PROXY protocol (v1 or v2: a layer-4 load balancer
    /// such as an AWS NLB or HAProxy in TCP mode): each connection from one of them
    /// starts with a PROXY header naming the client, which is taken as the client's
    /// address; their `X-Forwarded-*` headers then count for nothing, like anyone's. A
    /// connection from another address is its own client (nginx needs a PROXY header on
    /// every connection, and believes none from there; HAProxy takes it without one). The
    /// balancer's own health (`health_path`) moves to a plain HTTP listener of its own on
    /// port 8081, for probes and health checks that do not speak the protocol. Needs
    /// `trusted_proxies`. Default: false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proxy_protocol: bool,
    /// The largest request body the balancer accepts; a larger one gets 413. nginx
    /// counts the bytes as they come; HAProxy checks the declared `Content-Length`, so a
    /// chunked upload passes it (the backend must hold its own limit). Default: `10Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_size: Option<crate::model::units::Quantity>,
    /// Timeouts towards the backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
    /// Path-prefix routes to services. The longest matching prefix wins. At most 1,000.
    #[schemars(length(min = 1, max = crate::model::limits::MAX_ROUTES))]
    pub routes: Vec<Route>,
}

fn default_listen() -> u32 {
    80
}

impl Balancer {
    /// Where the balancer answers its own health: `health_path`, or
    /// [`DEFAULT_HEALTH_PATH`].
    pub fn health_path_or_default(&self) -> &str {
        self.health_path.as_deref().unwrap_or(DEFAULT_HEALTH_PATH)
    }
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

impl BalancerEngine {
    /// Its name in a blueprint (`engine: haproxy`).
    pub fn as_str(self) -> &'static str {
        match self {
            BalancerEngine::Nginx => "nginx",
            BalancerEngine::Haproxy => "haproxy",
        }
    }
}

/// A request rate limit per client, as a token bucket: a client may send `burst` + 1
/// requests at once, and then `requests_per_second` a second for as long as it likes;
/// what comes faster gets 429, and counts for nothing (a client above the limit still
/// gets the rate through). nginx and HAProxy apply it alike.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second allowed per key. Give this or
    /// `requests_per_minute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub requests_per_second: Option<u32>,
    /// Sustained requests per minute allowed per key, for slow limits (a login form, a
    /// device that reports every few seconds). Give this or `requests_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 60000000))]
    pub requests_per_minute: Option<u32>,
    /// Requests a client may send at once on top of the first, before the rate applies.
    /// A browser opens 6 connections at once, so below 5 the limit turns away ordinary
    /// page loads (a warning says so). Default: one second's worth of the rate, at
    /// least 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 1000000))]
    pub burst: Option<u32>,
    /// What identifies a client: `client_ip`, or `header:NAME` for a request header
    /// such as `header:X-Device-Id`. Default: `client_ip`.
    #[serde(default = "default_rate_key")]
    #[schemars(regex(pattern = RATE_KEY_PATTERN), example = &"header:X-Device-Id")]
    pub key: String,
}

/// The smallest default `burst`: a browser's 6 parallel connections fit, with room.
pub const DEFAULT_MIN_BURST: u32 = 10;

/// The longest a rate limit's bucket may take to drain ((burst + 1) requests at the
/// rate): HAProxy keeps a client's due time on a clock that wraps every 35 minutes.
pub const MAX_BUCKET_SECONDS: u64 = 15 * 60;

/// The largest request body by default, as nginx has long shipped it.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 << 20;

impl RateLimit {
    /// The rate, and whether it is per minute (else per second); `None` when the limit
    /// gives neither or both (validation refuses it).
    pub fn rate(&self) -> Option<(u32, bool)> {
        match (self.requests_per_second, self.requests_per_minute) {
            (Some(r), None) => Some((r, false)),
            (None, Some(r)) => Some((r, true)),
            _ => None,
        }
    }

    /// The burst, defaulted: one second's worth of the rate, at least
    /// [`DEFAULT_MIN_BURST`].
    pub fn burst_or_default(&self) -> u32 {
        let per_second = match self.rate() {
            Some((r, false)) => r,
            Some((r, true)) => r.div_ceil(60),
            None => 0,
        };
        self.burst.unwrap_or(per_second.max(DEFAULT_MIN_BURST))
    }

    /// One request's share of the bucket, in microseconds (1 s or 1 min / rate).
    pub fn interval_us(&self) -> u64 {
        match self.rate() {
            Some((r, per_minute)) => {
                let period: u64 = if per_minute { 60_000_000 } else { 1_000_000 };
                (period / u64::from(r.max(1))).max(1)
            }
            None => 1,
        }
    }
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
    /// A limit of this route's own, applied on top of the balancer's: e.g. a login path
    /// stricter than the rest (`{ requests_per_minute: 10, burst: 5 }`). Each client has
    /// a bucket per limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The largest request body this route accepts, instead of the balancer's
    /// `max_body_size` (e.g. `200Mi` for an upload path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_size: Option<crate::model::units::Quantity>,
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

/// TLS termination at the balancer (Mozilla's "intermediate" profile: TLS 1.2 and 1.3,
/// HTTP/2 where the engine offers it).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The certificate and its key, by reference: tierform never writes or reads them.
    pub certificate: Certificate,
    /// The HTTPS port clients connect to. Default: 443.
    #[serde(default = "default_tls_listen")]
    #[schemars(range(min = 1, max = 65535))]
    pub listen: u32,
    /// Whether plain HTTP on `balancer.listen` answers every request with a 308
    /// redirect to the same URL over HTTPS (the balancer's own health, `health_path`,
    /// still answers on plain HTTP). `false` serves the routes on both ports. Default:
    /// true.
    #[serde(default = "default_true")]
    pub redirect_http: bool,
    /// The Strict-Transport-Security header on HTTPS answers: browsers then use HTTPS
    /// only for `max_age`. `false` sends none. Default: a year, this host only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts: Option<HstsSetting>,
}

fn default_tls_listen() -> u32 {
    443
}

fn default_true() -> bool {
    true
}

/// Where the certificate comes from on each platform. Give `file` and `key_file` for
/// `compose` and `hosts`, `secret` for `kubernetes`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// compose and hosts: the certificate file (PEM, the full chain) on the machine that
    /// runs the balancer, an absolute path. It is mounted read-only into the balancer's
    /// container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = FILE_PATH_PATTERN), example = &"/etc/ssl/example.com/fullchain.pem")]
    pub file: Option<String>,
    /// compose and hosts: the certificate's private key file (PEM) on that machine, an
    /// absolute path; mounted read-only like `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = FILE_PATH_PATTERN), example = &"/etc/ssl/example.com/privkey.pem")]
    pub key_file: Option<String>,
    /// kubernetes: the name of an existing Secret of type `kubernetes.io/tls` (keys
    /// `tls.crt` and `tls.key`) in the bundle's namespace, e.g. one cert-manager keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SECRET_NAME_PATTERN), example = &"example-com-tls")]
    pub secret: Option<String>,
}

/// `hsts: false`, `hsts: true` (the defaults), or the header's settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HstsSetting {
    /// `false`: no Strict-Transport-Security header; `true`: the defaults.
    Enabled(bool),
    /// The header's settings.
    Policy(Hsts),
}

/// The Strict-Transport-Security header.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    /// How long browsers remember to use HTTPS only, up to two years. Default: `365d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Duration>,
    /// Whether every subdomain is HTTPS-only too (`includeSubDomains`): set it only
    /// when all of them serve HTTPS. Default: false.
    #[serde(default)]
    pub include_subdomains: bool,
}
