//! Services: images, ports, health checks, environment, the datastores and queue they use,
//! and host ports.

use std::collections::{BTreeMap, BTreeSet};

use super::{service_ptr, Checker};
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::{
    Datastore, Duration, RedisMode, RedisRole, Service, ServiceKind, Shutdown,
    SHUTDOWN_GRACE_MAX_MS, SHUTDOWN_GRACE_MIN_MS,
};

impl Checker<'_> {
    /// `urls`: each names a datastore the service uses, by a variable of its own.
    fn urls(&mut self, name: &str, s: &Service) {
        for (var, store) in &s.urls {
            let at = service_ptr(name).child("urls").child(var);
            if s.env.contains_key(var) || s.secrets.contains(var) {
                self.push(
                    Diagnostic::error(
                        Code::DuplicateName,
                        at.clone(),
                        format!("`{var}` is both a connection URL and a variable of `env` or `secrets`"),
                    )
                    .at_key()
                    .hint(format!("remove `{var}` from `env` and `secrets`: tierform builds it from `{store}`'s settings")),
                );
            }
            if !s.uses.contains(store) {
                self.push(
                    Diagnostic::error(
                        Code::UnknownReference,
                        at,
                        format!("`{var}` is the URL of `{store}`, which `{name}` does not use"),
                    )
                    .hint(format!(
                        "add `{store}` to `uses` (its password comes with it)"
                    )),
                );
            }
        }
    }

    /// `shutdown`: a grace from 1 s to 1 h, a drain no longer than it, and a drain only
    /// where a balancer sends traffic.
    fn shutdown(&mut self, name: &str, s: &Service, sd: &Shutdown) {
        let ptr = service_ptr(name).child("shutdown");
        self.duration(&ptr.child("grace"), &sd.grace, true);
        let grace = sd.grace.checked_millis(true).ok();
        if let Some(ms) = grace {
            if !(SHUTDOWN_GRACE_MIN_MS..=SHUTDOWN_GRACE_MAX_MS).contains(&ms) {
                self.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        ptr.child("grace"),
                        format!("a shutdown grace of `{}` is out of range", sd.grace),
                    )
                    .expected("from `1s` to `1h`"),
                );
            }
        }
        let Some(drain) = &sd.drain else { return };
        self.duration(&ptr.child("drain"), drain, false);
        if !s.kind.is_routable() {
            self.push(
                Diagnostic::error(
                    Code::NotRoutable,
                    ptr.child("drain"),
                    format!(
                        "a {} service takes no traffic from the balancer: it has nothing to drain",
                        s.kind.as_str()
                    ),
                )
                .at_key()
                .hint("remove `drain`: `grace` alone gives the process its time to finish"),
            );
            return;
        }
        if let (Some(g), Ok(d)) = (grace, drain.checked_millis(false)) {
            if d > g {
                self.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        ptr.child("drain"),
                        format!(
                            "the drain (`{drain}`) is longer than the grace (`{}`)",
                            sd.grace
                        ),
                    )
                    .expected(format!("from `0s` to the grace, `{}`", sd.grace)),
                );
            }
        }
    }

    pub(super) fn service(&mut self, name: &str, s: &Service) {
        let ptr = service_ptr(name);
        self.tier_ref(ptr.child("tier"), s.tier.as_ref());
        let repository = s.image.split('@').next().unwrap_or_default();
        let repository = match repository.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => repo,
            _ => repository,
        };
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            self.push(
                Diagnostic::error(
                    Code::InvalidImage,
                    ptr.child("image"),
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
                    Code::MissingField,
                    ptr.clone(),
                    format!("{} service `{name}` needs a `port`", s.kind.as_str()),
                )
                .hint("add `port: 8000` (the port the process listens on)"),
            );
        }
        // Health.
        if let Some(h) = &s.health {
            let hptr = ptr.child("health");
            match (&h.path, h.command.is_empty()) {
                (Some(_), false) => self.push(Diagnostic::error(
                    Code::ConflictingFields,
                    hptr.clone(),
                    "a health check has `path` or `command`, not both",
                )),
                (None, true) => self.push(
                    Diagnostic::error(Code::MissingField, hptr.clone(), "a health check needs `path` or `command`")
                        .hint("`path: /health` for an HTTP check, or `command: [...]` run in the container"),
                ),
                (Some(_), true) if s.port.is_none() => self.push(
                    Diagnostic::error(
                        Code::MissingField,
                        hptr.child("path"),
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
                    self.duration(&hptr.child(field), d, field != "start_period");
                }
            }
            if let (Some(i), Some(t)) = (
                h.interval.as_ref().and_then(Duration::millis),
                h.timeout.as_ref().and_then(Duration::millis),
            ) {
                if t > i {
                    self.push(
                        Diagnostic::warning(
                            Code::TimeoutExceedsInterval,
                            hptr.child("timeout"),
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
            self.resources(&ptr.child("resources"), r);
        }
        if let Some(sd) = &s.shutdown {
            self.shutdown(name, s, sd);
        }
        // Environment and secrets.
        let mut secrets = BTreeSet::new();
        for (i, secret) in s.secrets.iter().enumerate() {
            if !secrets.insert(secret) {
                self.push(Diagnostic::error(
                    Code::DuplicateItem,
                    ptr.child("secrets").child(i),
                    format!("secret `{secret}` is listed twice"),
                ));
            }
            if s.env.contains_key(secret) {
                self.push(
                    Diagnostic::error(
                        Code::DuplicateName,
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
            let prefix = format!("{}_", crate::model::env_prefix(u));
            for key in s.env.keys().chain(&s.secrets).chain(s.urls.keys()) {
                if key.starts_with(&prefix) {
                    let at = if s.env.contains_key(key) {
                        service_ptr(name).child("env").child(key)
                    } else if s.urls.contains_key(key) {
                        service_ptr(name).child("urls").child(key)
                    } else {
                        service_ptr(name).child("secrets")
                    };
                    self.push(
                        Diagnostic::error(
                            Code::EnvConflict,
                            at,
                            format!("`{key}` would be overwritten by the connection settings tierform gives `{name}` for `{u}` (`{prefix}HOST`, `{prefix}PORT`, …)"),
                        )
                        .at_key()
                        .hint(format!("rename it, or read the `{prefix}*` variables tierform sets")),
                    );
                }
            }
        }
        self.urls(name, s);
        for key in s.env.keys() {
            if looks_secret(key) && !secrets.contains(key) {
                self.push(
                    Diagnostic::warning(
                        Code::SecretInEnv,
                        ptr.child("env").child(key),
                        format!("`{key}` looks like a secret, but its value is written in the blueprint"),
                    )
                    .at_key()
                    .hint(format!("move `{key}` to `secrets`; the value then comes from an env file or a Secret at run time")),
                );
            }
        }
        self.secret_values(&ptr, s);
        // Datastores used.
        let mut uses = BTreeSet::new();
        for (i, u) in s.uses.iter().enumerate() {
            if !uses.insert(u) {
                self.push(Diagnostic::error(
                    Code::DuplicateItem,
                    ptr.child("uses").child(i),
                    format!("`{u}` is listed twice in `uses`"),
                ));
            }
            if !self.bp.datastores.contains_key(u) {
                let candidates = self.bp.datastores.keys().cloned().collect();
                self.reference(ptr.child("uses").child(i), "datastore", u, candidates);
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
                        ptr.child("queue").child("broker"),
                        "datastore",
                        &q.broker,
                        candidates,
                    );
                }
                Some(d) if !d.is_broker() => self.push(
                    Diagnostic::error(
                        Code::NotABroker,
                        ptr.child("queue").child("broker"),
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
                                Code::CacheAsBroker,
                                ptr.child("queue").child("broker"),
                                format!("`{}` has role `cache`: it evicts keys when full, and a queue on it would lose messages", q.broker),
                            )
                            .hint(format!("set `role: broker` on `{}` (it then never evicts), or give the queue its own Redis", q.broker)),
                        );
                    }
                    if r.mode == RedisMode::Cluster && r.managed.is_none() {
                        self.push(
                            Diagnostic::warning(
                                Code::ClusterBroker,
                                ptr.child("queue").child("broker"),
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
                    Code::UnusedSetting,
                    ptr.child("balance"),
                    format!("`balance` has no effect: no route sends traffic to `{name}`"),
                )
                .at_key(),
            );
        }
        if let Some(b) = &s.balance {
            self.balance(&ptr.child("balance"), b);
        }
        self.scaling(name, s);
        // A WebSocket behind the balancer, on several instances, without stickiness.
        if s.kind == ServiceKind::Websocket && self.is_routed(name) && s.most_instances() > 1 {
            let sticky = s
                .balance
                .as_ref()
                .and_then(|b| b.sticky.as_deref())
                .unwrap_or("none");
            if sticky == "none" {
                self.push(
                    Diagnostic::warning(
                        Code::WebsocketNotSticky,
                        ptr.clone(),
                        format!("WebSocket service `{name}` runs several instances behind the balancer without stickiness"),
                    )
                    .hint("reconnecting clients land on any instance; set `balance: { sticky: client_ip }` (or `header:NAME`) to keep each client on one"),
                );
            }
        }
    }

    pub(super) fn host_ports(&mut self) {
        let mut taken: BTreeMap<u32, String> = BTreeMap::new();
        if let Some(lb) = &self.bp.balancer {
            taken.insert(lb.listen, "the balancer (`balancer.listen`)".into());
            if let Some(tls) = &lb.tls {
                taken
                    .entry(tls.listen)
                    .or_insert_with(|| "the balancer's HTTPS (`balancer.tls.listen`)".into());
            }
            if lb.proxy_protocol {
                taken
                    .entry(u32::from(crate::model::PROXY_HEALTH_PORT))
                    .or_insert_with(|| "the balancer's health (`balancer.proxy_protocol`)".into());
            }
        }
        for (name, s) in &self.bp.services {
            if let Some(port) = s.host_port {
                let ptr = service_ptr(name).child("host_port");
                let instances = s.most_instances();
                if instances > 1 {
                    self.push(
                        Diagnostic::error(
                            Code::PortConflict,
                            ptr.clone(),
                            format!("`{name}` may run {instances} instances, and they cannot all publish host port {port}"),
                        )
                        .hint("put the service behind the balancer instead, or run one instance"),
                    );
                }
                if let Some(owner) = taken.get(&port) {
                    self.push(
                        Diagnostic::error(
                            Code::PortConflict,
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

fn looks_secret(key: &str) -> bool {
    const WORDS: [&[u8]; 7] = [
        b"PASSWORD",
        b"PASSWD",
        b"SECRET",
        b"TOKEN",
        b"API_KEY",
        b"PRIVATE_KEY",
        b"CREDENTIALS",
    ];
    // Each word anywhere in the key, in any case (one pass, no copy).
    let key = key.as_bytes();
    (0..key.len()).any(|i| {
        WORDS
            .iter()
            .any(|w| key[i..].len() >= w.len() && key[i..i + w.len()].eq_ignore_ascii_case(w))
    })
}
