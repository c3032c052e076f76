//! Datastores, resolved: their nodes and addresses per platform, computed settings
//! (PGTune-style Postgres memory, Redis maxmemory and eviction by role), and the
//! secrets they need.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::placement::{datastore_nodes, HostsLayout};
use super::{resources_plan, ResourcesPlan};
use crate::model::{Blueprint, Datastore, Platform, PoolMode, RedisMode, RedisRole, Replication};
use crate::plan::tuning::{self, PgTune};

/// A datastore with every default applied.
#[derive(Debug, Clone, Serialize)]
pub struct DatastorePlan {
    pub name: String,
    /// `postgres`, `redis` or `rabbitmq`.
    pub engine: String,
    /// The server image's version tag.
    pub version: String,
    pub tier: Option<String>,
    pub resources: ResourcesPlan,
    /// The prefix of the connection variables given to the services that use it:
    /// `DB` for `db`, `CACHE_EU` for `cache-eu`.
    pub env_prefix: String,
    /// The secrets (passwords) it needs at start, by variable name; values never appear.
    pub secrets: Vec<String>,
    /// Its nodes, per platform, in placement order.
    pub nodes: BTreeMap<Platform, Vec<DatastoreNode>>,
    pub postgres: Option<PostgresPlan>,
    pub redis: Option<RedisPlan>,
    pub rabbitmq: Option<RabbitmqPlan>,
}

/// One server process of a datastore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatastoreNode {
    /// The compose service name, also the node's name elsewhere (`db-replica-1`).
    pub id: String,
    /// `primary`, `replica`, `pooler`, `master`, or `node`.
    pub role: String,
    /// Where clients connect: a host name or address.
    pub host: String,
    pub port: u16,
    /// The machine it runs on (the `hosts` platform), else empty.
    pub machine: String,
}

/// PostgreSQL, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct PostgresPlan {
    pub database: String,
    pub user: String,
    /// Secret holding the application user's password.
    pub password_secret: String,
    /// Secret holding the `postgres` superuser's password.
    pub superuser_secret: String,
    pub replication_user: String,
    pub replication_secret: String,
    pub replicas: u32,
    pub synchronous: bool,
    pub max_connections: u32,
    /// `max_wal_senders`: every replica, plus two for a base backup and a spare.
    pub max_wal_senders: u32,
    /// One physical replication slot per replica, in replica order.
    pub slots: Vec<String>,
    /// `synchronous_standby_names`, or empty for asynchronous replication.
    pub synchronous_standby_names: String,
    pub tune: PgTune,
    /// The memory and CPUs `tune` is computed for (1 GiB when the blueprint gives none).
    pub memory_bytes: u64,
    pub cpus: u32,
    pub pooler: Option<PoolerPlan>,
}

/// PgBouncer in front of PostgreSQL.
#[derive(Debug, Clone, Serialize)]
pub struct PoolerPlan {
    pub pool_mode: String,
    pub max_client_conn: u32,
    pub default_pool_size: u32,
    pub reserve_pool_size: u32,
    /// The read-only database name clients use for the replicas (`<database>_ro`).
    pub readonly_database: String,
}

/// Redis, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct RedisPlan {
    pub cluster: bool,
    pub masters: u32,
    pub replicas_per_master: u32,
    /// `cache` or `broker`.
    pub role: String,
    /// Bytes, or 0 for no limit.
    pub maxmemory: u64,
    /// `allkeys-lru` for a cache, `noeviction` for a broker.
    pub maxmemory_policy: String,
    /// Append-only persistence: on for a broker (a queue survives a restart), off for
    /// a cache (it refills).
    pub appendonly: bool,
    pub password_secret: String,
    pub cluster_node_timeout_ms: u64,
    /// Share of the memory limit `maxmemory` allows.
    pub maxmemory_percent: u32,
}

/// RabbitMQ, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct RabbitmqPlan {
    pub user: String,
    pub password_secret: String,
    pub vhost: String,
    /// The queues the blueprint's workers consume, declared durable.
    pub queues: Vec<String>,
    /// Share of the memory limit past which publishers are blocked.
    pub vm_memory_high_watermark: String,
}

/// `db` → `DB`, `cache-eu` → `CACHE_EU`.
pub fn env_prefix(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

fn default_version(store: &Datastore) -> &'static str {
    match store {
        Datastore::Postgres(_) => "16",
        Datastore::Redis(_) => "7",
        Datastore::Rabbitmq(_) => "3.13",
    }
}

pub(super) fn datastore_plan(
    name: &str,
    store: &Datastore,
    bp: &Blueprint,
    platforms: &[Platform],
    layout: &HostsLayout,
) -> Result<DatastorePlan, String> {
    let resources = resources_plan(store.resources())?;
    let prefix = env_prefix(name);
    let version = match store {
        Datastore::Postgres(p) => p.version.as_ref(),
        Datastore::Redis(r) => r.version.as_ref(),
        Datastore::Rabbitmq(r) => r.version.as_ref(),
    }
    .map(|v| v.0.clone())
    .unwrap_or_else(|| default_version(store).to_string());

    let nodes_layout = datastore_nodes(name, store);
    let mut nodes = BTreeMap::new();
    for platform in platforms {
        let list: Vec<DatastoreNode> = match platform {
            Platform::Compose => nodes_layout
                .iter()
                .map(|(id, role, port)| DatastoreNode {
                    id: id.clone(),
                    role: role.to_string(),
                    host: id.clone(),
                    port: *port,
                    machine: String::new(),
                })
                .collect(),
            Platform::Hosts => {
                let placed = layout.datastores.get(name).cloned().unwrap_or_default();
                if placed.len() != nodes_layout.len() {
                    return Err(format!(
                        "the hosts platform cannot place datastore `{name}`"
                    ));
                }
                nodes_layout
                    .iter()
                    .zip(placed)
                    .map(|((id, role, _), (host, port))| DatastoreNode {
                        id: id.clone(),
                        role: role.to_string(),
                        host: host.clone(),
                        port,
                        machine: host,
                    })
                    .collect()
            }
            Platform::Kubernetes => nodes_layout
                .iter()
                .map(|(id, role, port)| DatastoreNode {
                    id: id.clone(),
                    role: role.to_string(),
                    host: kubernetes_host(name, id, role, store, &bp.name),
                    port: *port,
                    machine: String::new(),
                })
                .collect(),
        };
        nodes.insert(*platform, list);
    }

    let mut plan = DatastorePlan {
        name: name.to_string(),
        engine: store.engine().to_string(),
        version,
        tier: store.tier().map(str::to_string),
        resources,
        env_prefix: prefix.clone(),
        secrets: Vec::new(),
        nodes,
        postgres: None,
        redis: None,
        rabbitmq: None,
    };
    match store {
        Datastore::Postgres(p) => {
            // Without a memory size, tune for 1 GiB: PostgreSQL's defaults assume less.
            let memory = match plan.resources.memory_ceiling() {
                0 => 1 << 30,
                m => m,
            };
            let cpus = (plan.resources.cpu_ceiling().div_ceil(1000) as u32).max(1);
            let slots: Vec<String> = (1..=p.replicas)
                .map(|i| format!("{}_replica_{i}", name.replace('-', "_")))
                .collect();
            let synchronous = p.replication == Replication::Sync && p.replicas > 0;
            let pg = PostgresPlan {
                database: p.database.clone(),
                user: p.user.clone().unwrap_or_else(|| p.database.clone()),
                password_secret: format!("{prefix}_PASSWORD"),
                superuser_secret: format!("{prefix}_SUPERUSER_PASSWORD"),
                replication_user: "replicator".into(),
                replication_secret: format!("{prefix}_REPLICATION_PASSWORD"),
                replicas: p.replicas,
                synchronous,
                max_connections: p.max_connections,
                max_wal_senders: p.replicas + 2,
                synchronous_standby_names: if synchronous {
                    // Any one replica confirms each commit: a write survives the
                    // primary's loss, and one slow replica does not stall writes.
                    format!(
                        "ANY 1 ({})",
                        (1..=p.replicas)
                            .map(|i| format!("\"{name}-replica-{i}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    String::new()
                },
                slots,
                tune: tuning::postgres(memory, cpus, p.max_connections),
                memory_bytes: memory,
                cpus,
                pooler: p.pooler.as_ref().map(|pool| PoolerPlan {
                    pool_mode: match pool.pool_mode {
                        PoolMode::Session => "session",
                        PoolMode::Transaction => "transaction",
                        PoolMode::Statement => "statement",
                    }
                    .into(),
                    max_client_conn: pool.max_client_conn,
                    default_pool_size: pool.default_pool_size,
                    reserve_pool_size: pool.reserve_pool_size,
                    readonly_database: format!("{}_ro", p.database),
                }),
            };
            plan.secrets = vec![
                pg.password_secret.clone(),
                pg.superuser_secret.clone(),
                pg.replication_secret.clone(),
            ];
            plan.postgres = Some(pg);
        }
        Datastore::Redis(r) => {
            let queues_on_it = bp
                .services
                .values()
                .any(|s| s.queue.as_ref().is_some_and(|q| q.broker == name));
            let broker = match r.role {
                Some(RedisRole::Broker) => true,
                Some(RedisRole::Cache) => false,
                None => queues_on_it,
            };
            let cluster = r.mode == RedisMode::Cluster;
            let shape = r.cluster.as_ref();
            let memory = plan.resources.memory_ceiling();
            let redis = RedisPlan {
                cluster,
                masters: if cluster {
                    shape.map_or(3, |s| s.masters)
                } else {
                    1
                },
                replicas_per_master: if cluster {
                    shape.map_or(1, |s| s.replicas_per_master)
                } else {
                    0
                },
                role: if broker { "broker" } else { "cache" }.into(),
                maxmemory: tuning::redis_maxmemory(memory, r.maxmemory_percent),
                maxmemory_policy: if broker { "noeviction" } else { "allkeys-lru" }.into(),
                appendonly: broker,
                password_secret: format!("{prefix}_PASSWORD"),
                cluster_node_timeout_ms: 5_000,
                maxmemory_percent: r.maxmemory_percent,
            };
            plan.secrets = vec![redis.password_secret.clone()];
            plan.redis = Some(redis);
        }
        Datastore::Rabbitmq(_) => {
            let queues: BTreeSet<String> = bp
                .services
                .values()
                .filter_map(|s| s.queue.as_ref())
                .filter(|q| q.broker == name)
                .map(|q| q.name.clone())
                .collect();
            let rabbit = RabbitmqPlan {
                user: "app".into(),
                password_secret: format!("{prefix}_PASSWORD"),
                vhost: "/".into(),
                queues: queues.into_iter().collect(),
                vm_memory_high_watermark: "0.6".into(),
            };
            plan.secrets = vec![rabbit.password_secret.clone()];
            plan.rabbitmq = Some(rabbit);
        }
    }
    Ok(plan)
}

/// A datastore node's address inside a Kubernetes cluster: Services for Postgres
/// (`db` read-write, `db-ro` read-only, `db-pgbouncer`), the pods of a headless
/// Service for a Redis Cluster (`cache-1.cache-headless`), a Service otherwise.
fn kubernetes_host(name: &str, id: &str, role: &str, store: &Datastore, ns: &str) -> String {
    let svc = match (store, role) {
        (Datastore::Postgres(_), "replica") => format!("{name}-ro"),
        (Datastore::Postgres(_), _) => id.to_string(),
        (Datastore::Redis(r), _) if r.mode == RedisMode::Cluster => {
            // StatefulSet pods are numbered from 0.
            let n: u32 = id
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            return format!("{name}-{}.{name}-headless.{ns}.svc.cluster.local", n - 1);
        }
        _ => id.to_string(),
    };
    format!("{svc}.{ns}.svc.cluster.local")
}
