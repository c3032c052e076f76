//! Redis in compose: a container per node, and the cluster bootstrap as a one-shot
//! container.

use super::*;
use crate::plan::RedisPlan;
use crate::render::datastores::redis::{
    cluster_init_command, cluster_init_env, server_command, server_env, DATA_DIR,
};

pub(super) fn containers(ctx: &Ctx, redis: &RedisPlan) -> Vec<Container> {
    let store = ctx.store;
    let mount = &ctx.mount;
    let mut out = Vec::new();
    for n in ctx.nodes_here() {
        let volume = store.compose_volume(&n.id).to_string();
        let mut c = Map::new();
        c.insert("image".into(), json!(store.image));
        // The image's own user owns /data.
        c.insert("user".into(), json!(store.image_user));
        // The password file start.sh writes lives in memory only.
        c.insert("tmpfs".into(), json!(["/tmp"]));
        c.insert(
            "command".into(),
            json!(server_command(mount, &format!("{}.conf", n.id))),
        );
        c.insert(
            "environment".into(),
            Value::Object(environment(&server_env(redis))),
        );
        c.insert(
            "volumes".into(),
            json!([ctx.files.clone(), { "type": "volume", "source": volume, "target": DATA_DIR }]),
        );
        let ping = format!(
            "REDISCLI_AUTH=\"$$REDIS_PASSWORD\" redis-cli -h {} -p {} ping | grep -q PONG",
            ctx.addr(n),
            n.port
        );
        watch(&mut c, json!(["CMD-SHELL", ping]), &store.health(n.role));
        ctx.common(&mut c);
        out.push((n.id.clone(), Value::Object(c), Some(volume)));
    }
    let init = store.compose.cluster_init.as_ref();
    if let Some(init) = init.filter(|_| ctx.nodes.first().is_some_and(|n| ctx.here(n))) {
        let mut c = Map::new();
        c.insert("image".into(), json!(store.image));
        c.insert("command".into(), json!(cluster_init_command(mount)));
        c.insert(
            "environment".into(),
            Value::Object(environment(&cluster_init_env(redis))),
        );
        c.insert("volumes".into(), json!([ctx.files.clone()]));
        c.insert("restart".into(), json!("no"));
        ctx.network(&mut c);
        if ctx.layout == Layout::Single {
            let mut deps = Map::new();
            for n in ctx.nodes {
                deps.insert(n.id.clone(), json!({ "condition": "service_healthy" }));
            }
            c.insert("depends_on".into(), Value::Object(deps));
        }
        // On `hosts` the other nodes run on other machines: the script waits for them.
        out.push((init.clone(), Value::Object(c), None));
    }
    out
}
