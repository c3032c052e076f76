//! Live: automatic failover from the rendered `hosts` bundle of
//! `tests/fixtures/render/lab-failover.yaml` (phase `machines`) with Debian 12's
//! PostgreSQL 15, Patroni 3.0 and etcd 3.4: on each of three loopback machines
//! (127.0.0.51–53) an etcd member and Patroni from their rendered files; on the third
//! the rendered router (HAProxy) and PgBouncer. Rows are written through PgBouncer, one
//! committed transaction each, while the primary's Patroni and PostgreSQL are SIGKILLed:
//! a replica is promoted within 30 s, PgBouncer takes writes again through the router,
//! and every row whose commit was acknowledged is on the new primary (synchronous
//! replication). `etcdctl` shows the new leader's key; `patronictl` lists the cluster.
//!
//! Every server runs in the container's layout: the machine's rendered files at
//! /etc/tierform/postgres, its data at /var/lib/postgresql/data, its own socket folder
//! and /tmp. On Debian 12 (no root of its own) the mount points are created on the
//! machine, empty, if missing.

use crate::common;
use crate::live_data::{ok, wait_for, SERIAL};
use crate::live_postgres::{
    pg_path, postgres_dir, psql, APP_PASSWORD, MONITOR_PASSWORD, REPLICATION_PASSWORD,
    SUPERUSER_PASSWORD,
};
use tierform_lab as lab;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lab::{Lab, ServerSet, StartOptions};

const FIXTURE: &str = "tests/fixtures/render/lab-failover.yaml";
const CONF: &str = "/etc/tierform/postgres";
const POOLER_CONF: &str = "/etc/tierform/pgbouncer";
const DATA: &str = "/var/lib/postgresql/data";
const RUN: &str = "/var/run/postgresql";
const ETCD_DATA: &str = "/var/lib/etcd";
const API_PASSWORD: &str = "patroni-api pass";
const MACHINES: [&str; 3] = ["127.0.0.51", "127.0.0.52", "127.0.0.53"];
const NODES: [&str; 3] = ["db", "db-replica-1", "db-replica-2"];

/// Each machine's rendered files, by path inside its folder.
fn bundle() -> BTreeMap<&'static str, BTreeMap<String, String>> {
    let all = common::render_all(Path::new(FIXTURE));
    MACHINES
        .iter()
        .map(|m| {
            let prefix = format!("machines/hosts/{m}/");
            let files = all
                .iter()
                .filter_map(|(path, text)| {
                    Some((path.strip_prefix(&prefix)?.to_string(), text.to_string()))
                })
                .collect();
            (*m, files)
        })
        .collect()
}

/// Writes the files under `folder/` of `files` into `dir`, readable by every user.
fn write_folder(files: &BTreeMap<String, String>, folder: &str, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (rel, text) in files {
        if let Some(name) = rel.strip_prefix(folder) {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

fn api(machine: &str) -> SocketAddr {
    format!("{machine}:8008").parse().unwrap()
}

/// The members Patroni's REST API on `machine` lists, as (name, role, state).
fn members(machine: &str) -> Vec<(String, String, String)> {
    let Ok(r) = lab::http_get(api(machine), "/cluster", &[]) else {
        return Vec::new();
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&r.body) else {
        return Vec::new();
    };
    doc["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            (s("name"), s("role"), s("state"))
        })
        .collect()
}

fn status(machine: &str, path: &str) -> u16 {
    lab::http_get(api(machine), path, &[]).map_or(0, |r| r.status)
}

struct Cluster<'a> {
    set: &'a ServerSet,
    bin: String,
    dir: PathBuf,
}

impl Cluster<'_> {
    /// psql as the application through `host:port` to database `shop`.
    fn sql(&self, lab: &Lab, host: &str, port: u16, query: &str) -> std::process::Output {
        self.sql_in(lab, host, port, "shop", query)
    }

    fn sql_in(
        &self,
        lab: &Lab,
        host: &str,
        port: u16,
        dbname: &str,
        query: &str,
    ) -> std::process::Output {
        let conn = format!("host={host} port={port} dbname={dbname} user=shop connect_timeout=3");
        psql(lab, self.set, &self.bin, &conn, APP_PASSWORD, query)
    }
}

#[test]
fn patroni_on_debian12_promotes_a_replica_within_30_s_and_keeps_every_acknowledged_row() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let set = ServerSet::host();
    let Some(bin) = set.postgres_bin() else {
        return;
    };
    assert!(bin.contains("/15/"), "{bin}");
    let (
        Some(patroni),
        Some(patronictl),
        Some(etcd),
        Some(etcdctl),
        Some(haproxy),
        Some(pgbouncer),
    ) = (
        set.require("patroni"),
        set.require("patronictl"),
        set.require("etcd"),
        set.require("etcdctl"),
        set.require("haproxy"),
        set.require("pgbouncer"),
    )
    else {
        return;
    };
    if !lab::private_network() {
        return;
    }
    let mut lab = Lab::new();
    let files = bundle();
    let cluster = Cluster {
        set: &set,
        bin: bin.clone(),
        dir: lab.dir().to_path_buf(),
    };
    for target in [CONF, POOLER_CONF, DATA, RUN, ETCD_DATA] {
        std::fs::create_dir_all(target).unwrap();
    }
    let path = pg_path(&bin);

    // etcd: a member on each machine, from its rendered file.
    let mut etcd_pids = Vec::new();
    for (i, m) in MACHINES.iter().enumerate() {
        let conf = cluster.dir.join(format!("conf-{}", i + 1));
        write_folder(&files[m], "postgres/db/", &conf);
        let data = cluster.dir.join(format!("etcd-{}", i + 1));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        let config = format!("{CONF}/etcd-db-etcd-{}.yml", i + 1);
        let pid = lab.start_with(
            &format!("etcd-{}", i + 1),
            &[&etcd, "--config-file", &config],
            &[],
            StartOptions {
                binds: vec![(conf, CONF.into()), (data, ETCD_DATA.into())],
                ..Default::default()
            },
        );
        etcd_pids.push(pid);
    }
    let endpoints = format!(
        "--endpoints={}",
        MACHINES.map(|m| format!("http://{m}:2379")).join(",")
    );
    wait_for(
        "etcd's three members to be healthy",
        Duration::from_secs(60),
        || {
            lab.command(None, &[&etcdctl, &endpoints, "endpoint", "health"])
                .status()
                .is_ok_and(|s| s.success())
        },
    );
    for pid in &etcd_pids {
        lab.assert_loopback_only(*pid);
    }

    // Patroni on each machine, with the rendered compose file's environment: the same
    // variables, each secret given its value here.
    let compose = &files["127.0.0.51"]["docker-compose.yml"];
    assert!(
        compose.contains("PATRONI_RESTAPI_USERNAME: patroni\n"),
        "{compose}"
    );
    let given = [
        "PATRONI_SUPERUSER_PASSWORD",
        "PATRONI_REWIND_PASSWORD",
        "PATRONI_REPLICATION_PASSWORD",
        "PATRONI_RESTAPI_USERNAME",
        "PATRONI_RESTAPI_PASSWORD",
        "APP_PASSWORD",
        "MONITOR_PASSWORD",
    ];
    let service = &compose[compose.find("\n  db:\n").expect("service db")..];
    let block = &service[..service.find("\n    volumes:").expect("db's volumes")];
    let rendered: Vec<&str> = block
        .lines()
        .skip_while(|l| l.trim() != "environment:")
        .skip(1)
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k))
        .collect();
    assert_eq!(
        rendered, given,
        "db's environment in the rendered compose file"
    );
    // `name`: the server's name in the lab (its log); a restart gets a new one, and a
    // fresh socket folder, as a new container would.
    let start_patroni = |lab: &mut Lab, i: usize, name: &str| -> u32 {
        let m = MACHINES[i];
        let conf = cluster.dir.join(format!("conf-{}", i + 1));
        let data = cluster.dir.join(format!("data-{}", i + 1));
        let run = cluster.dir.join(format!("run-{name}"));
        postgres_dir(&set, &data, 0o700);
        postgres_dir(&set, &run, 0o2775);
        let node = NODES[i];
        assert!(files[m].contains_key(&format!("postgres/db/patroni-{node}.yml")));
        let config = format!("{CONF}/patroni-{node}.yml");
        lab.start_with(
            name,
            &[&patroni, &config],
            &[],
            StartOptions {
                binds: vec![(conf, CONF.into()), (data, DATA.into()), (run, RUN.into())],
                env: [
                    ("PATH", path.as_str()),
                    ("PATRONI_SUPERUSER_PASSWORD", SUPERUSER_PASSWORD),
                    ("PATRONI_REWIND_PASSWORD", SUPERUSER_PASSWORD),
                    ("PATRONI_REPLICATION_PASSWORD", REPLICATION_PASSWORD),
                    ("PATRONI_RESTAPI_USERNAME", "patroni"),
                    ("PATRONI_RESTAPI_PASSWORD", API_PASSWORD),
                    ("APP_PASSWORD", APP_PASSWORD),
                    ("MONITOR_PASSWORD", MONITOR_PASSWORD),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .to_vec(),
                user: Some("postgres".into()),
                root: None,
            },
        )
    };
    let logs = |lab: &Lab| {
        NODES
            .iter()
            .map(|n| format!("--- {n}:\n{}", lab.logs(n)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let first = start_patroni(&mut lab, 0, NODES[0]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while status(MACHINES[0], "/primary") != 200 {
        assert!(
            Instant::now() < deadline && lab.is_running(first),
            "the first server did not become the primary; logs:\n{}",
            logs(&lab)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut pids = vec![
        first,
        start_patroni(&mut lab, 1, NODES[1]),
        start_patroni(&mut lab, 2, NODES[2]),
    ];
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let m = members(MACHINES[0]);
        let streaming = m
            .iter()
            .filter(|(_, role, _)| role.contains("replica") || role == "sync_standby")
            .filter(|(_, _, state)| state == "streaming" || state == "running")
            .count();
        if streaming == 2 && m.iter().any(|(_, role, _)| role == "sync_standby") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas did not follow (members {m:?}); logs:\n{}",
            logs(&lab)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for pid in &pids {
        lab.assert_loopback_only(*pid);
    }
    let list = lab
        .command_with(
            &[&patronictl, "-c", &format!("{CONF}/patroni-db.yml"), "list"],
            StartOptions {
                binds: vec![(cluster.dir.join("conf-1"), CONF.into())],
                ..Default::default()
            },
        )
        .output()
        .unwrap();
    eprintln!("{}", ok(&list, "patronictl list"));

    // The router and PgBouncer, on the third machine.
    let third = &files[MACHINES[2]];
    let pooler = cluster.dir.join("pooler");
    write_folder(third, "pgbouncer/db/", &pooler);
    let router = lab.start_with(
        "router",
        &[&haproxy, "-W", "-db", "-f", &format!("{CONF}/router.cfg")],
        &[],
        StartOptions {
            binds: vec![(cluster.dir.join("conf-3"), CONF.into())],
            ..Default::default()
        },
    );
    let bouncer_path = format!(
        "{}:{}",
        Path::new(&pgbouncer).parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let bouncer = lab.start_with(
        "pgbouncer",
        &[
            "/bin/sh",
            &format!("{POOLER_CONF}/start.sh"),
            &format!("{POOLER_CONF}/pgbouncer.ini"),
        ],
        &[],
        StartOptions {
            binds: vec![(pooler, POOLER_CONF.into())],
            env: vec![
                ("PATH".into(), bouncer_path),
                ("APP_PASSWORD".into(), APP_PASSWORD.into()),
            ],
            user: Some("postgres".into()),
            root: None,
        },
    );
    wait_for("writes through PgBouncer", Duration::from_secs(30), || {
        cluster
            .sql(
                &lab,
                "127.0.0.53",
                6432,
                "CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY)",
            )
            .status
            .success()
    });
    lab.assert_loopback_only(router);
    lab.assert_loopback_only(bouncer);

    // Writes, one committed transaction each, before and through the loss.
    let mut acknowledged = Vec::new();
    let mut next = 1;
    let mut write = |lab: &Lab| -> bool {
        let out = cluster.sql(
            lab,
            "127.0.0.53",
            6432,
            &format!("INSERT INTO orders VALUES ({next})"),
        );
        let done = out.status.success();
        if done {
            acknowledged.push(next);
        }
        next += 1;
        done
    };
    for _ in 0..50 {
        assert!(write(&lab), "a write before the loss failed");
    }
    eprintln!("killing db (the primary): Patroni and PostgreSQL");
    let lost = pids.remove(0);
    for p in lab::descendants(lost).into_iter().chain([lost]) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .status();
    }
    let killed = Instant::now();
    // The writer goes on; the first new primary ends the wait.
    let mut promoted = None;
    let mut written_again = None;
    while written_again.is_none() {
        assert!(
            killed.elapsed() < Duration::from_secs(90),
            "no write went through within 90 s of the loss (promoted after {promoted:?}); logs:\n{}\n--- router:\n{}\n--- pgbouncer:\n{}",
            logs(&lab),
            lab.logs("router"),
            lab.logs("pgbouncer")
        );
        if promoted.is_none() && MACHINES[1..].iter().any(|m| status(m, "/primary") == 200) {
            promoted = Some(killed.elapsed());
        }
        if write(&lab) && promoted.is_some() {
            written_again = Some(killed.elapsed());
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let promoted = promoted.unwrap();
    let written_again = written_again.unwrap();
    eprintln!("a replica was promoted {promoted:?} after the loss; PgBouncer wrote again after {written_again:?}");
    assert!(
        promoted <= Duration::from_secs(30),
        "the promotion took {promoted:?}, more than 30 s"
    );
    for _ in 0..20 {
        assert!(write(&lab), "a write after the failover failed");
    }

    // Every acknowledged row is on the new primary.
    let new_primary = MACHINES[1..]
        .iter()
        .find(|m| status(m, "/primary") == 200)
        .expect("a primary");
    let out = cluster.sql(&lab, new_primary, 5432, "SELECT id FROM orders ORDER BY id");
    let rows: Vec<u32> = ok(&out, "the rows on the new primary")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let lost_rows: Vec<&u32> = acknowledged
        .iter()
        .filter(|id| !rows.contains(id))
        .collect();
    assert!(
        lost_rows.is_empty(),
        "{} acknowledged rows are missing on the new primary: {lost_rows:?}",
        lost_rows.len()
    );
    eprintln!(
        "{} acknowledged rows, all on the new primary {new_primary} ({} rows there)",
        acknowledged.len(),
        rows.len()
    );

    // etcd holds the new leader's name.
    let leader = lab
        .command(
            None,
            &[
                &etcdctl,
                &endpoints,
                "get",
                "/tierform/db/leader",
                "--print-value-only",
            ],
        )
        .output()
        .unwrap();
    let leader = ok(&leader, "etcdctl get the leader").trim().to_string();
    let i = MACHINES.iter().position(|m| m == new_primary).unwrap();
    assert_eq!(leader, NODES[i], "etcd's leader key");

    // Reads through PgBouncer's read-only database reach a replica (the router's
    // read port); the other replica follows the new primary and catches up.
    let expected = format!("{}|t", rows.len());
    let mut read = String::new();
    wait_for(
        "every row on the replicas, read through shop_ro",
        Duration::from_secs(60),
        || {
            let out = cluster.sql_in(
                &lab,
                "127.0.0.53",
                6432,
                "shop_ro",
                "SELECT count(*), pg_is_in_recovery() FROM orders",
            );
            read = String::from_utf8_lossy(&out.stdout).trim().to_string();
            out.status.success() && read == expected
        },
    );

    // The former primary comes back on its old data and rejoins as a replica of the
    // new one (pg_rewind, with the superuser's password).
    let _ = lab.is_running(lost);
    lab.stop(lost);
    let back = start_patroni(&mut lab, 0, "db-2");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let m = members(new_primary);
        if m.iter().any(|(name, role, state)| {
            name == "db" && role != "leader" && (state == "streaming" || state == "running")
        }) && status(MACHINES[0], "/replica") == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the former primary did not rejoin (members {m:?}); its log:\n{}",
            lab.logs("db-2")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("the former primary rejoined as a replica");
    pids.push(back);

    for pid in pids.into_iter().chain([router, bouncer]).chain(etcd_pids) {
        lab.stop(pid);
    }
}
