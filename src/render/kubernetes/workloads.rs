//! Deployments of services and the balancer, with their Services, autoscalers and
//! disruption budgets.

use super::*;
use crate::plan::EnginePlan;

/// The pod a service's instances run (a job's too): its container with the service's
/// image, command, variables, resources and probes, locked down; and, when it waits for
/// jobs (`after`), the init container that waits for them.
fn pod_spec(plan: &Plan, s: &ServicePlan) -> Map<String, Value> {
    let name = &s.name;
    let mut container = Map::new();
    container.insert("name".into(), json!(name));
    container.insert("image".into(), json!(s.image));
    if !s.command.is_empty() {
        container.insert("args".into(), json!(literal_all(&s.command)));
    }
    let mut ports: Vec<Value> = s
        .port
        .map(|p| json!({ "name": "http", "containerPort": p }))
        .into_iter()
        .collect();
    if let Some(m) = s.scrape_port.filter(|m| Some(*m) != s.port) {
        ports.push(json!({ "name": "metrics", "containerPort": m }));
    }
    if !ports.is_empty() {
        container.insert("ports".into(), Value::Array(ports));
    }
    let env = env(plan, s);
    if !env.is_empty() {
        container.insert("env".into(), Value::Array(env));
    }
    container.insert("resources".into(), resource_requirements(&s.reserved));
    probes(s, &mut container);
    // The drain: the kubelet's own sleep (no binary in the image) while the endpoint
    // leaves the Service, before the stop signal.
    if let Some(sleep) = s.shutdown.as_ref().and_then(|d| d.pre_stop_sleep_s) {
        container.insert(
            "lifecycle".into(),
            json!({ "preStop": { "sleep": { "seconds": sleep } } }),
        );
    }
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

    let mut pod = Map::new();
    // A numeric non-root user, so the kubelet can verify runAsNonRoot whatever the
    // image's USER is; ports below 1024 stay bindable without any capability.
    let mut pod_security = secure_pod();
    pod_security["runAsUser"] = json!(s.run_as_user);
    pod_security["runAsGroup"] = json!(s.run_as_user);
    pod_security["fsGroup"] = json!(s.run_as_user);
    if s.port.is_some_and(|p| p < 1024) {
        pod_security["sysctls"] =
            json!([{ "name": "net.ipv4.ip_unprivileged_port_start", "value": "0" }]);
    }
    pod.insert("securityContext".into(), pod_security);
    pod.insert("automountServiceAccountToken".into(), json!(API_TOKEN));
    if let Some(wait) = &s.wait {
        super::jobs::wait_for_jobs(wait, &mut pod);
    }
    if let Some(ms) = s.stop_grace_ms.get(&Platform::Kubernetes) {
        pod.insert("terminationGracePeriodSeconds".into(), json!(ms / 1000));
    }
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
    pod
}

pub(super) fn service_docs(plan: &Plan, s: &ServicePlan) -> Vec<Value> {
    let name = &s.name;
    let component = s.kind.as_str();
    let mut pod = pod_spec(plan, s);
    on_node_pool(plan.node_pool(s.tier.as_deref()), Some(&mut pod));
    if let Some(job) = &s.job {
        return vec![super::jobs::job(plan, s, job, pod)];
    }
    if s.scaling.spread {
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
    spec.insert("strategy".into(), strategy(&s.rollout));
    // Datadog's unified service tagging on the pods (`monitoring.apm`).
    let mut pod_labels = labels(plan, name, component);
    if let (Some(t), Value::Object(l)) = (
        plan.apm.as_ref().and_then(|a| a.services.get(name)),
        &mut pod_labels,
    ) {
        for (k, v) in &t.labels {
            l.insert(k.clone(), json!(v));
        }
    }
    spec.insert(
        "template".into(),
        object! {
            "metadata" => object! { "labels" => pod_labels },
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
            // Only where the balancer goes through the Service (nginx): HAProxy hashes
            // the client's address over the pods itself.
            .is_some_and(|p| p.sticky == Sticky::ClientIp && p.pod_service.is_none());
        if sticky {
            svc.insert("sessionAffinity".into(), json!("ClientIP"));
        }
        docs.push(object! {
            "apiVersion" => "v1",
            "kind" => "Service",
            "metadata" => metadata(plan, name, component),
            "spec" => svc,
        });
        // The balancer's view of the same pods: no virtual IP, its DNS name lists the
        // address of every ready pod, which the balancer resolves at run time.
        let headless = plan
            .balancer
            .as_ref()
            .and_then(|lb| lb.pools.get(name))
            .and_then(|p| p.pod_service.as_deref());
        if let Some(headless) = headless {
            docs.push(object! {
                "apiVersion" => "v1",
                "kind" => "Service",
                "metadata" => object! { "name" => headless, "labels" => labels(plan, name, component) },
                "spec" => json!({
                    "clusterIP": "None",
                    "selector": selector(plan, name),
                    "ports": [{ "name": "http", "port": port, "targetPort": "http" }],
                }),
            });
        }
    }
    if s.scaling.autoscaled {
        docs.extend(autoscaler(plan, s));
    }
    if s.scaling.disruption_budget {
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

pub(super) fn behavior(b: &crate::plan::BehaviorPlan) -> Value {
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
pub(super) fn behaviors(sc: &crate::plan::ScalingPlan) -> Option<Value> {
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
pub(super) fn spread_over_nodes(plan: &Plan, name: &str) -> Value {
    Value::from(vec![object! {
        "maxSkew" => 1,
        "topologyKey" => "kubernetes.io/hostname",
        "whenUnsatisfiable" => "ScheduleAnyway",
        "labelSelector" => object! { "matchLabels" => selector(plan, name) },
    }])
}

/// Whether the service's autoscaler is a KEDA ScaledObject on its queue (else an HPA).
pub(super) fn scales_on_queue(s: &ServicePlan) -> bool {
    s.scaling.queue_depth.is_some() && s.queue.is_some()
}

/// An HPA (autoscaling/v2), or a KEDA ScaledObject when the service scales on its
/// queue — never both for one workload.
pub(super) fn autoscaler(plan: &Plan, s: &ServicePlan) -> Vec<Value> {
    let name = &s.name;
    let sc = &s.scaling;
    let target = json!({ "apiVersion": "apps/v1", "kind": "Deployment", "name": name });
    if let (true, Some(depth), Some(q)) = (scales_on_queue(s), sc.queue_depth, &s.queue) {
        // The broker: run here (its first node) or by a provider (its address).
        let (engine, address, password, prefix, tls) =
            match (plan.datastores.get(&q.broker), plan.managed.get(&q.broker)) {
                (Some(store), _) => {
                    let Some(node) = store
                        .nodes
                        .get(&Platform::Kubernetes)
                        .and_then(|n| n.first())
                    else {
                        return Vec::new();
                    };
                    let engine = match &store.engine {
                        EnginePlan::Redis(_) => "redis",
                        EnginePlan::Rabbitmq(_) => "rabbitmq",
                        // Not a queue broker: validation refuses it as one.
                        EnginePlan::Postgres(_) => return Vec::new(),
                    };
                    (
                        engine,
                        format!("{}:{}", node.host, node.port),
                        store.engine.app_secret().to_string(),
                        store.env_prefix.clone(),
                        false,
                    )
                }
                (None, Some(m)) => (
                    m.engine,
                    format!("{}:{}", m.host, m.port),
                    m.secrets.first().cloned().unwrap_or_default(),
                    m.env_prefix.clone(),
                    m.tls,
                ),
                (None, None) => return Vec::new(),
            };
        let auth = format!("{name}-queue");
        let (trigger, auth_spec) = match engine {
            "redis" => {
                let mut metadata = json!({ "address": address, "listName": q.name, "listLength": depth.to_string() });
                if tls {
                    metadata["enableTLS"] = json!("true");
                }
                (
                    json!({
                        "type": "redis",
                        "metadata": metadata,
                        "authenticationRef": { "name": auth },
                    }),
                    json!({ "secretTargetRef": [{ "parameter": "password", "name": secret_name(plan), "key": password }] }),
                )
            }
            // RabbitMQ over the management API, so messages in flight count too.
            "rabbitmq" => (
                json!({
                    "type": "rabbitmq",
                    "metadata": { "protocol": "http", "mode": "QueueLength", "value": depth.to_string(), "queueName": q.name },
                    "authenticationRef": { "name": auth },
                }),
                json!({ "secretTargetRef": [{ "parameter": "host", "name": secret_name(plan), "key": format!("{prefix}_MANAGEMENT_URL") }] }),
            ),
            _ => return Vec::new(),
        };
        let mut spec = Map::new();
        spec.insert("scaleTargetRef".into(), json!({ "name": name }));
        spec.insert("minReplicaCount".into(), json!(sc.min));
        spec.insert("maxReplicaCount".into(), json!(sc.max));
        // The other targets too: KEDA's HPA scales on whichever asks for the most,
        // as an HPA of its own would (an HPA beside the ScaledObject would fight it).
        let mut triggers = vec![trigger];
        for (kind, target) in [("cpu", sc.cpu_percent), ("memory", sc.memory_percent)] {
            if let Some(t) = target {
                triggers.push(json!({
                    "type": kind,
                    "metricType": "Utilization",
                    "metadata": { "value": t.to_string(), "containerName": name },
                }));
            }
        }
        spec.insert("triggers".into(), Value::from(triggers));
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

pub(super) fn balancer_docs(plan: &Plan) -> Vec<Value> {
    let lb = plan.balancer.as_ref().expect("a balancer");
    let (mount, file) = match lb.engine {
        BalancerEngine::Nginx => ("/etc/nginx/nginx.conf", "nginx.conf"),
        BalancerEngine::Haproxy => ("/usr/local/etc/haproxy/haproxy.cfg", "haproxy.cfg"),
    };
    let user = lb.run_as_user;
    let name = "balancer";
    let mut pod_security = secure_pod();
    pod_security["runAsUser"] = json!(user);
    pod_security["runAsGroup"] = json!(user);
    let mut ports = vec![json!({ "name": "http", "containerPort": CONTAINER_LISTEN_PORT })];
    // Behind the PROXY protocol, its own health has a plain listener of its own
    // (published too, for the load balancer's own health checks).
    let health_port = lb.health_port(Platform::Kubernetes);
    let health = json!({ "httpGet": { "path": lb.health_path,
        "port": if health_port.is_some() { "health" } else { "http" } } });
    let mut mounts = vec![
        json!({ "name": "config", "mountPath": mount, "subPath": file, "readOnly": true }),
        json!({ "name": "tmp", "mountPath": "/tmp" }),
    ];
    let mut volumes = vec![
        json!({ "name": "config", "configMap": { "name": "balancer" } }),
        json!({ "name": "tmp", "emptyDir": {} }),
    ];
    let mut service_ports =
        vec![json!({ "name": "http", "port": lb.listen, "targetPort": "http" })];
    if let Some(tls) = &lb.tls {
        ports.push(json!({ "name": "https", "containerPort": CONTAINER_TLS_PORT }));
        service_ports.push(json!({ "name": "https", "port": tls.listen, "targetPort": "https" }));
        mounts.push(json!({ "name": "tls", "mountPath": TLS_DIR, "readOnly": true }));
        // The Secret's `tls.key` under the name HAProxy loads beside the certificate;
        // readable by the balancer's group only (the pod's fsGroup).
        volumes.push(json!({ "name": "tls", "secret": {
            "secretName": tls.secret,
            "defaultMode": 0o440,
            "items": [
                { "key": "tls.crt", "path": tls.certificate_name },
                { "key": "tls.key", "path": tls.key_name },
            ],
        } }));
        pod_security["fsGroup"] = json!(user);
    }
    if let Some(port) = health_port {
        ports.push(json!({ "name": "health", "containerPort": port }));
        service_ports.push(json!({ "name": "health", "port": port, "targetPort": "health" }));
    }
    // Its metrics: HAProxy's own, on a port the Service does not expose; nginx's
    // stub_status, which an exporter sidecar reads on the pod's loopback.
    let scrape = plan.scrape.get(&Platform::Kubernetes);
    let sidecar = scrape
        .and_then(|s| s.exporters.get(name))
        .map(|e| exporter_sidecar(plan, e));
    let metrics_port = lb
        .nodes
        .get(&Platform::Kubernetes)
        .and_then(|n| n.first()?.metrics_port);
    if let (BalancerEngine::Haproxy, Some(port)) = (lb.engine, metrics_port) {
        ports.push(json!({ "name": "metrics", "containerPort": port }));
    }
    let container = json!({
        "name": name,
        "image": lb.image,
        "ports": ports,
        "resources": resource_requirements(&lb.resources),
        "readinessProbe": probe(health.clone(), &lb.health.readiness),
        "livenessProbe": probe(health, &lb.health.liveness),
        "securityContext": secure_container(),
        "volumeMounts": mounts,
    });
    let mut deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "labels": labels(plan, name, "balancer") },
            "spec": {
                "replicas": lb.replicas,
                "selector": { "matchLabels": selector(plan, name) },
                "strategy": strategy(&lb.rollout),
                "template": {
                    "metadata": { "labels": labels(plan, name, "balancer") },
                    "spec": {
                        "automountServiceAccountToken": API_TOKEN,
                        "securityContext": pod_security,
                        "terminationGracePeriodSeconds": lb.health.stop_grace_s,
                        "containers": std::iter::once(container).chain(sidecar).collect::<Vec<_>>(),
                        "volumes": volumes,
                    "topologySpreadConstraints": spread_over_nodes(plan, name),
                },
            },
        },
    });
    on_node_pool(
        plan.node_pool(lb.tier.as_deref()),
        deployment["spec"]["template"]["spec"].as_object_mut(),
    );
    vec![
        deployment,
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": { "name": name, "labels": labels(plan, name, "balancer") },
            "spec": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Local",
                "selector": selector(plan, name),
                "ports": service_ports,
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
