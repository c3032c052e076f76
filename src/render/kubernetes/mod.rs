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
use crate::plan::{
    EnvPart, EnvValue, EnvVar, Plan, ServicePlan, Sticky, CONTAINER_LISTEN_PORT,
    CONTAINER_TLS_PORT, TLS_DIR,
};
use crate::render::templates::{TemplateError, Templates};

use super::balancer;
use super::bundle::generated_header;
use super::parallel;

mod datastores;
mod jobs;
mod network;
mod readme;
mod workloads;

use datastores::datastore_docs;
use network::network_policies;
use readme::{readme, secrets_example};
use workloads::{balancer_docs, scales_on_queue, service_docs};

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
    // A service's manifests depend on the plan alone: rendered on every core.
    let services: Vec<_> = plan.services.values().collect();
    let texts = parallel::map(&services, |s| documents(plan, &service_docs(plan, s)));
    for (s, text) in services.iter().zip(texts) {
        let file = format!("{}.yaml", s.name);
        files.push((file.clone(), text?));
        resources.push(file);
    }
    let waiter = jobs::job_waiter_docs(plan);
    if !waiter.is_empty() {
        files.push(("job-waiter.yaml".into(), documents(plan, &waiter)?));
        resources.push("job-waiter.yaml".into());
    }
    for store in plan.datastores.values() {
        let mut generated = Vec::new();
        for f in super::datastores::render(plan, store, Platform::Kubernetes, templates)? {
            generated.push((f.path.clone(), f.text.clone()));
            files.push((f.path, f.text));
        }
        if let Some(restore) = datastores::restore_docs(plan, store, &generated) {
            // Applied by hand when restoring (README), never with the bundle.
            files.push((
                datastores::backup::restore_file(store),
                documents(plan, &restore)?,
            ));
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
    let monitoring: Vec<Value> = super::monitoring::prometheus_rule(plan)
        .into_iter()
        .chain(super::monitoring::pod_monitors(plan))
        .chain(super::monitoring::server_pod_monitors(plan))
        .chain(super::monitoring::dashboard_config_map(plan))
        .collect();
    if !monitoring.is_empty() {
        let file = super::monitoring::KUBERNETES_FILE;
        files.push((file.into(), documents(plan, &monitoring)?));
        resources.push(file.into());
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
    files.push(("secrets.env.example".into(), secrets_example(plan)));
    files.push((
        ".gitignore".into(),
        super::bundle::secrets_gitignore(plan, "secrets.env"),
    ));
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

/// Requests and limits as written: every one set, as the plan gives them.
fn resource_requirements(r: &crate::plan::ResourcesPlan) -> Value {
    let mut out = json!({
        "requests": { "cpu": quantity_cpu(r.cpu_millis), "memory": quantity_memory(r.memory_bytes) },
        "limits": { "cpu": quantity_cpu(r.cpu_limit_millis), "memory": quantity_memory(r.memory_limit_bytes) },
    });
    // A device plugin's resource is whole devices, never shared: its request is its
    // limit, which Kubernetes takes for both.
    if let Some(gpu) = r.gpu {
        out["limits"][gpu.vendor.kubernetes_resource()] = json!(gpu.count);
    }
    out
}

/// Places a pod on a tier's node pool: a `nodeSelector` on the pool's labels, and a
/// toleration of each of its taints (no toleration of anything else).
fn on_node_pool(pool: Option<&crate::plan::NodePoolPlan>, pod: Option<&mut Map<String, Value>>) {
    let (Some(pool), Some(pod)) = (pool, pod) else {
        return;
    };
    pod.insert("nodeSelector".into(), json!(pool.node_selector));
    if !pool.tolerations.is_empty() {
        pod.insert(
            "tolerations".into(),
            Value::Array(
                pool.tolerations
                    .iter()
                    .map(|t| {
                        let mut out = Map::new();
                        out.insert("key".into(), json!(t.key));
                        match &t.value {
                            Some(v) => {
                                out.insert("operator".into(), json!("Equal"));
                                out.insert("value".into(), json!(v));
                            }
                            None => {
                                out.insert("operator".into(), json!("Exists"));
                            }
                        }
                        out.insert("effect".into(), json!(t.effect.as_str()));
                        Value::Object(out)
                    })
                    .collect(),
            ),
        );
    }
}

/// A probe: `handler` (`{"exec": …}`, `{"tcpSocket": …}`, `{"httpGet": …}`) run on the
/// plan's timing.
fn probe(handler: Value, p: &crate::plan::Probe) -> Value {
    let mut out = match handler {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    out.insert("periodSeconds".into(), json!(p.period_s));
    if let Some(t) = p.timeout_s {
        out.insert("timeoutSeconds".into(), json!(t));
    }
    if let Some(f) = p.failures {
        out.insert("failureThreshold".into(), json!(f));
    }
    Value::Object(out)
}

/// A Deployment's `strategy`, from the plan's rollout.
fn strategy(rollout: &crate::plan::Rollout) -> Value {
    use crate::plan::{Rollout, Surge};
    match rollout {
        Rollout::Recreate => json!({ "type": "Recreate" }),
        Rollout::Rolling {
            surge,
            max_unavailable,
        } => {
            let surge = match surge {
                Surge::Count(n) => json!(n),
                Surge::Percent(p) => json!(format!("{p}%")),
            };
            json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": surge, "maxUnavailable": max_unavailable } })
        }
    }
}

/// An exporter sidecar (`plan::scrape`): it reads its server on the pod's loopback and
/// serves on the port named `metrics`, which the pod's PodMonitor scrapes.
fn exporter_sidecar(plan: &Plan, e: &crate::plan::scrape::ExporterPlan) -> Value {
    let env: Vec<Value> = e
        .env
        .iter()
        .map(|(name, value)| {
            env_var(
                plan,
                &EnvVar {
                    name: name.clone(),
                    value: value.clone(),
                },
            )
        })
        .collect();
    let listening = json!({ "tcpSocket": { "port": "metrics" } });
    let timing = crate::plan::Probe {
        period_s: 10,
        timeout_s: Some(3),
        failures: Some(3),
    };
    let mut c = Map::new();
    c.insert("name".into(), json!("exporter"));
    c.insert("image".into(), json!(e.image));
    if !e.args.is_empty() {
        c.insert("args".into(), json!(e.args));
    }
    if !env.is_empty() {
        c.insert("env".into(), json!(env));
    }
    c.insert(
        "ports".into(),
        json!([{ "name": "metrics", "containerPort": e.port }]),
    );
    c.insert(
        "resources".into(),
        json!({
            "requests": { "cpu": "10m", "memory": "32Mi" },
            "limits": { "cpu": "100m", "memory": "64Mi" },
        }),
    );
    // Liveness only: a pod is Ready when every container is, and an exporter that is
    // down must not take its server out of the Service.
    c.insert("livenessProbe".into(), probe(listening, &timing));
    c.insert("securityContext".into(), secure_container());
    Value::Object(c)
}

fn secure_container() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": { "drop": ["ALL"] },
    })
}

/// Whether a service's or the balancer's pods get a service account token: the bundle
/// grants them no Role, so the token would only widen what a compromised pod reaches.
/// (A datastore's pods: `KubernetesObjects::api_token`.)
const API_TOKEN: bool = false;

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
        json!({ "exec": { "command": literal_all(&h.command) } })
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
    // Until it first answers, a slow start is not a failure.
    c.insert(
        "startupProbe".into(),
        probe(json!({ "failureThreshold": h.startup_failure_threshold })),
    );
}

/// A blueprint's text as the kubelet passes it on: it expands `$(NAME)` from the
/// container's environment in `command`, `args`, `env` values and exec probes' commands,
/// and reads `$$` as one `$`, so every `$` is written `$$`. Only text from the blueprint
/// goes through here: the variables tierform builds from others on purpose
/// (`REDIS_ANNOUNCE_HOSTNAME` from `$(POD_NAME)`) keep their references.
pub(super) fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

pub(super) fn literal_all(texts: &[String]) -> Vec<String> {
    texts.iter().map(|t| literal(t)).collect()
}

/// A variable as Kubernetes writes it: a secret as a key of the phase's Secret.
fn env_var(plan: &Plan, var: &EnvVar) -> Value {
    match &var.value {
        EnvValue::Literal(text) => json!({ "name": var.name, "value": text }),
        EnvValue::Secret(key) => env_secret(plan, &var.name, key),
        // A secret as `$(VAR)`, the variable the container has before this one: the
        // kubelet expands it, so the manifest never holds the value.
        EnvValue::Composed(parts) => {
            let value: String = parts
                .iter()
                .map(|part| match part {
                    EnvPart::Text(text) => literal(text),
                    EnvPart::Secret { var, .. } => format!("$({var})"),
                })
                .collect();
            json!({ "name": var.name, "value": value })
        }
        EnvValue::Field(path) => {
            json!({ "name": var.name, "valueFrom": { "fieldRef": { "fieldPath": path } } })
        }
    }
}

/// A variable read from the key `key` of the phase's Secret.
fn env_secret(plan: &Plan, name: &str, key: &str) -> Value {
    json!({ "name": name, "valueFrom": { "secretKeyRef": { "name": secret_name(plan), "key": key } } })
}

fn env(plan: &Plan, s: &ServicePlan) -> Vec<Value> {
    let mut out = Vec::new();
    for (k, v) in &s.env {
        out.push(json!({ "name": k, "value": literal(v) }));
    }
    for name in &s.secrets {
        out.push(env_secret(plan, name, name));
    }
    // The datastores' connection settings, each variable once (a later datastore's
    // value wins, in the place of the first).
    let mut conn: Map<String, Value> = Map::new();
    for u in &s.uses {
        for var in plan.connection(u, Platform::Kubernetes) {
            conn.insert(var.name.clone(), env_var(plan, var));
        }
    }
    out.extend(conn.into_values());
    // The connection URLs it asks for, after the passwords they refer to.
    for (name, store) in &s.urls {
        if let Some(value) = plan.url(store, Platform::Kubernetes) {
            let var = EnvVar {
                name: name.clone(),
                value: value.clone(),
            };
            out.push(env_var(plan, &var));
        }
    }
    // The vendor's APM variables (`monitoring.apm`).
    for var in plan
        .apm
        .iter()
        .flat_map(|a| a.env(&s.name, Platform::Kubernetes))
    {
        out.push(env_var(plan, var));
    }
    out
}
