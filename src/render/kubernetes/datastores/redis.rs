//! Redis on Kubernetes: one StatefulSet for every node (a cluster's pods announce
//! themselves by their headless-Service names), a Service, and a cluster's bootstrap
//! as a Job.

use super::*;
use crate::plan::RedisPlan;
use crate::render::datastores::redis::{
    cluster_init_command, cluster_init_env, server_command, server_env, DATA_DIR,
};

pub(super) fn docs(ctx: &Ctx, r: &RedisPlan) -> (Vec<Value>, Vec<Value>) {
    let (plan, store, mount) = (ctx.plan, ctx.store, &ctx.mount);
    let k8s = &store.kubernetes;
    let name = &k8s.workload;
    let config = &ctx.config;
    let port = k8s.port;
    let maps = vec![json!({ "name": config, "files": ctx.own })];
    let mut docs = Vec::new();
    // One pod per planned node.
    let nodes = store.nodes_on(Platform::Kubernetes).len();
    let mut env = environment(plan, &server_env(r));
    env.push(json!({ "name": "REDIS_DATA_DIR", "value": DATA_DIR }));
    if r.cluster {
        env.push(env_field("POD_NAME", "metadata.name"));
        env.push(env_field("POD_IP", "status.podIP"));
        env.push(json!({ "name": "REDIS_ANNOUNCE_HOSTNAME", "value": format!("$(POD_NAME).{}.{}.svc.cluster.local", k8s.headless, plan.namespace) }));
    }
    let mut ports = vec![json!({ "name": "redis", "containerPort": port })];
    if let Some(bus) = k8s.bus_port {
        ports.push(json!({ "name": "bus", "containerPort": bus }));
    }
    let ping = json!({ "command": ["sh", "-c", "REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli ping | grep -q PONG"] });
    let container = json!({
        "name": "redis",
        "image": store.image,
        "command": server_command(mount, "redis.conf"),
        "env": env,
        "ports": ports,
        "resources": ctx.resources,
        "readinessProbe": { "exec": ping, "periodSeconds": 5 },
        "livenessProbe": { "exec": ping, "periodSeconds": 10, "failureThreshold": 6 },
        "securityContext": secure_container(),
        "volumeMounts": [
            { "name": "config", "mountPath": mount, "readOnly": true },
            { "name": "data", "mountPath": DATA_DIR },
            { "name": "tmp", "mountPath": "/tmp" },
        ],
    });
    let persistent = store.keeps_data;
    let mut volumes = vec![
        json!({ "name": "config", "configMap": { "name": config } }),
        json!({ "name": "tmp", "emptyDir": { "medium": "Memory" } }),
    ];
    if !persistent {
        volumes.push(json!({ "name": "data", "emptyDir": {} }));
    }
    let headless = &k8s.headless;
    let mut spec = json!({
        "serviceName": headless,
        "replicas": if r.cluster { nodes } else { 1 },
        "podManagementPolicy": if r.cluster { "Parallel" } else { "OrderedReady" },
        "selector": { "matchLabels": selector(plan, name) },
        "template": {
            "metadata": { "labels": labels(plan, name, "datastore") },
            "spec": { "automountServiceAccountToken": k8s.api_token, "securityContext": data_pod_security(store.uid), "containers": [container], "volumes": volumes },
        },
    });
    if persistent {
        spec["volumeClaimTemplates"] = json!([claim("data", store.volume_bytes)]);
    }
    docs.push(json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": { "name": name, "labels": labels(plan, name, "datastore") }, "spec": spec }));
    let (Some(bus), Some(init)) = (k8s.bus_port, &k8s.cluster_init) else {
        docs.push(ctx.service(name, name, port, false));
        docs.push(ctx.service(headless, name, port, true));
        return (docs, maps);
    };
    let mut h = ctx.service(headless, name, port, true);
    h["spec"]["ports"] = json!([{ "name": "redis", "port": port, "targetPort": port }, { "name": "bus", "port": bus, "targetPort": bus }]);
    docs.push(h);
    // A Job's pod template cannot change: a new bootstrap gets a new name, from a hash
    // of what it forms (the Redis settings and the nodes, as their Debug text).
    let init_script = format!("{:?}{:?}", r, store.nodes.get(&Platform::Kubernetes));
    docs.push(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": format!("{init}-{}", short_hash(&init_script)), "labels": labels(plan, init, "datastore") },
        "spec": {
            "backoffLimit": 10,
            "template": {
                "metadata": { "labels": labels(plan, init, "datastore") },
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": k8s.api_token,
                    "securityContext": data_pod_security(store.uid),
                    "containers": [{
                        "name": "cluster-init",
                        "image": store.image,
                        "command": cluster_init_command(mount),
                        "env": environment(plan, &cluster_init_env(r)),
                        "resources": container_resources(&crate::plan::ResourcesPlan::default()),
                        "securityContext": secure_container(),
                        "volumeMounts": [{ "name": "config", "mountPath": mount, "readOnly": true }],
                    }],
                    "volumes": [{ "name": "config", "configMap": { "name": config } }],
                },
            },
        },
    }));
    (docs, maps)
}
