//! The kubernetes platform: manifests for a cluster, one file per workload, listed by
//! a `kustomization.yaml`.
//!
//! Every service is a Deployment with secure defaults (and its Service,
//! HorizontalPodAutoscaler or KEDA ScaledObject, PodDisruptionBudget); the balancer a
//! Deployment with its config from a ConfigMap behind a LoadBalancer Service; the
//! datastores StatefulSets with their volumes (a Redis Cluster with its init Job,
//! PostgreSQL primary and replicas, PgBouncer, RabbitMQ); NetworkPolicies let in only
//! what the blueprint connects; a README names the Secret keys to provide.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::model::units::{format_bytes, format_millicores};
use crate::model::{BalancerEngine, Platform, ServiceKind};
use crate::plan::{Plan, ServicePlan, Sticky, CONTAINER_LISTEN_PORT};
use crate::render::templates::{TemplateError, Templates};

use super::balancer;
use super::bundle::generated_header;

/// The user an application container runs as (images' own users vary; this one is
/// numeric and not root).
const APP_UID: u64 = 10001;

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
    for store in plan.datastores.values() {
        let mut generated = Vec::new();
        for f in super::datastores::render(plan, store, Platform::Kubernetes, templates)? {
            generated.push(f.path.clone());
            files.push((f.path, f.text));
        }
        let (docs, maps) = datastore_docs(plan, store, &generated);
        let file = format!("{}.yaml", store.name);
        files.push((file.clone(), documents(plan, &docs)?));
        resources.push(file);
        config_maps.extend(maps);
    }
    files.push((
        "network-policies.yaml".into(),
        documents(plan, &network_policies(plan))?,
    ));
    resources.push("network-policies.yaml".into());
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
        out.push_str(
            &crate::render::yaml_emit::emit_checked(&head, doc).map_err(|e| {
                TemplateError::Template {
                    name: "kubernetes manifest".into(),
                    message: e.to_string(),
                }
            })?,
        );
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

/// `metadata` of an object named for `name`, with its labels.
fn metadata(plan: &Plan, name: &str, component: &str) -> Value {
    object! { "name" => name, "labels" => labels(plan, name, component) }
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
    // A static site is usually nginx, which writes its cache and pid there.
    let writable: Vec<&str> = if s.kind == ServiceKind::Static {
        vec!["/tmp", "/var/cache/nginx", "/var/run"]
    } else {
        vec!["/tmp"]
    };
    container.insert(
        "volumeMounts".into(),
        Value::Array(
            writable
                .iter()
                .enumerate()
                .map(|(i, path)| json!({ "name": format!("writable-{i}"), "mountPath": path }))
                .collect(),
        ),
    );

    let long_tasks = matches!(s.kind, ServiceKind::Worker | ServiceKind::Scheduler);
    let mut pod = Map::new();
    // A numeric non-root user, so the kubelet can verify runAsNonRoot whatever the
    // image's USER is; ports below 1024 stay bindable without any capability.
    let mut pod_security = secure_pod();
    pod_security["runAsUser"] = json!(APP_UID);
    pod_security["runAsGroup"] = json!(APP_UID);
    pod_security["fsGroup"] = json!(APP_UID);
    if s.port.is_some_and(|p| p < 1024) {
        pod_security["sysctls"] =
            json!([{ "name": "net.ipv4.ip_unprivileged_port_start", "value": "0" }]);
    }
    pod.insert("securityContext".into(), pod_security);
    // A worker finishes the task in hand; a web process drains its connections.
    pod.insert(
        "terminationGracePeriodSeconds".into(),
        json!(if long_tasks { 300 } else { 30 }),
    );
    pod.insert(
        "containers".into(),
        Value::from(vec![Value::Object(container)]),
    );
    pod.insert(
        "volumes".into(),
        Value::Array(
            (0..writable.len())
                .map(|i| json!({ "name": format!("writable-{i}"), "emptyDir": {} }))
                .collect(),
        ),
    );
    let replicated = s.scaling.max > 1;
    if replicated {
        pod.insert(
            "topologySpreadConstraints".into(),
            spread_over_nodes(plan, name),
        );
    }
    let mut spec = Map::new();
    if !s.scaling.autoscaled {
        spec.insert("replicas".into(), json!(s.instances));
    }
    spec.insert(
        "selector".into(),
        object! { "matchLabels" => selector(plan, name) },
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
        object! {
            "metadata" => object! { "labels" => labels(plan, name, component) },
            "spec" => pod,
        },
    );
    let mut docs = vec![object! {
        "apiVersion" => "apps/v1",
        "kind" => "Deployment",
        "metadata" => metadata(plan, name, component),
        "spec" => spec,
    }];
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
        docs.push(object! {
            "apiVersion" => "v1",
            "kind" => "Service",
            "metadata" => metadata(plan, name, component),
            "spec" => svc,
        });
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
        docs.push(object! {
            "apiVersion" => "policy/v1",
            "kind" => "PodDisruptionBudget",
            "metadata" => metadata(plan, name, component),
            "spec" => object! {
                "maxUnavailable" => 1,
                "selector" => object! { "matchLabels" => selector(plan, name) },
            },
        });
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

/// The HPA `behavior` from scale_up / scale_down, if either is given (KEDA passes the
/// same object to the HPA it makes).
fn behaviors(sc: &crate::plan::ScalingPlan) -> Option<Value> {
    let mut b = Map::new();
    if let Some(x) = &sc.scale_up {
        b.insert("scaleUp".into(), behavior(x));
    }
    if let Some(x) = &sc.scale_down {
        b.insert("scaleDown".into(), behavior(x));
    }
    (!b.is_empty()).then_some(Value::Object(b))
}

/// Replicas spread over nodes, as evenly as the scheduler can without refusing a pod.
fn spread_over_nodes(plan: &Plan, name: &str) -> Value {
    Value::from(vec![object! {
        "maxSkew" => 1,
        "topologyKey" => "kubernetes.io/hostname",
        "whenUnsatisfiable" => "ScheduleAnyway",
        "labelSelector" => object! { "matchLabels" => selector(plan, name) },
    }])
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
        spec.insert("triggers".into(), Value::from(vec![trigger]));
        if let Some(b) = behaviors(sc) {
            spec.insert(
                "advanced".into(),
                object! { "horizontalPodAutoscalerConfig" => object! { "behavior" => b } },
            );
        }
        return vec![
            object! {
                "apiVersion" => "keda.sh/v1alpha1",
                "kind" => "TriggerAuthentication",
                "metadata" => object! { "name" => auth, "labels" => labels(plan, name, "autoscaler") },
                "spec" => auth_spec,
            },
            object! {
                "apiVersion" => "keda.sh/v1alpha1",
                "kind" => "ScaledObject",
                "metadata" => metadata(plan, name, "autoscaler"),
                "spec" => spec,
            },
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
    if let Some(b) = behaviors(sc) {
        spec.insert("behavior".into(), b);
    }
    vec![object! {
        "apiVersion" => "autoscaling/v2",
        "kind" => "HorizontalPodAutoscaler",
        "metadata" => metadata(plan, name, "autoscaler"),
        "spec" => spec,
    }]
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
                        "topologySpreadConstraints": spread_over_nodes(plan, name),
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
        // Of a datastore's secrets, a service reads only the application password.
        for u in &s.uses {
            if let Some(k) = plan.datastores.get(u).and_then(|d| d.secrets.first()) {
                keys.entry(k.clone()).or_default().push(s.name.clone());
            }
        }
    }
    for d in plan.datastores.values() {
        for k in &d.secrets {
            keys.entry(k.clone()).or_default().push(d.name.clone());
        }
        if d.rabbitmq.is_some() {
            keys.entry(format!("{}_MANAGEMENT_URL", d.env_prefix))
                .or_default()
                .push("KEDA (http://user:password@host:15672/)".into());
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
    let custom = plan.services.values().any(|s| {
        s.scaling.autoscaled
            && (s.scaling.requests_per_second.is_some() || s.scaling.connections.is_some())
    });
    let keda = plan
        .services
        .values()
        .any(|s| s.scaling.autoscaled && s.scaling.queue_depth.is_some());
    let mut needs = String::new();
    if keda {
        needs
            .push_str("- KEDA (2.x, in the `keda` namespace) for the queue-depth ScaledObjects.\n");
    }
    if custom {
        needs.push_str("- A custom-metrics adapter (e.g. prometheus-adapter) serving `http_requests_per_second` and `active_connections` per pod: without it those HPA metrics fail, and an HPA with a failing metric never scales down.\n");
    }
    if !needs.is_empty() {
        out.push_str(&format!("\n## The cluster needs\n\n{needs}"));
    }
    for (k, users) in keys {
        let mut users = users;
        users.sort();
        users.dedup();
        out.push_str(&format!("| `{k}` | {} |\n", users.join(", ")));
    }
    out
}

/// Ingress is denied to every pod of the namespace unless a policy below lets it in:
/// anyone to the balancer, the balancer to the services it routes to, a datastore to
/// the services that use it and to its own peers (cluster nodes, replicas, the pool,
/// KEDA reading a queue).
fn network_policies(plan: &Plan) -> Vec<Value> {
    let policy = |name: &str, spec: Value| {
        object! {
            "apiVersion" => "networking.k8s.io/v1",
            "kind" => "NetworkPolicy",
            "metadata" => object! {
                "name" => name,
                "labels" => json!({ "app.kubernetes.io/part-of": plan.blueprint, "app.kubernetes.io/managed-by": "tierform" }),
            },
            "spec" => spec,
        }
    };
    let mut out = vec![policy(
        "default-deny-ingress",
        json!({ "podSelector": {}, "policyTypes": ["Ingress"] }),
    )];
    if let Some(lb) = &plan.balancer {
        out.push(policy(
            "balancer-from-anywhere",
            object! {
                "podSelector" => object! { "matchLabels" => selector(plan, "balancer") },
                "policyTypes" => json!(["Ingress"]),
                "ingress" => json!([{ "ports": [{ "protocol": "TCP", "port": CONTAINER_LISTEN_PORT }] }]),
            },
        ));
        for pool in lb.pools.keys() {
            let Some(port) = plan.services.get(pool).and_then(|s| s.port) else {
                continue;
            };
            out.push(policy(
                &format!("{pool}-from-balancer"),
                ingress_to(
                    selector(plan, pool),
                    Value::from(vec![object! {
                        "from" => vec![object! { "podSelector" => object! { "matchLabels" => selector(plan, "balancer") } }],
                        "ports" => json!([{ "protocol": "TCP", "port": port }]),
                    }]),
                ),
            ));
        }
    }
    // Each datastore: from the services that declare they use it, and its own peers.
    let from = |names: &[String]| -> Vec<Value> {
        names
            .iter()
            .map(|n| object! { "podSelector" => object! { "matchLabels" => selector(plan, n) } })
            .collect()
    };
    // Who uses each datastore, and whether a queue on it scales a service: one pass
    // over the services, not one per datastore.
    let mut users_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut queued_on: BTreeSet<&str> = BTreeSet::new();
    for s in plan.services.values() {
        let broker = s.queue.as_ref().map(|q| q.broker.as_str());
        let mut stores: BTreeSet<&str> = s.uses.iter().map(String::as_str).collect();
        stores.extend(broker);
        for store in stores {
            users_of.entry(store).or_default().push(s.name.clone());
        }
        if let (Some(b), Some(_)) = (broker, s.scaling.queue_depth) {
            queued_on.insert(b);
        }
    }
    for (name, d) in &plan.datastores {
        let users: Vec<String> = users_of.get(name.as_str()).cloned().unwrap_or_default();
        let allow = |pods: &[String], ports: &[u16], extra: Vec<Value>| {
            let mut peers = from(pods);
            peers.extend(extra);
            Value::from(vec![object! {
                "from" => peers,
                "ports" => ports.iter().map(|p| json!({ "protocol": "TCP", "port": p })).collect::<Vec<_>>(),
            }])
        };
        // KEDA's operator reads queue lengths from its own namespace.
        let keda = || json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "keda" } } });
        let queued = queued_on.contains(name.as_str());
        if let Some(r) = &d.redis {
            let mut peers = users.clone();
            if r.cluster {
                peers.push(name.clone());
                peers.push(format!("{name}-cluster-init"));
            }
            let ports: Vec<u16> = if r.cluster {
                vec![6379, 16379]
            } else {
                vec![6379]
            };
            let extra = if queued { vec![keda()] } else { vec![] };
            out.push(policy(
                &format!("{name}-from-its-users"),
                ingress_to(selector(plan, name), allow(&peers, &ports, extra)),
            ));
        }
        if let Some(pg) = &d.postgres {
            let pooler = format!("{name}-pgbouncer");
            let replica = format!("{name}-replica");
            let mut to_primary = users.clone();
            if pg.pooler.is_some() {
                to_primary.push(pooler.clone());
            }
            if pg.replicas > 0 {
                to_primary.push(replica.clone());
            }
            out.push(policy(
                &format!("{name}-from-its-users"),
                ingress_to(selector(plan, name), allow(&to_primary, &[5432], vec![])),
            ));
            if pg.replicas > 0 {
                let mut readers = users.clone();
                if pg.pooler.is_some() {
                    readers.push(pooler.clone());
                }
                out.push(policy(
                    &format!("{replica}-from-its-users"),
                    ingress_to(selector(plan, &replica), allow(&readers, &[5432], vec![])),
                ));
            }
            if pg.pooler.is_some() {
                out.push(policy(
                    &format!("{pooler}-from-its-users"),
                    ingress_to(selector(plan, &pooler), allow(&users, &[6432], vec![])),
                ));
            }
        }
        if d.rabbitmq.is_some() {
            let extra = if queued { vec![keda()] } else { vec![] };
            out.push(policy(
                &format!("{name}-from-its-users"),
                ingress_to(selector(plan, name), allow(&users, &[5672, 15672], extra)),
            ));
        }
    }
    out
}

/// A NetworkPolicy spec: ingress to the pods `selector` matches, only as `rules` allow.
fn ingress_to(selector: Value, rules: Value) -> Value {
    object! {
        "podSelector" => object! { "matchLabels" => selector },
        "policyTypes" => json!(["Ingress"]),
        "ingress" => rules,
    }
}

/// Storage each datastore node claims (the blueprint has no disk sizes yet).
const VOLUME_SIZE: &str = "10Gi";

fn env_secret(plan: &Plan, name: &str, key: &str) -> Value {
    json!({ "name": name, "valueFrom": { "secretKeyRef": { "name": secret_name(plan), "key": key } } })
}

fn claim(name: &str) -> Value {
    json!({
        "metadata": { "name": name },
        "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": VOLUME_SIZE } } },
    })
}

fn data_pod_security(uid: u64) -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": { "type": "RuntimeDefault" },
    })
}

/// A StatefulSet (or a Deployment) of a datastore, its Services and the ConfigMaps its
/// files go into.
fn datastore_docs(
    plan: &Plan,
    store: &crate::plan::DatastorePlan,
    files: &[String],
) -> (Vec<Value>, Vec<Value>) {
    let name = &store.name;
    let config = format!("{name}-config");
    let dir = super::datastores::bundle_dir(store);
    let own: Vec<&String> = files
        .iter()
        .filter(|f| f.starts_with(&format!("{dir}/")))
        .collect();
    let mut maps = vec![json!({ "name": config, "files": own })];
    let mut docs = Vec::new();
    let mount = super::datastores::mount_dir(store);
    // PostgreSQL is tuned for its memory, 1Gi when the blueprint gives none: its container
    // gets that much, not the generic default.
    let mut sized = store.resources.clone();
    if let (Some(pg), 0) = (&store.postgres, sized.memory_ceiling()) {
        sized.memory_bytes = pg.memory_bytes;
        sized.memory_limit_bytes = pg.memory_bytes;
    }
    let resources = container_resources(&sized);
    let service = |svc: &str, selector_name: &str, port: u16, headless: bool| {
        let mut spec = json!({
            "selector": selector(plan, selector_name),
            "ports": [{ "name": "tcp", "port": port, "targetPort": port }],
        });
        if headless {
            spec["clusterIP"] = json!("None");
            spec["publishNotReadyAddresses"] = json!(true);
        }
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": svc, "labels": labels(plan, selector_name, "datastore") }, "spec": spec })
    };
    if let Some(r) = &store.redis {
        let nodes = r.masters * (1 + r.replicas_per_master);
        let mut env = vec![
            env_secret(plan, "REDIS_PASSWORD", &r.password_secret),
            json!({ "name": "REDIS_DATA_DIR", "value": "/data" }),
        ];
        if r.cluster {
            env.push(json!({ "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } }));
            env.push(json!({ "name": "POD_IP", "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" } } }));
            env.push(json!({ "name": "REDIS_ANNOUNCE_HOSTNAME", "value": format!("$(POD_NAME).{name}-headless.{}.svc.cluster.local", plan.namespace) }));
        }
        let mut ports = vec![json!({ "name": "redis", "containerPort": 6379 })];
        if r.cluster {
            ports.push(json!({ "name": "bus", "containerPort": 16379 }));
        }
        let container = json!({
            "name": "redis",
            "image": format!("redis:{}", store.version),
            "command": ["sh", format!("{mount}/start.sh"), format!("{mount}/redis.conf")],
            "env": env,
            "ports": ports,
            "resources": resources,
            "readinessProbe": { "exec": { "command": ["sh", "-c", "REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli ping | grep -q PONG"] }, "periodSeconds": 5 },
            "livenessProbe": { "exec": { "command": ["sh", "-c", "REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli ping | grep -q PONG"] }, "periodSeconds": 10, "failureThreshold": 6 },
            "securityContext": secure_container(),
            "volumeMounts": [
                { "name": "config", "mountPath": mount, "readOnly": true },
                { "name": "data", "mountPath": "/data" },
                { "name": "tmp", "mountPath": "/tmp" },
            ],
        });
        let persistent = r.cluster || r.appendonly;
        let mut volumes = vec![
            json!({ "name": "config", "configMap": { "name": config } }),
            json!({ "name": "tmp", "emptyDir": { "medium": "Memory" } }),
        ];
        if !persistent {
            // A cache refills itself: no disk to keep.
            volumes.push(json!({ "name": "data", "emptyDir": {} }));
        }
        let headless = format!("{name}-headless");
        let mut spec = json!({
            "serviceName": headless.clone(),
            "replicas": if r.cluster { nodes } else { 1 },
            "podManagementPolicy": if r.cluster { "Parallel" } else { "OrderedReady" },
            "selector": { "matchLabels": selector(plan, name) },
            "template": {
                "metadata": { "labels": labels(plan, name, "datastore") },
                "spec": { "securityContext": data_pod_security(999), "containers": [container], "volumes": volumes },
            },
        });
        if persistent {
            spec["volumeClaimTemplates"] = json!([claim("data")]);
        }
        docs.push(json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": { "name": name, "labels": labels(plan, name, "datastore") }, "spec": spec }));
        if r.cluster {
            let init_script = format!("{:?}{:?}", r, store.nodes.get(&Platform::Kubernetes));
            let mut h = service(&headless, name, 6379, true);
            h["spec"]["ports"] = json!([{ "name": "redis", "port": 6379, "targetPort": 6379 }, { "name": "bus", "port": 16379, "targetPort": 16379 }]);
            docs.push(h);
            docs.push(json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                // A Job's pod template cannot change: a new bootstrap gets a new name.
                "metadata": { "name": format!("{name}-cluster-init-{}", short_hash(&init_script)), "labels": labels(plan, &format!("{name}-cluster-init"), "datastore") },
                "spec": {
                    "backoffLimit": 10,
                    "template": {
                        "metadata": { "labels": labels(plan, &format!("{name}-cluster-init"), "datastore") },
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "securityContext": data_pod_security(999),
                            "containers": [{
                                "name": "cluster-init",
                                "image": format!("redis:{}", store.version),
                                "command": ["sh", format!("{mount}/cluster-init.sh")],
                                "env": [env_secret(plan, "REDISCLI_AUTH", &r.password_secret)],
                                "resources": container_resources(&crate::plan::ResourcesPlan::default()),
                                "securityContext": secure_container(),
                                "volumeMounts": [{ "name": "config", "mountPath": mount, "readOnly": true }],
                            }],
                            "volumes": [{ "name": "config", "configMap": { "name": config } }],
                        },
                    },
                },
            }));
        } else {
            docs.push(service(name, name, 6379, false));
            docs.push(service(&headless, name, 6379, true));
        }
    }
    if let Some(pg) = &store.postgres {
        let init = format!("{name}-init");
        maps = vec![
            json!({ "name": config, "files": own.iter().filter(|f| !f.ends_with("init-primary.sh")).collect::<Vec<_>>() }),
            json!({ "name": init, "files": [format!("{dir}/init-primary.sh")] }),
        ];
        let pgdata = json!({ "name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata" });
        let shm = quantity_memory((pg.memory_bytes / 8).max(256 << 20) / (1 << 20) * (1 << 20));
        let probe = json!({ "exec": { "command": ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres"] }, "periodSeconds": 5 });
        // Liveness and startup run the readiness command with their own patience; a
        // replica's first start (a base backup) gets longer than the primary's.
        let liveness = json!({ "exec": probe["exec"], "periodSeconds": 10, "failureThreshold": 6 });
        let startup = |failures: u32| json!({ "exec": probe["exec"], "periodSeconds": 5, "failureThreshold": failures });
        let mounts = json!([
            { "name": "config", "mountPath": mount, "readOnly": true },
            { "name": "data", "mountPath": "/var/lib/postgresql/data" },
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
        let primary = json!({
            "name": "postgres",
            "image": format!("postgres:{}", store.version),
            "args": ["postgres", "-c", format!("config_file={mount}/postgresql.conf"), "-c", format!("hba_file={mount}/pg_hba.conf")],
            "env": [
                env_secret(plan, "POSTGRES_PASSWORD", &pg.superuser_secret),
                env_secret(plan, "APP_PASSWORD", &pg.password_secret),
                env_secret(plan, "REPLICATION_PASSWORD", &pg.replication_secret),
                pgdata,
            ],
            "ports": [{ "name": "postgres", "containerPort": 5432 }],
            "resources": resources,
            "readinessProbe": probe,
            "livenessProbe": liveness,
            "startupProbe": startup(60),
            "securityContext": secure_container(),
            "volumeMounts": primary_mounts,
        });
        let statefulset = |set: &str, replicas: u32, container: Value, extra: Option<Value>| {
            json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": { "name": set, "labels": labels(plan, set, "datastore") },
                "spec": {
                    "serviceName": format!("{set}-headless"),
                    "replicas": replicas,
                    "selector": { "matchLabels": selector(plan, set) },
                    "template": {
                        "metadata": { "labels": labels(plan, set, "datastore") },
                        "spec": {
                            "securityContext": data_pod_security(999),
                            "terminationGracePeriodSeconds": 60,
                            "containers": [container],
                            "volumes": volumes(extra),
                        },
                    },
                    "volumeClaimTemplates": [claim("data")],
                },
            })
        };
        docs.push(statefulset(
            name,
            1,
            primary,
            Some(json!({ "name": "init", "configMap": { "name": init } })),
        ));
        docs.push(service(name, name, 5432, false));
        docs.push(service(&format!("{name}-headless"), name, 5432, true));
        if pg.replicas > 0 {
            let set = format!("{name}-replica");
            let replica = json!({
                "name": "postgres",
                "image": format!("postgres:{}", store.version),
                "command": ["sh", format!("{mount}/start-replica.sh")],
                "env": [
                    env_secret(plan, "REPLICATION_PASSWORD", &pg.replication_secret),
                    pgdata,
                    json!({ "name": "TIERFORM_CONF", "value": mount }),
                    json!({ "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } }),
                ],
                "ports": [{ "name": "postgres", "containerPort": 5432 }],
                "resources": resources,
                "readinessProbe": probe,
                "livenessProbe": liveness,
                "startupProbe": startup(120),
                "securityContext": secure_container(),
                "volumeMounts": mounts,
            });
            docs.push(statefulset(&set, pg.replicas, replica, None));
            docs.push(service(&format!("{name}-ro"), &set, 5432, false));
            docs.push(service(&format!("{set}-headless"), &set, 5432, true));
        }
        if pg.pooler.is_some() {
            let pool = format!("{name}-pgbouncer");
            let pdir = super::datastores::pooler_dir(store);
            let pmap = format!("{pool}-config");
            maps.push(json!({ "name": pmap, "files": files.iter().filter(|f| f.starts_with(&format!("{pdir}/"))).collect::<Vec<_>>() }));
            let mut pod_security = secure_pod();
            pod_security["runAsUser"] = json!(70);
            pod_security["runAsGroup"] = json!(70);
            docs.push(json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": { "name": pool, "labels": labels(plan, &pool, "datastore") },
                "spec": {
                    "replicas": 2,
                    "selector": { "matchLabels": selector(plan, &pool) },
                    "template": {
                        "metadata": { "labels": labels(plan, &pool, "datastore") },
                        "spec": {
                            "securityContext": pod_security,
                            "containers": [{
                                "name": "pgbouncer",
                                "image": "edoburu/pgbouncer:v1.24.1-p1",
                                "command": ["sh", "/etc/tierform/pgbouncer/start.sh", "/etc/tierform/pgbouncer/pgbouncer.ini"],
                                "env": [env_secret(plan, "APP_PASSWORD", &pg.password_secret)],
                                "ports": [{ "name": "pgbouncer", "containerPort": 6432 }],
                                "resources": container_resources(&crate::plan::ResourcesPlan { cpu_millis: 100, memory_bytes: 64 * 1024 * 1024, cpu_limit_millis: 500, memory_limit_bytes: 128 * 1024 * 1024 }),
                                "readinessProbe": { "tcpSocket": { "port": 6432 }, "periodSeconds": 5 },
                                "livenessProbe": { "tcpSocket": { "port": 6432 }, "periodSeconds": 10 },
                                "securityContext": secure_container(),
                                "volumeMounts": [
                                    { "name": "config", "mountPath": "/etc/tierform/pgbouncer", "readOnly": true },
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
            }));
            docs.push(service(&pool, &pool, 6432, false));
        }
    }
    if let Some(r) = &store.rabbitmq {
        let container = json!({
            "name": "rabbitmq",
            "image": format!("rabbitmq:{}-management", store.version),
            "env": [
                json!({ "name": "RABBITMQ_DEFAULT_USER", "value": r.user }),
                env_secret(plan, "RABBITMQ_DEFAULT_PASS", &r.password_secret),
                json!({ "name": "RABBITMQ_CONFIG_FILE", "value": format!("{mount}/rabbitmq.conf") }),
                json!({ "name": "RABBITMQ_ENABLED_PLUGINS_FILE", "value": format!("{mount}/enabled_plugins") }),
            ],
            "ports": [{ "name": "amqp", "containerPort": 5672 }, { "name": "management", "containerPort": 15672 }],
            "resources": resources,
            "readinessProbe": { "exec": { "command": ["rabbitmq-diagnostics", "-q", "ping"] }, "periodSeconds": 10, "timeoutSeconds": 5 },
            "livenessProbe": { "exec": { "command": ["rabbitmq-diagnostics", "-q", "ping"] }, "periodSeconds": 30, "timeoutSeconds": 10 },
            "securityContext": secure_container(),
            "volumeMounts": [
                { "name": "config", "mountPath": mount, "readOnly": true },
                { "name": "data", "mountPath": "/var/lib/rabbitmq" },
                { "name": "tmp", "mountPath": "/tmp" },
            ],
        });
        docs.push(json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": { "name": name, "labels": labels(plan, name, "datastore") },
            "spec": {
                "serviceName": format!("{name}-headless"),
                "replicas": 1,
                "selector": { "matchLabels": selector(plan, name) },
                "template": {
                    "metadata": { "labels": labels(plan, name, "datastore") },
                    "spec": {
                        "securityContext": data_pod_security(999),
                        "containers": [container],
                        "volumes": [
                            { "name": "config", "configMap": { "name": config } },
                            { "name": "tmp", "emptyDir": {} },
                        ],
                    },
                },
                "volumeClaimTemplates": [claim("data")],
            },
        }));
        docs.push(service(&format!("{name}-headless"), name, 5672, true));
        let mut svc = service(name, name, 5672, false);
        svc["spec"]["ports"] = json!([{ "name": "amqp", "port": 5672, "targetPort": 5672 }, { "name": "management", "port": 15672, "targetPort": 15672 }]);
        docs.push(svc);
    }
    (docs, maps)
}

/// Eight hex digits of FNV-1a: a stable, short name suffix for content.
fn short_hash(text: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}
