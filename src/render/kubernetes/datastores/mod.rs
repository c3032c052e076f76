//! Datastores as StatefulSets with their Services, volumes and ConfigMaps, one module
//! per engine; this module holds what they share and dispatches with an exhaustive
//! match. Each engine's module translates what `render::datastores` describes for
//! every platform (commands, environment, data directory, readiness check) into
//! Kubernetes' form.

use super::*;
use crate::plan::{DatastorePlan, EnginePlan, EnvVar, Spread};

pub(super) mod backup;
mod postgres;
mod rabbitmq;
mod redis;

/// An environment as Kubernetes writes it: secrets as keys of the phase's Secret.
fn environment(plan: &Plan, vars: &[EnvVar]) -> Vec<Value> {
    vars.iter().map(|v| env_var(plan, v)).collect()
}

/// A variable set from the pod's own metadata (`metadata.name`, `status.podIP`).
fn env_field(name: &str, path: &str) -> Value {
    json!({ "name": name, "valueFrom": { "fieldRef": { "fieldPath": path } } })
}

/// A claim of the datastore's volume per pod, from its StorageClass if it names one.
fn claim(name: &str, store: &DatastorePlan) -> Value {
    let mut spec = Map::new();
    spec.insert("accessModes".into(), json!(["ReadWriteOnce"]));
    if let Some(class) = &store.storage_class {
        spec.insert("storageClassName".into(), json!(class));
    }
    spec.insert(
        "resources".into(),
        json!({ "requests": { "storage": quantity_memory(store.volume_bytes) } }),
    );
    json!({ "metadata": { "name": name }, "spec": spec })
}

fn data_pod_security(uid: u32) -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": { "type": "RuntimeDefault" },
    })
}

/// The exporter sidecar of a datastore's pods (`plan::scrape`), reading the server on
/// the pod's loopback; `None` when its engine serves its own metrics (RabbitMQ).
fn datastore_exporter(plan: &Plan, store: &DatastorePlan) -> Option<Value> {
    let e = plan
        .scrape
        .get(&Platform::Kubernetes)?
        .exporters
        .get(&store.name)?;
    Some(exporter_sidecar(plan, e))
}

/// What the documents of one datastore share.
struct Ctx<'a> {
    plan: &'a Plan,
    store: &'a DatastorePlan,
    /// Its ConfigMap (`<name>-config`).
    config: String,
    /// Its files' folder in the bundle, and where they are mounted.
    dir: String,
    mount: String,
    /// Its own files, of every file rendered for it.
    own: Vec<&'a String>,
    /// The text of each of its own files (what its ConfigMap holds), by path.
    own_text: Vec<(&'a String, &'a String)>,
    /// Requests and limits of each server container.
    resources: Value,
}

impl Ctx<'_> {
    /// A Service named `svc` in front of the pods of `selector_name`; a headless one
    /// publishes pods before they are ready (cluster members find each other).
    fn service(&self, svc: &str, selector_name: &str, port: u16, headless: bool) -> Value {
        let plan = self.plan;
        let mut spec = json!({
            "selector": selector(plan, selector_name),
            "ports": [{ "name": "tcp", "port": port, "targetPort": port }],
        });
        if headless {
            spec["clusterIP"] = json!("None");
            spec["publishNotReadyAddresses"] = json!(true);
        }
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": svc, "labels": labels(plan, selector_name, "datastore") }, "spec": spec })
    }
}

/// A StatefulSet (or a Deployment) of a datastore, its Services and the ConfigMaps its
/// files go into; `files` are every file rendered for it, by path, with its text.
pub(super) fn datastore_docs(
    plan: &Plan,
    store: &DatastorePlan,
    files: &[(String, String)],
) -> (Vec<Value>, Vec<Value>) {
    let dir = crate::render::datastores::bundle_dir(store);
    let own_text: Vec<(&String, &String)> = files
        .iter()
        .filter(|(f, _)| f.starts_with(&format!("{dir}/")))
        .map(|(f, t)| (f, t))
        .collect();
    let paths: Vec<String> = files.iter().map(|(f, _)| f.clone()).collect();
    let ctx = Ctx {
        plan,
        store,
        config: store.kubernetes.config.clone(),
        own: own_text.iter().map(|(f, _)| *f).collect(),
        own_text,
        dir,
        mount: crate::render::datastores::mount_dir(store),
        resources: resource_requirements(&store.server_resources),
    };
    let (mut docs, maps) = match &store.engine {
        EnginePlan::Postgres(pg) => postgres::docs(&ctx, pg, &paths),
        EnginePlan::Redis(r) => redis::docs(&ctx, r),
        EnginePlan::Rabbitmq(r) => rabbitmq::docs(&ctx, r),
    };
    for doc in docs.iter_mut().filter(|d| d["kind"] == "StatefulSet") {
        keep_apart(plan, store, &mut doc["spec"]["template"]);
    }
    // Every pod of the datastore (its servers, its pooler, its init Job) runs on its
    // tier's node pool.
    for doc in &mut docs {
        let pod = doc
            .pointer_mut("/spec/template/spec")
            .and_then(Value::as_object_mut);
        on_node_pool(plan.node_pool(store.tier.as_deref()), pod);
    }
    docs.extend(store.kubernetes.disruption_budgets.iter().map(|set| {
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": { "name": set, "labels": labels(plan, set, "datastore") },
            "spec": {
                "maxUnavailable": 1,
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
                "selector": { "matchLabels": selector(plan, set) },
            },
        })
    }));
    (docs, maps)
}

/// Labels a datastore's pod `template` with the datastore (over all its StatefulSets)
/// and places it as the plan's [`Spread`] says.
fn keep_apart(plan: &Plan, store: &DatastorePlan, template: &mut Value) {
    template["metadata"]["labels"]["app.kubernetes.io/instance"] = json!(store.name);
    let all = json!({ "matchLabels": {
        "app.kubernetes.io/instance": store.name,
        "app.kubernetes.io/part-of": plan.blueprint,
    } });
    let host = "kubernetes.io/hostname";
    match store.kubernetes.spread {
        Spread::None => {}
        Spread::OwnNode => {
            template["spec"]["affinity"] = json!({ "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{ "labelSelector": all, "topologyKey": host }],
            } });
        }
        Spread::EvenOverNodes => {
            template["spec"]["topologySpreadConstraints"] = json!([{
                "maxSkew": 1,
                "topologyKey": host,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": all,
            }]);
        }
    }
}

use crate::render::files::short_hash;

/// The restore's documents of `store` (`restore/<name>.yaml`), when it is backed up;
/// `files` as for [`datastore_docs`].
pub(super) fn restore_docs(
    plan: &Plan,
    store: &DatastorePlan,
    files: &[(String, String)],
) -> Option<Vec<Value>> {
    let EnginePlan::Postgres(pg) = &store.engine else {
        return None;
    };
    let b = pg.backup.as_ref()?;
    let dir = crate::render::datastores::bundle_dir(store);
    let config = files
        .iter()
        .find(|(f, _)| *f == format!("{dir}/pgbackrest.conf"))
        .map(|(_, t)| t)?;
    let ctx = Ctx {
        plan,
        store,
        config: store.kubernetes.config.clone(),
        own: Vec::new(),
        own_text: Vec::new(),
        dir,
        mount: crate::render::datastores::mount_dir(store),
        resources: resource_requirements(&store.server_resources),
    };
    Some(backup::restore_docs(&ctx, b, config))
}
