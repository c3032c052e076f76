//! Redis's files: `redis.conf` per node, `start.sh`, and `cluster-init.sh` for a
//! cluster. On Kubernetes one StatefulSet runs every node, so they share one config.

use minijinja::context;

use super::Files;
use crate::model::Platform;
use crate::plan::{DatastoreNode, DatastorePlan, RedisPlan};
use crate::render::templates::TemplateError;

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
            role: "node".into(),
            host: String::new(),
            port: nodes.first().map_or(6379, |n| n.port),
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
