//! Redis's files: `redis.conf` per node, `start.sh`, and `cluster-init.sh` for a
//! cluster. On Kubernetes one StatefulSet runs every node, so they share one config.

use minijinja::context;

use super::Files;
use crate::model::Platform;
use crate::plan::{DatastoreNode, DatastorePlan, EnvVar, RedisPlan};
use crate::render::templates::TemplateError;

/// The data directory of the official image.
pub const DATA_DIR: &str = "/data";

/// A node's command: `start.sh` on its config `conf` (both mounted at `mount`).
pub fn server_command(mount: &str, conf: &str) -> Vec<String> {
    vec![
        "sh".into(),
        format!("{mount}/start.sh"),
        format!("{mount}/{conf}"),
    ]
}

/// A node's password, which `start.sh` writes into its config.
pub fn server_env(redis: &RedisPlan) -> Vec<EnvVar> {
    vec![EnvVar::secret("REDIS_PASSWORD", &redis.password_secret)]
}

/// The cluster bootstrap's command, run once.
pub fn cluster_init_command(mount: &str) -> Vec<String> {
    vec!["sh".into(), format!("{mount}/cluster-init.sh")]
}

/// The bootstrap's password, as redis-cli reads it.
pub fn cluster_init_env(redis: &RedisPlan) -> Vec<EnvVar> {
    vec![EnvVar::secret("REDISCLI_AUTH", &redis.password_secret)]
}

pub(super) fn render(
    files: &mut Files,
    store: &DatastorePlan,
    redis: &RedisPlan,
    platform: Platform,
    machines: &[&str],
    dir: &str,
) -> Result<(), TemplateError> {
    let nodes = store.nodes_on(platform);
    if platform == Platform::Kubernetes {
        // One StatefulSet: every pod reads the same config.
        let node = DatastoreNode {
            id: store.name.clone(),
            role: crate::plan::NodeRole::Node,
            host: String::new(),
            port: nodes
                .first()
                .map_or(crate::plan::placement::REDIS_PORT, |n| n.port),
            machine: String::new(),
        };
        let ctx = context! { redis => redis, node => node, nodes => nodes, kubernetes => true };
        files.push(
            "",
            format!("{dir}/redis.conf"),
            "redis/redis.conf.j2",
            ctx.clone(),
        )?;
        files.push(
            "",
            format!("{dir}/start.sh"),
            "redis/start.sh.j2",
            ctx.clone(),
        )?;
        if redis.cluster {
            files.push(
                "",
                format!("{dir}/cluster-init.sh"),
                "redis/cluster-init.sh.j2",
                ctx,
            )?;
        }
        return Ok(());
    }
    for machine in machines {
        for node in nodes.iter().filter(|n| &n.machine == machine) {
            files.push(
                machine,
                format!("{dir}/{}.conf", node.id),
                "redis/redis.conf.j2",
                context! { redis => redis, node => node },
            )?;
        }
        files.push(
            machine,
            format!("{dir}/start.sh"),
            "redis/start.sh.j2",
            context! { redis => redis },
        )?;
    }
    if redis.cluster {
        // The bootstrap runs once, beside the first node.
        files.push(
            &nodes[0].machine,
            format!("{dir}/cluster-init.sh"),
            "redis/cluster-init.sh.j2",
            context! { redis => redis, nodes => nodes },
        )?;
    }
    Ok(())
}
