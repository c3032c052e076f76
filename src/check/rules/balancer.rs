//! The balancer: its routes and timeouts, and how each service's instances are balanced.

use std::collections::{BTreeMap, BTreeSet};

use super::{service_ptr, Checker};
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::check::suggest::unsupported_server_version;
use crate::model::versions;
use crate::model::{Algorithm, Balance, BalancerEngine, RetryOn};
use crate::source::pointer::Pointer;

/// `address/prefix`, with a prefix its family allows.
fn parse_cidr(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, prefix) = text.split_once('/')?;
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let most = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= most).then_some((addr, prefix))
}

/// The connections a browser opens to one host at once (HTTP/1.1).
const BROWSER_CONNECTIONS: u32 = 6;

impl Checker<'_> {
    /// A rate limit gives one rate, and its bucket drains within
    /// [`crate::model::MAX_BUCKET_SECONDS`].
    fn rate_limit(&mut self, ptr: Pointer, limit: &crate::model::RateLimit) {
        match (limit.requests_per_second, limit.requests_per_minute) {
            (None, None) => self.push(
                Diagnostic::error(Code::MissingField, ptr, "a rate limit needs its rate").hint(
                    "add `requests_per_second: N`, or `requests_per_minute: N` for a slow limit",
                ),
            ),
            (Some(_), Some(_)) => self.push(
                Diagnostic::error(
                    Code::ConflictingFields,
                    ptr,
                    "a rate limit has `requests_per_second` or `requests_per_minute`, not both",
                )
                .hint("keep one: the limit is one rate, with its burst on top"),
            ),
            _ => {
                let burst = limit.burst_or_default();
                let seconds = (u64::from(burst) + 1) * limit.interval_us() / 1_000_000;
                if seconds > crate::model::MAX_BUCKET_SECONDS {
                    self.push(
                        Diagnostic::error(
                            Code::OutOfRange,
                            ptr.child("burst"),
                            format!(
                                "{} requests at this rate take {} minutes to drain; at most {} are supported",
                                burst + 1,
                                seconds / 60,
                                crate::model::MAX_BUCKET_SECONDS / 60
                            ),
                        )
                        .hint("lower `burst`, or raise the rate"),
                    );
                }
            }
        }
    }

    /// A body size is a byte quantity above zero.
    fn body_size(&mut self, ptr: &Pointer, size: &crate::model::units::Quantity) {
        match size.size_bytes() {
            Err(e) => self.push(
                Diagnostic::error(Code::InvalidQuantity, ptr.to_string(), e.message)
                    .hint("a size in bytes with a suffix: `64Ki`, `10Mi`, `1Gi`"),
            ),
            Ok(0) => self.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    ptr.clone(),
                    "a body size of 0 refuses every request with a body",
                )
                .hint("give the largest body to accept, e.g. `10Mi`"),
            ),
            Ok(_) => {}
        }
    }

    pub(super) fn balancer(&mut self) {
        let Some(lb) = &self.bp.balancer else {
            return;
        };
        self.tier_ref(Pointer::build(["balancer", "tier"]), lb.tier.as_ref());
        // The schema takes any engine's version; this one must be the engine's own.
        if let Some(v) = &lb.version {
            let table = match lb.engine {
                BalancerEngine::Nginx => versions::NGINX,
                BalancerEngine::Haproxy => versions::HAPROXY,
            };
            if versions::select(table, Some(v.as_str())).is_none() {
                let (other, other_name) = match lb.engine {
                    BalancerEngine::Nginx => (versions::HAPROXY, BalancerEngine::Haproxy),
                    BalancerEngine::Haproxy => (versions::NGINX, BalancerEngine::Nginx),
                };
                let mut d = unsupported_server_version(
                    Pointer::build(["balancer", "version"]).as_str(),
                    Some(lb.engine.as_str()),
                    v.as_str(),
                    true,
                    &versions::versions(table),
                );
                if versions::select(other, Some(v.as_str())).is_some() {
                    d = d.hint(format!(
                        "`{}` is a {} version: set `engine: {}`, or remove `version` for {}'s newest",
                        v.as_str(),
                        other_name.as_str(),
                        other_name.as_str(),
                        lb.engine.as_str()
                    ));
                }
                self.push(d);
            }
        }
        if let Some(t) = &lb.timeouts {
            for (field, d) in [
                ("connect", &t.connect),
                ("send", &t.send),
                ("read", &t.read),
            ] {
                if let Some(d) = d {
                    self.duration(
                        &Pointer::root()
                            .child("balancer")
                            .child("timeouts")
                            .child(field),
                        d,
                        true,
                    );
                }
            }
        }
        for (i, cidr) in lb.trusted_proxies.iter().enumerate() {
            if parse_cidr(cidr).is_none() {
                self.push(
                    Diagnostic::error(
                        Code::Invalid,
                        Pointer::build(["balancer", "trusted_proxies"]).child(i),
                        format!("`{cidr}` is not a network in CIDR notation"),
                    )
                    .expected("an address and a prefix length: `10.0.0.0/8`, `2001:db8::/32`, `192.0.2.10/32`"),
                );
            }
        }
        if let Some(path) = &lb.health_path {
            self.health_path(lb, path);
        }
        if lb.proxy_protocol {
            self.proxy_protocol(lb);
        }
        if let Some(limit) = &lb.rate_limit {
            self.rate_limit(Pointer::build(["balancer", "rate_limit"]), limit);
        }
        if let Some(size) = &lb.max_body_size {
            self.body_size(&Pointer::build(["balancer", "max_body_size"]), size);
        }
        if let Some(burst) = lb.rate_limit.as_ref().and_then(|r| r.burst) {
            if burst < BROWSER_CONNECTIONS - 1 {
                self.push(
                    Diagnostic::warning(
                        Code::BurstBelowBrowser,
                        Pointer::build(["balancer", "rate_limit", "burst"]),
                        format!(
                            "a burst of {burst} lets {} through at once; a browser sends {BROWSER_CONNECTIONS} (one per connection), so ordinary page loads get 429",
                            if burst == 0 {
                                "only 1 request".to_string()
                            } else {
                                format!("{} requests", burst + 1)
                            }
                        ),
                    )
                    .hint(format!(
                        "remove `burst` for the default (one second's worth, at least {}), or set it to {} or more",
                        crate::model::DEFAULT_MIN_BURST,
                        BROWSER_CONNECTIONS - 1
                    )),
                );
            }
        }
        let mut paths: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, route) in lb.routes.iter().enumerate() {
            let ptr = Pointer::root().child("balancer").child("routes").child(i);
            if let Some(first) = paths.insert(&route.path, i) {
                self.push(
                    Diagnostic::error(
                        Code::DuplicateRoute,
                        ptr.child("path"),
                        format!("path `{}` is routed twice", route.path),
                    )
                    .hint(format!(
                        "route {} already sends `{}` somewhere; merge the two",
                        first + 1,
                        route.path
                    )),
                );
            }
            // The balancer answers its own health path itself: the default one shadows a
            // route with a warning; a `health_path` given onto a route is an error
            // (`Checker::health_path`).
            if lb.health_path.is_none() && route.path == crate::model::DEFAULT_HEALTH_PATH {
                self.push(
                    Diagnostic::warning(
                        Code::ShadowedRoute,
                        ptr.child("path"),
                        format!(
                            "the balancer answers `{}` itself, so this route never gets that exact path",
                            route.path
                        ),
                    )
                    .hint("set `balancer.health_path` (e.g. `/lb-health`) to move the balancer's own and pass this path through to the service; `/health/...` reaches it already"),
                );
            }
            if route.path.contains("..") || route.path.contains("//") {
                self.push(
                    Diagnostic::error(
                        Code::InvalidPath,
                        ptr.child("path"),
                        format!("path `{}` contains `..` or `//`", route.path),
                    )
                    .expected("a normalized path prefix like `/api/v1`"),
                );
            }
            match (&route.service, route.split.is_empty()) {
                (Some(_), false) => self.push(
                    Diagnostic::error(
                        Code::ConflictingFields,
                        ptr.clone(),
                        "a route has `service` or `split`, not both",
                    )
                    .hint("use `split` alone to divide traffic between services"),
                ),
                (None, true) => self.push(
                    Diagnostic::error(
                        Code::MissingField,
                        ptr.clone(),
                        format!("route `{}` names no service", route.path),
                    )
                    .hint("add `service: NAME`, or `split:` with weighted services"),
                ),
                _ => {}
            }
            if let Some(s) = &route.service {
                self.routed_service(ptr.child("service"), s);
            }
            if let Some(limit) = &route.rate_limit {
                self.rate_limit(ptr.child("rate_limit"), limit);
            }
            if let Some(size) = &route.max_body_size {
                self.body_size(&ptr.child("max_body_size"), size);
            }
            let mut seen = BTreeSet::new();
            for (j, w) in route.split.iter().enumerate() {
                self.routed_service(ptr.child("split").child(j).child("service"), &w.service);
                if !seen.insert(&w.service) {
                    self.push(Diagnostic::error(
                        Code::DuplicateItem,
                        ptr.child("split").child(j).child("service"),
                        format!("`{}` appears twice in the split", w.service),
                    ));
                }
            }
            if lb.engine == BalancerEngine::Nginx && !route.split.is_empty() {
                self.nginx_split_retries(&ptr, route);
            }
            if !route.split.is_empty() && route.split.iter().all(|w| w.weight == 0) {
                self.push(
                    Diagnostic::error(
                        Code::ZeroWeights,
                        ptr.child("split"),
                        "every weight of the split is 0: no traffic could go anywhere",
                    )
                    .hint("give at least one service a positive weight"),
                );
            }
        }
    }

    /// The balancer's own health path: a normalized path that no route has (the
    /// balancer would answer it and the route never get it). Its metrics and
    /// `stub_status` are served on listeners of their own, never on this path's.
    fn health_path(&mut self, lb: &crate::model::Balancer, path: &str) {
        let ptr = Pointer::build(["balancer", "health_path"]);
        if path.contains("..") || path.contains("//") {
            self.push(
                Diagnostic::error(
                    Code::InvalidPath,
                    ptr.clone(),
                    format!("path `{path}` contains `..` or `//`"),
                )
                .expected("a normalized path like `/lb-health`"),
            );
        }
        if let Some(i) = lb.routes.iter().position(|r| r.path == path) {
            self.push(
                Diagnostic::error(
                    Code::ShadowedRoute,
                    ptr,
                    format!(
                        "`{path}` is the path of route {}: the balancer would answer it itself, and the route would never get it",
                        i + 1
                    ),
                )
                .hint("pick a path no route has, e.g. `/lb-health`"),
            );
        }
    }

    /// The PROXY protocol is believed from trusted proxies only, and its plain health
    /// listener needs a port of its own.
    fn proxy_protocol(&mut self, lb: &crate::model::Balancer) {
        let ptr = Pointer::build(["balancer", "proxy_protocol"]);
        if lb.trusted_proxies.is_empty() {
            self.push(
                Diagnostic::error(
                    Code::MissingField,
                    ptr.clone(),
                    "`proxy_protocol` needs `trusted_proxies`: the addresses whose PROXY header names the client",
                )
                .hint("list the load balancer's networks, e.g. `trusted_proxies: [10.0.0.0/16]`"),
            );
        }
        let health = u32::from(crate::model::PROXY_HEALTH_PORT);
        for (field, port) in [
            (Pointer::build(["balancer", "listen"]), Some(lb.listen)),
            (
                Pointer::build(["balancer", "tls", "listen"]),
                lb.tls.as_ref().map(|t| t.listen),
            ),
        ] {
            if port == Some(health) {
                self.push(
                    Diagnostic::error(
                        Code::PortConflict,
                        field,
                        format!(
                            "port {health} is where the balancer answers {} without the PROXY protocol",
                            lb.health_path_or_default()
                        ),
                    )
                    .hint("pick another port: with `proxy_protocol`, 8081 serves the balancer's own health"),
                );
            }
        }
    }

    pub(super) fn routed_service(&mut self, pointer: Pointer, name: &str) {
        match self.bp.services.get(name) {
            None => {
                let candidates = self.bp.services.keys().cloned().collect();
                self.reference(pointer, "service", name, candidates);
            }
            Some(s) if !s.kind.is_routable() => self.push(
                Diagnostic::error(
                    Code::NotRoutable,
                    pointer,
                    format!(
                        "`{name}` is a {} service: it takes no traffic from the balancer",
                        s.kind.as_str()
                    ),
                )
                .expected("an http, websocket or static service"),
            ),
            Some(_) => {}
        }
    }

    /// nginx counts every failed attempt toward `max_fails`, a request that crashes its
    /// backend once per instance it is retried on: a few such requests take every
    /// instance out for `fail_timeout`. Said with the count, for each routed service
    /// that sets `max_fails` behind nginx.
    pub(super) fn nginx_max_fails(&mut self) {
        let Some(lb) = &self.bp.balancer else { return };
        if lb.engine != BalancerEngine::Nginx {
            return;
        }
        for (name, s) in &self.bp.services {
            let Some(max_fails) = s.balance.as_ref().and_then(|b| b.max_fails) else {
                continue;
            };
            if !self.is_routed(name) {
                continue;
            }
            // The fewest instances the service runs: the easiest pool to empty.
            let least = s
                .scaling
                .as_ref()
                .and_then(|sc| sc.replicas.or(sc.min))
                .unwrap_or(1);
            // nginx never takes the only server of a group out.
            if least < 2 {
                continue;
            }
            let tries = least.min(crate::model::MAX_TRIES);
            let requests = (least * max_fails).div_ceil(tries);
            let window = s
                .balance
                .as_ref()
                .and_then(|b| b.fail_timeout.as_ref())
                .map_or_else(|| "10s".to_string(), ToString::to_string);
            self.push(
                Diagnostic::warning(
                    Code::CrashesEmptyPool,
                    service_ptr(name).child("balance").child("max_fails"),
                    format!(
                        "behind nginx, {requests} requests that crash `{name}` (each tried on {tries} of its {least} instances) take every instance out for {window}: `max_fails: {max_fails}` counts each failed attempt"
                    ),
                )
                .hint("drop `max_fails` (nginx then steps past a failing instance and its health is the app's), or use `engine: haproxy`, which counts only failed connections in a row and its health checks"),
            );
        }
    }

    /// Whether any route sends traffic to the service.
    pub(super) fn is_routed(&self, name: &str) -> bool {
        self.bp.balancer.as_ref().is_some_and(|lb| {
            lb.routes.iter().any(|r| {
                r.service.as_deref() == Some(name) || r.split.iter().any(|w| w.service == name)
            })
        })
    }

    pub(super) fn balance(&mut self, ptr: &Pointer, b: &Balance) {
        if let Some(d) = &b.fail_timeout {
            self.duration(&ptr.child("fail_timeout"), d, true);
        }
        self.retry_on(
            &ptr.child("retry_on"),
            b.retry_on.as_deref().unwrap_or_default(),
        );
        let sticky = b.sticky.as_deref().unwrap_or("none");
        match (b.algorithm, sticky) {
            (Some(Algorithm::Hash), "none") => self.push(
                Diagnostic::error(
                    Code::MissingField,
                    ptr.child("algorithm"),
                    "`hash` needs a key to hash: set `sticky`",
                )
                .hint("`sticky: client_ip`, `header:NAME` or `cookie:NAME`"),
            ),
            (Some(a @ (Algorithm::RoundRobin | Algorithm::LeastConn)), s) if s != "none" => self
                .push(
                    Diagnostic::error(
                        Code::ConflictingFields,
                        ptr.child("algorithm"),
                        format!(
                            "`{}` cannot keep clients on one instance (`sticky: {s}`)",
                            if a == Algorithm::RoundRobin {
                                "round_robin"
                            } else {
                                "least_conn"
                            }
                        ),
                    )
                    .hint(
                        "stickiness hashes the key: use `algorithm: hash` or leave `algorithm` out",
                    ),
                ),
            _ => {}
        }
    }

    /// Each condition of `retry_on` once, and one the balancer's engine can retry on.
    fn retry_on(&mut self, ptr: &Pointer, list: &[RetryOn]) {
        let mut seen = BTreeSet::new();
        for (i, on) in list.iter().enumerate() {
            if !seen.insert(on) {
                self.push(Diagnostic::error(
                    Code::DuplicateItem,
                    ptr.child(i),
                    format!("`{}` is listed twice in `retry_on`", on.as_str()),
                ));
            }
        }
        let Some(lb) = &self.bp.balancer else { return };
        if lb.engine != BalancerEngine::Haproxy {
            return;
        }
        let Some(version) =
            versions::select(versions::HAPROXY, lb.version.as_ref().map(|v| v.as_str()))
        else {
            return;
        };
        for (i, on) in list.iter().enumerate() {
            if !on.on_haproxy(version.version) {
                self.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        ptr.child(i),
                        format!(
                            "HAProxy {} cannot retry on `{}`: its `retry-on` has no such status",
                            version.version,
                            on.as_str()
                        ),
                    )
                    .hint("HAProxy 3.0 can: remove the balancer's `version` (3.0 is the default), or drop it from the list"),
                );
            }
        }
    }

    /// nginx retries a route's requests on one list of conditions, whichever service of
    /// a split takes them: those every service of the split retries on. Said for each
    /// split whose services list different ones.
    fn nginx_split_retries(&mut self, ptr: &Pointer, route: &crate::model::Route) {
        let services: Vec<&str> = route
            .split
            .iter()
            .filter(|w| w.weight > 0)
            .map(|w| w.service.as_str())
            .collect();
        let lists: Vec<(&str, Vec<RetryOn>)> = services
            .iter()
            .filter_map(|name| {
                let s = self.bp.services.get(*name)?;
                Some((*name, Balance::retry_on_or_default(s.balance.as_ref())))
            })
            .collect();
        let Some((_, first)) = lists.first() else {
            return;
        };
        let shared: Vec<RetryOn> = first
            .iter()
            .copied()
            .filter(|on| lists.iter().all(|(_, l)| l.contains(on)))
            .collect();
        let mut count = 0;
        let lost: Vec<String> = lists
            .iter()
            .filter_map(|(name, l)| {
                let own: Vec<String> = l
                    .iter()
                    .filter(|on| !shared.contains(on))
                    .map(|on| format!("`{}`", on.as_str()))
                    .collect();
                count += own.len();
                let (last, rest) = own.split_last()?;
                Some(if rest.is_empty() {
                    format!("`{name}`'s {last}")
                } else {
                    format!("`{name}`'s {} and {last}", rest.join(", "))
                })
            })
            .collect();
        if lost.is_empty() {
            return;
        }
        let kept = if shared.is_empty() {
            "nothing".to_string()
        } else {
            shared
                .iter()
                .map(|on| format!("`{}`", on.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.push(
            Diagnostic::warning(
                Code::UnusedSetting,
                ptr.child("split"),
                format!(
                    "behind nginx, route `{}` retries on what every service of its split lists ({kept}): {} {} no effect here",
                    route.path,
                    lost.join("; "),
                    if count == 1 { "has" } else { "have" }
                ),
            )
            .at_key()
            .hint("give the services of the split the same `balance.retry_on`, or use `engine: haproxy`, which retries per service"),
        );
    }

    /// On Kubernetes nginx reaches each service through its Service's one virtual IP,
    /// and kube-proxy picks the pod: stickiness by header or cookie is lost, and by
    /// client IP (the Service's session affinity) each balancer pod's clients all land
    /// on one pod. HAProxy balances over the pods themselves there.
    pub(super) fn kubernetes_balance(&mut self) {
        for (name, s) in &self.bp.services {
            let Some(b) = &s.balance else { continue };
            if !self.is_routed(name) {
                continue;
            }
            let sticky = b.sticky.as_deref().unwrap_or("none");
            // `least_conn` loses its effect too, harmlessly; lost stickiness breaks sessions.
            if sticky == "none" {
                continue;
            }
            let what = format!("`sticky: {sticky}`");
            self.push(
                Diagnostic::warning(
                    Code::NoEffectOnKubernetes,
                    service_ptr(name).child("balance"),
                    format!("{what} does not hold on Kubernetes with nginx: it reaches `{name}` through its Service's one address, and kube-proxy picks the pod"),
                )
                .at_key()
                .hint("use `engine: haproxy`, which balances over every pod (a headless Service it resolves at run time), or keep this setting to the compose and hosts phases"),
            );
        }
    }
}
