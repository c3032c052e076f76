//! What changes between two phases: a summary in the plan's own terms, the notes an
//! operator needs for moves that take more than applying files, and the per-file
//! differences of the rendered bundles.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::units::{format_bytes, format_millicores};
use crate::model::Platform;
use crate::plan::{DatastorePlan, EnginePlan, Plan, ResourcesPlan, ServicePlan};

mod notes;

pub use notes::notes;

/// `+` added, `-` removed, `~` changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Mark {
    #[serde(rename = "+")]
    Added,
    #[serde(rename = "-")]
    Removed,
    #[serde(rename = "~")]
    Changed,
}

impl Mark {
    pub fn symbol(self) -> char {
        match self {
            Mark::Added => '+',
            Mark::Removed => '-',
            Mark::Changed => '~',
        }
    }
}

/// One line of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What changed: `platforms`, `tier app`, `balancer`, a service or datastore name.
    pub subject: String,
    #[serde(rename = "change")]
    pub mark: Mark,
    /// The change, in the plan's terms: `instances 1 → 3`.
    pub text: String,
}

struct Summary<'a> {
    from: &'a Plan,
    to: &'a Plan,
    out: Vec<Change>,
}

impl Summary<'_> {
    fn push(&mut self, subject: &str, mark: Mark, text: impl Into<String>) {
        self.out.push(Change {
            subject: subject.to_string(),
            mark,
            text: text.into(),
        });
    }

    fn field<T: PartialEq + std::fmt::Display>(&mut self, subject: &str, what: &str, a: T, b: T) {
        if a != b {
            self.push(subject, Mark::Changed, format!("{what} {a} → {b}"));
        }
    }
}

fn cpu(m: u64) -> String {
    if m == 0 {
        "none".into()
    } else {
        format_millicores(m)
    }
}

fn mem(b: u64) -> String {
    if b == 0 {
        "none".into()
    } else {
        format_bytes(b)
    }
}

/// `3`, or `3–20` for an autoscaled service.
pub fn instances_text(s: &ServicePlan) -> String {
    if s.scaling.autoscaled {
        format!("{}–{}", s.scaling.min, s.scaling.max)
    } else {
        s.instances.to_string()
    }
}

fn targets_text(s: &ServicePlan) -> String {
    let sc = &s.scaling;
    let mut t = Vec::new();
    if let Some(c) = sc.cpu_percent {
        t.push(format!("cpu {c}%"));
    }
    if let Some(m) = sc.memory_percent {
        t.push(format!("memory {m}%"));
    }
    if let Some(r) = sc.requests_per_second {
        t.push(format!("{r} req/s"));
    }
    if let Some(q) = sc.queue_depth {
        t.push(format!("queue depth {q}"));
    }
    if let Some(c) = sc.connections {
        t.push(format!("{c} connections"));
    }
    t.join(", ")
}

/// `primary + 2 replicas + pgbouncer`, `cluster (3 masters × 1 replica)`, `standalone`.
pub fn shape_text(d: &DatastorePlan) -> String {
    match &d.engine {
        EnginePlan::Postgres(pg) => {
            let mut s = "primary".to_string();
            if pg.replicas > 0 {
                s.push_str(&format!(
                    " + {} {} replica{}",
                    pg.replicas,
                    if pg.synchronous { "sync" } else { "async" },
                    if pg.replicas == 1 { "" } else { "s" }
                ));
            }
            if pg.pooler.is_some() {
                s.push_str(" + pgbouncer");
            }
            s
        }
        EnginePlan::Redis(r) if r.cluster => format!(
            "cluster ({} masters × {} replica{})",
            r.masters,
            r.replicas_per_master,
            if r.replicas_per_master == 1 { "" } else { "s" }
        ),
        EnginePlan::Redis(_) => "standalone".into(),
        EnginePlan::Rabbitmq(_) => "single node".into(),
    }
}

/// Every change from `from` to `to`, grouped by subject in a stable order: platforms,
/// tiers, the balancer, services, datastores.
pub fn summarize(from: &Plan, to: &Plan) -> Vec<Change> {
    let mut s = Summary {
        from,
        to,
        out: Vec::new(),
    };
    platforms(&mut s);
    tiers(&mut s);
    balancer(&mut s);
    services(&mut s);
    datastores(&mut s);
    s.out
}

fn platforms(s: &mut Summary) {
    let a: BTreeSet<Platform> = s.from.platforms.iter().copied().collect();
    let b: BTreeSet<Platform> = s.to.platforms.iter().copied().collect();
    for p in b.difference(&a) {
        s.push("platforms", Mark::Added, p.as_str());
    }
    for p in a.difference(&b) {
        s.push("platforms", Mark::Removed, p.as_str());
    }
}

fn tiers(s: &mut Summary) {
    let names: BTreeSet<&String> = s.from.tiers.keys().chain(s.to.tiers.keys()).collect();
    for name in names {
        let subject = format!("tier {name}");
        match (s.from.tiers.get(name), s.to.tiers.get(name)) {
            (None, Some(t)) => s.push(
                &subject,
                Mark::Added,
                format!(
                    "{} × {} CPU, {}",
                    t.count,
                    cpu(t.cpu_millis),
                    mem(t.memory_bytes)
                ),
            ),
            (Some(_), None) => s.push(&subject, Mark::Removed, "removed"),
            (Some(a), Some(b)) => {
                s.field(&subject, "machines", a.count, b.count);
                if (a.cpu_millis, a.memory_bytes) != (b.cpu_millis, b.memory_bytes) {
                    s.push(
                        &subject,
                        Mark::Changed,
                        format!(
                            "machine {} CPU, {} → {} CPU, {}",
                            cpu(a.cpu_millis),
                            mem(a.memory_bytes),
                            cpu(b.cpu_millis),
                            mem(b.memory_bytes)
                        ),
                    );
                }
                if a.hosts != b.hosts {
                    s.push(
                        &subject,
                        Mark::Changed,
                        format!("hosts [{}] → [{}]", a.hosts.join(", "), b.hosts.join(", ")),
                    );
                }
                if a.cost_per_month != b.cost_per_month {
                    let c = |x: Option<f64>| x.map_or("unknown".into(), |v| format!("{v}"));
                    s.push(
                        &subject,
                        Mark::Changed,
                        format!(
                            "cost per machine {} → {}",
                            c(a.cost_per_month),
                            c(b.cost_per_month)
                        ),
                    );
                }
            }
            (None, None) => {}
        }
    }
}

/// The balancer's HTTPS in a summary line: `none`, or its port, redirect and HSTS.
fn https(tls: &Option<crate::plan::TlsPlan>) -> String {
    let Some(t) = tls else { return "none".into() };
    let redirect = if t.redirect_http {
        " (plain HTTP redirects)"
    } else {
        ""
    };
    let hsts = t
        .hsts
        .as_deref()
        .map_or("no HSTS".into(), |h| format!("HSTS {h}"));
    format!("on port {}{redirect}, {hsts}", t.listen)
}

fn balancer(s: &mut Summary) {
    let subject = "balancer";
    match (&s.from.balancer, &s.to.balancer) {
        (None, None) => {}
        (None, Some(b)) => {
            let engine = b.engine.as_str();
            s.push(
                subject,
                Mark::Added,
                format!("{engine} on port {}", b.listen),
            );
            if b.tls.is_some() {
                s.push(subject, Mark::Added, format!("HTTPS {}", https(&b.tls)));
            }
            for r in &b.routes {
                s.push(
                    subject,
                    Mark::Added,
                    format!("route {} → {}", r.path, route_target(r)),
                );
            }
        }
        (Some(_), None) => s.push(subject, Mark::Removed, "removed"),
        (Some(a), Some(b)) => {
            let (ea, eb) = (a.engine.as_str(), b.engine.as_str());
            s.field(subject, "engine", ea, eb);
            s.field(subject, "port", a.listen, b.listen);
            let tier = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".into());
            s.field(subject, "tier", tier(&a.tier), tier(&b.tier));
            s.field(subject, "HTTPS", https(&a.tls), https(&b.tls));
            let ra: BTreeMap<&str, String> = a
                .routes
                .iter()
                .map(|r| (r.path.as_str(), route_target(r)))
                .collect();
            let rb: BTreeMap<&str, String> = b
                .routes
                .iter()
                .map(|r| (r.path.as_str(), route_target(r)))
                .collect();
            for (path, target) in &rb {
                match ra.get(path) {
                    None => s.push(subject, Mark::Added, format!("route {path} → {target}")),
                    Some(old) if old != target => s.push(
                        subject,
                        Mark::Changed,
                        format!("route {path}: {old} → {target}"),
                    ),
                    _ => {}
                }
            }
            for (path, target) in &ra {
                if !rb.contains_key(path) {
                    s.push(subject, Mark::Removed, format!("route {path} → {target}"));
                }
            }
            let rate = |r: &Option<crate::plan::RateLimitPlan>| match r {
                None => "none".to_string(),
                Some(r) => format!(
                    "{} burst {} per {}",
                    r.rate_text(),
                    r.burst,
                    if r.header.is_empty() {
                        "client IP".to_string()
                    } else {
                        r.header.clone()
                    }
                ),
            };
            s.field(
                subject,
                "rate limit",
                rate(&a.rate_limit),
                rate(&b.rate_limit),
            );
            // Servers per pool, on each platform both phases render.
            for platform in
                s.to.platforms
                    .iter()
                    .filter(|p| s.from.platforms.contains(p))
            {
                for (name, pb) in &b.pools {
                    let nb = pb.servers.get(platform).map_or(0, Vec::len);
                    let na = a
                        .pools
                        .get(name)
                        .and_then(|p| p.servers.get(platform))
                        .map_or(0, Vec::len);
                    if na != nb {
                        let delta = nb as i64 - na as i64;
                        s.push(
                            subject,
                            if na == 0 { Mark::Added } else { Mark::Changed },
                            format!(
                                "upstream {name} {}{} server{} on {} ({na} → {nb})",
                                if delta > 0 { "+ " } else { "− " },
                                delta.unsigned_abs(),
                                if delta.unsigned_abs() == 1 { "" } else { "s" },
                                platform.as_str()
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn route_target(r: &crate::plan::RoutePlan) -> String {
    if r.backends.len() == 1 {
        r.backends[0].pool.clone()
    } else {
        r.backends
            .iter()
            .map(|b| {
                format!(
                    "{} {}.{:02}%",
                    b.pool,
                    b.basis_points / 100,
                    b.basis_points % 100
                )
            })
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

fn services(s: &mut Summary) {
    let names: BTreeSet<&String> = s.from.services.keys().chain(s.to.services.keys()).collect();
    for name in names {
        match (s.from.services.get(name), s.to.services.get(name)) {
            (None, Some(b)) => s.push(
                name,
                Mark::Added,
                format!(
                    "{} service, {} instance{}",
                    b.kind.as_str(),
                    instances_text(b),
                    if instances_text(b) == "1" { "" } else { "s" }
                ),
            ),
            (Some(a), None) => s.push(name, Mark::Removed, format!("{} service", a.kind.as_str())),
            (Some(a), Some(b)) => service_fields(s, name, a, b),
            (None, None) => {}
        }
    }
}

fn service_fields(s: &mut Summary, name: &str, a: &ServicePlan, b: &ServicePlan) {
    s.field(name, "kind", a.kind.as_str(), b.kind.as_str());
    s.field(name, "image", &a.image, &b.image);
    if a.command != b.command {
        s.push(
            name,
            Mark::Changed,
            format!(
                "command `{}` → `{}`",
                a.command.join(" "),
                b.command.join(" ")
            ),
        );
    }
    let (ia, ib) = (instances_text(a), instances_text(b));
    if ia != ib {
        s.push(name, Mark::Changed, format!("instances {ia} → {ib}"));
    }
    let (ta, tb) = (targets_text(a), targets_text(b));
    if ta != tb && b.scaling.autoscaled {
        s.push(
            name,
            if a.scaling.autoscaled {
                Mark::Changed
            } else {
                Mark::Added
            },
            format!(
                "autoscaling on {}",
                if tb.is_empty() {
                    "no target".into()
                } else {
                    tb
                }
            ),
        );
    } else if a.scaling.autoscaled && !b.scaling.autoscaled {
        s.push(name, Mark::Removed, "autoscaling");
    }
    resource_fields(s, name, &a.resources, &b.resources);
    let opt = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".into());
    s.field(name, "tier", opt(&a.tier), opt(&b.tier));
    let port = |p: Option<u16>| p.map_or("none".to_string(), |p| p.to_string());
    s.field(name, "port", port(a.port), port(b.port));
    let health = |x: &ServicePlan| {
        x.health.as_ref().map_or("none".to_string(), |h| {
            if h.path.is_empty() {
                format!("`{}`", h.command.join(" "))
            } else {
                h.path.clone()
            }
        })
    };
    s.field(name, "health", health(a), health(b));
    for (k, v) in &b.env {
        match a.env.get(k) {
            None => s.push(name, Mark::Added, format!("env {k}")),
            Some(old) if old != v => s.push(name, Mark::Changed, format!("env {k}")),
            _ => {}
        }
    }
    for k in a.env.keys().filter(|k| !b.env.contains_key(*k)) {
        s.push(name, Mark::Removed, format!("env {k}"));
    }
    set_diff(s, name, "secret", &a.secrets, &b.secrets);
    set_diff(s, name, "uses", &a.uses, &b.uses);
    let queue = |x: &ServicePlan| {
        x.queue
            .as_ref()
            .map_or("none".into(), |q| format!("{} on {}", q.name, q.broker))
    };
    s.field(name, "queue", queue(a), queue(b));
}

fn set_diff(s: &mut Summary, name: &str, what: &str, a: &[String], b: &[String]) {
    for x in b.iter().filter(|x| !a.contains(x)) {
        s.push(name, Mark::Added, format!("{what} {x}"));
    }
    for x in a.iter().filter(|x| !b.contains(x)) {
        s.push(name, Mark::Removed, format!("{what} {x}"));
    }
}

fn datastores(s: &mut Summary) {
    let names: BTreeSet<&String> = s
        .from
        .datastores
        .keys()
        .chain(s.to.datastores.keys())
        .collect();
    for name in names {
        match (s.from.datastores.get(name), s.to.datastores.get(name)) {
            (None, Some(b)) => s.push(
                name,
                Mark::Added,
                format!("{} {}, {}", b.engine, b.version, shape_text(b)),
            ),
            (Some(a), None) => s.push(name, Mark::Removed, format!("{} {}", a.engine, a.version)),
            (Some(a), Some(b)) => datastore_fields(s, name, a, b),
            (None, None) => {}
        }
    }
}

/// Requests and limits that change, of a service or a datastore.
fn resource_fields(s: &mut Summary, name: &str, ra: &ResourcesPlan, rb: &ResourcesPlan) {
    s.field(name, "cpu request", cpu(ra.cpu_millis), cpu(rb.cpu_millis));
    s.field(
        name,
        "cpu limit",
        cpu(ra.cpu_limit_millis),
        cpu(rb.cpu_limit_millis),
    );
    s.field(
        name,
        "memory request",
        mem(ra.memory_bytes),
        mem(rb.memory_bytes),
    );
    s.field(
        name,
        "memory limit",
        mem(ra.memory_limit_bytes),
        mem(rb.memory_limit_bytes),
    );
}

fn datastore_fields(s: &mut Summary, name: &str, a: &DatastorePlan, b: &DatastorePlan) {
    s.field(name, "engine", a.engine.name(), b.engine.name());
    s.field(name, "version", &a.version, &b.version);
    let opt = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".into());
    s.field(name, "tier", opt(&a.tier), opt(&b.tier));
    resource_fields(s, name, &a.resources, &b.resources);
    if let (Some(pa), Some(pb)) = (a.postgres(), b.postgres()) {
        if pb.replicas > pa.replicas {
            let n = pb.replicas - pa.replicas;
            s.push(
                name,
                Mark::Added,
                format!(
                    "{n} streaming replica{} ({} → {})",
                    if n == 1 { "" } else { "s" },
                    pa.replicas,
                    pb.replicas
                ),
            );
        } else if pb.replicas < pa.replicas {
            let n = pa.replicas - pb.replicas;
            s.push(
                name,
                Mark::Removed,
                format!(
                    "{n} streaming replica{} ({} → {})",
                    if n == 1 { "" } else { "s" },
                    pa.replicas,
                    pb.replicas
                ),
            );
        }
        s.field(
            name,
            "replication",
            if pa.synchronous { "sync" } else { "async" },
            if pb.synchronous { "sync" } else { "async" },
        );
        s.field(
            name,
            "max_connections",
            pa.max_connections,
            pb.max_connections,
        );
        s.field(
            name,
            "shared_buffers",
            &pa.tune.shared_buffers,
            &pb.tune.shared_buffers,
        );
        s.field(name, "work_mem", &pa.tune.work_mem, &pb.tune.work_mem);
        match (&pa.pooler, &pb.pooler) {
            (None, Some(p)) => s.push(
                name,
                Mark::Added,
                format!(
                    "pgbouncer ({} pool, {} per pool, {} clients)",
                    p.pool_mode, p.default_pool_size, p.max_client_conn
                ),
            ),
            (Some(_), None) => s.push(name, Mark::Removed, "pgbouncer"),
            (Some(x), Some(y)) => {
                s.field(name, "pool mode", &x.pool_mode, &y.pool_mode);
                s.field(name, "pool size", x.default_pool_size, y.default_pool_size);
                s.field(
                    name,
                    "max client connections",
                    x.max_client_conn,
                    y.max_client_conn,
                );
            }
            (None, None) => {}
        }
    }
    if let (Some(ra), Some(rb)) = (a.redis(), b.redis()) {
        let (sa, sb) = (shape_text(a), shape_text(b));
        if sa != sb {
            s.push(name, Mark::Changed, format!("{sa} → {sb}"));
        }
        s.field(name, "role", &ra.role, &rb.role);
        s.field(name, "maxmemory", mem(ra.maxmemory), mem(rb.maxmemory));
    }
}
