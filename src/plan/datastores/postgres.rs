//! PostgreSQL, resolved: the application, superuser and replication accounts, the
//! replication slots and synchronous standbys, PgBouncer, and the computed server
//! settings in the PGTune manner (web-application profile, SSD storage).
//!
//! Every PGTune formula is written next to the setting it computes, and the unit tests
//! pin the figures for 1, 4, 16 and 64 GiB, so a change of formula shows up as a test
//! failure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use super::NodeRole;
use super::{DatastoreNode, EnvVar};
use crate::model::versions;
use crate::model::{Platform, PoolMode, Postgres, Replication};
use crate::plan::{ResourcesPlan, ServicePlan};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

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
    /// The role postgres_exporter logs in as (`pg_monitor`), and its password's secret.
    pub monitor_user: String,
    pub monitor_secret: String,
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
    /// `wal_keep_size` and `max_slot_wal_keep_size`, from the volume's size (see
    /// [`WalBudget`]; `tune`'s `min_wal_size` and `max_wal_size` too).
    pub wal_keep_size: String,
    pub max_slot_wal_keep_size: String,
    /// The memory and CPUs `tune` is computed for (1 GiB when the blueprint gives none).
    pub memory_bytes: u64,
    pub cpus: u32,
    /// `/dev/shm` where a platform sizes it (Kubernetes): an eighth of the memory, at
    /// least 256 MiB, in whole MiB. Parallel queries share memory there.
    pub shm_bytes: u64,
    pub pooler: Option<PoolerPlan>,
    /// pgBackRest's archiving and backups, when the blueprint asks for them.
    pub backup: Option<super::backup::BackupPlan>,
    /// The networks `pg_hba.conf` admits, per platform.
    pub hba: BTreeMap<Platform, HbaPlan>,
    /// Patroni's automatic failover (`ha: auto`).
    pub patroni: Option<super::patroni::PatroniPlan>,
    /// In the phase's plan, the stream to the standby region's server (`standby`, on
    /// `hosts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<StandbyLink>,
    /// In a standby region's plan, the stream from the phase's primary: the region's
    /// primary is a standby of it until promoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<StandbyLink>,
    /// Whether the phase watches the datastore's `query_latency`: its servers load
    /// `pg_stat_statements` (`shared_preload_libraries`), `init-primary.sh` creates
    /// the extension in the application's database, and each postgres_exporter runs
    /// its `stat_statements` collector. Set once the phase's alerts are resolved.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stat_statements: bool,
}

/// PostgreSQL streaming from the phase's primary to a standby region's server (its
/// "standby leader"), whose own replicas stream from it in turn.
#[derive(Debug, Clone, Serialize)]
pub struct StandbyLink {
    /// The standby region's name.
    pub region: String,
    /// The phase's primary, where the standby leader streams from.
    pub upstream_host: String,
    pub upstream_port: u16,
    /// The standby leader's machine, which the primary's `pg_hba.conf` admits.
    pub machine: String,
    /// Its replication slot on the primary (`db_standby`) and the name it streams
    /// under (`db-standby`).
    pub slot: String,
    pub application_name: String,
}

/// The networks `pg_hba.conf` admits: the application's (services and the pooler) and
/// the replicas' (replication).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HbaPlan {
    pub app: Vec<String>,
    pub replication: Vec<String>,
    /// Where postgres_exporter connects from as the monitoring role, where `app` does
    /// not cover it (hosts: the server's own machine, where its exporter runs).
    pub monitor: Vec<String>,
    /// With automatic failover on `hosts`: the servers' machines, where pg_rewind
    /// connects from as the superuser when a former primary rejoins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rewind: Vec<String>,
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
    /// Server connections per database: the pool and its reserve, within what
    /// PostgreSQL allows.
    pub max_db_connections: u32,
    pub image: String,
    /// The user (and group) it runs as: PgBouncer refuses root, and 70 is the
    /// image's postgres user.
    pub uid: u32,
    /// The pool's own footprint, small: the datastore's resources are the server's.
    pub resources: ResourcesPlan,
    /// PgBouncer processes behind its address on Kubernetes: two, so one can restart
    /// without cutting the database off (compose and hosts run one).
    pub kubernetes_replicas: u32,
}

pub(super) fn plan(
    name: &str,
    p: &Postgres,
    prefix: &str,
    resources: &ResourcesPlan,
    volume_bytes: u64,
) -> PostgresPlan {
    // Without a memory size, tune for 1 GiB: PostgreSQL's defaults assume less.
    let memory = match resources.memory_ceiling() {
        0 => 1 << 30,
        m => m,
    };
    // Tuned for the whole CPUs it is guaranteed: its request, else its limit, else
    // one (and then it requests what it is tuned for: see `datastore_plan`).
    let cpus = match (resources.cpu_millis, resources.cpu_limit_millis) {
        (0, 0) => 1,
        (0, limit) => limit / 1000,
        (request, _) => request / 1000,
    };
    let cpus = u32::try_from(cpus).unwrap_or(u32::MAX).max(1);
    let slots: Vec<String> = (1..=p.replicas)
        .map(|i| format!("{}_replica_{i}", name.replace('-', "_")))
        .collect();
    let wal = wal_budget(volume_bytes);
    let synchronous = p.replication == Replication::Sync && p.replicas > 0;
    PostgresPlan {
        database: p.database.clone(),
        user: p.user.clone().unwrap_or_else(|| p.database.clone()),
        password_secret: format!("{prefix}_PASSWORD"),
        superuser_secret: format!("{prefix}_SUPERUSER_PASSWORD"),
        replication_user: "replicator".into(),
        replication_secret: format!("{prefix}_REPLICATION_PASSWORD"),
        monitor_user: crate::plan::scrape::POSTGRES_MONITOR_ROLE.into(),
        monitor_secret: format!("{prefix}_MONITOR_PASSWORD"),
        replicas: p.replicas,
        synchronous,
        max_connections: p.max_connections,
        max_wal_senders: p.replicas + 2,
        synchronous_standby_names: if synchronous {
            // Any one replica confirms each commit: a write survives the primary's
            // loss, and one slow replica does not stall writes.
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
        tune: PgTune {
            min_wal_size: pg_size(wal.min_wal_size),
            max_wal_size: pg_size(wal.max_wal_size),
            ..pgtune(memory, cpus, p.max_connections)
        },
        wal_keep_size: pg_size(wal.wal_keep_size),
        max_slot_wal_keep_size: pg_size(wal.max_slot_wal_keep_size),
        memory_bytes: memory,
        cpus,
        shm_bytes: (memory / 8).max(256 * MIB) / MIB * MIB,
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
            max_db_connections: (pool.default_pool_size + pool.reserve_pool_size)
                .min(p.max_connections),
            // Its version is not the blueprint's to choose: the newest supported.
            image: versions::PGBOUNCER[0].image.into(),
            uid: 70,
            resources: ResourcesPlan {
                cpu_millis: 100,
                memory_bytes: 64 * MIB,
                cpu_limit_millis: 500,
                memory_limit_bytes: 128 * MIB,
                gpu: None,
            },
            kubernetes_replicas: 2,
        }),
        // Resolved with the server's version: see `datastore_plan`.
        backup: None,
        // Known once the nodes are placed: see `hba`.
        hba: BTreeMap::new(),
        // Resolved with the nodes: see `datastore_plan`.
        patroni: None,
        // Resolved with the standby region's plan: see `plan::standby`.
        standby: None,
        upstream: None,
        // Known once the phase's alerts are: see `plan::watch_statements`.
        stat_statements: false,
    }
}

/// The networks `pg_hba.conf` admits on `platform`: on `hosts`, the machines of the
/// services that use the database and of the pooler (as /32 or /128; loopback machines
/// as 127.0.0.0/8), and for replication the replicas' machines; elsewhere the
/// container's own networks (`samenet`: the compose back network, or the pod network).
pub(super) fn hba(
    platform: Platform,
    name: &str,
    services: &BTreeMap<String, ServicePlan>,
    nodes: &[DatastoreNode],
) -> HbaPlan {
    match platform {
        // One Docker host: the back network is the server's own.
        Platform::Compose => {
            return HbaPlan {
                app: vec!["samenet".into()],
                replication: vec!["samenet".into()],
                monitor: Vec::new(),
                rewind: Vec::new(),
            }
        }
        // Pods come from any node's pod network: NetworkPolicies narrow who connects.
        Platform::Kubernetes => {
            let any = vec!["0.0.0.0/0".to_string(), "::/0".to_string()];
            return HbaPlan {
                app: any.clone(),
                replication: any,
                monitor: Vec::new(),
                rewind: Vec::new(),
            };
        }
        Platform::Hosts => {}
    }
    let mut app = BTreeSet::new();
    for s in services.values() {
        if s.uses.iter().any(|u| u == name) {
            for m in &s.machines {
                app.insert(net(m));
            }
        }
    }
    // The pooler, and the router that passes clients (or the pooler) on.
    for n in nodes
        .iter()
        .filter(|n| matches!(n.role, NodeRole::Pooler | NodeRole::Router))
    {
        app.insert(net(&n.machine));
    }
    // With automatic failover any server may be the primary: each streams from, and
    // rewinds against, any other.
    let patroni = nodes.iter().any(|n| n.role == NodeRole::Router);
    let copies = |n: &&DatastoreNode| {
        n.role == NodeRole::Replica || (patroni && n.role == NodeRole::Primary)
    };
    let replication: BTreeSet<String> = nodes
        .iter()
        .filter(copies)
        .map(|n| net(&n.machine))
        .collect();
    let rewind = if patroni {
        replication.iter().cloned().collect()
    } else {
        Vec::new()
    };
    // Each server's exporter runs on its machine (the monitoring of the hosts
    // platform): `samehost`, any of the server's own addresses, whatever the machine
    // is called (a DNS name would need reverse DNS).
    HbaPlan {
        app: app.into_iter().collect(),
        replication: replication.into_iter().collect(),
        monitor: vec!["samehost".into()],
        rewind,
    }
}

/// The narrowest network `pg_hba.conf` admits a machine by: its address as /32 or
/// /128, its name as it is.
pub(crate) fn net(host: &str) -> String {
    match host.parse::<IpAddr>() {
        // Loopback "machines" are one machine: its clients connect from any 127/8
        // address (usually 127.0.0.1), so the narrowest network is the loopback one.
        Ok(IpAddr::V4(ip)) if ip.is_loopback() => "127.0.0.0/8".to_string(),
        Ok(IpAddr::V4(ip)) => format!("{ip}/32"),
        Ok(IpAddr::V6(ip)) => format!("{ip}/128"),
        Err(_) => host.to_string(),
    }
}

/// What a service is given to connect: writes go to the pooler when there is one, else
/// the primary; reads to the pooler's read-only database when it fronts replicas, else
/// the first replica (all of them in `_READ_HOSTS`, for the application to spread reads
/// over), else the primary.
pub(super) fn connection(prefix: &str, pg: &PostgresPlan, nodes: &[DatastoreNode]) -> Vec<EnvVar> {
    let replicas: Vec<&DatastoreNode> = nodes
        .iter()
        .filter(|n| n.role == NodeRole::Replica)
        .collect();
    let pooler = super::first_of(nodes, NodeRole::Pooler);
    // With automatic failover and no pooler, the router: writes on its port, reads on
    // the next one.
    if let (Some(router), None) = (super::first_of(nodes, NodeRole::Router), pooler) {
        return vec![
            EnvVar::literal(format!("{prefix}_HOST"), &router.host),
            EnvVar::literal(format!("{prefix}_PORT"), router.port),
            EnvVar::literal(format!("{prefix}_NAME"), &pg.database),
            EnvVar::literal(format!("{prefix}_USER"), &pg.user),
            EnvVar::secret(format!("{prefix}_PASSWORD"), &pg.password_secret),
            EnvVar::literal(format!("{prefix}_READ_HOST"), &router.host),
            EnvVar::literal(format!("{prefix}_READ_PORT"), router.port + 1),
            EnvVar::literal(format!("{prefix}_READ_NAME"), &pg.database),
        ];
    }
    let (write, read, read_db) = match (pooler, super::first_of(nodes, NodeRole::Primary)) {
        (Some(pool), _) if !replicas.is_empty() => (
            pool,
            pool,
            pg.pooler
                .as_ref()
                .map_or(&pg.database, |x| &x.readonly_database),
        ),
        (Some(pool), _) => (pool, pool, &pg.database),
        (None, Some(prim)) => (
            prim,
            replicas.first().copied().unwrap_or(prim),
            &pg.database,
        ),
        (None, None) => return Vec::new(),
    };
    let mut vars = vec![
        EnvVar::literal(format!("{prefix}_HOST"), &write.host),
        EnvVar::literal(format!("{prefix}_PORT"), write.port),
        EnvVar::literal(format!("{prefix}_NAME"), &pg.database),
        EnvVar::literal(format!("{prefix}_USER"), &pg.user),
        EnvVar::secret(format!("{prefix}_PASSWORD"), &pg.password_secret),
        EnvVar::literal(format!("{prefix}_READ_HOST"), &read.host),
    ];
    if replicas.len() > 1 && pooler.is_none() {
        // Without a pooler, the application spreads reads itself.
        let all: Vec<String> = replicas
            .iter()
            .map(|n| format!("{}:{}", n.host, n.port))
            .collect();
        vars.push(EnvVar::literal(
            format!("{prefix}_READ_HOSTS"),
            all.join(","),
        ));
    }
    vars.push(EnvVar::literal(format!("{prefix}_READ_PORT"), read.port));
    vars.push(EnvVar::literal(format!("{prefix}_READ_NAME"), read_db));
    vars
}

/// A node's address inside a Kubernetes cluster: the read-write Service for the
/// primary (`db`), the read-only one for every replica (`db-ro`), the pooler's own
/// (`db-pgbouncer`).
pub(super) fn kubernetes_host(
    id: &str,
    role: NodeRole,
    objects: &super::KubernetesObjects,
    ns: &str,
) -> String {
    let svc = match (role, &objects.replicas, &objects.patroni) {
        (NodeRole::Replica, Some(r), _) => r.read_service.as_str(),
        (NodeRole::Replica, _, Some(p)) => p.read_service.as_str(),
        _ => id,
    };
    format!("{svc}.{ns}.svc.cluster.local")
}

/// PostgreSQL settings derived from a server's memory, CPUs and connection limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PgTune {
    /// `shared_buffers`: a quarter of the memory.
    pub shared_buffers: String,
    /// `effective_cache_size`: three quarters of the memory (what the OS page cache and
    /// shared buffers together hold; a planner hint, not an allocation).
    pub effective_cache_size: String,
    /// `maintenance_work_mem`: memory / 16, at most 2 GiB.
    pub maintenance_work_mem: String,
    /// `work_mem`: (memory − shared_buffers) / ((max_connections + max_worker_processes)
    /// × 3), at least 64 kB: every connection and worker may run about three sorts or
    /// hashes at once without the sum exceeding what shared buffers leave.
    pub work_mem: String,
    /// `wal_buffers`: 3 % of shared_buffers, between 64 kB and 16 MB.
    pub wal_buffers: String,
    /// `min_wal_size` / `max_wal_size`: 1 GB / 4 GB for a web workload.
    pub min_wal_size: String,
    pub max_wal_size: String,
    /// `checkpoint_completion_target`: spread checkpoints over 90 % of the interval.
    pub checkpoint_completion_target: String,
    /// `random_page_cost`: 1.1 for SSDs (random reads cost almost what sequential do).
    pub random_page_cost: String,
    /// `effective_io_concurrency`: 200 for SSDs.
    pub effective_io_concurrency: u32,
    /// `default_statistics_target`: 100.
    pub default_statistics_target: u32,
    /// `max_worker_processes`: the CPU count, at least 8 (PostgreSQL's default).
    pub max_worker_processes: u32,
    /// `max_parallel_workers`: the CPU count, at least 8.
    pub max_parallel_workers: u32,
    /// `max_parallel_workers_per_gather`: half the CPUs (rounded up), 1 to 4.
    pub max_parallel_workers_per_gather: u32,
    /// `max_parallel_maintenance_workers`: half the CPUs (rounded up), 1 to 4.
    pub max_parallel_maintenance_workers: u32,
    /// `huge_pages`: `try` from 32 GiB, where the page tables of a large
    /// shared_buffers start to matter; `off` below.
    pub huge_pages: String,
}

/// The write-ahead log a primary may keep on a volume of a given size, so that neither
/// checkpoints nor a replica that is away can fill it: at most an eighth of the volume
/// between checkpoints (4 GB at most, PGTune's figure for a web workload), a sixteenth
/// kept for replicas that briefly fall behind (1 GB at most), and a quarter for a
/// replica's slot, past which the slot is given up (the replica must then be copied
/// again) rather than the primary stopping on a full disk. That leaves well over half
/// of the volume for data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalBudget {
    pub min_wal_size: u64,
    pub max_wal_size: u64,
    pub wal_keep_size: u64,
    pub max_slot_wal_keep_size: u64,
}

const WAL_SEGMENT: u64 = 16 * MIB;

/// The write-ahead log budget of a `volume`-byte volume (see [`WalBudget`]).
pub fn wal_budget(volume: u64) -> WalBudget {
    let mib = |b: u64| b / MIB * MIB;
    let max_wal_size = mib(volume / 8).clamp(2 * WAL_SEGMENT, 4 * GIB);
    WalBudget {
        min_wal_size: mib(max_wal_size / 4).clamp(2 * WAL_SEGMENT, GIB),
        max_wal_size,
        wal_keep_size: mib(volume / 16).min(GIB),
        max_slot_wal_keep_size: mib(volume / 4),
    }
}

/// PostgreSQL's memory units, largest exact one: `1GB`, `768MB`, `9709kB`.
pub fn pg_size(bytes: u64) -> String {
    if bytes >= GIB && bytes % GIB == 0 {
        format!("{}GB", bytes / GIB)
    } else if bytes >= MIB && bytes % MIB == 0 {
        format!("{}MB", bytes / MIB)
    } else {
        format!("{}kB", bytes / KIB)
    }
}

/// What the server's container is sized for where the blueprint gives no size: the
/// memory and the CPUs it is tuned for (the CPUs within its limit).
pub(super) fn server_resources(pg: &PostgresPlan, resources: &ResourcesPlan) -> ResourcesPlan {
    let mut sized = resources.clone();
    if resources.memory_ceiling() == 0 {
        // Tuned for its memory: its container gets that much, not a generic default.
        sized.memory_bytes = pg.memory_bytes;
        sized.memory_limit_bytes = pg.memory_bytes;
    }
    if resources.cpu_millis == 0 {
        let tuned = u64::from(pg.cpus) * 1000;
        sized.cpu_millis = match resources.cpu_limit_millis {
            0 => tuned,
            limit => tuned.min(limit),
        };
    }
    sized
}

/// Settings for a server with `memory` bytes, `cpus` cores and `max_connections`.
pub fn pgtune(memory: u64, cpus: u32, max_connections: u32) -> PgTune {
    let cpus = cpus.max(1);
    let shared_buffers = memory / 4;
    let effective_cache_size = memory / 4 * 3;
    let maintenance_work_mem = (memory / 16).min(2 * GIB);
    let max_worker_processes = cpus.max(8);
    let per_gather = cpus.div_ceil(2).clamp(1, 4);
    let work_mem = (memory.saturating_sub(shared_buffers)
        / ((u64::from(max_connections) + u64::from(max_worker_processes)) * 3))
        .max(64 * KIB);
    // Rounded down to whole kB, as PostgreSQL reads it.
    let work_mem = work_mem / KIB * KIB;
    let wal_buffers = (shared_buffers * 3 / 100).clamp(64 * KIB, 16 * MIB) / KIB * KIB;
    PgTune {
        shared_buffers: pg_size(shared_buffers / KIB * KIB),
        effective_cache_size: pg_size(effective_cache_size / KIB * KIB),
        maintenance_work_mem: pg_size(maintenance_work_mem / KIB * KIB),
        work_mem: pg_size(work_mem),
        wal_buffers: pg_size(wal_buffers),
        min_wal_size: "1GB".into(),
        max_wal_size: "4GB".into(),
        checkpoint_completion_target: "0.9".into(),
        random_page_cost: "1.1".into(),
        effective_io_concurrency: 200,
        default_statistics_target: 100,
        max_worker_processes,
        max_parallel_workers: max_worker_processes,
        max_parallel_workers_per_gather: per_gather,
        max_parallel_maintenance_workers: per_gather,
        huge_pages: if memory >= 32 * GIB { "try" } else { "off" }.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: &PgTune) -> [&str; 5] {
        [
            &t.shared_buffers,
            &t.effective_cache_size,
            &t.maintenance_work_mem,
            &t.work_mem,
            &t.wal_buffers,
        ]
    }

    #[test]
    fn one_gib_one_cpu_fifty_connections() {
        let t = pgtune(GIB, 1, 50);
        // work_mem = (1024 MiB − 256 MiB) / ((50 + 8) × 3) = 786432 kB / 174 = 4519 kB
        assert_eq!(row(&t), ["256MB", "768MB", "64MB", "4519kB", "7864kB"]);
        assert_eq!(
            (t.max_worker_processes, t.max_parallel_workers_per_gather),
            (8, 1)
        );
        assert_eq!(t.huge_pages, "off");
    }

    #[test]
    fn four_gib_two_cpus_hundred_connections() {
        let t = pgtune(4 * GIB, 2, 100);
        // work_mem = 3 GiB / ((100 + 8) × 3) = 3145728 kB / 324 = 9709 kB
        assert_eq!(row(&t), ["1GB", "3GB", "256MB", "9709kB", "16MB"]);
        assert_eq!(t.max_parallel_workers_per_gather, 1);
    }

    #[test]
    fn sixteen_gib_eight_cpus_two_hundred_connections() {
        let t = pgtune(16 * GIB, 8, 200);
        // work_mem = 12 GiB / ((200 + 8) × 3) = 12582912 kB / 624 = 20164 kB (rounded down)
        assert_eq!(row(&t), ["4GB", "12GB", "1GB", "20164kB", "16MB"]);
        assert_eq!(
            (
                t.max_worker_processes,
                t.max_parallel_workers_per_gather,
                t.max_parallel_maintenance_workers
            ),
            (8, 4, 4)
        );
    }

    #[test]
    fn sixty_four_gib_sixteen_cpus_five_hundred_connections() {
        let t = pgtune(64 * GIB, 16, 500);
        // maintenance_work_mem is capped at 2 GiB; work_mem = 48 GiB / ((500 + 16) × 3)
        // = 50331648 kB / 1548 = 32513 kB
        assert_eq!(row(&t), ["16GB", "48GB", "2GB", "32513kB", "16MB"]);
        assert_eq!((t.max_worker_processes, t.max_parallel_workers), (16, 16));
        assert_eq!(t.huge_pages, "try");
    }

    #[test]
    fn tiny_servers_keep_the_floors() {
        let t = pgtune(64 * MIB, 1, 10_000);
        assert_eq!(t.work_mem, "64kB");
        assert_eq!(t.wal_buffers, "491kB");
    }

    #[test]
    fn sizes_use_the_largest_exact_unit() {
        assert_eq!(pg_size(GIB), "1GB");
        assert_eq!(pg_size(768 * MIB), "768MB");
        assert_eq!(pg_size(1536 * MIB), "1536MB");
        assert_eq!(pg_size(9709 * KIB), "9709kB");
    }
}
