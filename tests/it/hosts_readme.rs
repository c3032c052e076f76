//! The hosts bundle's README: every machine folder, once, in an order that starts a
//! datastore's primary before its replicas and the datastores before what uses them.

use std::collections::BTreeMap;

use crate::common;

#[test]
fn every_machine_is_listed_once_in_a_start_order_that_works() {
    let mut seen = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        for (name, text) in set.iter() {
            let Some(bundle) = name.strip_suffix("/hosts/README.md") else {
                continue;
            };
            seen += 1;
            // step and what runs, by machine folder
            let mut rows: BTreeMap<String, (u32, String)> = BTreeMap::new();
            let mut last = 0;
            for line in text.lines().filter(|l| is_step_row(l)) {
                let cells: Vec<&str> = line.split(" | ").collect();
                let step: u32 = cells[0].trim_start_matches("| ").parse().unwrap();
                assert!(step >= last, "{name}: steps out of order:\n{text}");
                last = step;
                let folder = cells[1].trim_matches('`').trim_end_matches('/').to_string();
                assert!(
                    rows.insert(folder.clone(), (step, cells[2].to_string()))
                        .is_none(),
                    "{name}: {folder} listed twice"
                );
            }
            // The machine folders the bundle has: each with its compose file.
            let folders: std::collections::BTreeSet<String> = set
                .iter()
                .filter_map(|(p, _)| p.strip_prefix(&format!("{bundle}/hosts/")))
                // A standby region's machines are in its own bundle and README.
                .filter(|p| !p.starts_with("standby-"))
                .filter_map(|p| p.strip_suffix("/docker-compose.yml"))
                .map(str::to_string)
                .collect();
            assert_eq!(
                rows.keys()
                    .cloned()
                    .collect::<std::collections::BTreeSet<_>>(),
                folders,
                "{name}:\n{text}"
            );
            // A replica's or pooler's machine never starts before its primary's.
            let step_of = |id: &str| {
                rows.values()
                    .find(|(_, what)| what.contains(&format!("`{id}`")))
                    .map(|(s, _)| *s)
            };
            for (_, what) in rows.values() {
                for id in what
                    .split(", ")
                    .map(|w| w.trim_matches(|c| c == '`' || c == ' ' || c == '|'))
                {
                    if let Some((store, _)) = id
                        .split_once("-replica-")
                        .or_else(|| id.split_once("-pooler"))
                    {
                        if let (Some(mine), Some(primary)) = (step_of(id), step_of(store)) {
                            assert!(
                                primary <= mine,
                                "{name}: {id} starts before {store}:\n{text}"
                            );
                        }
                    }
                }
            }
            assert!(text.contains("docker compose up -d"), "{name}");
        }
    }
    assert!(seen >= 4, "{seen}");
}

/// The steps are numbered 1, 2, 3 … with no gap; the ports each machine must open to
/// the others (each datastore node's, a Redis Cluster node's bus port, each balanced
/// instance's) and to clients (the balancer's) are listed for that machine; and a
/// balancer on several machines comes with what to put in front of them.
#[test]
fn steps_are_dense_ports_are_listed_and_several_balancers_are_explained() {
    let mut seen = 0;
    for path in common::render_blueprints() {
        let (plans, set) = common::plans_and_render(&path);
        for plan in plans
            .iter()
            .filter(|p| p.platforms.contains(&tierform::Platform::Hosts))
        {
            let name = format!("{}/hosts/README.md", plan.phase);
            let text = set.get(&name).unwrap_or_else(|| panic!("{name}"));
            seen += 1;
            let mut steps: Vec<u32> = text
                .lines()
                .filter(|l| is_step_row(l))
                .map(|l| l[2..l.find(" |").unwrap()].parse().unwrap())
                .collect();
            steps.dedup();
            assert_eq!(
                steps,
                (1..=steps.len() as u32).collect::<Vec<_>>(),
                "{name}"
            );
            // machine -> (to machines, to clients), from the ports table.
            let ports = &text[text
                .find("## Ports to open")
                .unwrap_or_else(|| panic!("{name}:\n{text}"))..];
            let row = |machine: &str| -> (String, String) {
                let line = ports
                    .lines()
                    .find(|l| l.starts_with(&format!("| `{machine}` |")))
                    .unwrap_or_else(|| panic!("{name}: no ports row for {machine}:\n{ports}"));
                let cells: Vec<&str> = line.split(" | ").collect();
                (cells[1].to_string(), cells[2].to_string())
            };
            let has = |cell: &str, port: u16| {
                cell.split(|c: char| !c.is_ascii_digit())
                    .any(|p| p == port.to_string())
            };
            for store in plan.datastores.values() {
                let cluster = store.redis().is_some_and(|r| r.cluster);
                for node in store
                    .nodes
                    .get(&tierform::Platform::Hosts)
                    .into_iter()
                    .flatten()
                {
                    let (machines, _) = row(&node.machine);
                    assert!(
                        has(&machines, node.port),
                        "{name}: {} port {}: {machines}",
                        node.id,
                        node.port
                    );
                    if cluster {
                        assert!(
                            has(&machines, node.port + 10000),
                            "{name}: {} bus: {machines}",
                            node.id
                        );
                    }
                }
            }
            if let Some(lb) = &plan.balancer {
                for pool in lb.pools.values() {
                    for server in pool
                        .servers
                        .get(&tierform::Platform::Hosts)
                        .into_iter()
                        .flatten()
                    {
                        let (machines, _) = row(&server.node);
                        assert!(
                            has(&machines, server.port),
                            "{name}: {}: {machines}",
                            server.id
                        );
                    }
                }
                let nodes = lb
                    .nodes
                    .get(&tierform::Platform::Hosts)
                    .cloned()
                    .unwrap_or_default();
                for node in &nodes {
                    let (_, clients) = row(&node.host);
                    assert!(
                        has(&clients, node.port),
                        "{name}: balancer on {}: {clients}",
                        node.host
                    );
                }
                assert_eq!(
                    text.contains("virtual IP"),
                    nodes.len() > 1,
                    "{name}: {} balancer machines:\n{text}",
                    nodes.len()
                );
            }
        }
    }
    assert!(seen >= 3, "{seen}");
}

/// Each bundle's `.env.example` asks for exactly the secrets its `docker-compose.yml`
/// reads (`${NAME:?…}`): a machine is never asked for a password it does not use
/// (before: the PostgreSQL superuser password on every machine that ran a pooler).
#[test]
fn each_env_example_lists_exactly_what_its_compose_file_reads() {
    let reads = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?").unwrap();
    let mut seen = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        for (name, text) in set.iter() {
            let Some(dir) = name.strip_suffix("/.env.example") else {
                continue;
            };
            let dir = format!("{dir}/");
            seen += 1;
            let compose = set
                .get(&format!("{dir}docker-compose.yml"))
                .unwrap_or_else(|| panic!("{name}: no docker-compose.yml beside it"));
            let mut wanted: std::collections::BTreeSet<&str> = reads
                .captures_iter(compose)
                .map(|c| c.get(1).unwrap().as_str())
                .collect();
            // And the secrets compose mounts as files, from the environment.
            let doc = tierform::load_yaml(compose).unwrap().to_json();
            let from_env: Vec<String> = doc["secrets"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(|s| s["environment"].as_str().map(String::from))
                .collect();
            wanted.extend(from_env.iter().map(String::as_str));
            let asked: std::collections::BTreeSet<&str> = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(|l| l.trim_end_matches('='))
                .collect();
            assert_eq!(asked, wanted, "{}: {name}", path.display());
        }
    }
    assert!(seen >= 20, "{seen}");
}

/// Every bundle keeps the secret files its README has you fill in beside it (`.env`
/// for compose and hosts, `secrets.env` for Kubernetes) out of git: `render --check`
/// in CI means the output folder is committed, and those files hold real passwords.
#[test]
fn every_bundle_ignores_the_secret_files_filled_in_beside_it() {
    let mut seen = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        let bundles: std::collections::BTreeSet<String> = set
            .iter()
            .filter_map(|(p, _)| {
                let parts: Vec<&str> = p.splitn(3, '/').collect();
                (parts.len() == 3).then(|| format!("{}/{}", parts[0], parts[1]))
            })
            .collect();
        for bundle in bundles {
            seen += 1;
            let ignore = set
                .get(&format!("{bundle}/.gitignore"))
                .unwrap_or_else(|| panic!("{}: {bundle} has no .gitignore", path.display()));
            let patterns: Vec<&str> = ignore.lines().filter(|l| !l.starts_with('#')).collect();
            let secret_file = if bundle.ends_with("/kubernetes") {
                "secrets.env"
            } else {
                ".env"
            };
            assert_eq!(patterns, [secret_file], "{bundle}");
        }
    }
    assert!(seen >= 30, "{seen}");
}

/// A row of the start-order table: `| 1 | `10.0.1.11/` | … |` (the GPU table names
/// machine folders too, but has no step).
fn is_step_row(line: &str) -> bool {
    line.starts_with("| ")
        && line.contains("/` |")
        && line[2..].starts_with(|c: char| c.is_ascii_digit())
}
