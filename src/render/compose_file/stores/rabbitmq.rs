//! RabbitMQ in compose: a container per node.

use super::*;
use crate::plan::RabbitmqPlan;
use crate::render::datastores::rabbitmq::{
    cluster_command, cluster_env, ready_command, server_env, DATA_DIR,
};

pub(super) fn containers(ctx: &Ctx, rabbit: &RabbitmqPlan) -> Vec<Container> {
    let mut out = Vec::new();
    let platform = platform_of(ctx.layout);
    let peers = rabbit.peers.get(&platform).cloned().unwrap_or_default();
    for (i, n) in ctx.nodes.iter().enumerate() {
        if !ctx.here(n) {
            continue;
        }
        let mut cluster_member = false;
        let volume = ctx.store.compose_volume(&n.id).to_string();
        let mut c = Map::new();
        c.insert("image".into(), json!(ctx.store.image));
        let mut env = server_env(rabbit, &ctx.mount);
        if let Some(name) = peers.get(i) {
            // A cluster's node: its name, reached by its host name in compose.
            env.extend(cluster_env(rabbit, platform, n, name));
            if ctx.layout == Layout::Single {
                c.insert("hostname".into(), json!(n.id));
            }
            cluster_member = ctx.layout == Layout::Single;
            c.insert("entrypoint".into(), json!(cluster_command(&ctx.mount)));
            c.insert(
                "command".into(),
                json!(["docker-entrypoint.sh", "rabbitmq-server"]),
            );
        }
        c.insert("environment".into(), Value::Object(environment(&env)));
        c.insert(
            "volumes".into(),
            json!([ctx.files.clone(), { "type": "volume", "source": volume, "target": DATA_DIR }]),
        );
        let mut test = vec!["CMD".to_string()];
        test.extend(ready_command());
        watch(&mut c, json!(test), &ctx.store.health(n.role));
        ctx.common(&mut c);
        if cluster_member {
            // Every broker answers to the datastore's name: clients reach whichever runs.
            c.insert(
                "networks".into(),
                json!({ "back": { "aliases": [ctx.store.name] } }),
            );
        }
        out.push((n.id.clone(), Value::Object(c), Some(volume)));
    }
    out
}
