//! A datastore's changes: engine, version, placement, resources, and each engine's
//! shape and settings.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::services::resource_fields;
use super::{mem, opt, shape_text, Both, Mark, Summary};
use crate::plan::{DatastorePlan, EnginePlan, PoolerPlan};

/// A datastore's shape as JSON: PostgreSQL's replicas and pooler, a Redis cluster's
/// masters and replicas.
fn shape_json(d: &DatastorePlan) -> Value {
    match &d.engine {
        EnginePlan::Postgres(pg) => json!({
            "replicas": pg.replicas,
            "synchronous": pg.synchronous,
            "pgbouncer": pg.pooler.is_some(),
        }),
        EnginePlan::Redis(r) if r.cluster => json!({
            "cluster": true,
            "masters": r.masters,
            "replicas_per_master": r.replicas_per_master,
        }),
        EnginePlan::Redis(_) => json!({"cluster": false}),
        EnginePlan::Rabbitmq(r) => json!({"nodes": r.nodes}),
    }
}

/// A PostgreSQL memory setting (`1GB`, `9709kB`: kB is 1024 bytes) in bytes; the
/// setting as written when it has no unit PostgreSQL's memory settings use.
fn pg_bytes(setting: &str) -> Value {
    let units = [
        ("kB", 1u64 << 10),
        ("MB", 1 << 20),
        ("GB", 1 << 30),
        ("TB", 1 << 40),
    ];
    units
        .iter()
        .find_map(|(unit, factor)| {
            let n: u64 = setting.strip_suffix(unit)?.parse().ok()?;
            n.checked_mul(*factor)
        })
        .map_or_else(|| json!(setting), |b| json!(b))
}

fn pooler_json(p: &PoolerPlan) -> Value {
    json!({
        "pool_mode": p.pool_mode,
        "default_pool_size": p.default_pool_size,
        "max_client_conn": p.max_client_conn,
    })
}

pub(super) fn datastores(s: &mut Summary) {
    let names: BTreeSet<&String> = s
        .from
        .datastores
        .keys()
        .chain(s.to.datastores.keys())
        .chain(s.from.managed.keys())
        .chain(s.to.managed.keys())
        .collect();
    for name in names {
        let (from_managed, to_managed) = (s.from.managed.get(name), s.to.managed.get(name));
        if from_managed.is_some() || to_managed.is_some() {
            managed(s, name, from_managed, to_managed);
            continue;
        }
        match (s.from.datastores.get(name), s.to.datastores.get(name)) {
            (None, Some(b)) => s.added(
                name,
                "datastore",
                format!("{} {}, {}", b.engine, b.version, shape_text(b)),
                json!({"engine": b.engine.name(), "version": b.version, "shape": shape_json(b)}),
            ),
            (Some(a), None) => s.removed(
                name,
                "datastore",
                format!("{} {}", a.engine, a.version),
                json!({"engine": a.engine.name(), "version": a.version, "shape": shape_json(a)}),
            ),
            (Some(a), Some(b)) => datastore_fields(s, name, a, b),
            (None, None) => {}
        }
    }
}

fn datastore_fields(s: &mut Summary, name: &str, a: &DatastorePlan, b: &DatastorePlan) {
    s.same(name, "engine", "engine", a.engine.name(), b.engine.name());
    s.same(name, "version", "version", &a.version, &b.version);
    s.field(name, "tier", "tier", opt(&a.tier), opt(&b.tier));
    resource_fields(s, name, &a.resources, &b.resources);
    if let (Some(pa), Some(pb)) = (a.postgres(), b.postgres()) {
        if pb.replicas != pa.replicas {
            let (mark, n) = if pb.replicas > pa.replicas {
                (Mark::Added, pb.replicas - pa.replicas)
            } else {
                (Mark::Removed, pa.replicas - pb.replicas)
            };
            let text = format!(
                "{n} streaming replica{} ({} → {})",
                if n == 1 { "" } else { "s" },
                pa.replicas,
                pb.replicas
            );
            s.changed(
                name,
                mark,
                text,
                "replicas",
                (json!(pa.replicas), json!(pb.replicas)),
            );
        }
        let ha = |pg: &crate::plan::PostgresPlan| {
            if pg.patroni.is_some() {
                "auto"
            } else {
                "manual"
            }
        };
        s.same(name, "failover", "ha", ha(pa), ha(pb));
        let sync = |x: bool| if x { "sync" } else { "async" };
        s.same(
            name,
            "replication",
            "replication",
            sync(pa.synchronous),
            sync(pb.synchronous),
        );
        s.same(
            name,
            "max_connections",
            "max_connections",
            pa.max_connections,
            pb.max_connections,
        );
        let setting = |x: &String| -> Both { (x.clone(), pg_bytes(x)) };
        s.field(
            name,
            "shared_buffers",
            "shared_buffers_bytes",
            setting(&pa.tune.shared_buffers),
            setting(&pb.tune.shared_buffers),
        );
        s.field(
            name,
            "work_mem",
            "work_mem_bytes",
            setting(&pa.tune.work_mem),
            setting(&pb.tune.work_mem),
        );
        match (&pa.pooler, &pb.pooler) {
            (None, Some(p)) => s.added(
                name,
                "pgbouncer",
                format!(
                    "pgbouncer ({} pool, {} per pool, {} clients)",
                    p.pool_mode, p.default_pool_size, p.max_client_conn
                ),
                pooler_json(p),
            ),
            (Some(p), None) => s.removed(name, "pgbouncer", "pgbouncer", pooler_json(p)),
            (Some(x), Some(y)) => {
                s.same(name, "pool mode", "pool_mode", &x.pool_mode, &y.pool_mode);
                s.same(
                    name,
                    "pool size",
                    "default_pool_size",
                    x.default_pool_size,
                    y.default_pool_size,
                );
                s.same(
                    name,
                    "max client connections",
                    "max_client_conn",
                    x.max_client_conn,
                    y.max_client_conn,
                );
            }
            (None, None) => {}
        }
        match (&pa.backup, &pb.backup) {
            (None, Some(x)) => s.added(name, "backups", backup_text(x), backup_json(x)),
            (Some(x), None) => s.removed(name, "backups", backup_text(x), backup_json(x)),
            (Some(x), Some(y)) => {
                s.same(
                    name,
                    "backup repository",
                    "backup_repository",
                    x.repo.text(),
                    y.repo.text(),
                );
                s.same(
                    name,
                    "full backups kept",
                    "retention_full",
                    x.retention_full,
                    y.retention_full,
                );
                s.same(
                    name,
                    "full backups",
                    "full_schedule",
                    &x.full.cron,
                    &y.full.cron,
                );
                s.same(
                    name,
                    "differential backups",
                    "differential_schedule",
                    &x.differential.cron,
                    &y.differential.cron,
                );
            }
            (None, None) => {}
        }
    }
    // A Redis's or RabbitMQ's shape as a whole (PostgreSQL's parts are compared one by
    // one above).
    let (sa, sb) = (shape_text(a), shape_text(b));
    if a.postgres().is_none() && a.engine.name() == b.engine.name() && sa != sb {
        s.changed(
            name,
            Mark::Changed,
            format!("{sa} → {sb}"),
            "shape",
            (shape_json(a), shape_json(b)),
        );
    }
    if let (Some(ra), Some(rb)) = (a.redis(), b.redis()) {
        s.same(name, "role", "role", &ra.role, &rb.role);
        s.field(
            name,
            "maxmemory",
            "maxmemory_bytes",
            mem(ra.maxmemory),
            mem(rb.maxmemory),
        );
    }
}

/// A managed datastore as the diff shows it: `postgres at HOST:PORT`, and as JSON.
fn managed_value(m: &crate::plan::ManagedPlan) -> (String, Value) {
    let mut text = format!("{} at {}:{} {}", m.engine, m.host, m.port, m.tls_text());
    if let Some(r) = &m.read_host {
        text.push_str(&format!(", reads at {r}"));
    }
    if let Some(u) = &m.user {
        text.push_str(&format!(", user {u}"));
    }
    if let Some(c) = m.cost_per_month {
        text.push_str(&format!(", {c} a month"));
    }
    (
        text,
        json!({ "engine": m.engine, "host": m.host, "port": m.port, "read_host": m.read_host, "tls": m.tls, "verify": m.verify, "user": m.user, "cost_per_month": m.cost_per_month }),
    )
}

/// A datastore a provider runs in one phase or both: added, removed, moved to or from
/// a provider, or given another address.
fn managed(
    s: &mut Summary,
    name: &str,
    a: Option<&crate::plan::ManagedPlan>,
    b: Option<&crate::plan::ManagedPlan>,
) {
    let here = |d: Option<&DatastorePlan>| {
        d.map(|d| {
            (
                format!("run here ({} {}, {})", d.engine, d.version, shape_text(d)),
                json!({"engine": d.engine.name(), "version": d.version, "shape": shape_json(d)}),
            )
        })
    };
    let from = a
        .map(managed_value)
        .or_else(|| here(s.from.datastores.get(name)));
    let to = b
        .map(managed_value)
        .or_else(|| here(s.to.datastores.get(name)));
    match (from, to) {
        (None, Some((text, value))) => s.added(name, "datastore", text, value),
        (Some((text, value)), None) => s.removed(name, "datastore", text, value),
        (Some(x), Some(y)) => s.field(name, "datastore", "managed", x, y),
        (None, None) => {}
    }
}

/// Backups as the diff shows them: `pgBackRest to REPO, full at CRON, 2 kept`.
fn backup_text(b: &crate::plan::BackupPlan) -> String {
    format!(
        "pgBackRest backups to {} (full `{}`, differential `{}`, {} full kept)",
        b.repo.text(),
        b.full.cron,
        b.differential.cron,
        b.retention_full
    )
}

fn backup_json(b: &crate::plan::BackupPlan) -> Value {
    json!({
        "repository": b.repo.text(),
        "full": b.full.cron,
        "differential": b.differential.cron,
        "retention_full": b.retention_full,
    })
}
