//! The Kubernetes bundle of every blueprint × phase: `kubernetes-validate --strict`
//! (pinned) for Kubernetes 1.30 and the newest version it bundles, with no unknown
//! built-in kind; `yamllint --strict`; and the properties a platform engineer checks
//! first (no replicas under an autoscaler, KEDA instead of an HPA for queue depth,
//! requests, limits and security defaults on every container, secrets by reference).

use crate::common;
use tierform_lab as lab;

use std::process::Command;

use serde_json::Value;

/// KEDA's and prometheus-operator's kinds are CRDs: kubernetes-validate has no schema
/// for them.
const CRD_KINDS: [&str; 4] = [
    "ScaledObject",
    "TriggerAuthentication",
    "PrometheusRule",
    "PodMonitor",
];

pub(crate) fn bundles() -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for path in common::render_blueprints() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let set = common::render_all(&path);
        let mut by_phase: std::collections::BTreeMap<String, Vec<(String, String)>> =
            Default::default();
        for (file, text) in set.iter() {
            let parts: Vec<&str> = file.splitn(3, '/').collect();
            if parts.len() == 3 && parts[1] == "kubernetes" {
                by_phase
                    .entry(format!("{stem}.{}", parts[0]))
                    .or_default()
                    .push((parts[2].to_string(), text.to_string()));
            }
        }
        out.extend(by_phase);
    }
    out
}

fn docs(text: &str) -> Vec<Value> {
    common::yaml_docs(text)
}

#[test]
fn manifests_pass_kubernetes_validate_and_yamllint() {
    let (Some(validate), Some(yamllint)) = (
        common::python_tool("kubernetes-validate"),
        common::python_tool("yamllint"),
    ) else {
        return;
    };
    let all = bundles();
    assert!(all.len() >= 4, "only {} kubernetes bundles", all.len());
    let mut failures = Vec::new();
    for (name, files) in &all {
        let tmp = tempfile::tempdir().unwrap();
        common::write_files(
            tmp.path(),
            files.iter().map(|(r, t)| (r.as_str(), t.as_str())),
        );
        let mut manifests = Vec::new();
        let mut yamls = Vec::new();
        for (rel, _) in files {
            let dest = tmp.path().join(rel);
            if rel.ends_with(".yaml") {
                yamls.push(dest.clone());
                if rel != "kustomization.yaml" {
                    manifests.push(dest);
                }
            }
        }
        for version in ["1.30.0", "1.37.0"] {
            let out = Command::new(&validate)
                .args(["--strict", "-k", version])
                .args(&manifests)
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let unknown: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("Couldn't find schema"))
                .filter(|l| !CRD_KINDS.iter().any(|k| l.contains(&format!("kind {k} "))))
                .collect();
            if !out.status.success() || !unknown.is_empty() {
                failures.push(format!("{name} (Kubernetes {version}):\n{text}"));
            }
        }
        let out = Command::new(&yamllint)
            .args(["--strict", "-c", ".ci/yamllint.yaml"])
            .args(&yamls)
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!(
                "{name}: yamllint:\n{}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn workloads_are_secure_sized_and_scaled_by_one_autoscaler() {
    // A connection URL whose password is `$(X)`.
    let url = regex::Regex::new(r"^[a-z]+://[^:@/]*:\$\(([A-Z0-9_]+)\)@[^$]*$").unwrap();
    let mut deployments = 0;
    for (name, files) in bundles() {
        let all: Vec<Value> = files
            .iter()
            .filter(|(rel, _)| rel.ends_with(".yaml") && rel != "kustomization.yaml")
            .flat_map(|(_, text)| docs(text))
            .collect();
        let kinds = |kind: &'static str| all.iter().filter(move |d| d["kind"] == kind);
        // Every pod template, whatever owns it, carries the container defaults.
        for owner in kinds("Deployment")
            .chain(kinds("StatefulSet"))
            .chain(kinds("Job"))
        {
            let n = owner["metadata"]["name"].as_str().unwrap();
            let pod = &owner["spec"]["template"]["spec"];
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}: {n}");
            for c in pod["containers"].as_array().unwrap() {
                for key in ["cpu", "memory"] {
                    assert!(
                        c["resources"]["requests"][key].is_string(),
                        "{name}: {n}: no {key} request"
                    );
                    assert!(
                        c["resources"]["limits"][key].is_string(),
                        "{name}: {n}: no {key} limit"
                    );
                }
                assert_eq!(
                    c["securityContext"]["allowPrivilegeEscalation"], false,
                    "{name}: {n}"
                );
                assert_eq!(
                    c["securityContext"]["capabilities"]["drop"][0], "ALL",
                    "{name}: {n}"
                );
                // Secrets by reference only: a variable named after a secret never has a
                // value, but for a connection URL whose password is `$(X)`, X an earlier
                // variable from the Secret.
                let mut from_secret = std::collections::BTreeSet::new();
                for e in c["env"].as_array().into_iter().flatten() {
                    let key = e["name"].as_str().unwrap();
                    if !e["valueFrom"]["secretKeyRef"].is_null() {
                        from_secret.insert(key.to_string());
                    }
                    if key.contains("PASSWORD") || key.contains("AUTH") || key.ends_with("_URL") {
                        let Some(value) = e.get("value").and_then(Value::as_str) else {
                            continue;
                        };
                        let refers = url
                            .captures(value)
                            .is_some_and(|m| from_secret.contains(&m[1]));
                        assert!(refers, "{name}: {n}: {key} has a value: {value}");
                    }
                }
            }
            if owner["kind"] == "StatefulSet" {
                // Its governing Service is headless.
                let svc = owner["spec"]["serviceName"].as_str().unwrap();
                assert!(
                    kinds("Service")
                        .any(|s| s["metadata"]["name"] == svc && s["spec"]["clusterIP"] == "None"),
                    "{name}: {n}: no headless Service {svc}"
                );
            }
        }
        assert!(
            kinds("Secret").next().is_none(),
            "{name}: a Secret was written"
        );
        for d in kinds("Deployment") {
            deployments += 1;
            let n = d["metadata"]["name"].as_str().unwrap();
            let autoscaled = kinds("HorizontalPodAutoscaler")
                .chain(kinds("ScaledObject"))
                .any(|a| a["spec"]["scaleTargetRef"]["name"] == n);
            assert_eq!(
                d["spec"].get("replicas").is_none(),
                autoscaled,
                "{name}: {n}: replicas must be left out exactly when an autoscaler owns the count"
            );
            // Beyond what every pod owner above is held to: seccomp, a read-only root,
            // and secrets taken from the Secret by key.
            let pod = &d["spec"]["template"]["spec"];
            assert_eq!(
                pod["securityContext"]["seccompProfile"]["type"],
                "RuntimeDefault"
            );
            for c in pod["containers"].as_array().unwrap() {
                assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
                for e in c["env"].as_array().into_iter().flatten() {
                    let key = e["name"].as_str().unwrap();
                    // A DATABASE_URL with a value is a connection URL (checked above).
                    if key.ends_with("PASSWORD") || (key == "DATABASE_URL" && e["value"].is_null())
                    {
                        assert!(e["valueFrom"]["secretKeyRef"]["key"].is_string());
                    }
                }
            }
            if d["metadata"]["labels"]["app.kubernetes.io/component"] == "scheduler" {
                assert_eq!(d["spec"]["replicas"], 1);
                assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
            }
        }
        for so in kinds("ScaledObject") {
            let target = so["spec"]["scaleTargetRef"]["name"].clone();
            assert!(
                !kinds("HorizontalPodAutoscaler")
                    .any(|h| h["spec"]["scaleTargetRef"]["name"] == target),
                "{name}: {target} has both a ScaledObject and an HPA"
            );
        }
    }
    assert!(deployments >= 15, "only {deployments} Deployments");
}

#[test]
fn every_bundle_builds_with_kubectl_kustomize() {
    let Some(kubectl) = lab::require("kubectl") else {
        return;
    };
    let all = bundles();
    for (name, files) in &all {
        let tmp = tempfile::tempdir().unwrap();
        common::write_files(
            tmp.path(),
            files.iter().map(|(r, t)| (r.as_str(), t.as_str())),
        );
        let out = Command::new(&kubectl)
            .arg("kustomize")
            .arg(tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: kubectl kustomize:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let built = String::from_utf8_lossy(&out.stdout);
        // Everything lands in the blueprint's namespace, and the balancer's config is
        // generated (with a content hash in its name, so a change rolls the pods).
        assert!(built.contains("kind: Deployment"), "{name}");
        if files.iter().any(|(rel, _)| rel == "balancer.yaml") {
            assert!(built.contains("kind: ConfigMap"), "{name}");
            assert!(built.contains("name: balancer-"), "{name}");
        }
    }
}

/// Runs the npm checker `.ci/<checker>/check.mjs` (its pinned package
/// `@kubernetes-models/<checker>`, installed by `.ci/run`) on every rendered file that
/// holds an object of `api_version`, of which there must be `at_least`; its output.
/// `None` (after a "skipping" line) outside CI when the checker is not installed.
fn crd_checker(checker: &str, api_version: &str, at_least: usize) -> Option<String> {
    let package = format!(".ci/{checker}/node_modules/@kubernetes-models/{checker}");
    if !std::path::Path::new(&package).is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the {checker} checker is required in CI: .ci/run installs it (npm ci --prefix .ci/{checker})"
        );
        eprintln!(
            "skipping: run `npm ci --prefix .ci/{checker} --ignore-scripts` to install the {checker} checker"
        );
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, files) in bundles() {
        for (rel, text) in files {
            if text.contains(&format!("apiVersion: {api_version}")) {
                let dest = tmp.path().join(format!("{name}.{}", rel.replace('/', "_")));
                std::fs::write(&dest, text).unwrap();
                paths.push(dest);
            }
        }
    }
    assert!(
        paths.len() >= at_least,
        "only {} rendered files hold a {api_version} object",
        paths.len()
    );
    paths.sort();
    let out = Command::new("node")
        .arg(format!(".ci/{checker}/check.mjs"))
        .args(&paths)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(stdout)
}

#[test]
fn keda_objects_match_kedas_schema() {
    let Some(stdout) = crd_checker("keda", "keda.sh/v1alpha1", 3) else {
        return;
    };
    assert!(
        stdout.contains("ScaledObject/") && stdout.contains("TriggerAuthentication/"),
        "{stdout}"
    );
}

/// prometheus-operator objects (PrometheusRule, ServiceMonitor, PodMonitor) match the
/// operator's CRD schemas (`.ci/prometheus-operator/check.mjs`, pinned
/// @kubernetes-models/prometheus-operator, installed by `.ci/run`). The signals
/// fixture's phases render a PrometheusRule on Kubernetes.
#[test]
fn prometheus_operator_objects_match_the_operators_schema() {
    let Some(stdout) = crd_checker("prometheus-operator", "monitoring.coreos.com/v1", 2) else {
        return;
    };
    let checked = stdout.lines().filter(|l| l.ends_with(": ok")).count();
    assert!(
        checked >= 1,
        "no prometheus-operator object checked:\n{stdout}"
    );
}

/// Datastores survive a node drain and a node loss: every StatefulSet of two or more
/// pods has a PodDisruptionBudget (one down at a time, unhealthy pods always
/// evictable), a PostgreSQL primary and its replicas never share a node, a Redis
/// Cluster spreads evenly over nodes, and no pod gets an API token it has no use for.
#[test]
fn datastores_have_disruption_budgets_and_keep_off_each_others_nodes() {
    let (mut budgets, mut apart) = (0, 0);
    for (name, files) in bundles() {
        let all: Vec<Value> = files
            .iter()
            .filter(|(rel, _)| rel.ends_with(".yaml") && rel != "kustomization.yaml")
            .flat_map(|(_, text)| docs(text))
            .collect();
        let kinds = |kind: &'static str| all.iter().filter(move |d| d["kind"] == kind);
        for owner in kinds("Deployment")
            .chain(kinds("StatefulSet"))
            .chain(kinds("Job"))
        {
            let n = owner["metadata"]["name"].as_str().unwrap();
            let pod = &owner["spec"]["template"]["spec"];
            // Only a pod that waits for jobs asks the API (for Jobs, nothing else), and
            // Patroni's servers (their own cluster's Endpoints and pods).
            let waits = pod["initContainers"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["name"] == "wait-for-jobs"));
            let patroni = pod["serviceAccountName"]
                .as_str()
                .filter(|a| a.ends_with("-patroni"));
            assert_eq!(pod["automountServiceAccountToken"], waits, "{name}: {n}");
            if let Some(account) = patroni {
                // Patroni's token: a projected volume, mounted in the server's
                // container alone (not the exporter's, not the pooler's).
                let token = pod["volumes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|v| {
                        v["projected"]["sources"]
                            .as_array()
                            .is_some_and(|s| s.iter().any(|s| s["serviceAccountToken"].is_object()))
                    })
                    .unwrap_or_else(|| panic!("{name}: {n}: no projected token"));
                let mounted: Vec<&str> = pod["containers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| {
                        c["volumeMounts"]
                            .as_array()
                            .is_some_and(|m| m.iter().any(|m| m["name"] == token["name"]))
                    })
                    .filter_map(|c| c["name"].as_str())
                    .collect();
                assert_eq!(mounted, ["postgres"], "{name}: {n}");
                let role = kinds("Role")
                    .find(|r| r["metadata"]["name"] == account)
                    .unwrap_or_else(|| panic!("{name}: no Role {account}"));
                for rule in role["rules"].as_array().unwrap() {
                    let verbs: Vec<&str> = rule["verbs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    assert!(!verbs.contains(&"*"), "{name}: {account}: {rule}");
                    // What changes or deletes an Endpoints names it: the cluster's own.
                    if rule["resources"] == serde_json::json!(["endpoints"])
                        && verbs
                            .iter()
                            .any(|v| ["update", "patch", "delete"].contains(v))
                    {
                        assert_eq!(
                            rule["resourceNames"],
                            serde_json::json!([
                                n,
                                format!("{n}-config"),
                                format!("{n}-sync"),
                                format!("{n}-failover")
                            ]),
                            "{name}: {account}"
                        );
                    }
                    // What changes a pod names it: the cluster's own servers.
                    if rule["resources"] == serde_json::json!(["pods"])
                        && verbs
                            .iter()
                            .any(|v| ["update", "patch", "delete"].contains(v))
                    {
                        let replicas = owner["spec"]["replicas"].as_u64().unwrap();
                        let pods: Vec<String> = (0..replicas).map(|i| format!("{n}-{i}")).collect();
                        assert_eq!(rule["resourceNames"], serde_json::json!(pods), "{name}");
                    }
                }
            }
        }
        for set in kinds("StatefulSet") {
            let n = set["metadata"]["name"].as_str().unwrap();
            let template = &set["spec"]["template"];
            let labels = &template["metadata"]["labels"];
            if set["spec"]["replicas"].as_u64().unwrap() >= 2 {
                let pdb = kinds("PodDisruptionBudget")
                    .find(|p| {
                        p["spec"]["selector"]["matchLabels"]
                            == set["spec"]["selector"]["matchLabels"]
                    })
                    .unwrap_or_else(|| panic!("{name}: {n}: no PodDisruptionBudget"));
                assert_eq!(pdb["spec"]["maxUnavailable"], 1, "{name}: {n}");
                assert_eq!(
                    pdb["spec"]["unhealthyPodEvictionPolicy"], "AlwaysAllow",
                    "{name}: {n}"
                );
                budgets += 1;
            }
            let instance = &labels["app.kubernetes.io/instance"];
            let image = template["spec"]["containers"][0]["image"].as_str().unwrap();
            let postgres_pair = image.starts_with("postgres")
                && kinds("StatefulSet")
                    .filter(|s| {
                        s["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"]
                            == *instance
                    })
                    .count()
                    >= 2;
            if postgres_pair {
                // The primary's and the replicas' pods all match one required term.
                let term = &template["spec"]["affinity"]["podAntiAffinity"]
                    ["requiredDuringSchedulingIgnoredDuringExecution"][0];
                assert_eq!(term["topologyKey"], "kubernetes.io/hostname", "{name}: {n}");
                assert_eq!(
                    term["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"], *instance,
                    "{name}: {n}"
                );
                apart += 1;
            }
            if template["spec"]["containers"][0]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "bus")
            {
                let spread = &template["spec"]["topologySpreadConstraints"][0];
                assert_eq!(spread["whenUnsatisfiable"], "DoNotSchedule", "{name}: {n}");
                assert_eq!(
                    spread["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"], *instance,
                    "{name}: {n}"
                );
                apart += 1;
            }
        }
    }
    assert!(
        budgets >= 4 && apart >= 6,
        "only {budgets} budgets, {apart} spread sets"
    );
}

/// The bundle README's Secret table is whole before the next heading, and the cluster's
/// needs name the nodes a PostgreSQL primary and its replicas take (each its own).
#[test]
fn the_readme_lists_every_secret_then_the_nodes_the_datastores_need() {
    let mut named = 0;
    for (name, files) in bundles() {
        let (_, readme) = files.iter().find(|(rel, _)| rel == "README.md").unwrap();
        let rows: Vec<usize> = readme
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with("| `"))
            .map(|(i, _)| i)
            .collect();
        assert!(!rows.is_empty(), "{name}: no Secret rows");
        if let Some(needs) = readme.lines().position(|l| l == "## The cluster needs") {
            assert!(
                rows.iter().all(|&r| r < needs),
                "{name}: Secret rows after the cluster's needs:\n{readme}"
            );
        }
        let all: Vec<Value> = files
            .iter()
            .filter(|(rel, _)| rel.ends_with(".yaml") && rel != "kustomization.yaml")
            .flat_map(|(_, text)| docs(text))
            .collect();
        for set in all.iter().filter(|d| d["kind"] == "StatefulSet") {
            let n = set["metadata"]["name"].as_str().unwrap();
            if let Some(primary) = n.strip_suffix("-replica") {
                let pods = set["spec"]["replicas"].as_u64().unwrap() + 1;
                let line = format!("- At least {pods} schedulable nodes for `{primary}`");
                assert!(readme.contains(&line), "{name}: no `{line}`:\n{readme}");
                named += 1;
            }
        }
    }
    assert!(named >= 3, "only {named} PostgreSQL replica sets");
}

/// Every manifest of a bundle, and its NetworkPolicies.
fn manifests_and_policies(files: &[(String, String)]) -> (Vec<Value>, Vec<Value>) {
    let all: Vec<Value> = files
        .iter()
        .filter(|(f, _)| f.ends_with(".yaml"))
        .flat_map(|(_, t)| docs(t))
        .collect();
    let policies = all
        .iter()
        .filter(|d| d["kind"] == "NetworkPolicy")
        .cloned()
        .collect();
    (all, policies)
}

/// A pod that sends traffic: its namespace's name and its labels.
struct Peer<'a> {
    namespace: &'a str,
    labels: &'a [(&'a str, &'a str)],
}

fn labels_match(selector: &Value, labels: &[(&str, &str)]) -> bool {
    let value = |key: &str| labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let by_label = selector["matchLabels"]
        .as_object()
        .map(|m| m.iter().all(|(k, v)| value(k) == v.as_str()))
        .unwrap_or(true);
    // `matchExpressions`: every one must hold (In, NotIn, Exists, DoesNotExist).
    let by_expression = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let got = value(e["key"].as_str().unwrap());
            let listed = |v: &str| {
                e["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|x| x.as_str() == Some(v))
            };
            match e["operator"].as_str().unwrap() {
                "In" => got.is_some_and(listed),
                "NotIn" => !got.is_some_and(listed),
                "Exists" => got.is_some(),
                "DoesNotExist" => got.is_none(),
                other => panic!("unknown selector operator {other}"),
            }
        });
    by_label && by_expression
}

/// Whether the namespace's NetworkPolicies let `from` reach a pod labelled `to` (in
/// namespace `ns`) on `port`, as the API's semantics say: a pod no policy selects is
/// open; a selected pod takes what any selecting policy's ingress rule allows.
fn ingress_allowed(
    policies: &[Value],
    ns: &str,
    to: &[(&str, &str)],
    from: &Peer,
    port: u64,
) -> bool {
    let selecting: Vec<&Value> = policies
        .iter()
        .filter(|p| labels_match(&p["spec"]["podSelector"], to))
        .collect();
    if selecting.is_empty() {
        return true;
    }
    selecting.iter().any(|p| {
        p["spec"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|rule| {
                let peer_ok = match rule["from"].as_array() {
                    None => true,
                    Some(peers) => peers.iter().any(|peer| {
                        let ns_ok = match peer.get("namespaceSelector") {
                            None => from.namespace == ns,
                            Some(sel) => labels_match(
                                sel,
                                &[("kubernetes.io/metadata.name", from.namespace)],
                            ),
                        };
                        let pod_ok = peer
                            .get("podSelector")
                            .is_none_or(|sel| labels_match(sel, from.labels));
                        ns_ok && pod_ok
                    }),
                };
                let port_ok = match rule["ports"].as_array() {
                    None => true,
                    Some(ports) => ports.iter().any(|p| p["port"].as_u64() == Some(port)),
                };
                peer_ok && port_ok
            })
    })
}

/// The Prometheus that serves an HPA its per-pod request rate (prometheus-adapter's)
/// runs in the `monitoring` namespace: the namespace's default-deny must let it scrape
/// the pods it reads, on the port their metrics are served on, and only those.
#[test]
fn a_monitoring_namespace_scrapes_what_the_request_rate_autoscalers_read() {
    let mut checked = 0;
    for (name, files) in bundles() {
        let (all, policies) = manifests_and_policies(&files);
        let ns = all
            .iter()
            .find(|d| d["kind"] == "Namespace")
            .and_then(|d| d["metadata"]["name"].as_str())
            .unwrap_or_default()
            .to_string();
        let prometheus = Peer {
            namespace: "monitoring",
            labels: &[("app.kubernetes.io/name", "prometheus")],
        };
        let stranger = Peer {
            namespace: "default",
            labels: &[("app.kubernetes.io/name", "prometheus")],
        };
        let neighbour = Peer {
            namespace: "monitoring",
            labels: &[("app.kubernetes.io/name", "grafana")],
        };
        // The Deployments an autoscaler reads a per-pod rate of, and those whose
        // service serves its own metrics (fastapi-celery's API, on its port).
        let mut targets: Vec<String> = all
            .iter()
            .filter(|d| d["kind"] == "HorizontalPodAutoscaler")
            .filter(|hpa| {
                hpa["spec"]["metrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| m["pods"]["metric"]["name"] == "http_requests_per_second")
            })
            .map(|hpa| {
                hpa["spec"]["scaleTargetRef"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        if name == "fastapi-celery.stage-3" {
            targets.push("api".into());
        }
        for target in &targets {
            let deployment = all
                .iter()
                .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == target.as_str())
                .unwrap();
            let pod_labels: Vec<(String, String)> = deployment["spec"]["template"]["metadata"]
                ["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let to: Vec<(&str, &str)> = pod_labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let container = &deployment["spec"]["template"]["spec"]["containers"][0];
            let ports: Vec<u64> = container["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["containerPort"].as_u64())
                .collect();
            let metrics_port = *ports.last().expect("a port to scrape");
            assert!(
                ingress_allowed(&policies, &ns, &to, &prometheus, metrics_port),
                "{name}: `{target}` serves metrics a Prometheus reads (its own, or the per-pod rate its autoscaler reads), but its NetworkPolicies keep the monitoring namespace from scraping port {metrics_port}"
            );
            assert!(
                !ingress_allowed(&policies, &ns, &to, &stranger, metrics_port),
                "{name}: `{target}`'s port {metrics_port} is open to any namespace"
            );
            assert!(
                !ingress_allowed(&policies, &ns, &to, &neighbour, metrics_port),
                "{name}: `{target}`'s port {metrics_port} is open to every pod of the monitoring namespace"
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "only {checked} scraped services checked");
}

/// Each service and datastore a Prometheus scrapes has a PodMonitor that reaches it:
/// its selector picks the pods (a datastore's: its primary's and replicas'), its port
/// names a container port of theirs (the one the NetworkPolicies open to the
/// monitoring namespace), and the series' job is the service's or datastore's name,
/// the `job` the alert rules select; every port opened to the monitoring namespace
/// is one a PodMonitor scrapes.
#[test]
fn pod_monitors_reach_the_pods_the_alerts_and_autoscalers_read() {
    let (mut checked, mut datastores) = (0, 0);
    for (name, files) in bundles() {
        let (all, policies) = manifests_and_policies(&files);
        let workloads: Vec<&Value> = all
            .iter()
            .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
            .collect();
        let pod_labels = |w: &Value| -> Vec<(String, String)> {
            w["spec"]["template"]["metadata"]["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        };
        let prometheus = Peer {
            namespace: "monitoring",
            labels: &[("app.kubernetes.io/name", "prometheus")],
        };
        let mut scraped: Vec<String> = Vec::new();
        for m in all.iter().filter(|d| d["kind"] == "PodMonitor") {
            let monitor = m["metadata"]["name"].as_str().unwrap();
            let endpoint = &m["spec"]["podMetricsEndpoints"][0];
            assert!(endpoint["path"].as_str().unwrap().starts_with('/'));
            let matched: Vec<&&Value> = workloads
                .iter()
                .filter(|w| {
                    let labels = pod_labels(w);
                    let labels: Vec<(&str, &str)> = labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    labels_match(&m["spec"]["selector"], &labels)
                })
                .collect();
            assert!(
                !matched.is_empty(),
                "{name}: PodMonitor {monitor} selects no pods"
            );
            for w in matched {
                let workload = w["metadata"]["name"].as_str().unwrap();
                let labels = pod_labels(w);
                let labels: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                // The job: set by a relabeling, else the value of its job label.
                let job = endpoint["relabelings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["targetLabel"] == "job")
                    .and_then(|r| r["replacement"].as_str())
                    .map(String::from)
                    .unwrap_or_else(|| {
                        let key = m["spec"]["jobLabel"].as_str().unwrap();
                        labels
                            .iter()
                            .find(|(k, _)| *k == key)
                            .unwrap()
                            .1
                            .to_string()
                    });
                assert_eq!(job, monitor, "{name}: {workload}'s series' job");
                let port = w["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                    .find(|p| p["name"] == endpoint["port"])
                    .and_then(|p| p["containerPort"].as_u64())
                    .unwrap_or_else(|| {
                        panic!(
                            "{name}: {monitor}'s PodMonitor names no container port of {workload}"
                        )
                    });
                assert!(
                    ingress_allowed(&policies, "", &labels, &prometheus, port),
                    "{name}: {workload}'s metrics port {port} is closed to the monitoring namespace"
                );
                if w["kind"] == "StatefulSet" {
                    datastores += 1;
                }
                scraped.push(workload.to_string());
                checked += 1;
            }
        }
        for p in &policies {
            let policy = p["metadata"]["name"].as_str().unwrap();
            if let Some(workload) = policy.strip_suffix("-metrics-from-monitoring") {
                assert!(
                    scraped.iter().any(|w| w == workload),
                    "{name}: {policy} opens a port no PodMonitor scrapes"
                );
            }
        }
    }
    assert!(checked >= 3, "only {checked} scraped workloads checked");
    assert!(
        datastores >= 3,
        "only {datastores} datastore workloads checked"
    );
}

/// A worker that scales on its queue and on CPU and memory: the ScaledObject carries
/// all three (KEDA's HPA takes the largest demand, as the docs promise); it had the
/// queue alone, the CPU and memory targets dropped without a word.
#[test]
fn a_scaled_object_keeps_the_cpu_and_memory_targets_beside_the_queue() {
    let set = common::render_text(
        "version: 1
name: q
targets: [kubernetes]
services:
  worker:
    kind: worker
    image: demo:1
    queue: { broker: jobs, name: work }
    uses: [jobs]
    resources: { cpu: 500m, memory: 512Mi }
    scaling: { min: 1, max: 6, target: { queue_depth: 20, cpu: 80, memory: 75 } }
datastores:
  jobs: { engine: redis, role: broker }
",
    );
    let docs = docs(set.get("default/kubernetes/worker.yaml").unwrap());
    assert!(docs.iter().all(|d| d["kind"] != "HorizontalPodAutoscaler"));
    let scaled = docs.iter().find(|d| d["kind"] == "ScaledObject").unwrap();
    let kinds: Vec<&str> = scaled["spec"]["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["redis", "cpu", "memory"]);
    // They read the resource metrics API, as an HPA would.
    assert!(set
        .get("default/kubernetes/README.md")
        .unwrap()
        .contains("metrics-server (the resource metrics API"));
    assert_eq!(
        scaled["spec"]["triggers"][1],
        serde_json::json!({ "type": "cpu", "metricType": "Utilization", "metadata": { "value": "80", "containerName": "worker" } })
    );
}
