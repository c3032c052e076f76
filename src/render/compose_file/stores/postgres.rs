//! PostgreSQL in compose: the primary (initialised by `init-primary.sh`), a container
//! per replica (waiting for the primary on one host), and PgBouncer.

use super::*;
use crate::plan::NodeRole;
use crate::plan::{BackupRepo, PostgresPlan};
use crate::render::datastores::postgres::{
    pooler_command, pooler_env, primary_env, ready_command, replica_env, server_command, DATA_DIR,
    REPLICA_DATA_DIR,
};
use crate::render::datastores::POOLER_MOUNT_DIR;

pub(super) fn containers(ctx: &Ctx, pg: &PostgresPlan) -> Vec<Container> {
    let primary = ctx.nodes.iter().find(|n| n.role == NodeRole::Primary);
    let mut out = Vec::new();
    for n in ctx.nodes_here() {
        let container = match (n.role, &pg.patroni) {
            (NodeRole::Primary | NodeRole::Replica, Some(pat)) => {
                patroni_container(ctx, pg, pat, n)
            }
            (NodeRole::Router, Some(pat)) => router_container(ctx, pat, n),
            (NodeRole::Etcd, Some(pat)) => etcd_container(ctx, pat, n),
            (NodeRole::Router | NodeRole::Etcd, None) => continue,
            _ => match n.role {
                // A standby region's primary streams from the phase's until promoted:
                // started like a replica, by its script.
                NodeRole::Primary if pg.upstream.is_some() => replica_container(ctx, pg, n, None),
                NodeRole::Primary => primary_container(ctx, pg, n),
                NodeRole::Replica => replica_container(ctx, pg, n, primary),
                NodeRole::Pooler
                | NodeRole::Master
                | NodeRole::Node
                | NodeRole::Router
                | NodeRole::Etcd => match &pg.pooler {
                    Some(pool) => pooler_container(ctx, pg, pool, n),
                    None => continue,
                },
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

/// The server's image: the table's, or with backups the one built from the bundle's
/// `images/<name>/Dockerfile` (pgBackRest in it), tagged.
fn server_image(ctx: &Ctx, pg: &PostgresPlan, c: &mut Map<String, Value>) {
    match &pg.backup {
        None => {
            c.insert("image".into(), json!(ctx.store.image));
        }
        Some(b) => {
            c.insert("image".into(), json!(b.image));
            c.insert(
                "build".into(),
                json!({ "context": format!("./images/{}", ctx.store.name) }),
            );
        }
    }
}

/// What pgBackRest needs in a server's container that archives: the repository's
/// folder (the same path inside), or the bucket's secrets. On `hosts`, a folder
/// repository is on the primary's machine only, and only its servers archive.
fn backup_access(
    ctx: &Ctx,
    pg: &PostgresPlan,
    n: &DatastoreNode,
    env: &mut Map<String, Value>,
    volumes: &mut Vec<Value>,
) -> bool {
    let Some(b) = &pg.backup else { return false };
    match &b.repo {
        BackupRepo::Local { path } => {
            let primary_here = ctx
                .nodes
                .iter()
                .any(|p| p.role == NodeRole::Primary && p.machine == n.machine);
            if primary_here {
                // A missing folder stops the start, rather than appear owned by root
                // where the server's user cannot write (the README creates it).
                volumes.push(json!({ "type": "bind", "source": path, "target": path, "bind": { "create_host_path": false } }));
            }
            primary_here
        }
        BackupRepo::S3 { .. } => {
            env.extend(environment(&b.env));
            true
        }
    }
}

fn primary_container(ctx: &Ctx, pg: &PostgresPlan, n: &DatastoreNode) -> Container {
    let mount = &ctx.mount;
    let volume = ctx.store.compose_volume(&n.id).to_string();
    let mut c = Map::new();
    server_image(ctx, pg, &mut c);
    if let Some(b) = &pg.backup {
        // The backup timers on the machine reach it by this name.
        c.insert("container_name".into(), json!(b.container));
    }
    let mut cmd = server_command(mount);
    if ctx.layout == Layout::Hosts {
        cmd.extend(["-c".to_string(), format!("port={}", n.port)]);
    }
    c.insert("command".into(), json!(cmd));
    let mut env = environment(&primary_env(pg));
    env.insert("PGPORT".into(), json!(n.port.to_string()));
    let mut volumes = vec![
        ctx.files.clone(),
        json!({ "type": "bind", "source": format!("./{}/init-primary.sh", datastores::bundle_dir(ctx.store)), "target": "/docker-entrypoint-initdb.d/10-tierform.sh", "read_only": true }),
        json!({ "type": "volume", "source": volume, "target": DATA_DIR }),
    ];
    backup_access(ctx, pg, n, &mut env, &mut volumes);
    c.insert("environment".into(), Value::Object(env));
    c.insert("volumes".into(), Value::Array(volumes));
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
    server_image(ctx, pg, &mut c);
    c.insert("user".into(), json!(ctx.store.image_user));
    c.insert(
        "entrypoint".into(),
        json!(["sh", format!("{}/start-{}.sh", ctx.mount, n.id)]),
    );
    let mut env = environment(&replica_env(pg));
    let mut volumes = vec![
        ctx.files.clone(),
        json!({ "type": "volume", "source": volume, "target": DATA_DIR }),
    ];
    let archives = backup_access(ctx, pg, n, &mut env, &mut volumes);
    if archives {
        // A replica's data is in a folder of the volume (start-replica.sh): where
        // pgBackRest finds it once the replica is promoted and archives.
        env.insert("PGBACKREST_PG1_PATH".into(), json!(REPLICA_DATA_DIR));
    }
    c.insert("environment".into(), Value::Object(env));
    c.insert("volumes".into(), Value::Array(volumes));
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
        for other in ctx.nodes {
            let condition = match other.role {
                NodeRole::Primary | NodeRole::Replica => "service_healthy",
                // Under Patroni, the router it reaches the servers through.
                NodeRole::Router => "service_started",
                _ => continue,
            };
            deps.insert(other.id.clone(), json!({ "condition": condition }));
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

/// A server under Patroni: the image with Patroni in it, built from the bundle's
/// Dockerfile, runs Patroni on the node's `patroni-<id>.yml` as the postgres user;
/// Patroni starts PostgreSQL (initialising, copying or following as etcd says).
fn patroni_container(
    ctx: &Ctx,
    pg: &PostgresPlan,
    pat: &crate::plan::PatroniPlan,
    n: &DatastoreNode,
) -> Container {
    let volume = ctx.store.compose_volume(&n.id).to_string();
    let mut c = Map::new();
    c.insert("image".into(), json!(pat.image));
    c.insert(
        "build".into(),
        json!({ "context": format!("./images/{}", ctx.store.name) }),
    );
    c.insert("user".into(), json!(ctx.store.image_user));
    c.insert(
        "entrypoint".into(),
        json!(["patroni", format!("{}/patroni-{}.yml", ctx.mount, n.id)]),
    );
    c.insert(
        "environment".into(),
        Value::Object(environment(&pat.env(pg))),
    );
    c.insert(
        "volumes".into(),
        json!([
            ctx.files.clone(),
            { "type": "volume", "source": volume, "target": DATA_DIR },
        ]),
    );
    c.insert("shm_size".into(), json!(memory(pg.shm_bytes)));
    c.insert("tmpfs".into(), json!(["/tmp"]));
    watch_server(ctx, n, &mut c);
    if ctx.layout == Layout::Single {
        let mut deps = Map::new();
        for e in ctx.nodes.iter().filter(|e| e.role == NodeRole::Etcd) {
            deps.insert(e.id.clone(), json!({ "condition": "service_healthy" }));
        }
        c.insert("depends_on".into(), Value::Object(deps));
    }
    ctx.common(&mut c);
    (n.id.clone(), Value::Object(c), Some(volume))
}

/// An etcd member, from the image built from the bundle's `images/<name>-etcd`.
fn etcd_container(ctx: &Ctx, pat: &crate::plan::PatroniPlan, n: &DatastoreNode) -> Container {
    let volume = ctx.store.compose_volume(&n.id).to_string();
    let mut c = Map::new();
    c.insert("image".into(), json!(pat.etcd_image));
    c.insert(
        "build".into(),
        json!({ "context": format!("./images/{}-etcd", ctx.store.name) }),
    );
    c.insert(
        "command".into(),
        json!([
            "etcd",
            "--config-file",
            format!("{}/etcd-{}.yml", ctx.mount, n.id)
        ]),
    );
    c.insert(
        "volumes".into(),
        json!([
            ctx.files.clone(),
            { "type": "volume", "source": volume, "target": "/var/lib/etcd" },
        ]),
    );
    c.insert("read_only".into(), json!(true));
    let endpoint = format!(
        "--endpoints=http://{}:{}",
        crate::render::url_host(&ctx.addr(n)),
        n.port
    );
    watch(
        &mut c,
        json!(["CMD", "etcdctl", endpoint, "endpoint", "health"]),
        &ctx.store.health(n.role),
    );
    c.insert("restart".into(), json!("unless-stopped"));
    ctx.network(&mut c);
    (n.id.clone(), Value::Object(c), Some(volume))
}

/// The router: HAProxy on the bundle's `router.cfg`.
fn router_container(ctx: &Ctx, pat: &crate::plan::PatroniPlan, n: &DatastoreNode) -> Container {
    let mut c = Map::new();
    c.insert("image".into(), json!(pat.router_image));
    c.insert(
        "command".into(),
        json!([
            "haproxy",
            "-W",
            "-db",
            "-f",
            format!("{}/router.cfg", ctx.mount)
        ]),
    );
    c.insert("volumes".into(), json!([ctx.files.clone()]));
    c.insert("read_only".into(), json!(true));
    c.insert("restart".into(), json!("unless-stopped"));
    ctx.network(&mut c);
    (n.id.clone(), Value::Object(c), None)
}
