//! Live: the datastores of `tests/fixtures/render/lab-data.yaml` started for real from
//! its rendered `hosts` bundle (machines on 127.0.0.40–53), on each supported server
//! set (Debian 12's from the machine, Debian 13's from the trixie root; see
//! [`lab::ServerSet`]): a Redis Cluster forms with the declared shape and refuses
//! unauthenticated clients. The bundle is rendered with each datastore's `version` set
//! to the major the test boots. PostgreSQL and PgBouncer: `live_postgres.rs`.

use crate::common;
use tierform_lab as lab;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lab::{Lab, ServerSet, StartOptions};

const LAB: &str = "tests/fixtures/render/lab-data.yaml";
const REDIS_PASSWORD: &str = "redis pass: with \"quotes\" and \\ and $";

/// The datastore live tests share the lab's addresses: one at a time.
pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

/// The lab blueprint with each named datastore's `version` replaced, so the bundle
/// renders the version the test boots.
pub(crate) fn with_versions(text: &str, versions: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut in_datastores = false;
    let mut store = "";
    let mut replaced = 0;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_datastores = line == "datastores:";
        } else if in_datastores && line.starts_with("  ") && !line.starts_with("   ") {
            store = line.trim().trim_end_matches(':');
        }
        let wanted = versions.iter().find(|(name, _)| *name == store);
        match wanted {
            Some((_, v)) if in_datastores && line.starts_with("    version:") => {
                out.push_str(&format!("    version: \"{v}\"\n"));
                replaced += 1;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    assert_eq!(replaced, versions.len(), "not every version found");
    out
}

/// Writes the lab blueprint's hosts bundle, rendered with `versions` (datastore name,
/// version), into the lab folder; returns each machine's folder.
pub(crate) fn bundle(lab: &Lab, versions: &[(&str, &str)]) -> BTreeMap<String, PathBuf> {
    let text = with_versions(&std::fs::read_to_string(LAB).unwrap(), versions);
    let blueprint = lab.dir().join("blueprint.yaml");
    std::fs::write(&blueprint, text).unwrap();
    let set = common::render_all(&blueprint);
    let mut machines = BTreeMap::new();
    for (path, text) in set.iter() {
        // One phase, hosts only (and the phase's ARCHITECTURE.md).
        let Some(rest) = path.strip_prefix("data/hosts/") else {
            continue;
        };
        // The bundle's README.md and .gitignore are in no machine's folder.
        let Some((machine, rel)) = rest.split_once('/') else {
            continue;
        };
        let dir = lab.dir().join("bundle").join(machine);
        let dest = dir.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, text).unwrap();
        machines.insert(machine.to_string(), dir);
    }
    machines
}

pub(crate) fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The set's own redis-cli.
fn redis_cli(lab: &Lab, set: &ServerSet, args: &[&str]) -> Output {
    let mut argv = vec!["redis-cli"];
    argv.extend(args);
    lab.command(set.root(), &argv)
        .env("REDISCLI_AUTH", REDIS_PASSWORD)
        .output()
        .expect("redis-cli runs")
}

pub(crate) fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn redis_7_0_cluster_on_debian12_forms_from_the_rendered_configs() {
    // Redis 7.0 is booted but not offered (docs/versions.md): the configs rendered for
    // 8.0, the one version offered, must run on it too.
    a_redis_cluster_forms_from_the_rendered_configs(Some(ServerSet::host()), "7.0");
}

#[test]
fn redis_8_0_cluster_on_debian13_forms_from_the_rendered_configs() {
    a_redis_cluster_forms_from_the_rendered_configs(ServerSet::trixie(), "8.0");
}

fn a_redis_cluster_forms_from_the_rendered_configs(set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(set) = set else { return };
    let (Some(server), Some(_)) = (set.require("redis-server"), set.require("redis-cli")) else {
        return;
    };
    if !lab::private_network() {
        return;
    }
    let mut lab = Lab::new();
    let booted = ok(
        &lab.command(set.root(), &[&server, "--version"])
            .output()
            .unwrap(),
        "redis-server --version",
    );
    eprintln!("{}: {}", set.name(), booted.trim());
    assert!(
        booted.contains(&format!("v={version}.")),
        "{} boots {booted}, not Redis {version}",
        set.name()
    );
    let machines = bundle(&lab, &[("cache", "8.0")]);
    let mut nodes: Vec<SocketAddr> = Vec::new();
    let mut pids = Vec::new();
    for (machine, dir) in &machines {
        let redis = dir.join("redis/cache");
        if !redis.is_dir() {
            continue;
        }
        let mut confs: Vec<PathBuf> = std::fs::read_dir(&redis)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        confs.sort();
        for conf in confs {
            let id = conf.file_stem().unwrap().to_string_lossy().to_string();
            let port: u16 = std::fs::read_to_string(&conf)
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("port "))
                .unwrap()
                .parse()
                .unwrap();
            let data = lab.dir().join(format!("{id}-data"));
            std::fs::create_dir_all(&data).unwrap();
            let start = redis.join("start.sh");
            let pid = lab.start_with(
                &id,
                &["/bin/sh", start.to_str().unwrap(), conf.to_str().unwrap()],
                &[],
                StartOptions {
                    env: vec![
                        ("REDIS_PASSWORD".into(), REDIS_PASSWORD.into()),
                        ("REDIS_DATA_DIR".into(), data.to_str().unwrap().into()),
                    ],
                    root: set.root().map(Path::to_path_buf),
                    ..Default::default()
                },
            );
            nodes.push(format!("{machine}:{port}").parse().unwrap());
            pids.push(pid);
        }
    }
    assert_eq!(nodes.len(), 6, "3 masters × (1 + 1 replica)");
    for n in &nodes {
        assert!(n.ip().is_loopback());
        assert!(
            lab::wait_listening(*n, Duration::from_secs(10)),
            "{n} never listened:\n{}",
            lab.logs(&format!(
                "cache-{}",
                nodes.iter().position(|x| x == n).map_or(0, |i| i + 1)
            ))
        );
    }

    for pid in pids {
        lab.assert_loopback_only(pid);
    }

    // The password is required; it was never in a file tierform wrote.
    let first = nodes[0];
    let (host, port) = (first.ip().to_string(), first.port().to_string());
    let anonymous = lab
        .command(set.root(), &["redis-cli", "-h", &host, "-p", &port, "ping"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&anonymous.stdout).contains("NOAUTH"));
    for dir in machines.values() {
        for entry in common::files_under(dir) {
            let text = std::fs::read_to_string(&entry).unwrap();
            assert!(
                !text.contains(REDIS_PASSWORD),
                "{} holds the password",
                entry.display()
            );
        }
    }

    // The bootstrap forms the cluster, then finds it formed.
    let init = machines
        .values()
        .map(|d| d.join("redis/cache/cluster-init.sh"))
        .find(|p| p.is_file())
        .expect("one machine has the bootstrap");
    let run_init = || {
        lab.command(set.root(), &["/bin/sh", init.to_str().unwrap()])
            .env("REDISCLI_AUTH", REDIS_PASSWORD)
            .output()
            .unwrap()
    };
    let out = ok(&run_init(), "cluster-init");
    assert!(out.contains("cluster formed"), "{out}");
    let again = ok(&run_init(), "cluster-init, again");
    assert!(again.contains("nothing to do"), "{again}");

    let info = ok(
        &redis_cli(&lab, &set, &["-h", &host, "-p", &port, "cluster", "info"]),
        "cluster info",
    );
    let info = info.replace('\r', "");
    assert!(info.contains("cluster_state:ok"), "{info}");
    assert!(info.contains("cluster_size:3"), "{info}");
    assert!(info.contains("cluster_known_nodes:6"), "{info}");
    let topology = ok(
        &redis_cli(&lab, &set, &["-h", &host, "-p", &port, "cluster", "nodes"]),
        "cluster nodes",
    );
    let masters = topology.lines().filter(|l| l.contains("master")).count();
    let replicas: Vec<&str> = topology.lines().filter(|l| l.contains("slave")).collect();
    assert_eq!((masters, replicas.len()), (3, 3), "{topology}");
    assert!(
        replicas.iter().all(|l| l.contains("connected")),
        "{topology}"
    );
    for n in &nodes {
        let (h, p) = (n.ip().to_string(), n.port().to_string());
        let role = ok(
            &redis_cli(&lab, &set, &["-h", &h, "-p", &p, "info", "replication"]),
            "info replication",
        );
        if role.contains("role:slave") {
            wait_for(
                "a replica's link to its master",
                Duration::from_secs(10),
                || {
                    let r = redis_cli(&lab, &set, &["-h", &h, "-p", &p, "info", "replication"]);
                    String::from_utf8_lossy(&r.stdout).contains("master_link_status:up")
                },
            );
        }
        // A cache evicts LRU, with maxmemory from the memory limit (80% of 64Mi → 51Mi).
        let policy = ok(
            &redis_cli(
                &lab,
                &set,
                &["-h", &h, "-p", &p, "config", "get", "maxmemory-policy"],
            ),
            "config get",
        );
        assert!(policy.contains("allkeys-lru"), "{policy}");
        let max = ok(
            &redis_cli(
                &lab,
                &set,
                &["-h", &h, "-p", &p, "config", "get", "maxmemory"],
            ),
            "config get",
        );
        assert!(max.contains(&(51u64 * 1024 * 1024).to_string()), "{max}");
    }
    // Keys spread over the masters, reachable from any node.
    ok(
        &redis_cli(
            &lab,
            &set,
            &["-c", "-h", &host, "-p", &port, "set", "tierform:k", "v"],
        ),
        "set",
    );
    let last = nodes[5];
    let got = ok(
        &redis_cli(
            &lab,
            &set,
            &[
                "-c",
                "-h",
                &last.ip().to_string(),
                "-p",
                &last.port().to_string(),
                "get",
                "tierform:k",
            ],
        ),
        "get",
    );
    assert_eq!(got.trim(), "v");
    drop(lab);
}
