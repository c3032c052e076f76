//! Live: the rendered Redis Cluster through the events of its life, on each supported
//! Redis. A cluster that a phase grows takes in its new nodes (new masters get slots,
//! new replicas attach, no key is lost). A cluster on Kubernetes whose pods all restart
//! at once on new addresses, under the same names, comes back with no manual step.

use crate::live_data::{ok, SERIAL};
use tierform_lab as lab;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lab::{Lab, ServerSet, StartOptions};

const PASSWORD: &str = "life \"of\" a cluster";

/// A server set's Redis of `version` (checked), or `None` (the test skips).
fn redis(set: Option<ServerSet>, version: &str) -> Option<ServerSet> {
    let set = set?;
    set.require("redis-server")?;
    set.require("redis-cli")?;
    if !lab::private_network() {
        return None;
    }
    let server = set.require("redis-server")?;
    let booted = ok(
        &Lab::new()
            .command(set.root(), &[&server, "--version"])
            .output()
            .unwrap(),
        "redis-server --version",
    );
    assert!(
        booted.contains(&format!("v={version}.")),
        "{} boots {booted}, not Redis {version}",
        set.name()
    );
    Some(set)
}

/// `blueprint` rendered, written under the lab folder: each rendered file's path → its
/// path there. It renders Redis 8.0, the one version offered; Debian 12's Redis 7.0 is
/// booted but not offered (docs/versions.md), and must run those configs too.
fn render(lab: &Lab, blueprint: &str) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for (path, text) in crate::common::render_all(Path::new(blueprint)).iter() {
        let dest = lab.dir().join("out").join(path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, text).unwrap();
        out.insert(path.to_string(), dest);
    }
    out
}

fn cli(lab: &Lab, set: &ServerSet, addr: &str, args: &[&str]) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let mut argv = vec!["redis-cli", "-h", host, "-p", port];
    argv.extend(args);
    let out = lab
        .command(set.root(), &argv)
        .env("REDISCLI_AUTH", PASSWORD)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

/// Runs a rendered cluster-init.sh to its end, as its one-shot container would, with
/// `hosts` in its /etc/hosts.
fn cluster_init(
    lab: &mut Lab,
    set: &ServerSet,
    name: &str,
    script: &Path,
    hosts: &[(String, IpAddr)],
) -> String {
    let pid = lab.start_with(
        name,
        &["/bin/sh", script.to_str().unwrap()],
        hosts,
        StartOptions {
            env: vec![("REDISCLI_AUTH".into(), PASSWORD.into())],
            root: set.root().map(Path::to_path_buf),
            ..Default::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(180);
    while lab.is_running(pid) {
        assert!(
            Instant::now() < deadline,
            "{name} still runs after 180 s:\n{}",
            lab.logs(name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    lab.stop(pid);
    lab.logs(name)
}

/// Masters that serve slots, and replicas, in a `cluster nodes` answer.
fn shape(nodes: &str) -> (usize, usize) {
    let serving = nodes
        .lines()
        .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("master")))
        .filter(|l| l.split(' ').count() > 8)
        .count();
    (
        serving,
        nodes.lines().filter(|l| l.contains("slave")).count(),
    )
}

#[test]
fn redis_7_0_on_debian12_a_cluster_grown_by_a_phase_takes_in_its_new_nodes() {
    a_cluster_grown_by_a_phase_takes_in_its_new_nodes(Some(ServerSet::host()), "7.0");
}

#[test]
fn redis_8_0_on_debian13_a_cluster_grown_by_a_phase_takes_in_its_new_nodes() {
    a_cluster_grown_by_a_phase_takes_in_its_new_nodes(ServerSet::trixie(), "8.0");
}

fn a_cluster_grown_by_a_phase_takes_in_its_new_nodes(set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(set) = redis(set, version) else {
        return;
    };
    let mut lab = Lab::new();
    let files = render(&lab, "tests/fixtures/render/lab-redis-scale.yaml");
    // Each phase's nodes: id → (address, config, its machine's start.sh).
    let nodes = |phase: &str| -> BTreeMap<String, (String, PathBuf, PathBuf)> {
        let mut out = BTreeMap::new();
        for (path, dest) in &files {
            let Some(rest) = path.strip_prefix(&format!("{phase}/hosts/")) else {
                continue;
            };
            // The bundle's README.md and .gitignore are in no machine's folder.
            let Some((machine, rel)) = rest.split_once('/') else {
                continue;
            };
            let Some(conf) = rel
                .strip_prefix("redis/cache/")
                .filter(|f| f.ends_with(".conf"))
            else {
                continue;
            };
            let text = std::fs::read_to_string(dest).unwrap();
            let port = text.lines().find_map(|l| l.strip_prefix("port ")).unwrap();
            let start = files[&format!("{phase}/hosts/{machine}/redis/cache/start.sh")].clone();
            out.insert(
                conf.trim_end_matches(".conf").to_string(),
                (format!("{machine}:{port}"), dest.clone(), start),
            );
        }
        out
    };
    let (small, grown) = (nodes("small"), nodes("grown"));
    assert_eq!((small.len(), grown.len()), (3, 8));
    let init = |phase: &str| {
        files
            .iter()
            .find(|(p, _)| {
                p.starts_with(&format!("{phase}/hosts/")) && p.ends_with("cluster-init.sh")
            })
            .map(|(_, d)| d.clone())
            .expect("a cluster-init.sh")
    };
    let start = |lab: &mut Lab, id: &str, (addr, conf, script): &(String, PathBuf, PathBuf)| {
        let data = lab.dir().join(format!("{id}-data"));
        std::fs::create_dir_all(&data).unwrap();
        lab.start_with(
            id,
            &["/bin/sh", script.to_str().unwrap(), conf.to_str().unwrap()],
            &[],
            StartOptions {
                env: vec![
                    ("REDIS_PASSWORD".into(), PASSWORD.into()),
                    ("REDIS_DATA_DIR".into(), data.display().to_string()),
                ],
                root: set.root().map(Path::to_path_buf),
                ..Default::default()
            },
        );
        let sock: SocketAddr = addr.parse().unwrap();
        assert!(
            lab::wait_listening(sock, Duration::from_secs(10)),
            "{}",
            lab.logs(id)
        );
    };

    // The first phase: three masters, formed by its cluster-init, with keys in it.
    for (id, node) in &small {
        start(&mut lab, id, node);
    }
    let log = cluster_init(&mut lab, &set, "init-small", &init("small"), &[]);
    assert!(log.contains("cluster formed"), "{log}");
    let first = small["cache-1"].0.clone();
    for i in 0..200 {
        let out = cli(
            &lab,
            &set,
            &first,
            &["-c", "set", &format!("key:{i}"), &i.to_string()],
        );
        assert_eq!(out.trim(), "OK", "set key:{i}");
    }

    // The phase that grows it: the nodes it adds start, then its cluster-init runs.
    for (id, node) in grown.iter().filter(|(id, _)| !small.contains_key(*id)) {
        start(&mut lab, id, node);
    }
    let log = cluster_init(&mut lab, &set, "init-grown", &init("grown"), &[]);
    let nodes = cli(&lab, &set, &first, &["cluster", "nodes"]);
    let info = cli(&lab, &set, &first, &["cluster", "info"]);
    assert!(
        info.contains("cluster_known_nodes:8") && info.contains("cluster_state:ok"),
        "the grown cluster does not know its new nodes; cluster-init said:\n{log}\ncluster info:\n{info}\ncluster nodes:\n{nodes}"
    );
    assert_eq!(shape(&nodes), (4, 4), "{nodes}\ncluster-init said:\n{log}");
    // Every key is still there, wherever its slot went.
    for i in 0..200 {
        let out = cli(&lab, &set, &first, &["-c", "get", &format!("key:{i}")]);
        assert_eq!(out.trim(), i.to_string(), "key:{i}");
    }

    // Run again: nothing to add, nothing changes.
    let again = cluster_init(&mut lab, &set, "init-grown-again", &init("grown"), &[]);
    assert!(again.contains("nothing to do"), "{again}");
    let info = cli(&lab, &set, &first, &["cluster", "info"]);
    assert!(info.contains("cluster_known_nodes:8"), "{info}");
    drop(lab);
}

#[test]
fn redis_7_0_on_debian12_a_cluster_whose_pods_all_restart_on_new_addresses_comes_back() {
    a_cluster_whose_pods_all_restart_on_new_addresses_comes_back(Some(ServerSet::host()), "7.0");
}

#[test]
fn redis_8_0_on_debian13_a_cluster_whose_pods_all_restart_on_new_addresses_comes_back() {
    a_cluster_whose_pods_all_restart_on_new_addresses_comes_back(ServerSet::trixie(), "8.0");
}

fn a_cluster_whose_pods_all_restart_on_new_addresses_comes_back(
    set: Option<ServerSet>,
    version: &str,
) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(set) = redis(set, version) else {
        return;
    };
    let mut lab = Lab::new();
    let files = render(&lab, "tests/fixtures/render/lab-redis-k8s.yaml");
    let file = |name: &str| files[&format!("pods/kubernetes/redis/cache/{name}")].clone();
    let (conf, script, init) = (
        file("redis.conf"),
        file("start.sh"),
        file("cluster-init.sh"),
    );
    // A pod's own network: its address, given to the server as it binds (in a cluster
    // each pod has its own; here they share a loopback and the port).
    let server = set.require("redis-server").unwrap();
    let shim = lab.dir().join("pod-bin");
    std::fs::create_dir_all(&shim).unwrap();
    let wrapper = shim.join("redis-server");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {server} \"$@\" --bind \"$POD_IP\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let names: Vec<String> = (0..6)
        .map(|i| format!("cache-{i}.cache-headless.labk8s.svc.cluster.local"))
        .collect();
    let addresses = |base: u8| -> Vec<IpAddr> {
        (0..6u8)
            .map(|i| IpAddr::from([127, 0, 0, base + i]))
            .collect()
    };
    let pods = |lab: &mut Lab, round: &str, ips: &[IpAddr]| -> Vec<u32> {
        let hosts: Vec<(String, IpAddr)> = names.iter().cloned().zip(ips.iter().copied()).collect();
        let mut pids = Vec::new();
        for (i, (name, ip)) in hosts.iter().enumerate() {
            let data = lab.dir().join(format!("cache-{i}-data"));
            std::fs::create_dir_all(&data).unwrap();
            let path = format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                shim.display()
            );
            pids.push(lab.start_with(
                &format!("cache-{i}-{round}"),
                &["/bin/sh", script.to_str().unwrap(), conf.to_str().unwrap()],
                &hosts,
                StartOptions {
                    env: vec![
                        ("PATH".into(), path),
                        ("REDIS_PASSWORD".into(), PASSWORD.into()),
                        ("REDIS_DATA_DIR".into(), data.display().to_string()),
                        ("POD_IP".into(), ip.to_string()),
                        ("REDIS_ANNOUNCE_HOSTNAME".into(), name.clone()),
                    ],
                    root: set.root().map(Path::to_path_buf),
                    ..Default::default()
                },
            ));
            let sock = SocketAddr::new(*ip, 6379);
            assert!(
                lab::wait_listening(sock, Duration::from_secs(10)),
                "{}",
                lab.logs(&format!("cache-{i}-{round}"))
            );
        }
        pids
    };

    // Formed by its cluster-init, on the first addresses.
    let before = addresses(80);
    let pids = pods(&mut lab, "first", &before);
    let hosts: Vec<(String, IpAddr)> = names.iter().cloned().zip(before.iter().copied()).collect();
    let log = cluster_init(&mut lab, &set, "init", &init, &hosts);
    assert!(log.contains("cluster formed"), "{log}");

    // Every pod stops, and comes back on a new address under its old name.
    for pid in pids {
        lab.stop(pid);
    }
    let after = addresses(90);
    pods(&mut lab, "again", &after);
    let first = format!("{}:6379", after[0]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = cli(&lab, &set, &first, &["cluster", "info"]);
        let nodes = cli(&lab, &set, &first, &["cluster", "nodes"]);
        let connected = nodes.lines().filter(|l| l.contains(" connected")).count();
        if info.contains("cluster_state:ok") && connected == 6 && shape(&nodes) == (3, 3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not come back on its new addresses within 60 s:\n{info}\n{nodes}\nnode 0's nodes file:\n{}",
            std::fs::read_to_string(lab.dir().join("cache-0-data/nodes-6379.conf")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(lab);
}
