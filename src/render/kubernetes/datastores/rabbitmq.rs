//! RabbitMQ on Kubernetes: a StatefulSet of one node, its Service (AMQP and the
//! management API KEDA reads) and a headless one.

use super::*;
use crate::plan::RabbitmqPlan;
use crate::render::datastores::rabbitmq::{ready_command, server_env, DATA_DIR};

pub(super) fn docs(ctx: &Ctx, r: &RabbitmqPlan) -> (Vec<Value>, Vec<Value>) {
    let (plan, store, mount, config) = (ctx.plan, ctx.store, &ctx.mount, &ctx.config);
    let k8s = &store.kubernetes;
    let name = &k8s.workload;
    let (port, management) = (k8s.port, k8s.management_port.unwrap_or_default());
    let maps = vec![json!({ "name": config, "files": ctx.own })];
    // One node: every node's health is the same, the standalone's.
    let health = store.health(crate::plan::NodeRole::Node);
    let ready = json!({ "exec": { "command": ready_command() } });
    let container = json!({
        "name": "rabbitmq",
        "image": store.image,
        "env": environment(plan, &server_env(r, mount)),
        // The Prometheus plugin's port, which the datastore's PodMonitor scrapes.
        "ports": [
            { "name": "amqp", "containerPort": port },
            { "name": "management", "containerPort": management },
            { "name": "metrics", "containerPort": crate::plan::scrape::RABBITMQ_METRICS_PORT },
        ],
        "resources": ctx.resources,
        "readinessProbe": probe(ready.clone(), &health.readiness),
        "livenessProbe": probe(ready, &health.liveness),
        "securityContext": secure_container(),
        "volumeMounts": [
            { "name": "config", "mountPath": mount, "readOnly": true },
            { "name": "data", "mountPath": DATA_DIR },
            { "name": "tmp", "mountPath": "/tmp" },
        ],
    });
    let mut docs = vec![json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": { "name": name, "labels": labels(plan, name, "datastore") },
        "spec": {
            "serviceName": k8s.headless,
            "replicas": 1,
            "selector": { "matchLabels": selector(plan, name) },
            "template": {
                "metadata": { "labels": labels(plan, name, "datastore") },
                "spec": {
                    "automountServiceAccountToken": k8s.api_token,
                    "securityContext": data_pod_security(store.uid),
                    "containers": [container],
                    "volumes": [
                        { "name": "config", "configMap": { "name": config } },
                        { "name": "tmp", "emptyDir": {} },
                    ],
                },
            },
            "volumeClaimTemplates": [claim("data", store)],
        },
    })];
    docs.push(ctx.service(&k8s.headless, name, port, true));
    let mut svc = ctx.service(name, name, port, false);
    svc["spec"]["ports"] = json!([{ "name": "amqp", "port": port, "targetPort": port }, { "name": "management", "port": management, "targetPort": management }]);
    docs.push(svc);
    (docs, maps)
}
