//! RabbitMQ in compose: a container per node.

use super::*;
use crate::plan::RabbitmqPlan;
use crate::render::datastores::rabbitmq::{ready_command, server_env, DATA_DIR};

pub(super) fn containers(ctx: &Ctx, rabbit: &RabbitmqPlan) -> Vec<Container> {
    let mut out = Vec::new();
    for n in ctx.nodes_here() {
        let volume = ctx.store.compose_volume(&n.id).to_string();
        let mut c = Map::new();
        c.insert("image".into(), json!(ctx.store.image));
        c.insert(
            "environment".into(),
            Value::Object(environment(&server_env(rabbit, &ctx.mount))),
        );
        c.insert(
            "volumes".into(),
            json!([ctx.files.clone(), { "type": "volume", "source": volume, "target": DATA_DIR }]),
        );
        let mut test = vec!["CMD".to_string()];
        test.extend(ready_command());
        watch(&mut c, json!(test), &ctx.store.health(n.role));
        ctx.common(&mut c);
        out.push((n.id.clone(), Value::Object(c), Some(volume)));
    }
    out
}
