//! PostgreSQL on Kubernetes: the primary's StatefulSet (initialised from its own
//! ConfigMap) behind the read-write Service, the replicas' StatefulSet behind the
//! read-only one, and PgBouncer as a Deployment.

use super::*;
use crate::plan::{NodeRole, PatroniObjects, PatroniPlan, PoolerObjects, PoolerPlan, PostgresPlan};
use crate::render::datastores::postgres::{
    pooler_command, pooler_env, primary_env, ready_command, replica_env, server_command, DATA_DIR,
};
use crate::render::datastores::POOLER_MOUNT_DIR;

pub(super) fn docs(ctx: &Ctx, pg: &PostgresPlan, files: &[String]) -> (Vec<Value>, Vec<Value>) {
    if let (Some(pat), Some(objects)) = (&pg.patroni, &ctx.store.kubernetes.patroni) {
        let (mut docs, mut maps) = patroni_docs(ctx, pg, pat, objects);
        if let (Some(pooler), Some(pool)) = (&pg.pooler, &ctx.store.kubernetes.pooler) {
            let (doc, map) = pooler_docs(ctx, pg, pooler, pool, files);
            maps.push(map);
            docs.extend(doc);
        }
        return (docs, maps);
    }
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

/// Under Patroni (`ha: auto`): every server in one StatefulSet, running Patroni on
/// `patroni.yml` with Kubernetes as its store; the read-write Service has no selector
/// (Patroni keeps its Endpoints on the primary's pod), the read-only one selects the
/// pods Patroni labels replicas; Patroni's account may change only its cluster's
/// Endpoints and pods' labels (and create the Service that keeps its state).
fn patroni_docs(
    ctx: &Ctx,
    pg: &PostgresPlan,
    pat: &PatroniPlan,
    objects: &PatroniObjects,
) -> (Vec<Value>, Vec<Value>) {
    let (plan, store, mount) = (ctx.plan, ctx.store, &ctx.mount);
    let k8s = &store.kubernetes;
    let name = &k8s.workload;
    let port = k8s.port;
    let api = pat.api_port(crate::model::Platform::Kubernetes, name);
    let maps = vec![json!({ "name": ctx.config, "files": ctx.own })];
    let meta = |n: &str| metadata(plan, n, "datastore");
    let mut env = vec![
        env_field("POD_IP", "status.podIP"),
        env_field("PATRONI_NAME", "metadata.name"),
        json!({ "name": "PATRONI_KUBERNETES_POD_IP", "value": "$(POD_IP)" }),
        json!({ "name": "PATRONI_POSTGRESQL_CONNECT_ADDRESS", "value": format!("$(POD_IP):{port}") }),
        json!({ "name": "PATRONI_RESTAPI_CONNECT_ADDRESS", "value": format!("$(POD_IP):{api}") }),
    ];
    env.extend(environment(plan, &pat.env(pg)));
    let http = |path: &str| json!({ "httpGet": { "path": path, "port": api } });
    let h = store.health(NodeRole::Primary);
    let mut pod_labels = labels(plan, name, "datastore");
    pod_labels[&objects.scope_label] = json!(pat.scope);
    let container = json!({
        "name": "postgres",
        "image": pat.kubernetes_image.clone().unwrap_or_else(|| pat.image.clone()),
        "command": ["patroni", format!("{mount}/patroni.yml")],
        "env": env,
        "ports": [
            { "name": "postgres", "containerPort": port },
            { "name": "patroni", "containerPort": api },
        ],
        "resources": ctx.resources,
        // Ready: PostgreSQL runs (a replica streams or catches up); alive: Patroni's
        // loop turns. A first start (a replica's copy) may take the startup probe's
        // patience.
        "readinessProbe": probe(http("/readiness"), &h.readiness),
        "livenessProbe": probe(http("/liveness"), &h.liveness),
        "startupProbe": store.health(NodeRole::Replica).startup.map(|s| probe(http("/liveness"), &s)),
        "securityContext": secure_container(),
        "volumeMounts": [
            { "name": "config", "mountPath": mount, "readOnly": true },
            { "name": "data", "mountPath": DATA_DIR },
            { "name": "tmp", "mountPath": "/tmp" },
            { "name": "run", "mountPath": "/var/run/postgresql" },
            { "name": "shm", "mountPath": "/dev/shm" },
            // Patroni's token, where in-cluster clients read it: in this container only.
            { "name": "api-token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true },
        ],
    });
    let mut security = data_pod_security(store.uid);
    // Patroni, not the image's entrypoint, starts PostgreSQL, and never makes the data
    // folder 0700 again: the kubelet must not give the volume's files to the group at
    // each mount (PostgreSQL refuses a data folder the group may enter).
    security["fsGroupChangePolicy"] = json!("OnRootMismatch");
    let statefulset = json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(name),
        "spec": {
            "serviceName": k8s.headless,
            "replicas": pg.replicas + 1,
            // Patroni orders its servers itself: a replica that is not ready (copying,
            // rewinding) must not keep the StatefulSet from replacing another pod.
            "podManagementPolicy": "Parallel",
            "selector": { "matchLabels": selector(plan, name) },
            "template": {
                "metadata": { "labels": pod_labels },
                "spec": {
                    "serviceAccountName": objects.account,
                    // Patroni reads and writes its cluster's objects: its token is
                    // mounted in its container alone, not in the exporter's.
                    "automountServiceAccountToken": false,
                    "securityContext": security,
                    "terminationGracePeriodSeconds": h.stop_grace_s,
                    "containers": std::iter::once(container)
                        .chain(datastore_exporter(plan, store))
                        .collect::<Vec<_>>(),
                    "volumes": [
                        { "name": "config", "configMap": { "name": ctx.config } },
                        { "name": "tmp", "emptyDir": { "medium": "Memory" } },
                        { "name": "run", "emptyDir": {} },
                        { "name": "shm", "emptyDir": { "medium": "Memory", "sizeLimit": quantity_memory(pg.shm_bytes) } },
                        { "name": "api-token", "projected": { "sources": [
                            { "serviceAccountToken": { "path": "token", "expirationSeconds": 3607 } },
                            { "configMap": { "name": "kube-root-ca.crt", "items": [{ "key": "ca.crt", "path": "ca.crt" }] } },
                            { "downwardAPI": { "items": [{ "path": "namespace", "fieldRef": { "fieldPath": "metadata.namespace" } }] } },
                        ] } },
                    ],
                },
            },
            "volumeClaimTemplates": [claim("data", store)],
        },
    });
    let account = &objects.account;
    let cluster = |resources: &[&str], names: Option<Vec<&str>>, verbs: &[&str]| {
        let mut rule = json!({ "apiGroups": [""], "resources": resources, "verbs": verbs });
        if let Some(names) = names {
            rule["resourceNames"] = json!(names);
        }
        rule
    };
    let read_selector = {
        let mut s = selector(plan, name);
        s[&objects.role_label] = json!("replica");
        s
    };
    let docs = vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(account),
            "automountServiceAccountToken": false,
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(account),
            "rules": [
                // The leader's lease and the cluster's state: its own Endpoints.
                cluster(&["endpoints"], Some(objects.endpoints.iter().map(String::as_str).collect()), &["get", "patch", "update"]),
                // Creating (and finding) them names no object yet.
                cluster(&["endpoints"], None, &["create", "list", "watch"]),
                // Each server's state and role label on its own pod, and no other's.
                cluster(&["pods"], Some(objects.pods.iter().map(String::as_str).collect()), &["get", "patch", "update"]),
                // The members: the pods with the cluster's labels.
                cluster(&["pods"], None, &["list", "watch"]),
                // The Service that keeps the state's Endpoints from being cleaned up.
                cluster(&["services"], None, &["create"]),
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(account),
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account },
            "subjects": [{ "kind": "ServiceAccount", "name": account, "namespace": plan.namespace }],
        }),
        statefulset,
        // No selector: Patroni points its Endpoints at the primary.
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(name),
            "spec": { "ports": [{ "name": "postgres", "port": port, "targetPort": port }] },
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(&objects.read_service),
            "spec": {
                "selector": read_selector,
                "ports": [{ "name": "postgres", "port": port, "targetPort": port }],
            },
        }),
        ctx.service(&k8s.headless, name, port, true),
    ];
    (docs, maps)
}
