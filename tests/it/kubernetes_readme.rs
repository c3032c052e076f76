//! The Kubernetes bundle's README: the Secret's keys are rows of its table, under its
//! heading, before what the cluster needs.

use crate::common;

#[test]
fn secret_rows_are_in_the_secret_table() {
    let mut seen = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        for (name, text) in set.iter() {
            if !name.ends_with("/kubernetes/README.md") {
                continue;
            }
            seen += 1;
            let lines: Vec<&str> = text.lines().collect();
            let header = lines
                .iter()
                .position(|l| *l == "| key | read by |")
                .unwrap_or_else(|| panic!("{name}: no Secret table"));
            // The table is the header, its rule and one row per key, unbroken.
            let rows = lines[header + 2..]
                .iter()
                .take_while(|l| l.starts_with("| `"))
                .count();
            let all_rows = lines.iter().filter(|l| l.starts_with("| `")).count();
            assert!(rows > 0, "{name}: the Secret table has no rows:\n{text}");
            assert_eq!(
                rows, all_rows,
                "{name}: rows outside the Secret table:\n{text}"
            );
        }
    }
    assert!(seen >= 4, "{seen}");
}

/// The README's steps work in the order written on a fresh cluster: `kubectl -n NS
/// create secret` needs the namespace, which `apply -k` would create only later.
#[test]
fn the_namespace_is_created_before_the_secret() {
    let mut seen = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        for (name, text) in set.iter() {
            if !name.ends_with("/kubernetes/README.md") {
                continue;
            }
            seen += 1;
            let ns = text.find("kubectl apply -f namespace.yaml");
            let secret = text.find("create secret generic").unwrap();
            assert!(
                ns.is_some_and(|n| n < secret),
                "{name}: the Secret is created before its namespace:\n{text}"
            );
            let folder = name.trim_end_matches("README.md");
            assert!(
                set.get(&format!("{folder}namespace.yaml")).is_some(),
                "{name}: no namespace.yaml"
            );
        }
    }
    assert!(seen >= 4, "{seen}");
}

/// Every Kubernetes bundle's README, read as the person who deploys it:
/// - the steps come in the order they work: the namespace, the Secret, then
///   `kubectl apply -k .`, and nothing tells them to apply before the Secret exists;
/// - `secrets.env.example` beside it lists every key of the Secret table, empty;
/// - "the cluster needs" names metrics-server when an HPA scales on CPU or memory, a
///   LoadBalancer provider when a Service is of type LoadBalancer, and a custom-metrics
///   adapter with exactly the per-pod metrics the HPAs use.
#[test]
fn the_readme_is_a_deployment_in_order_with_what_the_cluster_needs() {
    let mut seen = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        for (name, text) in set.iter() {
            if !name.ends_with("/kubernetes/README.md") {
                continue;
            }
            seen += 1;
            let folder = name.trim_end_matches("README.md");
            let manifests: String = set
                .iter()
                .filter(|(p, _)| p.starts_with(folder) && p.ends_with(".yaml"))
                .map(|(_, t)| t)
                .collect();
            let at = |what: &str| {
                text.find(what)
                    .unwrap_or_else(|| panic!("{name}: no `{what}`:\n{text}"))
            };
            let secret = at("create secret generic");
            let apply = at("kubectl apply -k .");
            assert!(
                apply > secret,
                "{name}: apply -k comes before the Secret:\n{text}"
            );
            assert!(at("cp secrets.env.example secrets.env") < secret, "{name}");
            // The example holds every key of the table, with no value.
            let example = set
                .get(&format!("{folder}secrets.env.example"))
                .unwrap_or_else(|| panic!("{name}: no secrets.env.example"));
            let keys: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("| `"))
                .map(|l| &l[..l.find('`').unwrap()])
                .collect();
            let assigned: Vec<&str> = example
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(|l| {
                    l.strip_suffix('=')
                        .unwrap_or_else(|| panic!("{name}: `{l}` has a value"))
                })
                .collect();
            assert_eq!(assigned, keys, "{name}: secrets.env.example vs the table");
            let needs = &text[text.find("## The cluster needs").unwrap_or(text.len())..];
            let resource_hpa = manifests.contains("- type: Resource");
            assert_eq!(
                needs.contains("metrics-server"),
                resource_hpa,
                "{name}:\n{needs}"
            );
            let lb = manifests.contains("type: LoadBalancer");
            assert_eq!(needs.contains("LoadBalancer"), lb, "{name}:\n{needs}");
            for metric in ["http_requests_per_second", "active_connections"] {
                assert_eq!(
                    needs.contains(metric),
                    manifests.contains(&format!("name: {metric}")),
                    "{name}: {metric}:\n{needs}"
                );
            }
        }
    }
    assert!(seen >= 4, "{seen}");
}
