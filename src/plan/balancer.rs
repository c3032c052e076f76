//! The balancer's plan: routes in match order with their shares and retry budgets,
//! one pool per routed service, where the balancer listens per platform, and its TLS.

use std::collections::BTreeMap;

use super::*;

fn sticky(text: Option<&str>) -> Sticky {
    match text.unwrap_or("none") {
        "none" => Sticky::None,
        "client_ip" => Sticky::ClientIp,
        "cookie" => Sticky::Cookie(DEFAULT_STICKY_COOKIE.into()),
        other => match other.split_once(':') {
            Some(("header", h)) => Sticky::Header(h.to_string()),
            Some(("cookie", c)) => Sticky::Cookie(c.to_string()),
            _ => Sticky::None,
        },
    }
}

pub(super) fn balancer_plan(
    lb: &Balancer,
    bp: &Blueprint,
    services: &BTreeMap<String, ServicePlan>,
    platforms: &[Platform],
    tiers: &BTreeMap<String, TierPlan>,
    monitoring: Option<&super::placement::HostsMonitoring>,
) -> Result<BalancerPlan, String> {
    let connect = ms(lb.timeouts.as_ref().and_then(|t| t.connect.as_ref()), 5_000)?;
    let send = ms(lb.timeouts.as_ref().and_then(|t| t.send.as_ref()), 60_000)?;
    let read = ms(lb.timeouts.as_ref().and_then(|t| t.read.as_ref()), 60_000)?;

    let max_body_bytes =
        body_bytes(lb.max_body_size.as_ref())?.unwrap_or(crate::model::DEFAULT_MAX_BODY_BYTES);
    let mut pools = BTreeMap::new();
    let mut routes = Vec::new();
    for route in &lb.routes {
        let targets: Vec<(String, u32)> = match &route.service {
            Some(s) => vec![(s.clone(), 1)],
            None => route
                .split
                .iter()
                // A zero weight takes no traffic: the service is left out of the route.
                .filter(|w| w.weight > 0)
                .map(|w| (w.service.clone(), w.weight))
                .collect(),
        };
        let total: u64 = targets.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return Err(format!("route `{}` has no weight", route.path));
        }
        let mut backends = Vec::new();
        let mut websocket = false;
        // Largest-remainder rounding, so the shares always add up to exactly 10000.
        let mut given = 0u32;
        for (i, (svc, weight)) in targets.iter().enumerate() {
            let share = if i + 1 == targets.len() {
                10_000 - given
            } else {
                (u64::from(*weight) * 10_000 / total) as u32
            };
            given += share;
            let s = services
                .get(svc)
                .ok_or_else(|| format!("route `{}` names unknown service `{svc}`", route.path))?;
            websocket |= s.kind == ServiceKind::Websocket;
            if !pools.contains_key(svc) {
                let balance = bp.services.get(svc).and_then(|m| m.balance.as_ref());
                pools.insert(
                    svc.clone(),
                    pool_plan(s, balance, platforms, lb.engine, &bp.name)?,
                );
            }
            backends.push(WeightedPool {
                pool: svc.clone(),
                weight: *weight,
                basis_points: share,
            });
        }
        let sticky_pool = backends
            .iter()
            .find(|b| pools.get(&b.pool).is_some_and(|p| p.sticky != Sticky::None))
            .map(|b| b.pool.clone());
        let mut tries = BTreeMap::new();
        let mut next_upstream_timeout_ms = BTreeMap::new();
        for platform in platforms {
            let most = backends
                .iter()
                .filter_map(|b| pools.get(&b.pool))
                .map(|p| p.tries.get(platform).copied().unwrap_or(1))
                .max()
                .unwrap_or(1);
            tries.insert(*platform, most);
            next_upstream_timeout_ms.insert(*platform, connect * u64::from(most));
        }
        // nginx's one list for the route: what every pool behind it retries on.
        let route_pools: Vec<&PoolPlan> =
            backends.iter().filter_map(|b| pools.get(&b.pool)).collect();
        let retry_on = match route_pools.split_first() {
            Some((first, rest)) => first
                .retry_on
                .iter()
                .copied()
                .filter(|on| rest.iter().all(|p| p.retry_on.contains(on)))
                .collect(),
            None => RetryOn::DEFAULT.to_vec(),
        };
        let route_body = body_bytes(route.max_body_size.as_ref())?;
        // A route to its services' own health check (a monitor polling it through the
        // balancer): that exact path is not logged. Never `/`, a site's home page.
        let quiet = route.path != "/"
            && !route_pools.is_empty()
            && route_pools.iter().all(|p| p.health_path == route.path);
        routes.push(RoutePlan {
            path: route.path.clone(),
            id: String::new(),
            backends,
            websocket,
            sticky_pool,
            tries,
            next_upstream_timeout_ms,
            rate_limit: route.rate_limit.as_ref().map(RateLimitPlan::new),
            max_body_bytes: route_body.filter(|b| *b != max_body_bytes),
            retry_on,
            quiet,
        });
    }
    // Longest prefix first; equal lengths by path, so the order is total.
    routes.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then(a.path.cmp(&b.path)));
    for (i, r) in routes.iter_mut().enumerate() {
        r.id = format!("route{}", i + 1);
    }

    let listen = port(lb.listen)?;
    let tls = lb.tls.as_ref().map(tls_plan).transpose()?;
    let mut nodes = BTreeMap::new();
    for platform in platforms {
        let tls_listen = tls.as_ref().map(|t| t.listen);
        let list = platforms::balancer_nodes(*platform, lb, tiers, listen, tls_listen, monitoring)?;
        nodes.insert(*platform, list);
    }

    // Each engine's supported versions and its own unprivileged user (nginx 101,
    // haproxy 99); see `model::versions`.
    let (table, run_as_user) = match lb.engine {
        BalancerEngine::Nginx => (crate::model::versions::NGINX, 101),
        BalancerEngine::Haproxy => (crate::model::versions::HAPROXY, 99),
    };
    // Validation refuses a version the engine does not have.
    let supported = crate::model::versions::select(table, lb.version.as_ref().map(|v| v.as_str()))
        .ok_or_else(|| {
            format!(
                "the balancer's {} version is not supported",
                lb.engine.as_str()
            )
        })?;
    const MI: u64 = 1024 * 1024;
    let resources = ResourcesPlan {
        cpu_millis: 250,
        memory_bytes: 128 * MI,
        cpu_limit_millis: 1000,
        memory_limit_bytes: 256 * MI,
        gpu: None,
    };
    // Only Kubernetes sets the balancer's limits; `auto` would count the node's cores
    // and run that many workers in a one-CPU container.
    let workers = platforms
        .iter()
        .filter(|p| **p == Platform::Kubernetes)
        .map(|p| {
            let cpus = resources.cpu_limit_millis.div_ceil(1000).max(1);
            (*p, u32::try_from(cpus).unwrap_or(u32::MAX))
        })
        .collect();
    Ok(BalancerPlan {
        engine: lb.engine,
        version: supported.version.to_string(),
        image: supported.image.to_string(),
        run_as_user,
        resources,
        replicas: BALANCER_REPLICAS,
        tier: lb.tier.clone(),
        listen,
        health_path: lb.health_path_or_default().to_string(),
        rate_limit: lb.rate_limit.as_ref().map(RateLimitPlan::new),
        max_body_bytes,
        trusted_proxies: lb.trusted_proxies.clone(),
        trusted_hops: if lb.trusted_proxies.is_empty() || lb.proxy_protocol {
            0
        } else {
            TRUSTED_HOPS
        },
        proxy_protocol: lb.proxy_protocol,
        tls,
        connect_timeout_ms: connect,
        send_timeout_ms: send,
        read_timeout_ms: read,
        tunnel_timeout_ms: TUNNEL_TIMEOUT_MS.max(read),
        routes,
        pools,
        nodes,
        health: super::health::balancer(),
        rollout: super::health::balancer_rollout(),
        workers,
    })
}

/// The chain of trusted proxies HAProxy walks back through `X-Forwarded-For`, one
/// `set-src` each: more than any real edge stacks (CDN, cloud load balancer, ingress).
const TRUSTED_HOPS: u32 = 4;

/// A body size in bytes (validation has checked it).
fn body_bytes(size: Option<&crate::model::units::Quantity>) -> Result<Option<u64>, String> {
    size.map(|q| q.size_bytes().map_err(|e| format!("max_body_size: {e:?}")))
        .transpose()
}

/// Failed connections in a row before HAProxy takes an instance out, by default (its
/// health checks take a dead one out sooner). nginx has no default: it would count
/// every failed attempt, a crashing request once on each instance it is retried on,
/// so any finite number of such requests would empty the pool; without `max_fails` it
/// takes nothing out and steps past a dead instance to the next (`0` below).
const DEFAULT_MAX_FAILS: u32 = 10;

/// Builds the pool of a routed service from its blueprint settings.
fn pool_plan(
    s: &ServicePlan,
    balance: Option<&crate::model::Balance>,
    platforms: &[Platform],
    engine: BalancerEngine,
    blueprint: &str,
) -> Result<PoolPlan, String> {
    let sticky = sticky(balance.and_then(|b| b.sticky.as_deref()));
    let algorithm = match (balance.and_then(|b| b.algorithm), &sticky) {
        (_, Sticky::ClientIp | Sticky::Header(_) | Sticky::Cookie(_)) => "hash",
        (Some(Algorithm::LeastConn), _) => "least_conn",
        (Some(Algorithm::Hash), _) => "hash",
        _ => "round_robin",
    };
    let health = s.health.as_ref();
    let hashed = sticky != Sticky::None;
    let (servers, pod_service) = platforms::pool_servers(s, engine, hashed, blueprint);
    let mut tries = BTreeMap::new();
    for platform in platforms {
        // Each instance the pool reaches: a name resolved per pod counts each pod.
        let addresses: u32 = servers
            .get(platform)
            .map_or(0, |list| list.iter().map(|e| e.pods.max(1)).sum());
        tries.insert(*platform, addresses.clamp(1, MAX_TRIES));
    }
    let retry_on = crate::model::Balance::retry_on_or_default(balance);
    let haproxy_retry_on = match engine {
        BalancerEngine::Haproxy if balance.is_some_and(|b| b.retry_on.is_some()) => {
            Some(haproxy_retry_on(&retry_on))
        }
        _ => None,
    };
    Ok(PoolPlan {
        service: s.name.clone(),
        kind: s.kind,
        algorithm: algorithm.to_string(),
        sticky,
        max_fails: balance.and_then(|b| b.max_fails).unwrap_or(match engine {
            BalancerEngine::Nginx => 0,
            BalancerEngine::Haproxy => DEFAULT_MAX_FAILS,
        }),
        fail_timeout_ms: ms(balance.and_then(|b| b.fail_timeout.as_ref()), 10_000)?,
        keepalive: 32,
        health_path: health.map(|h| h.path.clone()).unwrap_or_default(),
        health_interval_ms: health.map_or(5_000, |h| h.interval_ms),
        health_timeout_ms: health.map_or(3_000, |h| h.timeout_ms),
        health_fall: health.map_or(3, |h| h.failure_threshold),
        health_rise: health.map_or(2, |h| h.success_threshold),
        tries,
        retry_on,
        haproxy_retry_on,
        servers,
        pod_service,
    })
}

/// HAProxy's `retry-on` keywords for what a pool retries on, in the order HAProxy's
/// manual lists them. `empty-response` (a connection closed without an answer) is
/// always there, as in the `defaults` section: nginx's `error` covers it.
fn haproxy_retry_on(retry_on: &[RetryOn]) -> Vec<&'static str> {
    let keyword = |on: RetryOn| match on {
        RetryOn::Error => "conn-failure",
        RetryOn::Timeout => "response-timeout",
        RetryOn::InvalidHeader => "junk-response",
        RetryOn::Http500 => "500",
        RetryOn::Http502 => "502",
        RetryOn::Http503 => "503",
        RetryOn::Http504 => "504",
        RetryOn::Http429 => "429",
    };
    let mut out = Vec::new();
    if retry_on.contains(&RetryOn::Error) {
        out.push(keyword(RetryOn::Error));
    }
    out.push("empty-response");
    for on in [
        RetryOn::InvalidHeader,
        RetryOn::Timeout,
        RetryOn::Http429,
        RetryOn::Http500,
        RetryOn::Http502,
        RetryOn::Http503,
        RetryOn::Http504,
    ] {
        if retry_on.contains(&on) {
            out.push(keyword(on));
        }
    }
    out
}

/// Where the certificate and key are inside the balancer's container (mounted there
/// read-only on every platform).
pub const TLS_DIR: &str = "/etc/tierform/tls";

/// TLS termination: Mozilla's "intermediate" profile (guidelines 5.7, without the DHE
/// suites, which would need a DH parameter file), the ports, the files and the
/// headers.
#[derive(Debug, Clone, Serialize)]
pub struct TlsPlan {
    /// The HTTPS port clients connect to.
    pub listen: u16,
    /// The certificate (full chain, PEM) as the balancer reads it.
    pub certificate_path: String,
    /// Its private key as the balancer reads it: the certificate's path with `.key`
    /// appended, the name HAProxy loads beside a certificate by itself.
    pub key_path: String,
    /// compose and hosts: the certificate file on the machine, mounted at
    /// `certificate_path`.
    pub certificate_file: Option<String>,
    /// compose and hosts: the key file on the machine, mounted at `key_path`.
    pub key_file: Option<String>,
    /// kubernetes: the `kubernetes.io/tls` Secret mounted into the balancer's pods.
    pub secret: Option<String>,
    /// The file names inside the folder mounted at [`TLS_DIR`].
    pub certificate_name: String,
    pub key_name: String,
    /// Plain HTTP answers with a 308 to HTTPS (except the balancer's `/health`).
    pub redirect_http: bool,
    /// The Strict-Transport-Security header's value; none: no header.
    pub hsts: Option<String>,
    /// `TLSv1.2`: the oldest protocol accepted.
    pub min_version: String,
    /// Every protocol accepted: TLS 1.2 and 1.3.
    pub protocols: Vec<String>,
    /// The TLS 1.2 cipher list (OpenSSL names), in order.
    pub ciphers: String,
    /// The TLS 1.3 cipher suites, in order.
    pub ciphersuites: String,
    /// Protocols offered by ALPN, preferred first.
    pub alpn: Vec<String>,
    /// How long a TLS session may be resumed from the session cache.
    pub session_timeout_ms: u64,
}

/// Mozilla intermediate: ECDHE with AES-GCM or ChaCha20-Poly1305, ECDSA first.
const INTERMEDIATE_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
const INTERMEDIATE_CIPHERSUITES: &str =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
/// HSTS without `max_age`: a year.
const DEFAULT_HSTS_SECONDS: u64 = 365 * 86_400;

fn tls_plan(tls: &crate::model::Tls) -> Result<TlsPlan, String> {
    use crate::model::HstsSetting;
    let hsts = match &tls.hsts {
        None | Some(HstsSetting::Enabled(true)) => Some((DEFAULT_HSTS_SECONDS, false)),
        Some(HstsSetting::Enabled(false)) => None,
        Some(HstsSetting::Policy(h)) => Some((
            ms(h.max_age.as_ref(), DEFAULT_HSTS_SECONDS * 1000)? / 1000,
            h.include_subdomains,
        )),
    };
    let certificate_name = "tls.crt".to_string();
    let key_name = format!("{certificate_name}.key");
    Ok(TlsPlan {
        listen: port(tls.listen)?,
        certificate_path: format!("{TLS_DIR}/{certificate_name}"),
        key_path: format!("{TLS_DIR}/{key_name}"),
        certificate_file: tls.certificate.file.clone(),
        key_file: tls.certificate.key_file.clone(),
        secret: tls.certificate.secret.clone(),
        certificate_name,
        key_name,
        redirect_http: tls.redirect_http,
        hsts: hsts.map(|(age, sub)| {
            format!(
                "max-age={age}{}",
                if sub { "; includeSubDomains" } else { "" }
            )
        }),
        min_version: "TLSv1.2".into(),
        protocols: vec!["TLSv1.2".into(), "TLSv1.3".into()],
        ciphers: INTERMEDIATE_CIPHERS.into(),
        ciphersuites: INTERMEDIATE_CIPHERSUITES.into(),
        alpn: vec!["h2".into(), "http/1.1".into()],
        session_timeout_ms: 86_400_000,
    })
}
