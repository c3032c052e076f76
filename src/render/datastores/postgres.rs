//! PostgreSQL's files: `postgresql.conf`, `pg_hba.conf` and the primary's init script
//! on every machine that runs a server, a start script per replica (one for the
//! replica StatefulSet on Kubernetes), and PgBouncer's `pgbouncer.ini` and start script.

use minijinja::context;

use super::{pooler_dir, Files, POOLER_MOUNT_DIR};
use crate::model::Platform;
use crate::plan::NodeRole;
use crate::plan::{DatastoreNode, DatastorePlan, EnvVar, Plan, PostgresPlan};
use crate::render::templates::TemplateError;

/// The data directory of the official image.
pub const DATA_DIR: &str = "/var/lib/postgresql/data";

/// Where a replica keeps its data on compose and hosts (start-replica.sh's
/// `PGDATA`), and every server on Kubernetes: a folder of the volume, not its root.
pub const REPLICA_DATA_DIR: &str = "/var/lib/postgresql/data/pgdata";

/// The primary's server command, reading the config files mounted at `mount`.
pub fn server_command(mount: &str) -> Vec<String> {
    vec![
        "postgres".into(),
        "-c".into(),
        format!("config_file={mount}/postgresql.conf"),
        "-c".into(),
        format!("hba_file={mount}/pg_hba.conf"),
    ]
}

/// The primary's passwords: the superuser's for the image's first start, the
/// application's, the replication user's and the monitoring role's for
/// `init-primary.sh`.
pub fn primary_env(pg: &PostgresPlan) -> Vec<EnvVar> {
    vec![
        EnvVar::secret("POSTGRES_PASSWORD", &pg.superuser_secret),
        EnvVar::secret("APP_PASSWORD", &pg.password_secret),
        EnvVar::secret("REPLICATION_PASSWORD", &pg.replication_secret),
        EnvVar::secret("MONITOR_PASSWORD", &pg.monitor_secret),
    ]
}

/// A replica's password, for `start-replica.sh`'s base backup and streaming.
pub fn replica_env(pg: &PostgresPlan) -> Vec<EnvVar> {
    vec![EnvVar::secret(
        "REPLICATION_PASSWORD",
        &pg.replication_secret,
    )]
}

/// PgBouncer's password file is written from the application's password.
pub fn pooler_env(pg: &PostgresPlan) -> Vec<EnvVar> {
    vec![EnvVar::secret("APP_PASSWORD", &pg.password_secret)]
}

/// PgBouncer's command: its start script on its config.
pub fn pooler_command() -> Vec<String> {
    vec![
        "sh".into(),
        format!("{POOLER_MOUNT_DIR}/start.sh"),
        format!("{POOLER_MOUNT_DIR}/pgbouncer.ini"),
    ]
}

/// The readiness check of a server at `addr`:`port`.
pub fn ready_command(addr: &str, port: u16) -> Vec<String> {
    [
        "pg_isready",
        "-q",
        "-h",
        addr,
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
    ]
    .map(String::from)
    .to_vec()
}

pub(super) fn render(
    files: &mut Files,
    plan: &Plan,
    store: &DatastorePlan,
    pg: &PostgresPlan,
    platform: Platform,
    machines: &[&str],
    dir: &str,
) -> Result<(), TemplateError> {
    let nodes = store.nodes_on(platform);
    let replicas: Vec<&DatastoreNode> = nodes
        .iter()
        .filter(|n| n.role == NodeRole::Replica)
        .collect();
    let pooler = nodes.iter().find(|n| n.role == NodeRole::Pooler);
    let Some(primary) = nodes.iter().find(|n| n.role == NodeRole::Primary) else {
        return Ok(());
    };
    let memory = crate::model::units::format_bytes(pg.memory_bytes);
    let hba = pg.hba.get(&platform).cloned().unwrap_or_default();
    let pg1_path = if platform == Platform::Kubernetes {
        REPLICA_DATA_DIR
    } else {
        DATA_DIR
    };
    for &machine in machines {
        if let Some(pat) = &pg.patroni {
            super::patroni::render(
                files,
                plan,
                store,
                pg,
                pat,
                platform,
                machine,
                dir,
                &super::mount_dir(store),
                REPLICA_DATA_DIR,
            )?;
        }
        let here: Vec<&DatastoreNode> = nodes
            .iter()
            .filter(|n| n.machine == machine)
            .filter(|n| matches!(n.role, NodeRole::Primary | NodeRole::Replica))
            .collect();
        if here.is_empty() {
            continue;
        }
        let listen = if machine.is_empty() { "*" } else { machine };
        let port = here
            .iter()
            .find(|n| n.role == NodeRole::Primary)
            .map_or(crate::plan::placement::POSTGRES_PORT, |n| n.port);
        // Archiving where the repository is reachable: every server for a bucket, the
        // primary's machine for a folder on it.
        // Under Patroni any server may bootstrap the cluster (and runs init-primary.sh).
        let has_primary = pg.patroni.is_some() || here.iter().any(|n| n.role == NodeRole::Primary);
        let backup = pg
            .backup
            .as_ref()
            .filter(|b| has_primary || matches!(b.repo, crate::plan::BackupRepo::S3 { .. }));
        let ctx = context! {
            pg => pg, listen => listen, port => port, memory => memory, cpus => pg.cpus,
            app_networks => hba.app, replication_networks => hba.replication,
            monitor_networks => hba.monitor, rewind_networks => hba.rewind, backup => backup,
            pg1_path => pg1_path,
            region_leader => pg.upstream.is_some() && here.iter().any(|n| n.role == NodeRole::Primary),
        };
        if backup.is_some() {
            files.push(
                machine,
                format!("{dir}/pgbackrest.conf"),
                "postgres/pgbackrest.conf.j2",
                ctx.clone(),
            )?;
        }
        files.push(
            machine,
            format!("{dir}/postgresql.conf"),
            "postgres/postgresql.conf.j2",
            ctx.clone(),
        )?;
        files.push(
            machine,
            format!("{dir}/pg_hba.conf"),
            "postgres/pg_hba.conf.j2",
            ctx.clone(),
        )?;
        if let Some(b) = &pg.backup {
            // The image pgBackRest runs in: built here by compose, or on Kubernetes by
            // the operator (README) and pushed (with Patroni's, that image's).
            if pg.patroni.is_none() {
                files.push(
                    machine,
                    format!("images/{}/Dockerfile", store.name),
                    "postgres/Dockerfile.j2",
                    context! { backup => b, patroni => () },
                )?;
            }
            if platform != Platform::Kubernetes {
                if let Some(p) = here.iter().find(|n| n.role == NodeRole::Primary) {
                    super::backup::render(files, plan, store, b, platform, p)?;
                }
            }
        }
        match (
            &pg.upstream,
            here.iter().find(|n| n.role == NodeRole::Primary),
        ) {
            // A standby region's primary: a copy of the phase's, streaming from it
            // across the regions until promoted (its roles come with the copy).
            (Some(link), Some(leader)) if platform == Platform::Hosts => {
                let upstream = DatastoreNode {
                    id: store.name.clone(),
                    role: NodeRole::Primary,
                    host: link.upstream_host.clone(),
                    port: link.upstream_port,
                    machine: String::new(),
                };
                files.push(
                    machine,
                    format!("{dir}/start-{}.sh", leader.id),
                    "postgres/start-replica.sh.j2",
                    context! {
                        pg => pg, node => leader, primary => upstream, slot => &link.slot,
                        link => link,
                    },
                )?;
            }
            _ if has_primary => {
                files.push(
                    machine,
                    format!("{dir}/init-primary.sh"),
                    "postgres/init-primary.sh.j2",
                    ctx,
                )?;
            }
            _ => {}
        }
        for (i, node) in replicas.iter().enumerate() {
            // Patroni copies and starts its replicas itself.
            if node.machine != machine || pg.patroni.is_some() {
                continue;
            }
            // Kubernetes: one script for the replica StatefulSet (it picks its slot
            // from the pod's ordinal).
            if platform == Platform::Kubernetes && i > 0 {
                continue;
            }
            let file = if platform == Platform::Kubernetes {
                "start-replica.sh".to_string()
            } else {
                format!("start-{}.sh", node.id)
            };
            files.push(
                machine,
                format!("{dir}/{file}"),
                "postgres/start-replica.sh.j2",
                context! { pg => pg, node => node, primary => primary, slot => &pg.slots[i] },
            )?;
        }
    }
    // Replicas behind one address (a Kubernetes Service) are listed once.
    let mut distinct: Vec<&DatastoreNode> = Vec::new();
    for r in &replicas {
        if !distinct
            .iter()
            .any(|d| d.host == r.host && d.port == r.port)
        {
            distinct.push(r);
        }
    }
    // Under Patroni, PgBouncer reaches the primary and the replicas through the router.
    let routed: Vec<DatastoreNode>;
    let (primary, distinct) = match nodes.iter().find(|n| n.role == NodeRole::Router) {
        Some(router) => {
            let read = DatastoreNode {
                port: router.port + 1,
                ..router.clone()
            };
            routed = vec![router.clone(), read];
            (&routed[0], vec![&routed[1]])
        }
        None => (primary, distinct),
    };
    if let (Some(pooler), Some(pool)) = (pooler, &pg.pooler) {
        let ctx = context! {
            pg => pg, pooler => pool, primary => primary, replicas => distinct,
            listen => if pooler.machine.is_empty() { "*" } else { &pooler.host },
            port => pooler.port,
            max_db_connections => pool.max_db_connections,
        };
        let pdir = pooler_dir(store);
        files.push(
            &pooler.machine,
            format!("{pdir}/pgbouncer.ini"),
            "pgbouncer/pgbouncer.ini.j2",
            ctx.clone(),
        )?;
        files.push(
            &pooler.machine,
            format!("{pdir}/start.sh"),
            "pgbouncer/start.sh.j2",
            ctx,
        )?;
    }
    Ok(())
}
