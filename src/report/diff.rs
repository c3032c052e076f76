//! What changes between two phases: a summary in the plan's own terms, the notes an
//! operator needs for moves that take more than applying files, and the per-file
//! differences of the rendered bundles.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::capabilities::any_has_machines;
use crate::model::units::{format_bytes, format_millicores};
use crate::model::Platform;
use crate::plan::{DatastorePlan, EnginePlan, Plan, ResourcesPlan, ServicePlan};

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

fn balancer(s: &mut Summary) {
    let subject = "balancer";
    match (&s.from.balancer, &s.to.balancer) {
        (None, None) => {}
        (None, Some(b)) => {
            let engine = format!("{:?}", b.engine).to_lowercase();
            s.push(
                subject,
                Mark::Added,
                format!("{engine} on port {}", b.listen),
            );
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
            let (ea, eb) = (
                format!("{:?}", a.engine).to_lowercase(),
                format!("{:?}", b.engine).to_lowercase(),
            );
            s.field(subject, "engine", ea, eb);
            s.field(subject, "port", a.listen, b.listen);
            let tier = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".into());
            s.field(subject, "tier", tier(&a.tier), tier(&b.tier));
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
                    "{}/s burst {} per {}",
                    r.requests_per_second,
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

/// Operational notes for moves that need more than applying the files, in the order
/// to act on them: what must exist first (a platform, secrets), then the datastores,
/// then the processes.
pub fn notes(from: &Plan, to: &Plan) -> Vec<String> {
    let mut notes = Vec::new();
    let gained: Vec<&str> = to
        .platforms
        .iter()
        .filter(|p| !from.platforms.contains(p))
        .map(|p| p.as_str())
        .collect();
    if !gained.is_empty() && !to.datastores.is_empty() {
        notes.push(format!(
            "New platform ({}): the datastores start empty there; copy the data (pg_dump/pg_basebackup, Redis replication or a dump) before moving traffic, and keep the old stack until the new one is verified.",
            gained.join(", ")
        ));
    }
    let secrets = |p: &Plan| -> BTreeSet<String> {
        p.services
            .values()
            .flat_map(|s| s.secrets.iter().cloned())
            .chain(
                p.datastores
                    .values()
                    .flat_map(|d| d.secrets.iter().cloned()),
            )
            .collect()
    };
    let new_secrets: Vec<String> = secrets(to).difference(&secrets(from)).cloned().collect();
    if !new_secrets.is_empty() {
        notes.push(format!(
            "New secrets to set before starting (in `.env`, or the platform's secret store): {}.",
            new_secrets.join(", ")
        ));
    }
    for (name, a) in &from.datastores {
        let Some(b) = to.datastores.get(name) else {
            let queues: Vec<&str> = from
                .services
                .values()
                .filter_map(|s| s.queue.as_ref())
                .filter(|q| &q.broker == name)
                .map(|q| q.name.as_str())
                .collect();
            notes.push(format!(
                "`{name}` is removed{}: move or drain its data first; nothing copies it.",
                if queues.is_empty() {
                    String::new()
                } else {
                    format!(", with the messages queued in {}", queues.join(", "))
                }
            ));
            continue;
        };
        if a.engine.name() != b.engine.name() {
            notes.push(format!(
                "`{name}` changes engine ({} → {}): its data does not move by itself.",
                a.engine, b.engine
            ));
            continue;
        }
        if a.tier != b.tier && any_has_machines(&to.platforms) {
            notes.push(format!(
                "`{name}` moves to tier `{}`: on the new machines it starts empty; copy its data over before switching clients.",
                b.tier.clone().unwrap_or_default()
            ));
        }
        if let (Some(ra), Some(rb)) = (a.redis(), b.redis()) {
            if !ra.cluster && rb.cluster {
                notes.push(format!(
                    "`{name}` becomes a Redis Cluster, which starts empty: copy the data over (`redis-cli --cluster import <new node> --cluster-from <old standalone> --cluster-from-askpass --cluster-copy`, with REDISCLI_AUTH set for the new nodes), or let a cache refill, before pointing clients at `{}_CLUSTER_NODES` (cluster-aware clients only).",
                    b.env_prefix
                ));
            } else if ra.cluster && !rb.cluster {
                notes.push(format!(
                    "`{name}` goes from a cluster back to one server: copy the keys (e.g. MIGRATE, or a dump and restore of each master) before switching clients."
                ));
            } else if ra.cluster
                && rb.cluster
                && (rb.masters, rb.replicas_per_master) != (ra.masters, ra.replicas_per_master)
            {
                notes.push(format!(
                    "`{name}` changes shape ({} → {}): join the new nodes with `redis-cli --cluster add-node` (replicas with `--cluster-slave`), then `redis-cli --cluster rebalance --cluster-use-empty-masters`; the bootstrap only forms a new cluster.",
                    shape_text(a),
                    shape_text(b)
                ));
            }
            if rb.role == "broker"
                && rb.maxmemory > 0
                && (ra.maxmemory == 0 || rb.maxmemory < ra.maxmemory)
            {
                notes.push(format!(
                    "`{name}` is a broker (it never evicts) and its memory shrinks: check `INFO memory` first, or new messages are refused once it is full."
                ));
            }
        }
        if let (Some(pa), Some(pb)) = (a.postgres(), b.postgres()) {
            let major = |v: &str| v.split('.').next().unwrap_or(v).to_string();
            if major(&a.version) != major(&b.version) {
                notes.push(format!(
                    "`{name}` moves to PostgreSQL {} from {}: the new server cannot read the old data directory. Upgrade it with pg_upgrade (or dump and restore), then rebuild the replicas from the new primary.",
                    b.version, a.version
                ));
            }
            if pb.replicas > pa.replicas {
                notes.push(format!(
                    "`{name}` gains replicas: start them (each creates its replication slot on the primary if missing), wait until `pg_stat_replication` on the primary shows each one `streaming`, and only then send reads to `{}_READ_HOST`.",
                    b.env_prefix
                ));
            }
            if pb.replicas < pa.replicas {
                notes.push(format!(
                    "`{name}` loses replicas: move reads away first, then drop each removed replica's slot on the primary (`SELECT pg_drop_replication_slot('…')`), or the primary keeps WAL for it."
                ));
            }
            if pa.pooler.is_none() && pb.pooler.is_some() {
                notes.push(format!(
                    "`{name}` gets PgBouncer: services reach the database through it (`{}_HOST` changes, and so must any connection URL among the secrets). In transaction mode, session state (prepared statements, SET, advisory locks) does not survive between transactions: check the application first.",
                    b.env_prefix
                ));
            }
            if !pa.synchronous && pb.synchronous {
                notes.push(format!(
                    "`{name}` turns synchronous: every commit now waits for a replica; make sure the replicas are streaming before the change, or writes stall."
                ));
            }
            if pb.max_connections > pa.max_connections {
                notes.push(format!(
                    "`{name}`: max_connections rises ({} → {}), which takes a restart: the replicas first (a replica's may not be below its primary's), then the primary.",
                    pa.max_connections, pb.max_connections
                ));
            } else if pb.max_connections < pa.max_connections {
                notes.push(format!(
                    "`{name}`: max_connections falls ({} → {}), which takes a restart: the primary first, then the replicas.",
                    pa.max_connections, pb.max_connections
                ));
            } else if pa.tune.shared_buffers != pb.tune.shared_buffers {
                notes.push(format!(
                    "`{name}`: shared_buffers changes ({} → {}), which takes a restart of each server (replicas first, then the primary).",
                    pa.tune.shared_buffers, pb.tune.shared_buffers
                ));
            }
        }
    }
    let consumed = |p: &Plan| -> BTreeSet<(String, String)> {
        p.services
            .values()
            .filter_map(|s| s.queue.as_ref())
            .map(|q| (q.broker.clone(), q.name.clone()))
            .collect()
    };
    for (broker, queue) in consumed(from).difference(&consumed(to)) {
        if to.datastores.contains_key(broker) {
            notes.push(format!(
                "Nothing consumes queue `{queue}` on `{broker}` any more: drain it before its last worker stops, or its messages stay unprocessed."
            ));
        }
    }
    for (name, b) in &to.services {
        if b.kind == crate::model::ServiceKind::Scheduler {
            if let Some(a) = from.services.get(name) {
                if a.image != b.image
                    || a.tier != b.tier
                    || from.platforms != to.platforms
                    || a.machines != b.machines
                {
                    notes.push(format!(
                        "Scheduler `{name}` must never run twice: stop the old one before the new one starts (every periodic job would run twice in between)."
                    ));
                }
            }
        }
    }
    if let (Some(a), Some(b)) = (&from.balancer, &to.balancer) {
        if a.engine != b.engine || a.listen != b.listen {
            if any_has_machines(&to.platforms) && a.listen == b.listen && a.tier == b.tier {
                notes.push("The balancer changes on the same machines and port: the new one cannot start beside the old. Stop the old and start the new in one step (a short outage), or bring the new one up on other machines and move DNS or the virtual IP.".into());
            } else {
                notes.push("The balancer changes: bring the new one up beside the old, check its `/health`, then move DNS or the virtual IP, and only then stop the old one.".into());
            }
        }
    }
    notes
}
