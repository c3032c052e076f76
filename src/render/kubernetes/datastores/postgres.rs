//! PostgreSQL on Kubernetes: the primary's StatefulSet (initialised from its own
//! ConfigMap) behind the read-write Service, the replicas' StatefulSet behind the
//! read-only one, and PgBouncer as a Deployment.

use super::*;
use crate::plan::{NodeRole, PoolerObjects, PoolerPlan, PostgresPlan};
use crate::render::datastores::postgres::{
    pooler_command, pooler_env, primary_env, ready_command, replica_env, server_command, DATA_DIR,
};
use crate::render::datastores::POOLER_MOUNT_DIR;

pub(super) fn docs(ctx: &Ctx, pg: &PostgresPlan, files: &[String]) -> (Vec<Value>, Vec<Value>) {
    let (plan, store, mount, dir) = (ctx.plan, ctx.store, &ctx.mount, &ctx.dir);
    let k8s = &store.kubernetes;
    let name = &k8s.workload;
    let config = &ctx.config;
    let init = k8s.init_config.clone().unwrap_or_default();
    let port = k8s.port;
    let mut maps = vec![
        json!({ "name": config, "files": ctx.own.iter().filter(|f| !f.ends_with("init-primary.sh")).collect::<Vec<_>>() }),
        json!({ "name": init, "files": [format!("{dir}/init-primary.sh")] }),
    ];
    let mut docs = Vec::new();
    let pgdata = json!({ "name": "PGDATA", "value": format!("{DATA_DIR}/pgdata") });
    let shm = quantity_memory(pg.shm_bytes);
    // Every probe runs the readiness command, each with the plan's patience for the
    // node's role (a replica's first start, a base backup, gets longer).
    let ready = json!({ "exec": { "command": ready_command("127.0.0.1", port) } });
    let probes = |role: NodeRole| {
        let h = store.health(role);
        (
            probe(ready.clone(), &h.readiness),
            probe(ready.clone(), &h.liveness),
            h.startup.map(|s| probe(ready.clone(), &s)),
        )
    };
    let mounts = json!([
        { "name": "config", "mountPath": mount, "readOnly": true },
        { "name": "data", "mountPath": DATA_DIR },
        { "name": "tmp", "mountPath": "/tmp" },
        { "name": "run", "mountPath": "/var/run/postgresql" },
        { "name": "shm", "mountPath": "/dev/shm" },
    ]);
    let volumes = |extra: Option<Value>| {
        let mut v = vec![
            json!({ "name": "config", "configMap": { "name": config } }),
            json!({ "name": "tmp", "emptyDir": { "medium": "Memory" } }),
            json!({ "name": "run", "emptyDir": {} }),
            // Parallel queries share memory here; the runtime's 64Mi is too little.
            json!({ "name": "shm", "emptyDir": { "medium": "Memory", "sizeLimit": shm.clone() } }),
        ];
        v.extend(extra);
        v
    };
    let mut primary_mounts = mounts.as_array().cloned().unwrap_or_default();
    primary_mounts.push(
        json!({ "name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": true }),
    );
    let mut primary_env = environment(plan, &primary_env(pg));
    primary_env.push(pgdata.clone());
    // With backups, the image with pgBackRest, and the bucket's secrets.
    let image = match &pg.backup {
        Some(b) => b
            .kubernetes_image
            .clone()
            .unwrap_or_else(|| b.image.clone()),
        None => store.image.clone(),
    };
    let backup_env = pg
        .backup
        .as_ref()
        .map(|b| environment(plan, &b.env))
        .unwrap_or_default();
    primary_env.extend(backup_env.iter().cloned());
    let (readiness, liveness, startup) = probes(NodeRole::Primary);
    let primary = json!({
        "name": "postgres",
        "image": image,
        "args": server_command(mount),
        "env": primary_env,
        "ports": [{ "name": "postgres", "containerPort": port }],
        "resources": ctx.resources,
        "readinessProbe": readiness,
        "livenessProbe": liveness,
        "startupProbe": startup,
        "securityContext": secure_container(),
        "volumeMounts": primary_mounts,
    });
    let statefulset =
        |set: &str, role: NodeRole, replicas: u32, container: Value, extra: Option<Value>| {
            let headless = match (role, &k8s.replicas) {
                (NodeRole::Replica, Some(r)) => &r.headless,
                _ => &k8s.headless,
            };
            json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": { "name": set, "labels": labels(plan, set, "datastore") },
                "spec": {
                    "serviceName": headless,
                    "replicas": replicas,
                    "selector": { "matchLabels": selector(plan, set) },
                    "template": {
                        "metadata": { "labels": labels(plan, set, "datastore") },
                        "spec": {
                            "automountServiceAccountToken": k8s.api_token,
                            "securityContext": data_pod_security(store.uid),
                            "terminationGracePeriodSeconds": store.health(role).stop_grace_s,
                            "containers": std::iter::once(container)
                                .chain(datastore_exporter(plan, store))
                                .collect::<Vec<_>>(),
                            "volumes": volumes(extra),
                        },
                    },
                    "volumeClaimTemplates": [claim("data", store)],
                },
            })
        };
    docs.push(statefulset(
        name,
        NodeRole::Primary,
        1,
        primary,
        Some(json!({ "name": "init", "configMap": { "name": init } })),
    ));
    docs.push(ctx.service(name, name, port, false));
    docs.push(ctx.service(&k8s.headless, name, port, true));
    if let Some(replicas) = &k8s.replicas {
        let set = &replicas.workload;
        let mut env = environment(plan, &replica_env(pg));
        env.push(pgdata);
        env.push(json!({ "name": "TIERFORM_CONF", "value": mount }));
        env.push(env_field("POD_NAME", "metadata.name"));
        env.extend(backup_env.iter().cloned());
        let (readiness, liveness, startup) = probes(NodeRole::Replica);
        let replica = json!({
            "name": "postgres",
            "image": image,
            "command": ["sh", format!("{mount}/start-replica.sh")],
            "env": env,
            "ports": [{ "name": "postgres", "containerPort": port }],
            "resources": ctx.resources,
            "readinessProbe": readiness,
            "livenessProbe": liveness,
            "startupProbe": startup,
            "securityContext": secure_container(),
            "volumeMounts": mounts,
        });
        docs.push(statefulset(
            set,
            NodeRole::Replica,
            pg.replicas,
            replica,
            None,
        ));
        docs.push(ctx.service(&replicas.read_service, set, port, false));
        docs.push(ctx.service(&replicas.headless, set, port, true));
    }
    if let Some(b) = &pg.backup {
        docs.extend(super::backup::docs(ctx, b));
    }
    if let (Some(pooler), Some(objects)) = (&pg.pooler, &k8s.pooler) {
        let (doc, map) = pooler_docs(ctx, pg, pooler, objects, files);
        maps.push(map);
        docs.extend(doc);
    }
    (docs, maps)
}

/// PgBouncer's Deployment and Service, and its ConfigMap.
fn pooler_docs(
    ctx: &Ctx,
    pg: &PostgresPlan,
    pooler: &PoolerPlan,
    objects: &PoolerObjects,
    files: &[String],
) -> (Vec<Value>, Value) {
    let plan = ctx.plan;
    let pool = &objects.workload;
    let pdir = crate::render::datastores::pooler_dir(ctx.store);
    let pmap = &objects.config;
    let map = json!({ "name": pmap, "files": files.iter().filter(|f| f.starts_with(&format!("{pdir}/"))).collect::<Vec<_>>() });
    let mut pod_security = secure_pod();
    pod_security["runAsUser"] = json!(pooler.uid);
    pod_security["runAsGroup"] = json!(pooler.uid);
    let health = ctx.store.health(NodeRole::Pooler);
    let listening = json!({ "tcpSocket": { "port": objects.port } });
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": pool, "labels": labels(plan, pool, "datastore") },
        "spec": {
            "replicas": pooler.kubernetes_replicas,
            "selector": { "matchLabels": selector(plan, pool) },
            "template": {
                "metadata": { "labels": labels(plan, pool, "datastore") },
                "spec": {
                    "automountServiceAccountToken": ctx.store.kubernetes.api_token,
                    "securityContext": pod_security,
                    "containers": [{
                        "name": "pgbouncer",
                        "image": pooler.image,
                        "command": pooler_command(),
                        "env": environment(plan, &pooler_env(pg)),
                        "ports": [{ "name": "pgbouncer", "containerPort": objects.port }],
                        "resources": resource_requirements(&pooler.resources),
                        "readinessProbe": probe(listening.clone(), &health.readiness),
                        "livenessProbe": probe(listening, &health.liveness),
                        "securityContext": secure_container(),
                        "volumeMounts": [
                            { "name": "config", "mountPath": POOLER_MOUNT_DIR, "readOnly": true },
                            { "name": "tmp", "mountPath": "/tmp" },
                        ],
                    }],
                    "volumes": [
                        { "name": "config", "configMap": { "name": pmap } },
                        { "name": "tmp", "emptyDir": { "medium": "Memory" } },
                    ],
                },
            },
        },
    });
    (
        vec![deployment, ctx.service(pool, pool, objects.port, false)],
        map,
    )
}
