//! PostgreSQL in compose: the primary (initialised by `init-primary.sh`), a container
//! per replica (waiting for the primary on one host), and PgBouncer.

use super::*;
use crate::plan::NodeRole;
use crate::plan::PostgresPlan;
use crate::render::datastores::postgres::{
    pooler_command, pooler_env, primary_env, ready_command, replica_env, server_command, DATA_DIR,
};
use crate::render::datastores::POOLER_MOUNT_DIR;

pub(super) fn containers(ctx: &Ctx, pg: &PostgresPlan) -> Vec<Container> {
    let primary = ctx.nodes.iter().find(|n| n.role == NodeRole::Primary);
    let mut out = Vec::new();
    for n in ctx.nodes_here() {
        let container = match n.role {
            NodeRole::Primary => primary_container(ctx, pg, n),
            NodeRole::Replica => replica_container(ctx, pg, n, primary),
            NodeRole::Pooler | NodeRole::Master | NodeRole::Node => match &pg.pooler {
                Some(pool) => pooler_container(ctx, pg, pool, n),
                None => continue,
            },
        };
        out.push(container);
    }
    out
}

/// The readiness check, with the plan's patience for this node's role.
fn watch_server(ctx: &Ctx, n: &DatastoreNode, c: &mut Map<String, Value>) {
    let mut test = vec!["CMD".to_string()];
    test.extend(ready_command(&ctx.addr(n), n.port));
    watch(c, json!(test), &ctx.store.health(n.role));
}

fn primary_container(ctx: &Ctx, pg: &PostgresPlan, n: &DatastoreNode) -> Container {
    let mount = &ctx.mount;
    let volume = ctx.store.compose_volume(&n.id).to_string();
    let mut c = Map::new();
    c.insert("image".into(), json!(ctx.store.image));
    let mut cmd = server_command(mount);
    if ctx.layout == Layout::Hosts {
        cmd.extend(["-c".to_string(), format!("port={}", n.port)]);
    }
    c.insert("command".into(), json!(cmd));
    let mut env = environment(&primary_env(pg));
    env.insert("PGPORT".into(), json!(n.port.to_string()));
    c.insert("environment".into(), Value::Object(env));
    c.insert(
        "volumes".into(),
        json!([
            ctx.files.clone(),
            { "type": "bind", "source": format!("./{}/init-primary.sh", datastores::bundle_dir(ctx.store)), "target": "/docker-entrypoint-initdb.d/10-tierform.sh", "read_only": true },
            { "type": "volume", "source": volume, "target": DATA_DIR },
        ]),
    );
    c.insert("shm_size".into(), json!(memory(pg.shm_bytes)));
    watch_server(ctx, n, &mut c);
    ctx.common(&mut c);
    (n.id.clone(), Value::Object(c), Some(volume))
}

fn replica_container(
    ctx: &Ctx,
    pg: &PostgresPlan,
    n: &DatastoreNode,
    primary: Option<&DatastoreNode>,
) -> Container {
    let volume = ctx.store.compose_volume(&n.id).to_string();
    let mut c = Map::new();
    c.insert("image".into(), json!(ctx.store.image));
    c.insert("user".into(), json!(ctx.store.image_user));
    c.insert(
        "entrypoint".into(),
        json!(["sh", format!("{}/start-{}.sh", ctx.mount, n.id)]),
    );
    c.insert(
        "environment".into(),
        Value::Object(environment(&replica_env(pg))),
    );
    c.insert(
        "volumes".into(),
        json!([ctx.files.clone(), { "type": "volume", "source": volume, "target": DATA_DIR }]),
    );
    c.insert("shm_size".into(), json!(memory(pg.shm_bytes)));
    c.insert("tmpfs".into(), json!(["/tmp"]));
    watch_server(ctx, n, &mut c);
    if let (Layout::Single, Some(p)) = (ctx.layout, primary) {
        c.insert(
            "depends_on".into(),
            json!({ p.id.clone(): { "condition": "service_healthy" } }),
        );
    }
    ctx.common(&mut c);
    (n.id.clone(), Value::Object(c), Some(volume))
}

fn pooler_container(
    ctx: &Ctx,
    pg: &PostgresPlan,
    pool: &crate::plan::PoolerPlan,
    n: &DatastoreNode,
) -> Container {
    let pdir = datastores::pooler_dir(ctx.store);
    let mut c = Map::new();
    c.insert("image".into(), json!(pool.image));
    c.insert("user".into(), json!(format!("{}:{}", pool.uid, pool.uid)));
    c.insert("entrypoint".into(), json!(pooler_command()));
    c.insert(
        "environment".into(),
        Value::Object(environment(&pooler_env(pg))),
    );
    c.insert(
        "volumes".into(),
        json!([{ "type": "bind", "source": format!("./{pdir}"), "target": POOLER_MOUNT_DIR, "read_only": true }]),
    );
    c.insert("read_only".into(), json!(true));
    c.insert("tmpfs".into(), json!(["/tmp"]));
    if ctx.layout == Layout::Single {
        let mut deps = Map::new();
        for other in ctx.nodes.iter().filter(|o| o.role != NodeRole::Pooler) {
            deps.insert(other.id.clone(), json!({ "condition": "service_healthy" }));
        }
        c.insert("depends_on".into(), Value::Object(deps));
    }
    ctx.common(&mut c);
    if let Some(d) = c.get_mut("deploy") {
        // The pool's own footprint; the datastore's resources are the server's.
        let r = &pool.resources;
        *d = json!({ "resources": { "limits": { "cpus": millicores(r.cpu_limit_millis), "memory": memory(r.memory_limit_bytes) } } });
    }
    (n.id.clone(), Value::Object(c), None)
}
