//! Tiers on Kubernetes and GPUs: every pod of what runs on a tier with a node pool
//! selects the pool's labels and tolerates its taints (and nothing else does); a
//! service that takes GPUs gets its vendor's device-plugin resource on Kubernetes and,
//! on compose and hosts, GPUs of its own by index; `plan` counts the nodes each pool
//! needs.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::common;

const FIXTURE: &str = "tests/fixtures/render/gpu-pools.yaml";

fn docs(text: &str) -> Vec<Value> {
    common::yaml_docs(text)
}

/// What a pod on a tier with `pool` must carry: its nodeSelector and tolerations.
fn expected(plan: &tierform::Plan, tier: Option<&str>) -> (Value, Value) {
    match plan.node_pool(tier) {
        None => (Value::Null, Value::Null),
        Some(p) => {
            let tolerations: Vec<Value> = p
                .tolerations
                .iter()
                .map(|t| match &t.value {
                    Some(v) => json!({ "key": t.key, "operator": "Equal", "value": v, "effect": t.effect.as_str() }),
                    None => json!({ "key": t.key, "operator": "Exists", "effect": t.effect.as_str() }),
                })
                .collect();
            (
                json!(p.node_selector),
                if tolerations.is_empty() {
                    Value::Null
                } else {
                    json!(tolerations)
                },
            )
        }
    }
}

#[test]
fn every_pod_runs_on_its_tiers_node_pool_and_tolerates_only_its_taints() {
    let mut pooled = 0;
    let mut checked = 0;
    for path in common::render_blueprints() {
        let (plans, set) = common::plans_and_render(&path);
        for plan in plans
            .iter()
            .filter(|p| p.platforms.contains(&tierform::Platform::Kubernetes))
        {
            // The tier of what each file holds: a service's, a datastore's, the balancer's.
            let mut owners: BTreeMap<String, Option<&str>> = BTreeMap::new();
            for s in plan.services.values() {
                owners.insert(format!("{}.yaml", s.name), s.tier.as_deref());
            }
            for d in plan.datastores.values() {
                owners.insert(format!("{}.yaml", d.name), d.tier.as_deref());
            }
            if let Some(lb) = &plan.balancer {
                owners.insert("balancer.yaml".into(), lb.tier.as_deref());
            }
            for (file, tier) in owners {
                let rel = format!("{}/kubernetes/{file}", plan.phase);
                let Some(text) = set.get(&rel) else {
                    continue;
                };
                let (selector, tolerations) = expected(plan, tier);
                for doc in docs(text) {
                    let Some(pod) = doc.pointer("/spec/template/spec") else {
                        continue;
                    };
                    let what = format!("{} {rel} {}", path.display(), doc["metadata"]["name"]);
                    assert_eq!(pod["nodeSelector"], selector, "{what}: nodeSelector");
                    assert_eq!(pod["tolerations"], tolerations, "{what}: tolerations");
                    checked += 1;
                    if !selector.is_null() {
                        pooled += 1;
                    }
                }
            }
        }
    }
    // The GPU fixture's pools, and the pooled Kubernetes phases of two bundled blueprints.
    assert!(
        checked > 50 && pooled >= 15,
        "{checked} pods, {pooled} pooled"
    );
}

#[test]
fn gpu_services_take_their_vendors_gpus_on_kubernetes_and_their_own_on_docker() {
    let set = common::render_all(std::path::Path::new(FIXTURE));
    // Kubernetes: the device plugin's resource, as a limit (its request), per vendor.
    let limits = |file: &str| {
        docs(set.get(&format!("cluster/kubernetes/{file}")).unwrap())
            .into_iter()
            .find(|d| d["kind"] == "Deployment")
            .unwrap()["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
            .clone()
    };
    assert_eq!(limits("inference.yaml")["nvidia.com/gpu"], json!(1));
    assert_eq!(limits("embedder.yaml")["amd.com/gpu"], json!(1));
    assert_eq!(limits("api.yaml")["nvidia.com/gpu"], Value::Null);
    // Compose and hosts: the two instances on the one machine with two GPUs get one
    // each, by index (a count of 1 would give both the first).
    for file in [
        "one-box/compose/docker-compose.yml",
        "one-box/hosts/10.0.4.10/docker-compose.yml",
    ] {
        let compose = tierform::load_yaml(set.get(file).unwrap())
            .unwrap()
            .to_json();
        let ids: Vec<Value> = ["inference-1", "inference-2"]
            .iter()
            .map(|c| {
                let devices =
                    &compose["services"][c]["deploy"]["resources"]["reservations"]["devices"];
                assert_eq!(devices[0]["driver"], "nvidia", "{file} {c}");
                assert_eq!(devices[0]["capabilities"], json!(["gpu"]), "{file} {c}");
                assert_eq!(
                    devices[0]["count"],
                    Value::Null,
                    "{file} {c}: count and device_ids exclude each other"
                );
                devices[0]["device_ids"].clone()
            })
            .collect();
        assert_eq!(ids, vec![json!(["0"]), json!(["1"])], "{file}");
        assert_eq!(
            compose["services"]["api"]["deploy"]["resources"]["reservations"]["devices"],
            Value::Null,
            "{file}"
        );
    }
    // The Docker host's needs, for compose too (which has no README of its own).
    let architecture = set.get("one-box/ARCHITECTURE.md").unwrap();
    assert!(
        architecture.contains(
            "## GPUs on the Docker hosts\n\n- NVIDIA's driver and the NVIDIA Container Toolkit"
        ),
        "{architecture}"
    );
    assert!(!set
        .get("cluster/ARCHITECTURE.md")
        .unwrap()
        .contains("## GPUs on the Docker hosts"));
}

#[test]
fn plan_counts_the_gpus_and_the_nodes_each_pool_needs() {
    let report = common::tierform_json(&["plan", "--format", "json", FIXTURE]);
    let phase = |name: &str| {
        report["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == name)
            .unwrap()
            .clone()
    };
    let cluster = phase("cluster");
    let tier = |name: &str| {
        cluster["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone()
    };
    // inference: 1–4 pods of one GPU each on nodes with one; embedder: 2 pods of 6 CPU
    // and one AMD GPU on one node of 16 CPU and two; db: its primary and replica on
    // nodes of their own.
    let gpu = tier("gpu");
    assert_eq!(gpu["gpu"], json!({ "count": 1 }));
    assert_eq!(
        (
            gpu["pool"]["nodes_needed_min"].clone(),
            gpu["pool"]["nodes_needed_max"].clone()
        ),
        (json!(1), json!(4))
    );
    assert_eq!(
        gpu["pool"]["taints"],
        json!(["nvidia.com/gpu=present:NoSchedule"])
    );
    // A pool a cluster autoscaler grows: one node, up to four, costed as a range.
    assert_eq!(
        (gpu["machines"].clone(), gpu["max_machines"].clone()),
        (json!(1), json!(4))
    );
    assert_eq!(
        (gpu["monthly_cost"].clone(), gpu["monthly_cost_max"].clone()),
        (json!(1100.0), json!(4400.0))
    );
    assert_eq!(
        (
            cluster["monthly_cost"].clone(),
            cluster["monthly_cost_max"].clone()
        ),
        (json!(3940.0), json!(7240.0))
    );
    assert_eq!(tier("data")["max_machines"], Value::Null);
    assert_eq!(tier("amd")["pool"]["nodes_needed_max"], json!(1));
    assert_eq!(tier("data")["pool"]["nodes_needed_min"], json!(2));
    assert_eq!(cluster["totals"]["gpus_min"], json!(3));
    assert_eq!(cluster["totals"]["gpus_max"], json!(6));
    // Not on Kubernetes: no pool, GPUs still counted.
    let one_box = phase("one-box");
    assert_eq!(one_box["totals"]["gpus_max"], json!(2));
    assert_eq!(one_box["tiers"][0]["pool"], Value::Null);
}

#[test]
fn gpu_rollouts_replace_without_a_surge_and_the_readme_asks_plugins_to_tolerate() {
    let set = common::render_all(std::path::Path::new(FIXTURE));
    for file in ["inference.yaml", "embedder.yaml"] {
        let deployment = docs(set.get(&format!("cluster/kubernetes/{file}")).unwrap())
            .into_iter()
            .find(|d| d["kind"] == "Deployment")
            .unwrap();
        // A surge pod would wait for a GPU its old pods hold, and the rollout never end.
        assert_eq!(
            deployment["spec"]["strategy"],
            json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 0, "maxUnavailable": 1 } }),
            "{file}"
        );
    }
    let api = docs(set.get("cluster/kubernetes/api.yaml").unwrap())
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap();
    assert_eq!(api["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    let readme = set.get("cluster/kubernetes/README.md").unwrap();
    assert!(
        readme.contains("Its DaemonSet must tolerate `nvidia.com/gpu=present:NoSchedule`"),
        "{readme}"
    );
    assert!(readme.contains("Its DaemonSet must tolerate `amd.com/gpu:NoSchedule`"));
}

#[test]
fn gpu_services_spread_over_the_gpu_machines_and_amd_instances_name_their_own() {
    let set = common::render_text(
        "version: 1
name: gpus
targets: [hosts]
tiers:
  gpu: { machine: { cpu: 16, memory: 64Gi, gpu: { count: 1 } }, hosts: [10.0.1.1, 10.0.1.2] }
  mi: { machine: { cpu: 16, memory: 64Gi, gpu: { count: 2, vendor: amd } }, hosts: [10.0.2.1] }
services:
  a: { kind: worker, tier: gpu, image: demo:1, resources: { gpu: { count: 1 } } }
  b: { kind: worker, tier: gpu, image: demo:1, resources: { gpu: { count: 1 } } }
  embed:
    kind: worker
    tier: mi
    image: demo:1
    resources: { gpu: { count: 1, vendor: amd } }
    scaling: { replicas: 2 }
",
    );
    let compose = |machine: &str| {
        tierform::load_yaml(
            set.get(&format!("default/hosts/{machine}/docker-compose.yml"))
                .unwrap(),
        )
        .unwrap()
        .to_json()
    };
    // `a` on the first machine, `b` on the second: each has its one GPU to itself
    // (both on the first, where each service's instances start, would share it).
    let devices = |doc: &Value, c: &str| {
        doc["services"][c]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
            .clone()
    };
    assert_eq!(devices(&compose("10.0.1.1"), "a"), json!(["0"]));
    assert_eq!(devices(&compose("10.0.1.2"), "b"), json!(["0"]));
    assert_eq!(compose("10.0.1.1")["services"]["b"], Value::Null);
    // AMD: the device files, and the runtime told which GPU is the instance's.
    let mi = compose("10.0.2.1");
    for (c, id) in [("embed-1", "0"), ("embed-2", "1")] {
        assert_eq!(
            mi["services"][c]["environment"]["ROCR_VISIBLE_DEVICES"], id,
            "{c}"
        );
        assert_eq!(
            mi["services"][c]["devices"],
            json!(["/dev/kfd:/dev/kfd", "/dev/dri:/dev/dri"])
        );
    }
}

#[test]
fn diff_says_to_create_a_pool_before_its_pods_select_it() {
    let d = common::tierform_json(&["diff", "--format", "json", FIXTURE, "one-box", "cluster"]);
    let notes = d["notes"].to_string();
    assert!(
        notes.contains("The pods of tier `gpu` now select nodes labelled `cloud.google.com/gke-nodepool=gpu-l4`: create that node pool with its taints before applying"),
        "{notes}"
    );
    let change = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "tier gpu")
        .unwrap();
    assert_eq!(
        change["to"]["pool"]["node_selector"],
        json!({ "cloud.google.com/gke-nodepool": "gpu-l4" })
    );
}
