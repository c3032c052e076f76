//! RabbitMQ on Kubernetes: a StatefulSet of one node, its Service (AMQP and the
//! management API KEDA reads) and a headless one.

use super::*;
use crate::plan::placement::RABBITMQ_DIST_PORT as DIST_PORT;
use crate::plan::RabbitmqPlan;
use crate::render::datastores::rabbitmq::{
    cluster_command, cluster_env, ready_command, server_env, DATA_DIR,
};

pub(super) fn docs(ctx: &Ctx, r: &RabbitmqPlan) -> (Vec<Value>, Vec<Value>) {
    let (plan, store, mount, config) = (ctx.plan, ctx.store, &ctx.mount, &ctx.config);
    let k8s = &store.kubernetes;
    let name = &k8s.workload;
    let (port, management) = (k8s.port, k8s.management_port.unwrap_or_default());
    let maps = vec![json!({ "name": config, "files": ctx.own })];
    // One node: every node's health is the same, the standalone's.
    let health = store.health(crate::plan::NodeRole::Node);
    let ready = json!({ "exec": { "command": ready_command() } });
    let mut env = environment(plan, &server_env(r, mount));
    if r.nodes > 1 {
        // Each pod's Erlang name is its stable name under the headless Service.
        env.push(env_field("POD_NAME", "metadata.name"));
        let name = format!(
            "rabbit@$(POD_NAME).{}.{}.svc.cluster.local",
            k8s.headless, plan.namespace
        );
        let first = store.nodes_on(Platform::Kubernetes).first().cloned();
        if let Some(node) = first {
            env.extend(environment(
                plan,
                &cluster_env(r, Platform::Kubernetes, &node, &name),
            ));
        }
    }
    let mut container = json!({
        "name": "rabbitmq",
        "image": store.image,
        "env": env,
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
    if r.nodes > 1 {
        // Ready once it takes connections (a paused minority or a booting broker does
        // not); told to stop, it first waits for its quorum queues to keep a majority
        // without it, so a drain or a rolling restart takes one copy away at a time.
        let listening = json!({ "exec": { "command": ["rabbitmq-diagnostics", "-q", "check_port_connectivity"] } });
        container["readinessProbe"] = probe(listening, &health.readiness);
        container["lifecycle"] = json!({ "preStop": { "exec": { "command": [
            "rabbitmq-upgrade", "-q", "await_online_quorum_plus_one",
            "-t", crate::plan::RABBITMQ_QUORUM_WAIT_S.to_string(),
        ] } } });
        container["command"] = json!(cluster_command(mount));
        container["args"] = json!(["docker-entrypoint.sh", "rabbitmq-server"]);
        container["ports"]
            .as_array_mut()
            .expect("ports")
            .push(json!({ "name": "dist", "containerPort": DIST_PORT }));
    }
    let mut docs = vec![json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": { "name": name, "labels": labels(plan, name, "datastore") },
        "spec": {
            "serviceName": k8s.headless,
            "replicas": r.nodes,
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
    if r.nodes > 1 {
        // The brokers start together and form the cluster from their list.
        docs[0]["spec"]["podManagementPolicy"] = json!("Parallel");
    }
    if let Some(grace) = health.stop_grace_s {
        docs[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(grace);
    }
    (docs, maps)
}
