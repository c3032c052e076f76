//! The kubernetes platform: manifests for a cluster, one file per workload, listed by
//! a `kustomization.yaml`.
//!
//! Done so far: every service as a Deployment with secure defaults (and its Service,
//! HorizontalPodAutoscaler or KEDA ScaledObject, PodDisruptionBudget), the balancer as
//! a Deployment with its config from a ConfigMap and a LoadBalancer Service, the
//! namespace, and a README naming the Secret keys to provide. The datastores'
//! StatefulSets and the NetworkPolicies are not rendered yet.

use serde_json::{json, Map, Value};

use crate::model::{BalancerEngine, Platform, ServiceKind};
use crate::plan::{Plan, ServicePlan, Sticky, CONTAINER_LISTEN_PORT};
use crate::templates::{TemplateError, Templates};
use crate::units::{format_bytes, format_millicores};

use super::{balancer, generated_header};

/// Requests and limits for a container whose blueprint gives none.
const DEFAULT_CPU_REQUEST: u64 = 100;
const DEFAULT_MEMORY_REQUEST: u64 = 128 * 1024 * 1024;

/// The files of the kubernetes bundle, by path inside it.
pub fn render(plan: &Plan, templates: &Templates) -> Result<Vec<(String, String)>, TemplateError> {
    let mut files = Vec::new();
    let mut resources = vec!["namespace.yaml".to_string()];
    files.push((
        "namespace.yaml".into(),
        documents(plan, &[json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": { "name": plan.namespace, "labels": { "app.kubernetes.io/part-of": plan.blueprint } },
        })])?,
    ));
    let mut config_maps = Vec::new();
    if let Some(lb) = &plan.balancer {
        for node in lb.nodes.get(&Platform::Kubernetes).into_iter().flatten() {
            let text = balancer::render(plan, lb, Platform::Kubernetes, node, templates)?;
            files.push((balancer::file_name(lb.engine).to_string(), text));
        }
        let docs = balancer_docs(plan);
        files.push(("balancer.yaml".into(), documents(plan, &docs)?));
        resources.push("balancer.yaml".into());
        config_maps.push(json!({
            "name": "balancer",
            "files": [balancer::file_name(lb.engine)],
        }));
    }
    for s in plan.services.values() {
        let file = format!("{}.yaml", s.name);
        files.push((file.clone(), documents(plan, &service_docs(plan, s))?));
        resources.push(file);
    }
    let mut k = Map::new();
    k.insert(
        "apiVersion".into(),
        json!("kustomize.config.k8s.io/v1beta1"),
    );
    k.insert("kind".into(), json!("Kustomization"));
    k.insert("namespace".into(), json!(plan.namespace));
    k.insert("resources".into(), json!(resources));
    if !config_maps.is_empty() {
        k.insert("configMapGenerator".into(), Value::Array(config_maps));
    }
    files.push((
        "kustomization.yaml".into(),
        documents(plan, &[Value::Object(k)])?,
    ));
    files.push(("README.md".into(), readme(plan)));
    Ok(files)
}

/// Several YAML documents in one file, each written with the checked emitter.
fn documents(plan: &Plan, docs: &[Value]) -> Result<String, TemplateError> {
    let header = generated_header(plan);
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        let head: Vec<&str> = if i == 0 { vec![&header] } else { vec![] };
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&crate::yaml_emit::emit_checked(&head, doc).map_err(|e| {
            TemplateError::Template {
                name: "kubernetes manifest".into(),
                message: e.to_string(),
            }
        })?);
    }
    Ok(out)
}

/// The Secret the user creates, holding every secret of the phase by its name.
pub fn secret_name(plan: &Plan) -> String {
    format!("{}-secrets", plan.blueprint)
}

fn labels(plan: &Plan, name: &str, component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": plan.blueprint,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "tierform",
    })
}

fn selector(plan: &Plan, name: &str) -> Value {
    json!({ "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": plan.blueprint })
}

fn quantity_cpu(m: u64) -> String {
    format_millicores(m)
}

fn quantity_memory(b: u64) -> String {
    format_bytes(b)
}

/// Requests and limits, with defaults where the blueprint gives none: a request of
/// 100m CPU and 128Mi memory, a memory limit of twice the request, a CPU limit of
/// four times the request (bursts allowed, runaway loops bounded).
fn container_resources(r: &crate::plan::ResourcesPlan) -> Value {
    let cpu = if r.cpu_millis > 0 {
        r.cpu_millis
    } else {
        DEFAULT_CPU_REQUEST
    };
    let memory = if r.memory_bytes > 0 {
        r.memory_bytes
    } else {
        DEFAULT_MEMORY_REQUEST
    };
    let cpu_limit = if r.cpu_limit_millis > 0 {
        r.cpu_limit_millis
    } else {
        cpu * 4
    };
    let memory_limit = if r.memory_limit_bytes > 0 {
        r.memory_limit_bytes
    } else {
        memory * 2
    };
    json!({
        "requests": { "cpu": quantity_cpu(cpu), "memory": quantity_memory(memory) },
        "limits": { "cpu": quantity_cpu(cpu_limit.max(cpu)), "memory": quantity_memory(memory_limit.max(memory)) },
    })
}

fn secure_container() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": { "drop": ["ALL"] },
    })
}

fn secure_pod() -> Value {
    json!({
        "runAsNonRoot": true,
        "seccompProfile": { "type": "RuntimeDefault" },
    })
}

fn seconds(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

fn probes(s: &ServicePlan, c: &mut Map<String, Value>) {
    let Some(h) = &s.health else { return };
    let handler = if !h.command.is_empty() {
        json!({ "exec": { "command": h.command } })
    } else if let Some(port) = s.port {
        json!({ "httpGet": { "path": h.path, "port": port } })
    } else {
        return;
    };
    let probe = |extra: Value| {
        let mut p = handler.as_object().cloned().unwrap_or_default();
        p.insert("periodSeconds".into(), json!(seconds(h.interval_ms)));
        p.insert("timeoutSeconds".into(), json!(seconds(h.timeout_ms)));
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            p.insert(k, v);
        }
        Value::Object(p)
    };
    c.insert(
        "readinessProbe".into(),
        probe(json!({ "failureThreshold": h.failure_threshold, "successThreshold": 1 })),
    );
    c.insert(
        "livenessProbe".into(),
        probe(json!({ "failureThreshold": h.failure_threshold })),
    );
    // Until it first answers, a slow start is not a failure: up to the start period
    // plus the usual failures.
    let start = (h.start_period_ms / h.interval_ms.max(1)) as u32 + h.failure_threshold;
    c.insert(
        "startupProbe".into(),
        probe(json!({ "failureThreshold": start.max(1) })),
    );
}

fn env(plan: &Plan, s: &ServicePlan) -> Vec<Value> {
    let secret = secret_name(plan);
    let mut out = Vec::new();
    for (k, v) in &s.env {
        out.push(json!({ "name": k, "value": v }));
    }
    for name in &s.secrets {
        out.push(json!({ "name": name, "valueFrom": { "secretKeyRef": { "name": secret, "key": name } } }));
    }
    let mut conn = Map::new();
    let marker = |name: &str| json!({ "secret": name });
    super::compose::connection_env(plan, s, Platform::Kubernetes, &marker, &mut conn);
    for (k, v) in conn {
        match v.get("secret").and_then(Value::as_str) {
            Some(key) => out.push(json!({ "name": k, "valueFrom": { "secretKeyRef": { "name": secret, "key": key } } })),
            None => out.push(json!({ "name": k, "value": v })),
        }
    }
    out
}

fn service_docs(plan: &Plan, s: &ServicePlan) -> Vec<Value> {
    let name = &s.name;
    let component = s.kind.as_str();
    let mut container = Map::new();
    container.insert("name".into(), json!(name));
    container.insert("image".into(), json!(s.image));
    if !s.command.is_empty() {
        container.insert("args".into(), json!(s.command));
    }
    if let Some(p) = s.port {
        container.insert(
            "ports".into(),
            json!([{ "name": "http", "containerPort": p }]),
        );
    }
    let env = env(plan, s);
    if !env.is_empty() {
        container.insert("env".into(), Value::Array(env));
    }
    container.insert("resources".into(), container_resources(&s.resources));
    probes(s, &mut container);
    container.insert("securityContext".into(), secure_container());
    container.insert(
        "volumeMounts".into(),
        json!([{ "name": "tmp", "mountPath": "/tmp" }]),
    );

    let long_tasks = matches!(s.kind, ServiceKind::Worker | ServiceKind::Scheduler);
    let mut pod = Map::new();
    pod.insert("securityContext".into(), secure_pod());
    // A worker finishes the task in hand; a web process drains its connections.
    pod.insert(
        "terminationGracePeriodSeconds".into(),
        json!(if long_tasks { 300 } else { 30 }),
    );
    pod.insert("containers".into(), json!([Value::Object(container)]));
    pod.insert("volumes".into(), json!([{ "name": "tmp", "emptyDir": {} }]));
    let replicated = s.scaling.max > 1;
    if replicated {
        pod.insert(
            "topologySpreadConstraints".into(),
            json!([{
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": { "matchLabels": selector(plan, name) },
            }]),
        );
    }
    let mut spec = Map::new();
    if !s.scaling.autoscaled {
        spec.insert("replicas".into(), json!(s.instances));
    }
    spec.insert(
        "selector".into(),
        json!({ "matchLabels": selector(plan, name) }),
    );
    if s.kind == ServiceKind::Scheduler {
        // Never two at once, not even during a rollout.
        spec.insert("strategy".into(), json!({ "type": "Recreate" }));
    } else {
        spec.insert(
            "strategy".into(),
            json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": 0 } }),
        );
    }
    spec.insert(
        "template".into(),
        json!({ "metadata": { "labels": labels(plan, name, component) }, "spec": Value::Object(pod) }),
    );
    let mut docs = vec![json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "labels": labels(plan, name, component) },
        "spec": Value::Object(spec),
    })];
    if let (true, Some(port)) = (s.kind.is_routable(), s.port) {
        let mut svc = Map::new();
        svc.insert("type".into(), json!("ClusterIP"));
        svc.insert("selector".into(), selector(plan, name));
        svc.insert(
            "ports".into(),
            json!([{ "name": "http", "port": port, "targetPort": "http" }]),
        );
        let sticky = plan
            .balancer
            .as_ref()
            .and_then(|lb| lb.pools.get(name))
            .is_some_and(|p| p.sticky == Sticky::ClientIp);
        if sticky {
            svc.insert("sessionAffinity".into(), json!("ClientIP"));
        }
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": { "name": name, "labels": labels(plan, name, component) },
            "spec": Value::Object(svc),
        }));
    }
    if s.scaling.autoscaled {
        docs.extend(autoscaler(plan, s));
    }
    let fewest = if s.scaling.autoscaled {
        s.scaling.min
    } else {
        s.instances
    };
    if fewest >= 2 {
        docs.push(json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": { "name": name, "labels": labels(plan, name, component) },
            "spec": { "maxUnavailable": 1, "selector": { "matchLabels": selector(plan, name) } },
        }));
    }
    docs
}

fn behavior(b: &crate::plan::BehaviorPlan) -> Value {
    let mut out = Map::new();
    if let Some(ms) = b.stabilization_ms {
        out.insert("stabilizationWindowSeconds".into(), json!(ms / 1000));
    }
    let mut policies = Vec::new();
    let period = (b.period_ms / 1000).max(1);
    if let Some(p) = b.pods {
        policies.push(json!({ "type": "Pods", "value": p, "periodSeconds": period }));
    }
    if let Some(p) = b.percent {
        policies.push(json!({ "type": "Percent", "value": p, "periodSeconds": period }));
    }
    if !policies.is_empty() {
        out.insert("policies".into(), Value::Array(policies));
    }
    let select = match b.select.as_str() {
        "min" => "Min",
        "disabled" => "Disabled",
        _ => "Max",
    };
    if b.select != "max" || out.contains_key("policies") {
        out.insert("selectPolicy".into(), json!(select));
    }
    Value::Object(out)
}

/// An HPA (autoscaling/v2), or a KEDA ScaledObject when the service scales on its
/// queue — never both for one workload.
fn autoscaler(plan: &Plan, s: &ServicePlan) -> Vec<Value> {
    let name = &s.name;
    let sc = &s.scaling;
    let target = json!({ "apiVersion": "apps/v1", "kind": "Deployment", "name": name });
    if let (Some(depth), Some(q)) = (sc.queue_depth, &s.queue) {
        let Some(store) = plan.datastores.get(&q.broker) else {
            return Vec::new();
        };
        let nodes = store
            .nodes
            .get(&Platform::Kubernetes)
            .cloned()
            .unwrap_or_default();
        let Some(node) = nodes.first() else {
            return Vec::new();
        };
        let auth = format!("{name}-queue");
        let (trigger, auth_spec) = if store.redis.is_some() {
            (
                json!({
                    "type": "redis",
                    "metadata": { "address": format!("{}:{}", node.host, node.port), "listName": q.name, "listLength": depth.to_string() },
                    "authenticationRef": { "name": auth },
                }),
                json!({ "secretTargetRef": [{ "parameter": "password", "name": secret_name(plan), "key": store.secrets.first().cloned().unwrap_or_default() }] }),
            )
        } else {
            // RabbitMQ over the management API, so messages in flight count too.
            (
                json!({
                    "type": "rabbitmq",
                    "metadata": { "protocol": "http", "mode": "QueueLength", "value": depth.to_string(), "queueName": q.name },
                    "authenticationRef": { "name": auth },
                }),
                json!({ "secretTargetRef": [{ "parameter": "host", "name": secret_name(plan), "key": format!("{}_MANAGEMENT_URL", store.env_prefix) }] }),
            )
        };
        let mut spec = Map::new();
        spec.insert("scaleTargetRef".into(), json!({ "name": name }));
        spec.insert("minReplicaCount".into(), json!(sc.min));
        spec.insert("maxReplicaCount".into(), json!(sc.max));
        spec.insert("triggers".into(), json!([trigger]));
        let mut hpa_behavior = Map::new();
        if let Some(b) = &sc.scale_up {
            hpa_behavior.insert("scaleUp".into(), behavior(b));
        }
        if let Some(b) = &sc.scale_down {
            hpa_behavior.insert("scaleDown".into(), behavior(b));
        }
        if !hpa_behavior.is_empty() {
            spec.insert(
                "advanced".into(),
                json!({ "horizontalPodAutoscalerConfig": { "behavior": Value::Object(hpa_behavior) } }),
            );
        }
        return vec![
            json!({
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "TriggerAuthentication",
                "metadata": { "name": auth, "labels": labels(plan, name, "autoscaler") },
                "spec": auth_spec,
            }),
            json!({
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "ScaledObject",
                "metadata": { "name": name, "labels": labels(plan, name, "autoscaler") },
                "spec": Value::Object(spec),
            }),
        ];
    }
    let mut metrics = Vec::new();
    if let Some(c) = sc.cpu_percent {
        metrics.push(json!({ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": c } } }));
    }
    if let Some(m) = sc.memory_percent {
        metrics.push(json!({ "type": "Resource", "resource": { "name": "memory", "target": { "type": "Utilization", "averageUtilization": m } } }));
    }
    if let Some(r) = sc.requests_per_second {
        metrics.push(json!({ "type": "Pods", "pods": { "metric": { "name": "http_requests_per_second" }, "target": { "type": "AverageValue", "averageValue": r.to_string() } } }));
    }
    if let Some(c) = sc.connections {
        metrics.push(json!({ "type": "Pods", "pods": { "metric": { "name": "active_connections" }, "target": { "type": "AverageValue", "averageValue": c.to_string() } } }));
    }
    let mut spec = Map::new();
    spec.insert("scaleTargetRef".into(), target);
    spec.insert("minReplicas".into(), json!(sc.min.max(1)));
    spec.insert("maxReplicas".into(), json!(sc.max));
    spec.insert("metrics".into(), Value::Array(metrics));
    let mut b = Map::new();
    if let Some(x) = &sc.scale_up {
        b.insert("scaleUp".into(), behavior(x));
    }
    if let Some(x) = &sc.scale_down {
        b.insert("scaleDown".into(), behavior(x));
    }
    if !b.is_empty() {
        spec.insert("behavior".into(), Value::Object(b));
    }
    vec![json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": name, "labels": labels(plan, name, "autoscaler") },
        "spec": Value::Object(spec),
    })]
}

fn balancer_docs(plan: &Plan) -> Vec<Value> {
    let lb = plan.balancer.as_ref().expect("a balancer");
    let (image, mount, file, user) = match lb.engine {
        BalancerEngine::Nginx => (
            "nginx:1.27-alpine",
            "/etc/nginx/nginx.conf",
            "nginx.conf",
            101,
        ),
        BalancerEngine::Haproxy => (
            "haproxy:2.9-alpine",
            "/usr/local/etc/haproxy/haproxy.cfg",
            "haproxy.cfg",
            99,
        ),
    };
    let name = "balancer";
    let mut pod_security = secure_pod();
    pod_security["runAsUser"] = json!(user);
    pod_security["runAsGroup"] = json!(user);
    let container = json!({
        "name": name,
        "image": image,
        "ports": [{ "name": "http", "containerPort": CONTAINER_LISTEN_PORT }],
        "resources": container_resources(&crate::plan::ResourcesPlan { cpu_millis: 250, memory_bytes: 128 * 1024 * 1024, cpu_limit_millis: 1000, memory_limit_bytes: 256 * 1024 * 1024 }),
        "readinessProbe": { "httpGet": { "path": "/health", "port": "http" }, "periodSeconds": 5 },
        "livenessProbe": { "httpGet": { "path": "/health", "port": "http" }, "periodSeconds": 10 },
        "securityContext": secure_container(),
        "volumeMounts": [
            { "name": "config", "mountPath": mount, "subPath": file, "readOnly": true },
            { "name": "tmp", "mountPath": "/tmp" },
        ],
    });
    vec![
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": name, "labels": labels(plan, name, "balancer") },
            "spec": {
                "replicas": 2,
                "selector": { "matchLabels": selector(plan, name) },
                "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 1, "maxUnavailable": 0 } },
                "template": {
                    "metadata": { "labels": labels(plan, name, "balancer") },
                    "spec": {
                        "securityContext": pod_security,
                        "terminationGracePeriodSeconds": 30,
                        "containers": [container],
                        "volumes": [
                            { "name": "config", "configMap": { "name": "balancer" } },
                            { "name": "tmp", "emptyDir": {} },
                        ],
                        "topologySpreadConstraints": [{
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": { "matchLabels": selector(plan, name) },
                        }],
                    },
                },
            },
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": { "name": name, "labels": labels(plan, name, "balancer") },
            "spec": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Local",
                "selector": selector(plan, name),
                "ports": [{ "name": "http", "port": lb.listen, "targetPort": "http" }],
            },
        }),
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": { "name": name, "labels": labels(plan, name, "balancer") },
            "spec": { "maxUnavailable": 1, "selector": { "matchLabels": selector(plan, name) } },
        }),
    ]
}

fn readme(plan: &Plan) -> String {
    let mut keys: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for s in plan.services.values() {
        for k in &s.secrets {
            keys.entry(k.clone()).or_default().push(s.name.clone());
        }
        for u in &s.uses {
            if let Some(d) = plan.datastores.get(u) {
                for k in &d.secrets {
                    keys.entry(k.clone()).or_default().push(s.name.clone());
                }
            }
        }
    }
    let mut out = format!(
        "<!-- {} -->\n\n# {}: phase `{}` on Kubernetes\n\nApply with `kubectl apply -k .` (namespace `{}`).\n\n",
        generated_header(plan),
        plan.blueprint,
        plan.phase,
        plan.namespace
    );
    out.push_str(&format!(
        "## The Secret to create first\n\nThe workloads read their secrets from the Secret `{}` in namespace `{}`; tierform never writes a value. Create it with every key below, e.g. `kubectl -n {} create secret generic {} --from-env-file=secrets.env`.\n\n| key | read by |\n|---|---|\n",
        secret_name(plan),
        plan.namespace,
        plan.namespace,
        secret_name(plan)
    ));
    for (k, users) in keys {
        let mut users = users;
        users.sort();
        users.dedup();
        out.push_str(&format!("| `{k}` | {} |\n", users.join(", ")));
    }
    out.push_str("\nNot rendered yet on this platform: the datastores' StatefulSets and the NetworkPolicies; run the datastores outside the cluster (or by hand) for now.\n");
    out
}
