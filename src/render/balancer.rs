//! The balancer's config, nginx or HAProxy, for one balancer node of one platform.
//!
//! The view below flattens the plan for one platform (its servers, its listen address)
//! so the templates only lay out text; every decision was made in the plan.

use serde::Serialize;

use crate::model::{BalancerEngine, Platform, RetryOn};
use crate::plan::{
    BalancerNode, BalancerPlan, Endpoint, Plan, RateLimitPlan, Sticky, TlsPlan, STATS_PORT,
};
use crate::render::templates::{TemplateError, Templates};

use super::bundle::generated_header;

/// The file a balancer config is written to, relative to the platform bundle's folder.
pub fn file_name(engine: BalancerEngine) -> &'static str {
    match engine {
        BalancerEngine::Nginx => "nginx/nginx.conf",
        BalancerEngine::Haproxy => "haproxy/haproxy.cfg",
    }
}

fn template_name(engine: BalancerEngine) -> &'static str {
    match engine {
        BalancerEngine::Nginx => "nginx/nginx.conf.j2",
        BalancerEngine::Haproxy => "haproxy/haproxy.cfg.j2",
    }
}

#[derive(Serialize)]
struct View<'a> {
    generated: String,
    blueprint: &'a str,
    phase: &'a str,
    platform: Platform,
    node: &'a BalancerNode,
    /// The port clients use (`balancer.listen`), published by the platform; the
    /// backends get it as `X-Forwarded-Port`.
    public_port: u16,
    /// nginx workers or HAProxy threads; none: one per core (`auto`).
    workers: Option<u32>,
    /// Where the balancer answers its own health.
    health_path: &'a str,
    rate_limit: Option<&'a RateLimitPlan>,
    /// The largest request body: nginx's notation (`10m`), and bytes for HAProxy.
    max_body: String,
    max_body_bytes: u64,
    trusted_proxies: &'a [String],
    trusted_hops: u32,
    /// The trusted proxies send a PROXY header (then their `X-Forwarded-*` count for
    /// nothing).
    proxy_protocol: bool,
    /// TLS termination, when the blueprint asks for it.
    tls: Option<TlsView<'a>>,
    connect_timeout_ms: u64,
    send_timeout_ms: u64,
    read_timeout_ms: u64,
    tunnel_timeout_ms: u64,
    stats_port: u16,
    /// Whether a server is named rather than addressed (HAProxy then resolves at run time).
    resolve_names: bool,
    /// Whether a server is a headless Service's name, each of whose addresses is a pod
    /// (nginx then asks the cluster's DNS at run time).
    resolve_pods: bool,
    cluster_dns: &'static str,
    /// Whether a route catches `/`; without one, unmatched paths get 404.
    has_root_route: bool,
    routes: Vec<RouteView<'a>>,
    pools: Vec<PoolView<'a>>,
}

#[derive(Serialize)]
struct TlsView<'a> {
    #[serde(flatten)]
    plan: &'a TlsPlan,
    /// The port this node binds for HTTPS.
    port: u16,
    /// What a redirect appends to the host: `:PORT` unless clients use 443.
    port_suffix: String,
}

#[derive(Serialize)]
struct RouteView<'a> {
    id: &'a str,
    path: &'a str,
    websocket: bool,
    /// Whether the route splits traffic by weight.
    split: bool,
    backends: Vec<BackendView<'a>>,
    /// What a split draws on: the first sticky pool's key, so a sticky client stays on
    /// one side of the split; otherwise each request draws anew.
    split_key: SplitKey<'a>,
    /// Attempts over different instances, the first included.
    tries: u32,
    /// The time all attempts together may take.
    next_upstream_timeout_ms: u64,
    /// The route's own limit, on top of the balancer's.
    rate_limit: Option<&'a RateLimitPlan>,
    /// The route's own largest body: nginx's notation, and bytes for HAProxy.
    max_body: Option<String>,
    max_body_bytes: Option<u64>,
    /// nginx: what `proxy_next_upstream` retries on, as it spells them (`off`: nothing).
    next_upstream: String,
    /// nginx: the comment above it, one line each, saying what is retried.
    next_upstream_comment: Vec<String>,
    /// The route to its services' health check: its exact path is not logged.
    quiet: bool,
}

#[derive(Serialize)]
struct SplitKey<'a> {
    /// `request`, `client_ip`, `header` or `cookie`.
    by: &'static str,
    /// The header or cookie name.
    name: &'a str,
    /// The pool whose stickiness it follows.
    pool: &'a str,
    /// For the comment: "per request", "by client IP", …
    what: String,
}

/// The route's split key, written out: the plan chose the pool it follows.
fn split_key<'a>(lb: &'a BalancerPlan, route: &'a crate::plan::RoutePlan) -> SplitKey<'a> {
    let per_request = SplitKey {
        by: "request",
        name: "",
        pool: "",
        what: "per request".into(),
    };
    let Some((pool, p)) = route
        .sticky_pool
        .as_deref()
        .and_then(|pool| Some((pool, lb.pools.get(pool)?)))
    else {
        return per_request;
    };
    let (by, name, what) = match &p.sticky {
        Sticky::None => return per_request,
        Sticky::ClientIp => ("client_ip", "", "by client IP".to_string()),
        Sticky::Header(h) => ("header", h.as_str(), format!("by the {h} header")),
        Sticky::Cookie(c) => ("cookie", c.as_str(), format!("by the {c} cookie")),
    };
    SplitKey {
        by,
        name,
        pool,
        what,
    }
}

#[derive(Serialize)]
struct BackendView<'a> {
    pool: &'a str,
    basis_points: u32,
    /// The running total of shares up to and including this one (HAProxy thresholds).
    cumulative_basis_points: u32,
}

#[derive(Serialize)]
struct PoolView<'a> {
    name: &'a str,
    websocket: bool,
    algorithm: &'a str,
    sticky: &'a Sticky,
    max_fails: u32,
    fail_timeout_ms: u64,
    keepalive: u32,
    health_path: &'a str,
    health_interval_ms: u64,
    health_timeout_ms: u64,
    health_fall: u32,
    health_rise: u32,
    tries: u32,
    /// HAProxy: the backend's own `retry-on` keywords; none: the defaults'.
    retry_on: Option<&'a [&'static str]>,
    servers: &'a [Endpoint],
    /// The instances its servers stand for (a name resolved per pod counts each pod).
    addresses: u32,
}

/// The comment above nginx's `proxy_next_upstream`, in lines of at most 77 characters:
/// what a route retries, on which methods.
fn next_upstream_comment(retry_on: &[RetryOn]) -> Vec<String> {
    let text = if retry_on == RetryOn::DEFAULT {
        "GET, HEAD, OPTIONS on the next instance when the connection failed or broke \
         without an answer; POST and PATCH only when it could not be made (nginx never \
         replays them once sent). An answer, 5xx included, is passed on."
            .to_string()
    } else if retry_on.is_empty() {
        "Never tried again: the services of the split retry on nothing in common.".to_string()
    } else {
        let answers = if retry_on.iter().any(|on| {
            !matches!(
                on,
                RetryOn::Error | RetryOn::Timeout | RetryOn::InvalidHeader
            )
        }) {
            "Any other answer, or the last instance's, is passed on."
        } else {
            "An answer, 5xx included, is passed on."
        };
        format!(
            "GET, HEAD, OPTIONS on the next instance on each condition below (`retry_on`); \
             POST and PATCH only when they were never sent (nginx never replays them once \
             sent). {answers}"
        )
    };
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= 77 => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// A size as nginx writes it: `10m`, `512k`, or bytes.
fn nginx_size(bytes: u64) -> String {
    const K: u64 = 1024;
    match bytes {
        b if b % (K * K) == 0 => format!("{}m", b / (K * K)),
        b if b % K == 0 => format!("{}k", b / K),
        b => b.to_string(),
    }
}

/// Renders the balancer config of `node` on `platform`.
pub fn render(
    plan: &Plan,
    lb: &BalancerPlan,
    platform: Platform,
    node: &BalancerNode,
    templates: &Templates,
) -> Result<String, TemplateError> {
    let pools: Vec<PoolView> = lb
        .pools
        .iter()
        .map(|(name, p)| {
            let servers = p
                .servers
                .get(&platform)
                .map(Vec::as_slice)
                .unwrap_or_default();
            PoolView {
                name,
                websocket: p.kind == crate::model::ServiceKind::Websocket,
                algorithm: &p.algorithm,
                sticky: &p.sticky,
                max_fails: p.max_fails,
                fail_timeout_ms: p.fail_timeout_ms,
                keepalive: p.keepalive,
                health_path: &p.health_path,
                health_interval_ms: p.health_interval_ms,
                health_timeout_ms: p.health_timeout_ms,
                health_fall: p.health_fall,
                health_rise: p.health_rise,
                tries: p.tries[&platform],
                retry_on: p.haproxy_retry_on.as_deref(),
                servers,
                addresses: servers.iter().map(Endpoint::addresses).sum(),
            }
        })
        .collect();
    let routes = lb
        .routes
        .iter()
        .map(|r| {
            let mut total = 0;
            let backends = r
                .backends
                .iter()
                .map(|b| {
                    total += b.basis_points;
                    BackendView {
                        pool: &b.pool,
                        basis_points: b.basis_points,
                        cumulative_basis_points: total,
                    }
                })
                .collect();
            RouteView {
                split_key: split_key(lb, r),
                id: &r.id,
                path: &r.path,
                websocket: r.websocket,
                split: r.backends.len() > 1,
                backends,
                tries: r.tries[&platform],
                next_upstream_timeout_ms: r.next_upstream_timeout_ms[&platform],
                rate_limit: r.rate_limit.as_ref(),
                max_body: r.max_body_bytes.map(nginx_size),
                max_body_bytes: r.max_body_bytes,
                next_upstream: if r.retry_on.is_empty() {
                    "off".to_string()
                } else {
                    r.retry_on
                        .iter()
                        .map(|on| on.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                },
                next_upstream_comment: next_upstream_comment(&r.retry_on),
                quiet: r.quiet,
            }
        })
        .collect();
    let view = View {
        generated: generated_header(plan),
        blueprint: &plan.blueprint,
        phase: &plan.phase,
        platform,
        node,
        public_port: lb.listen,
        workers: lb.workers.get(&platform).copied(),
        health_path: &lb.health_path,
        rate_limit: lb.rate_limit.as_ref(),
        max_body: nginx_size(lb.max_body_bytes),
        max_body_bytes: lb.max_body_bytes,
        trusted_proxies: &lb.trusted_proxies,
        trusted_hops: lb.trusted_hops,
        proxy_protocol: lb.proxy_protocol,
        tls: lb.tls.as_ref().zip(node.tls_port).map(|(t, port)| TlsView {
            plan: t,
            port,
            port_suffix: if t.listen == 443 {
                String::new()
            } else {
                format!(":{}", t.listen)
            },
        }),
        connect_timeout_ms: lb.connect_timeout_ms,
        send_timeout_ms: lb.send_timeout_ms,
        read_timeout_ms: lb.read_timeout_ms,
        tunnel_timeout_ms: lb.tunnel_timeout_ms,
        stats_port: STATS_PORT,
        cluster_dns: crate::plan::CLUSTER_DNS,
        resolve_pods: pools.iter().any(|p| p.servers.iter().any(|s| s.pods > 0)),
        resolve_names: pools
            .iter()
            .any(|p| p.servers.iter().any(Endpoint::is_name)),
        has_root_route: lb.routes.iter().any(|r| r.path == "/"),
        routes,
        pools,
    };
    templates.render(template_name(lb.engine), &view)
}

/// The README beside a compose file that runs the balancer with TLS (`compose`, or the
/// balancer's machine on `hosts`): where to put the certificate and key, which
/// tierform never writes. `None` without TLS.
pub fn tls_readme(plan: &Plan, lb: &BalancerPlan, platform: Platform) -> Option<String> {
    let tls = lb.tls.as_ref()?;
    let engine = match lb.engine {
        BalancerEngine::Nginx => "nginx",
        BalancerEngine::Haproxy => "HAProxy",
    };
    let (who, chown) = match platform {
        // `hosts` runs the balancer as root, to bind the machine's ports.
        Platform::Hosts => ("root".to_string(), "root:root".to_string()),
        _ => (
            format!("uid {}", lb.run_as_user),
            format!("root:{}", lb.run_as_user),
        ),
    };
    let (service, reload) = match lb.engine {
        BalancerEngine::Nginx => ("nginx", "kill -s HUP nginx"),
        BalancerEngine::Haproxy => ("haproxy", "kill -s USR2 haproxy"),
    };
    let row = |file: &Option<String>, what: &str, inside: &str| {
        format!(
            "| `{}` ({what}) | `{inside}` |\n",
            file.as_deref().unwrap_or("")
        )
    };
    Some(format!(
        "<!-- {header} -->\n\n# {bp}: phase `{phase}`: the balancer's certificate\n\n\
         {engine} serves HTTPS on port {port} with a certificate and key that tierform never \
         writes or reads: put them on this machine, where `docker-compose.yml` mounts them \
         read-only into the balancer's container, before `docker compose up -d`.\n\n\
         | on this machine | in the container |\n|---|---|\n{cert}{key}\n\
         The container reads them as {who}: keep the key readable by it and nobody else, \
         e.g. `chown {chown} privkey.pem && chmod 0640 privkey.pem`.\n\n\
         A renewal that writes new files (certbot's `live/` links point at new files in \
         `archive/`; most tools replace the file) is not seen by the running container: \
         a bind mount keeps the file that was there when it started. Recreate the \
         balancer after each renewal (certbot's `--deploy-hook`): \
         `docker compose up -d --force-recreate {service}`. Only a tool that rewrites the \
         same file in place can have {engine} load it again without a restart: \
         `docker compose {reload}`.\n",
        header = generated_header(plan),
        bp = plan.blueprint,
        phase = plan.phase,
        port = tls.listen,
        cert = row(
            &tls.certificate_file,
            "the certificate, full chain, PEM",
            &tls.certificate_path
        ),
        key = row(&tls.key_file, "its private key, PEM", &tls.key_path),
    ))
}
