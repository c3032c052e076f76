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
    // One StatefulSet runs every node (a cluster's masters and replicas alike), so one
    // role's health is all of theirs.
    let role = store
        .nodes_on(Platform::Kubernetes)
        .first()
        .map_or(crate::plan::NodeRole::Node, |n| n.role);
    let health = store.health(role);
    let container = json!({
        "name": "redis",
        "image": store.image,
        "command": server_command(mount, "redis.conf"),
        "env": env,
        "ports": ports,
        "resources": ctx.resources,
        "readinessProbe": probe(json!({ "exec": ping }), &health.readiness),
        "livenessProbe": probe(json!({ "exec": ping }), &health.liveness),
        "securityContext": secure_container(),
        "volumeMounts": [
            { "name": "config", "mountPath": mount, "readOnly": true },
            { "name": "data", "mountPath": DATA_DIR },
            { "name": "tmp", "mountPath": "/tmp" },
        ],
    });
    let containers: Vec<Value> = std::iter::once(container)
        .chain(datastore_exporter(plan, store))
        .collect();
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
            "spec": { "automountServiceAccountToken": k8s.api_token, "securityContext": data_pod_security(store.uid), "containers": containers, "volumes": volumes },
        },
    });
    if persistent {
        spec["volumeClaimTemplates"] = json!([claim("data", store)]);
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
    let template = json!({
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
                        "resources": resource_requirements(&k8s.job_resources),
                        "securityContext": secure_container(),
                        "volumeMounts": [{ "name": "config", "mountPath": mount, "readOnly": true }],
                    }],
                    "volumes": [{ "name": "config", "configMap": { "name": config } }],
                },
    });
    // A Job's pod template cannot change: the Job is named for a hash of its pod
    // template and of the files in the ConfigMap it mounts (whose generated name
    // kustomize changes with them), so anything that changes what the pod runs makes a
    // new Job, and an unchanged render keeps the old one.
    let mut content = template.to_string();
    for (path, text) in &ctx.own_text {
        content.push_str(&format!("\0{path}\0{text}"));
    }
    docs.push(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": format!("{init}-{}", short_hash(&content)), "labels": labels(plan, init, "datastore") },
        "spec": {
            "backoffLimit": 10,
            "ttlSecondsAfterFinished": k8s.job_ttl_seconds,
            "template": template,
        },
    }));
    (docs, maps)
}

#[cfg(test)]
mod tests {
    use crate::plan::Plan;
    use crate::render::templates::Templates;

    const BLUEPRINT: &str = "
version: 1
name: t
targets: [kubernetes]
tiers:
  app: { machine: { cpu: 2, memory: 4Gi } }
services:
  api: { kind: http, tier: app, image: 'a:1', port: 8000, uses: [cache] }
datastores:
  cache: { engine: redis, tier: app, mode: cluster, cluster: { masters: 3, replicas_per_master: 1 }, resources: { memory: 256Mi } }
";

    fn plan() -> Plan {
        let v = crate::check::validate::validate_str(BLUEPRINT, &crate::plan::placement::findings);
        assert!(v.errors() == 0, "{:?}", v.diagnostics);
        crate::plan::resolve("t", &v.phases[0]).unwrap()
    }

    /// The cluster-init Job's name in the bundle `plan` renders with `templates`.
    fn job_name(plan: &Plan, templates: &Templates) -> String {
        let files = crate::render::kubernetes::render(plan, templates).unwrap();
        let (_, text) = files.iter().find(|(p, _)| p == "cache.yaml").unwrap();
        let job = text.split("kind: Job\nmetadata:\n  name: ").nth(1).unwrap();
        job.lines().next().unwrap().to_string()
    }

    /// A Job's pod template is immutable: whatever changes in it (the image, the
    /// script in the ConfigMap it mounts) gives the Job a new name, so the next
    /// `kubectl apply -k` creates a Job instead of failing to patch the old one; an
    /// unchanged render keeps the name, so nothing re-runs for nothing.
    #[test]
    fn the_cluster_init_job_is_renamed_exactly_when_its_pod_template_changes() {
        let embedded = Templates::embedded().unwrap();
        let plan = plan();
        let name = job_name(&plan, &embedded);
        assert!(name.starts_with("cache-cluster-init-"), "{name}");
        assert_eq!(job_name(&plan, &embedded), name, "nothing changed");
        let files = crate::render::kubernetes::render(&plan, &embedded).unwrap();
        let (_, text) = files.iter().find(|(p, _)| p == "cache.yaml").unwrap();
        assert!(text.contains("ttlSecondsAfterFinished: 86400"), "{text}");

        let mut upgraded = plan.clone();
        let cache = upgraded.datastores.get_mut("cache").unwrap();
        cache.image = format!("{}-next", cache.image);
        assert_ne!(job_name(&upgraded, &embedded), name, "a new image");

        let dir = tempfile::tempdir().unwrap();
        let script = crate::render::templates::embedded("redis/cluster-init.sh.j2").unwrap();
        std::fs::create_dir_all(dir.path().join("redis")).unwrap();
        std::fs::write(
            dir.path().join("redis/cluster-init.sh.j2"),
            format!("{script}\n# site change\n"),
        )
        .unwrap();
        let overridden = Templates::with_overrides(dir.path()).unwrap();
        assert_ne!(job_name(&plan, &overridden), name, "a changed script");
    }
}
