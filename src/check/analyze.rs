//! Semantic checks: what the schema cannot say. Runs on each phase's resolved, typed
//! blueprint; every finding carries a pointer into that phase's document.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::check::diagnostic::Diagnostic;
use crate::check::suggest::did_you_mean;
use crate::model::units::Measure;
use crate::model::*;
use crate::plan::placement::{datastore_nodes, hosts_layout, instance_names};
use crate::source::pointer::Pointer;

/// Every semantic finding for one phase's blueprint, rendered for `targets`.
pub fn check(bp: &Blueprint, targets: &[Platform]) -> Vec<Diagnostic> {
    let mut c = Checker {
        bp,
        out: Vec::new(),
    };
    c.names();
    c.tiers(targets);
    c.balancer();
    for (name, service) in &bp.services {
        c.service(name, service);
    }
    for (name, store) in &bp.datastores {
        c.datastore(name, store);
    }
    c.host_ports();
    c.compose_names();
    c.capacity();
    if targets.contains(&Platform::Kubernetes) {
        c.kubernetes_balance();
    }
    if targets.contains(&Platform::Hosts) && bp.tiers.values().any(|t| !t.hosts.is_empty()) {
        c.placement();
    }
    c.out
}

/// Findings about the phase list as a whole.
pub fn check_phases(phases: &[Phase]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, phase) in phases.iter().enumerate() {
        if let Some(first) = seen.insert(&phase.name, i) {
            out.push(
                Diagnostic::error(
                    "duplicate-name",
                    format!("/phases/{i}/name"),
                    format!("phase `{}` is defined twice", phase.name),
                )
                .hint(format!(
                    "phase names must be unique (each is an output folder); the first `{}` is /phases/{first}",
                    phase.name
                )),
            );
        }
    }
    out
}

struct Checker<'a> {
    bp: &'a Blueprint,
    out: Vec<Diagnostic>,
}

fn service_ptr(name: &str) -> Pointer {
    Pointer::build(["services", name])
}

fn store_ptr(name: &str) -> Pointer {
    Pointer::build(["datastores", name])
}

impl Checker<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    fn reference(&mut self, pointer: String, what: &str, name: &str, candidates: Vec<String>) {
        let hint = did_you_mean(name, &candidates)
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| (candidates.is_empty()).then(|| format!("define it under `{what}s`")));
        let mut d = Diagnostic::error(
            "unknown-reference",
            pointer,
            format!("no {what} named `{name}`"),
        )
        .maybe_hint(hint);
        if !candidates.is_empty() {
            d = d.expected(format!(
                "one of {}",
                candidates
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.push(d);
    }

    fn tier_ref(&mut self, pointer: String, tier: Option<&String>) {
        if let Some(t) = tier {
            if !self.bp.tiers.contains_key(t) {
                let candidates = self.bp.tiers.keys().cloned().collect();
                self.reference(pointer, "tier", t, candidates);
            }
        }
    }

    fn names(&mut self) {
        for name in self.bp.datastores.keys() {
            if self.bp.services.contains_key(name) {
                self.push(
                    Diagnostic::error(
                        "duplicate-name",
                        store_ptr(name),
                        format!("`{name}` names both a service and a datastore"),
                    )
                    .at_key()
                    .hint("services and datastores share one namespace (they become host names): rename one"),
                );
            }
        }
    }

    fn tiers(&mut self, targets: &[Platform]) {
        for (name, tier) in &self.bp.tiers {
            let ptr = Pointer::build(["tiers", name.as_str()]);
            self.quantity(
                &format!("{ptr}/machine/cpu"),
                &tier.machine.cpu,
                Measure::Cpu,
            );
            self.quantity(
                &format!("{ptr}/machine/memory"),
                &tier.machine.memory,
                Measure::Memory,
            );
            if let (Some(count), false) = (tier.count, tier.hosts.is_empty()) {
                if count as usize != tier.hosts.len() {
                    self.push(
                        Diagnostic::error(
                            "count-mismatch",
                            format!("{ptr}/count"),
                            format!(
                                "tier `{name}` has count {count} but lists {} host{}",
                                tier.hosts.len(),
                                if tier.hosts.len() == 1 { "" } else { "s" }
                            ),
                        )
                        .hint("list one host per machine, or drop `count` (it defaults to the number of hosts)"),
                    );
                }
            }
            let mut seen = BTreeSet::new();
            for (i, host) in tier.hosts.iter().enumerate() {
                let hptr = format!("{ptr}/hosts/{i}");
                if !is_host(host) {
                    self.push(
                        Diagnostic::error(
                            "invalid-host",
                            hptr.clone(),
                            format!("`{host}` is neither an IP address nor a DNS name"),
                        )
                        .expected("an address like `10.0.1.11` or a name like `app-1.internal`"),
                    );
                }
                // The same machine however it is spelt: `FD00::1` is `fd00:0::1`.
                let canonical = host
                    .parse::<IpAddr>()
                    .map(|ip| ip.to_string())
                    .unwrap_or_else(|_| host.to_ascii_lowercase());
                if !seen.insert(canonical) {
                    self.push(Diagnostic::error(
                        "duplicate-item",
                        hptr,
                        format!("host `{host}` is listed twice in tier `{name}`"),
                    ));
                }
            }
        }
        if targets.contains(&Platform::Hosts) && self.bp.tiers.values().all(|t| t.hosts.is_empty())
        {
            self.push(
                Diagnostic::error(
                    "hosts-without-hosts",
                    "/targets",
                    "the `hosts` platform needs at least one tier that lists its `hosts`",
                )
                .hint("add `hosts: [10.0.1.11, …]` to the tiers of this phase, or drop the `hosts` target"),
            );
        }
    }

    fn balancer(&mut self) {
        let Some(lb) = &self.bp.balancer else {
            return;
        };
        self.tier_ref("/balancer/tier".into(), lb.tier.as_ref());
        if let Some(t) = &lb.timeouts {
            for (field, d) in [
                ("connect", &t.connect),
                ("send", &t.send),
                ("read", &t.read),
            ] {
                if let Some(d) = d {
                    self.duration(&format!("/balancer/timeouts/{field}"), d, true);
                }
            }
        }
        let mut paths: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, route) in lb.routes.iter().enumerate() {
            let ptr = format!("/balancer/routes/{i}");
            if let Some(first) = paths.insert(&route.path, i) {
                self.push(
                    Diagnostic::error(
                        "duplicate-route",
                        format!("{ptr}/path"),
                        format!("path `{}` is routed twice", route.path),
                    )
                    .hint(format!(
                        "route {} already sends `{}` somewhere; merge the two",
                        first + 1,
                        route.path
                    )),
                );
            }
            if route.path == "/health" {
                self.push(
                    Diagnostic::warning(
                        "shadowed-route",
                        format!("{ptr}/path"),
                        "the balancer answers `/health` itself, so this route never gets that exact path",
                    )
                    .hint("route the service's health under another prefix, e.g. `/api/health`; `/health/...` still reaches it"),
                );
            }
            if route.path.contains("..") || route.path.contains("//") {
                self.push(
                    Diagnostic::error(
                        "invalid-path",
                        format!("{ptr}/path"),
                        format!("path `{}` contains `..` or `//`", route.path),
                    )
                    .expected("a normalized path prefix like `/api/v1`"),
                );
            }
            match (&route.service, route.split.is_empty()) {
                (Some(_), false) => self.push(
                    Diagnostic::error(
                        "conflicting-fields",
                        ptr.clone(),
                        "a route has `service` or `split`, not both",
                    )
                    .hint("use `split` alone to divide traffic between services"),
                ),
                (None, true) => self.push(
                    Diagnostic::error(
                        "missing-field",
                        ptr.clone(),
                        format!("route `{}` names no service", route.path),
                    )
                    .hint("add `service: NAME`, or `split:` with weighted services"),
                ),
                _ => {}
            }
            if let Some(s) = &route.service {
                self.routed_service(format!("{ptr}/service"), s);
            }
            let mut seen = BTreeSet::new();
            for (j, w) in route.split.iter().enumerate() {
                self.routed_service(format!("{ptr}/split/{j}/service"), &w.service);
                if !seen.insert(&w.service) {
                    self.push(Diagnostic::error(
                        "duplicate-item",
                        format!("{ptr}/split/{j}/service"),
                        format!("`{}` appears twice in the split", w.service),
                    ));
                }
            }
            if !route.split.is_empty() && route.split.iter().all(|w| w.weight == 0) {
                self.push(
                    Diagnostic::error(
                        "zero-weights",
                        format!("{ptr}/split"),
                        "every weight of the split is 0: no traffic could go anywhere",
                    )
                    .hint("give at least one service a positive weight"),
                );
            }
        }
    }

    fn routed_service(&mut self, pointer: String, name: &str) {
        match self.bp.services.get(name) {
            None => {
                let candidates = self.bp.services.keys().cloned().collect();
                self.reference(pointer, "service", name, candidates);
            }
            Some(s) if !s.kind.is_routable() => self.push(
                Diagnostic::error(
                    "not-routable",
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

    /// Whether any route sends traffic to the service.
    fn is_routed(&self, name: &str) -> bool {
        self.bp.balancer.as_ref().is_some_and(|lb| {
            lb.routes.iter().any(|r| {
                r.service.as_deref() == Some(name) || r.split.iter().any(|w| w.service == name)
            })
        })
    }

    fn service(&mut self, name: &str, s: &Service) {
        let ptr = service_ptr(name);
        self.tier_ref(format!("{ptr}/tier"), s.tier.as_ref());
        let repository = s.image.split('@').next().unwrap_or_default();
        let repository = match repository.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => repo,
            _ => repository,
        };
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            self.push(
                Diagnostic::error(
                    "invalid-image",
                    format!("{ptr}/image"),
                    format!("image repository `{repository}` has uppercase letters"),
                )
                .hint(format!(
                    "repository names are lowercase: `{}`",
                    s.image
                        .replacen(repository, &repository.to_ascii_lowercase(), 1)
                )),
            );
        }
        if s.kind.is_routable() && s.port.is_none() {
            self.push(
                Diagnostic::error(
                    "missing-field",
                    ptr.clone(),
                    format!("{} service `{name}` needs a `port`", s.kind.as_str()),
                )
                .hint("add `port: 8000` (the port the process listens on)"),
            );
        }
        // Health.
        if let Some(h) = &s.health {
            let hptr = format!("{ptr}/health");
            match (&h.path, h.command.is_empty()) {
                (Some(_), false) => self.push(Diagnostic::error(
                    "conflicting-fields",
                    hptr.clone(),
                    "a health check has `path` or `command`, not both",
                )),
                (None, true) => self.push(
                    Diagnostic::error("missing-field", hptr.clone(), "a health check needs `path` or `command`")
                        .hint("`path: /health` for an HTTP check, or `command: [...]` run in the container"),
                ),
                (Some(_), true) if s.port.is_none() => self.push(
                    Diagnostic::error(
                        "missing-field",
                        format!("{hptr}/path"),
                        format!("an HTTP health check needs a port, and `{name}` has none"),
                    )
                    .hint("add `port` to the service, or check with `command` instead"),
                ),
                _ => {}
            }
            for (field, d) in [
                ("interval", &h.interval),
                ("timeout", &h.timeout),
                ("start_period", &h.start_period),
            ] {
                if let Some(d) = d {
                    self.duration(&format!("{hptr}/{field}"), d, field != "start_period");
                }
            }
            if let (Some(i), Some(t)) = (
                h.interval.as_ref().and_then(Duration::millis),
                h.timeout.as_ref().and_then(Duration::millis),
            ) {
                if t > i {
                    self.push(
                        Diagnostic::warning(
                            "timeout-exceeds-interval",
                            format!("{hptr}/timeout"),
                            format!(
                                "the health-check timeout ({}) is longer than its interval ({})",
                                h.timeout.as_ref().map(|d| d.0.as_str()).unwrap_or_default(),
                                h.interval
                                    .as_ref()
                                    .map(|d| d.0.as_str())
                                    .unwrap_or_default()
                            ),
                        )
                        .hint("checks would overlap: make the timeout shorter than the interval"),
                    );
                }
            }
        }
        if let Some(r) = &s.resources {
            self.resources(&format!("{ptr}/resources"), r);
        }
        // Environment and secrets.
        let mut secrets = BTreeSet::new();
        for (i, secret) in s.secrets.iter().enumerate() {
            if !secrets.insert(secret) {
                self.push(Diagnostic::error(
                    "duplicate-item",
                    format!("{ptr}/secrets/{i}"),
                    format!("secret `{secret}` is listed twice"),
                ));
            }
            if s.env.contains_key(secret) {
                self.push(
                    Diagnostic::error(
                        "duplicate-name",
                        ptr.child("env").child(secret),
                        format!("`{secret}` is both a plain variable and a secret"),
                    )
                    .at_key()
                    .hint("keep it in `secrets` only: values of secrets never go in the blueprint"),
                );
            }
        }
        // tierform injects each used datastore's connection settings as `<NAME>_*`.
        for u in &s.uses {
            if !self.bp.datastores.contains_key(u) {
                continue;
            }
            let prefix = format!("{}_", crate::plan::env_prefix(u));
            for key in s.env.keys().chain(s.secrets.iter()) {
                if key.starts_with(&prefix) {
                    let in_env = s.env.contains_key(key);
                    self.push(
                        Diagnostic::error(
                            "env-conflict",
                            if in_env {
                                service_ptr(name).child("env").child(key).into()
                            } else {
                                format!("{}/secrets", service_ptr(name))
                            },
                            format!("`{key}` would be overwritten by the connection settings tierform gives `{name}` for `{u}` (`{prefix}HOST`, `{prefix}PORT`, …)"),
                        )
                        .at_key()
                        .hint(format!("rename it, or read the `{prefix}*` variables tierform sets")),
                    );
                }
            }
        }
        for key in s.env.keys() {
            if looks_secret(key) && !secrets.contains(key) {
                self.push(
                    Diagnostic::warning(
                        "secret-in-env",
                        ptr.child("env").child(key),
                        format!("`{key}` looks like a secret, but its value is written in the blueprint"),
                    )
                    .at_key()
                    .hint(format!("move `{key}` to `secrets`; the value then comes from an env file or a Secret at run time")),
                );
            }
        }
        // Datastores used.
        let mut uses = BTreeSet::new();
        for (i, u) in s.uses.iter().enumerate() {
            if !uses.insert(u) {
                self.push(Diagnostic::error(
                    "duplicate-item",
                    format!("{ptr}/uses/{i}"),
                    format!("`{u}` is listed twice in `uses`"),
                ));
            }
            if !self.bp.datastores.contains_key(u) {
                let candidates = self.bp.datastores.keys().cloned().collect();
                self.reference(format!("{ptr}/uses/{i}"), "datastore", u, candidates);
            }
        }
        // Queue.
        if let Some(q) = &s.queue {
            match self.bp.datastores.get(&q.broker) {
                None => {
                    let candidates = self
                        .bp
                        .datastores
                        .iter()
                        .filter(|(_, d)| d.is_broker())
                        .map(|(n, _)| n.clone())
                        .collect();
                    self.reference(
                        format!("{ptr}/queue/broker"),
                        "datastore",
                        &q.broker,
                        candidates,
                    );
                }
                Some(d) if !d.is_broker() => self.push(
                    Diagnostic::error(
                        "not-a-broker",
                        format!("{ptr}/queue/broker"),
                        format!(
                            "`{}` is a {} datastore and cannot broker a queue",
                            q.broker,
                            d.engine()
                        ),
                    )
                    .expected("a redis or rabbitmq datastore"),
                ),
                Some(Datastore::Redis(r)) => {
                    if r.role == Some(RedisRole::Cache) {
                        self.push(
                            Diagnostic::error(
                                "cache-as-broker",
                                format!("{ptr}/queue/broker"),
                                format!("`{}` has role `cache`: it evicts keys when full, and a queue on it would lose messages", q.broker),
                            )
                            .hint(format!("set `role: broker` on `{}` (it then never evicts), or give the queue its own Redis", q.broker)),
                        );
                    }
                    if r.mode == RedisMode::Cluster {
                        self.push(
                            Diagnostic::warning(
                                "cluster-broker",
                                format!("{ptr}/queue/broker"),
                                format!("`{}` is a Redis Cluster; most queue clients (Celery, RQ, Sidekiq) cannot use a cluster as a broker", q.broker),
                            )
                            .hint("keep the broker a standalone Redis (or RabbitMQ) and cluster only the cache"),
                        );
                    }
                }
                Some(_) => {}
            }
        }
        if s.balance.is_some() && !self.is_routed(name) {
            self.push(
                Diagnostic::warning(
                    "unused-setting",
                    format!("{ptr}/balance"),
                    format!("`balance` has no effect: no route sends traffic to `{name}`"),
                )
                .at_key(),
            );
        }
        if let Some(b) = &s.balance {
            self.balance(&format!("{ptr}/balance"), b);
        }
        self.scaling(name, s);
        // A WebSocket behind the balancer, on several instances, without stickiness.
        if s.kind == ServiceKind::Websocket && self.is_routed(name) && max_instances(s) > 1 {
            let sticky = s
                .balance
                .as_ref()
                .and_then(|b| b.sticky.as_deref())
                .unwrap_or("none");
            if sticky == "none" {
                self.push(
                    Diagnostic::warning(
                        "websocket-not-sticky",
                        ptr.clone(),
                        format!("WebSocket service `{name}` runs several instances behind the balancer without stickiness"),
                    )
                    .hint("reconnecting clients land on any instance; set `balance: { sticky: client_ip }` (or `header:NAME`) to keep each client on one"),
                );
            }
        }
    }

    fn balance(&mut self, ptr: &str, b: &Balance) {
        if let Some(d) = &b.fail_timeout {
            self.duration(&format!("{ptr}/fail_timeout"), d, true);
        }
        let sticky = b.sticky.as_deref().unwrap_or("none");
        match (b.algorithm, sticky) {
            (Some(Algorithm::Hash), "none") => self.push(
                Diagnostic::error(
                    "missing-field",
                    format!("{ptr}/algorithm"),
                    "`hash` needs a key to hash: set `sticky`",
                )
                .hint("`sticky: client_ip`, `header:NAME` or `cookie:NAME`"),
            ),
            (Some(a @ (Algorithm::RoundRobin | Algorithm::LeastConn)), s) if s != "none" => self
                .push(
                    Diagnostic::error(
                        "conflicting-fields",
                        format!("{ptr}/algorithm"),
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

    fn scaling(&mut self, name: &str, s: &Service) {
        let ptr = format!("{}/scaling", service_ptr(name));
        let Some(sc) = &s.scaling else {
            return;
        };
        let autoscaled = sc.min.is_some() || sc.max.is_some();
        if sc.replicas.is_some() && autoscaled {
            self.push(
                Diagnostic::error(
                    "conflicting-fields",
                    ptr.clone(),
                    "`replicas` fixes the count, `min`/`max` let an autoscaler choose it: give one or the other",
                )
                .hint("in a phase patch, remove the other with `replicas: null` or `min: null, max: null`"),
            );
        }
        match (sc.min, sc.max) {
            (Some(_), None) => self.push(
                Diagnostic::error(
                    "missing-field",
                    ptr.clone(),
                    "`min` is set but `max` is not",
                )
                .hint("add `max`: the most instances the autoscaler may start"),
            ),
            (None, Some(_)) => self.push(
                Diagnostic::error(
                    "missing-field",
                    ptr.clone(),
                    "`max` is set but `min` is not",
                )
                .hint("add `min`: the fewest instances the autoscaler keeps"),
            ),
            (Some(min), Some(max)) if min > max => self.push(
                Diagnostic::error(
                    "min-above-max",
                    format!("{ptr}/min"),
                    format!("`min` ({min}) is larger than `max` ({max})"),
                )
                .hint("swap them, or raise `max`"),
            ),
            _ => {}
        }
        let target = sc.target.clone().unwrap_or_default();
        let has_target = target.cpu.is_some()
            || target.memory.is_some()
            || target.requests_per_second.is_some()
            || target.queue_depth.is_some()
            || target.connections.is_some();
        if autoscaled && !has_target && sc.min != sc.max {
            self.push(
                Diagnostic::error(
                    "missing-field",
                    ptr.clone(),
                    "autoscaling between `min` and `max` needs a `target`",
                )
                .hint("add e.g. `target: { cpu: 70 }` (percent of the CPU request)"),
            );
        }
        if sc.target.is_some() && !autoscaled {
            self.push(
                Diagnostic::error(
                    "missing-field",
                    format!("{ptr}/target"),
                    "`target` has no effect without `min` and `max`",
                )
                .at_key()
                .hint("replace `replicas` with `min` and `max` to autoscale"),
            );
        }
        if sc.min == Some(0) && target.queue_depth.is_none() {
            self.push(
                Diagnostic::error(
                    "out-of-range",
                    format!("{ptr}/min"),
                    "`min: 0` (scale to zero) needs a `queue_depth` target",
                )
                .hint(
                    "only a queue can wake a service from zero instances; use `min: 1` otherwise",
                ),
            );
        }
        if sc.replicas == Some(0) && s.kind.is_routable() {
            self.push(
                Diagnostic::error(
                    "out-of-range",
                    format!("{ptr}/replicas"),
                    format!(
                        "`{name}` serves requests, and with `replicas: 0` nothing would answer them"
                    ),
                )
                .expected("at least 1 instance")
                .hint("use `replicas: 1`, or leave the service out of this phase's blueprint"),
            );
        }
        let requests = s.resources.clone().unwrap_or_default();
        for (field, set, request) in [
            ("cpu", target.cpu.is_some(), requests.cpu.is_some()),
            ("memory", target.memory.is_some(), requests.memory.is_some()),
        ] {
            if set && !request {
                self.push(
                    Diagnostic::error(
                        "missing-field",
                        format!("{ptr}/target/{field}"),
                        format!("a {field} target is a percentage of the {field} request, and `{name}` requests no {field}"),
                    )
                    .hint(format!("add `resources: {{ {field}: … }}` to the service")),
                );
            }
        }
        if target.queue_depth.is_some() && s.queue.is_none() {
            self.push(
                Diagnostic::error(
                    "missing-field",
                    format!("{ptr}/target/queue_depth"),
                    format!("a `queue_depth` target needs a queue, and `{name}` has none"),
                )
                .hint("add `queue: { broker: NAME, name: QUEUE }` to the service"),
            );
        }
        if (target.requests_per_second.is_some() || target.connections.is_some())
            && !s.kind.is_routable()
        {
            let field = if target.requests_per_second.is_some() {
                "requests_per_second"
            } else {
                "connections"
            };
            self.push(Diagnostic::error(
                "not-routable",
                format!("{ptr}/target/{field}"),
                format!(
                    "a {} service takes no requests: `{field}` cannot drive its scaling",
                    s.kind.as_str()
                ),
            ));
        }
        if (sc.scale_up.is_some() || sc.scale_down.is_some()) && !autoscaled {
            self.push(Diagnostic::warning(
                "unused-setting",
                ptr.clone(),
                "`scale_up`/`scale_down` have no effect without `min` and `max`",
            ));
        }
        for (field, p) in [("scale_up", &sc.scale_up), ("scale_down", &sc.scale_down)] {
            if let Some(p) = p {
                if let Some(d) = &p.stabilization {
                    self.duration(&format!("{ptr}/{field}/stabilization"), d, false);
                    if d.millis().is_some_and(|ms| ms > 3_600_000) {
                        self.push(Diagnostic::error(
                            "out-of-range",
                            format!("{ptr}/{field}/stabilization"),
                            "a stabilization window is at most 1h",
                        ));
                    }
                }
                if let Some(d) = &p.period {
                    self.duration(&format!("{ptr}/{field}/period"), d, true);
                    if d.millis().is_some_and(|ms| ms > 1_800_000) {
                        self.push(Diagnostic::error(
                            "out-of-range",
                            format!("{ptr}/{field}/period"),
                            "a scaling policy period is at most 30m",
                        ));
                    }
                }
            }
        }
        if s.kind == ServiceKind::Scheduler && (sc.replicas.unwrap_or(1) > 1 || autoscaled) {
            let at = if sc.replicas.is_some() {
                format!("{ptr}/replicas")
            } else {
                ptr.clone()
            };
            self.push(
                Diagnostic::error(
                    "scheduler-replicas",
                    at,
                    format!("scheduler `{name}` must run exactly one instance"),
                )
                .hint("a second scheduler runs every job twice; remove `scaling` (or use `replicas: 1`)"),
            );
        }
    }

    fn datastore(&mut self, name: &str, store: &Datastore) {
        let ptr = store_ptr(name);
        self.tier_ref(
            format!("{ptr}/tier"),
            store.tier().map(str::to_string).as_ref(),
        );
        if let Some(r) = store.resources() {
            self.resources(&format!("{ptr}/resources"), r);
        }
        match store {
            Datastore::Postgres(pg) => {
                // Names PostgreSQL, PgBouncer or tierform itself already use.
                let reserved_db = ["postgres", "template0", "template1", "pgbouncer"];
                if reserved_db.contains(&pg.database.as_str()) {
                    self.push(
                        Diagnostic::error(
                            "reserved-name",
                            format!("{ptr}/database"),
                            format!(
                                "`{}` is a database PostgreSQL or PgBouncer already has",
                                pg.database
                            ),
                        )
                        .hint("name the application's database after the application"),
                    );
                }
                let user = pg.user.as_deref().unwrap_or(&pg.database);
                if ["postgres", "replicator", "pgbouncer"].contains(&user) {
                    self.push(
                        Diagnostic::error(
                            "reserved-name",
                            format!("{ptr}/{}", if pg.user.is_some() { "user" } else { "database" }),
                            format!("`{user}` is a role tierform or PostgreSQL already creates (the superuser, the replication role, PgBouncer's console)"),
                        )
                        .hint("set `user:` to the application's own role name"),
                    );
                }
                if pg.replication == Replication::Sync && pg.replicas == 0 {
                    self.push(
                        Diagnostic::error(
                            "sync-without-replica",
                            format!("{ptr}/replication"),
                            "synchronous replication needs at least one replica: every commit would wait forever",
                        )
                        .hint("add `replicas: 1` (or more), or use `replication: async`"),
                    );
                }
                if let Some(pool) = &pg.pooler {
                    let server = pool.default_pool_size + pool.reserve_pool_size;
                    // Keep a few connections for superuser and replication.
                    let budget = pg.max_connections.saturating_sub(5);
                    if server > budget {
                        self.push(
                            Diagnostic::error(
                                "pool-exceeds-connections",
                                format!("{ptr}/pooler/default_pool_size"),
                                format!(
                                    "the pool may open {server} server connections, but `max_connections` is {} (5 kept for administration)",
                                    pg.max_connections
                                ),
                            )
                            .hint("lower `default_pool_size` + `reserve_pool_size`, or raise `max_connections`"),
                        );
                    }
                    if pool.max_client_conn < pool.default_pool_size {
                        self.push(Diagnostic::warning(
                            "pool-too-large",
                            format!("{ptr}/pooler/max_client_conn"),
                            format!(
                                "`max_client_conn` ({}) is below `default_pool_size` ({}): part of the pool can never be used",
                                pool.max_client_conn, pool.default_pool_size
                            ),
                        ));
                    }
                }
            }
            Datastore::Redis(r) => {
                match (r.mode, &r.cluster) {
                    (RedisMode::Cluster, None) => self.push(
                        Diagnostic::error(
                            "missing-field",
                            ptr.clone(),
                            "a Redis Cluster needs its shape: `cluster: { masters: 3, replicas_per_master: 1 }`",
                        ),
                    ),
                    (RedisMode::Cluster, Some(shape)) if shape.masters < 3 => self.push(
                        Diagnostic::error(
                            "cluster-too-small",
                            format!("{ptr}/cluster/masters"),
                            format!("a Redis Cluster needs at least 3 masters, not {}", shape.masters),
                        )
                        .hint("with fewer than 3 masters no majority survives a failure; use `mode: standalone` for one node"),
                    ),
                    (RedisMode::Cluster, Some(shape)) if shape.replicas_per_master == 0 => self.push(
                        Diagnostic::warning(
                            "cluster-without-replicas",
                            format!("{ptr}/cluster/replicas_per_master"),
                            "a Redis Cluster without replicas cannot fail over: losing one master loses its share of the keys",
                        )
                        .hint("use `replicas_per_master: 1`"),
                    ),
                    (RedisMode::Standalone, Some(_)) => self.push(
                        Diagnostic::error(
                            "conflicting-fields",
                            format!("{ptr}/cluster"),
                            "`cluster` is set but `mode` is `standalone`",
                        )
                        .at_key()
                        .hint("add `mode: cluster`, or remove `cluster`"),
                    ),
                    _ => {}
                }
                let limit = r
                    .resources
                    .as_ref()
                    .and_then(|res| res.memory_limit.as_ref().or(res.memory.as_ref()));
                if limit.is_none() {
                    self.push(
                        Diagnostic::warning(
                            "redis-unbounded",
                            ptr.clone(),
                            format!("Redis `{name}` has no memory size, so `maxmemory` cannot be set"),
                        )
                        .hint("add `resources: { memory: 512Mi }`; without it Redis grows until the kernel kills it"),
                    );
                }
            }
            Datastore::Rabbitmq(_) => {}
        }
    }

    fn resources(&mut self, ptr: &str, r: &Resources) {
        let cpu = r
            .cpu
            .as_ref()
            .and_then(|q| self.quantity(&format!("{ptr}/cpu"), q, Measure::Cpu));
        let cpu_limit = r
            .cpu_limit
            .as_ref()
            .and_then(|q| self.quantity(&format!("{ptr}/cpu_limit"), q, Measure::Cpu));
        let mem = r
            .memory
            .as_ref()
            .and_then(|q| self.quantity(&format!("{ptr}/memory"), q, Measure::Memory));
        let mem_limit = r
            .memory_limit
            .as_ref()
            .and_then(|q| self.quantity(&format!("{ptr}/memory_limit"), q, Measure::Memory));
        if let (Some(req), Some(lim)) = (cpu, cpu_limit) {
            if req > lim {
                self.push(request_above_limit(
                    ptr,
                    "cpu",
                    r.cpu.as_ref(),
                    r.cpu_limit.as_ref(),
                ));
            }
        }
        if let (Some(req), Some(lim)) = (mem, mem_limit) {
            if req > lim {
                self.push(request_above_limit(
                    ptr,
                    "memory",
                    r.memory.as_ref(),
                    r.memory_limit.as_ref(),
                ));
            }
        }
    }

    fn quantity(&mut self, ptr: &str, q: &Quantity, measure: Measure) -> Option<u64> {
        match q.check(measure) {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(
                    Diagnostic::error("invalid-quantity", ptr.to_string(), e.message)
                        .maybe_hint(e.hint),
                );
                None
            }
        }
    }

    fn duration(&mut self, ptr: &str, d: &Duration, positive: bool) {
        match d.millis() {
            None => self.push(
                Diagnostic::error(
                    "invalid-duration",
                    ptr.to_string(),
                    format!("`{d}` is not a duration"),
                )
                .expected("a number and a unit (ms, s, m, h, d), like `30s` or `5m`"),
            ),
            Some(0) if positive => self.push(
                Diagnostic::error("out-of-range", ptr.to_string(), format!("`{d}` is zero"))
                    .expected("a duration longer than zero"),
            ),
            Some(ms) if ms > 7 * 86_400_000 => self.push(Diagnostic::error(
                "out-of-range",
                ptr.to_string(),
                format!("`{d}` is longer than a week"),
            )),
            _ => {}
        }
    }

    /// On the `hosts` platform everything runs on a machine of a tier that lists its
    /// hosts, and no two listeners on one machine share a port.
    fn placement(&mut self) {
        let layout = hosts_layout(self.bp);
        let (unplaced, conflicts) = (layout.unplaced, layout.conflicts);
        for (ptr, what) in unplaced {
            self.push(
                Diagnostic::error(
                    "unplaced",
                    ptr,
                    format!("the `hosts` platform cannot place {what}: it is on no tier that lists hosts"),
                )
                .at_key()
                .hint("set its `tier` to a tier with `hosts: [...]`, or drop the `hosts` target from this phase"),
            );
        }
        for (ptr, message) in conflicts {
            self.push(
                Diagnostic::error("port-conflict", ptr, message)
                    .hint("give one of them another `port`, or put them on different tiers"),
            );
        }
    }

    /// What runs on a tier (at its fewest instances) must fit its machines: the sum of
    /// CPU and memory requests against the machines' size. Nodes of a datastore count
    /// once each (a PgBouncer's small footprint aside).
    fn capacity(&mut self) {
        use crate::plan::placement::datastore_nodes;
        for (tier_name, tier) in &self.bp.tiers {
            let (Ok(cpu), Ok(memory)) =
                (tier.machine.cpu.millicores(), tier.machine.memory.bytes())
            else {
                continue;
            };
            let machines = u64::from(
                tier.count
                    .unwrap_or_else(|| (tier.hosts.len() as u32).max(1)),
            );
            let (mut want_cpu, mut want_mem) = (0u64, 0u64);
            let mut add = |r: Option<&Resources>, n: u64| {
                if let Some(r) = r {
                    want_cpu += r
                        .cpu
                        .as_ref()
                        .and_then(|q| q.millicores().ok())
                        .unwrap_or(0)
                        * n;
                    want_mem += r.memory.as_ref().and_then(|q| q.bytes().ok()).unwrap_or(0) * n;
                }
            };
            for s in self
                .bp
                .services
                .values()
                .filter(|s| s.tier.as_deref() == Some(tier_name))
            {
                add(s.resources.as_ref(), u64::from(s.fixed_instances()));
            }
            for (name, d) in self
                .bp
                .datastores
                .iter()
                .filter(|(_, d)| d.tier() == Some(tier_name))
            {
                let nodes = datastore_nodes(name, d)
                    .iter()
                    .filter(|(_, role, _)| *role != "pooler")
                    .count();
                add(d.resources(), nodes as u64);
            }
            let over_cpu = want_cpu > cpu * machines;
            let over_mem = want_mem > memory * machines;
            if over_cpu || over_mem {
                let mut what = Vec::new();
                if over_cpu {
                    what.push(format!(
                        "{} CPU requested of {}",
                        crate::model::units::format_millicores(want_cpu),
                        crate::model::units::format_millicores(cpu * machines)
                    ));
                }
                if over_mem {
                    what.push(format!(
                        "{} memory requested of {}",
                        crate::model::units::format_bytes(want_mem),
                        crate::model::units::format_bytes(memory * machines)
                    ));
                }
                self.push(
                    Diagnostic::warning(
                        "over-capacity",
                        Pointer::build(["tiers", tier_name.as_str(), "machine"]),
                        format!("tier `{tier_name}` does not fit what runs on it: {}", what.join(", ")),
                    )
                    .at_key()
                    .hint("give the tier more or bigger machines, or lower the requests (autoscaled services count at their `min`)"),
                );
            }
        }
    }

    /// On Kubernetes the balancer reaches each service through its Service's one
    /// virtual IP, and kube-proxy picks the pod: stickiness by header or cookie is lost.
    fn kubernetes_balance(&mut self) {
        for (name, s) in &self.bp.services {
            let Some(b) = &s.balance else { continue };
            if !self.is_routed(name) {
                continue;
            }
            let sticky = b.sticky.as_deref().unwrap_or("none");
            // `least_conn` loses its effect too, harmlessly; lost stickiness breaks sessions.
            if !(sticky.starts_with("header:") || sticky.starts_with("cookie")) {
                continue;
            }
            let what = format!("`sticky: {sticky}`");
            self.push(
                Diagnostic::warning(
                    "no-effect-on-kubernetes",
                    format!("{}/balance", service_ptr(name)),
                    format!("{what} has no effect on Kubernetes: the balancer reaches `{name}` through its Service, and kube-proxy picks the pod"),
                )
                .at_key()
                .hint("use `sticky: client_ip` (the Service's session affinity) there, or keep this setting to the compose and hosts phases"),
            );
        }
    }

    /// Each instance and datastore node becomes a compose service (`api-1`,
    /// `db-replica-1`, …); two must never get the same name.
    fn compose_names(&mut self) {
        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        let mut clashes = Vec::new();
        let mut claim = |id: String, owner: String, ptr: Pointer| {
            if let Some(first) = owners.get(&id) {
                if first != &owner {
                    clashes.push((ptr, format!("`{id}` would name both {first} and {owner}")));
                }
            } else {
                owners.insert(id, owner);
            }
        };
        for (name, s) in &self.bp.services {
            for id in instance_names(name, s.fixed_instances()) {
                claim(id, format!("service `{name}`"), service_ptr(name));
            }
        }
        for (name, store) in &self.bp.datastores {
            if self.bp.services.contains_key(name) {
                continue; // reported as `duplicate-name`
            }
            for (id, _, _) in datastore_nodes(name, store) {
                claim(id, format!("datastore `{name}`"), store_ptr(name));
            }
        }
        for (ptr, message) in clashes {
            self.push(
                Diagnostic::error("name-collision", ptr, message)
                    .at_key()
                    .hint("instances and datastore nodes are named `<name>-<n>`, `<name>-replica-<n>`, `<name>-pgbouncer`: rename one of the two"),
            );
        }
    }

    fn host_ports(&mut self) {
        let mut taken: BTreeMap<u32, String> = BTreeMap::new();
        if let Some(lb) = &self.bp.balancer {
            taken.insert(lb.listen, "the balancer (`balancer.listen`)".into());
        }
        for (name, s) in &self.bp.services {
            if let Some(port) = s.host_port {
                let ptr = format!("{}/host_port", service_ptr(name));
                let instances = max_instances(s);
                if instances > 1 {
                    self.push(
                        Diagnostic::error(
                            "port-conflict",
                            ptr.clone(),
                            format!("`{name}` may run {instances} instances, and they cannot all publish host port {port}"),
                        )
                        .hint("put the service behind the balancer instead, or run one instance"),
                    );
                }
                if let Some(owner) = taken.get(&port) {
                    self.push(
                        Diagnostic::error(
                            "port-conflict",
                            ptr,
                            format!("host port {port} is already taken by {owner}"),
                        )
                        .hint("two listeners cannot share a host port: pick another"),
                    );
                } else {
                    taken.insert(port, format!("service `{name}`"));
                }
            }
        }
    }
}

fn request_above_limit(
    ptr: &str,
    what: &str,
    req: Option<&Quantity>,
    lim: Option<&Quantity>,
) -> Diagnostic {
    Diagnostic::error(
        "request-above-limit",
        format!("{ptr}/{what}"),
        format!(
            "the {what} request ({}) is above its limit ({})",
            req.map(|q| q.0.as_str()).unwrap_or_default(),
            lim.map(|q| q.0.as_str()).unwrap_or_default()
        ),
    )
    .hint(format!(
        "a request can be at most the limit: lower `{what}` or raise `{what}_limit`"
    ))
}

/// The most instances a service may run.
pub fn max_instances(s: &Service) -> u32 {
    match &s.scaling {
        None => 1,
        Some(sc) => sc.max.or(sc.replicas).unwrap_or(1),
    }
}

fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "PRIVATE_KEY",
        "CREDENTIALS",
    ]
    .iter()
    .any(|w| k.contains(w))
}

fn is_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    // Something shaped like an IPv4 address that does not parse is a typo, not a name.
    if host
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::is_host;

    #[test]
    fn hosts() {
        assert!(is_host("10.0.1.11"));
        assert!(is_host("::1"));
        assert!(is_host("app-1.internal"));
        assert!(!is_host("10.0.1.300"));
        assert!(!is_host("-bad.example"));
        assert!(!is_host("a..b"));
    }
}
