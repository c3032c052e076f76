//! Live: the datastores of `tests/fixtures/render/lab-data.yaml` started for real from
//! its rendered `hosts` bundle (machines on 127.0.0.40–53): a Redis Cluster forms with
//! the declared shape and refuses unauthenticated clients; a PostgreSQL primary and a
//! streaming replica start from the rendered configs and scripts, the replica reads
//! what the primary writes and refuses writes; PgBouncer serves the read-write and the
//! read-only database and refuses a wrong password. Also: `postgres -C` accepts every
//! rendered postgresql.conf of every blueprint.

use crate::common;
use tierform_lab as lab;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lab::{Lab, StartOptions};

pub(crate) const LAB: &str = "tests/fixtures/render/lab-data.yaml";
const REDIS_PASSWORD: &str = "redis pass: with \"quotes\" and \\ and $";
pub(crate) const SUPERUSER_PASSWORD: &str = "super secret";
pub(crate) const APP_PASSWORD: &str = "app's pass:word $1";
pub(crate) const REPLICATION_PASSWORD: &str = "repl:pass\\word";

pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

/// Writes the lab blueprint's hosts bundle into the lab folder; returns each machine's
/// folder.
pub(crate) fn bundle(lab: &Lab) -> BTreeMap<String, PathBuf> {
    let set = common::render_all(Path::new(LAB));
    let mut machines = BTreeMap::new();
    for (path, text) in set.iter() {
        // One phase, hosts only (and the phase's ARCHITECTURE.md).
        let Some(rest) = path.strip_prefix("data/hosts/") else {
            continue;
        };
        let (machine, rel) = rest.split_once('/').unwrap();
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

fn redis_cli(args: &[&str]) -> Output {
    Command::new("redis-cli")
        .env("REDISCLI_AUTH", REDIS_PASSWORD)
        .args(args)
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
fn a_redis_cluster_forms_from_the_rendered_configs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(_), Some(_)) = (lab::require("redis-server"), lab::require("redis-cli")) else {
        return;
    };
    if !lab::require_isolation() {
        return;
    }
    let mut lab = Lab::new();
    let machines = bundle(&lab);
    let mut nodes: Vec<SocketAddr> = Vec::new();
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
            lab.start_with(
                &id,
                &["/bin/sh", start.to_str().unwrap(), conf.to_str().unwrap()],
                &[],
                StartOptions {
                    env: vec![
                        ("REDIS_PASSWORD".into(), REDIS_PASSWORD.into()),
                        ("REDIS_DATA_DIR".into(), data.to_str().unwrap().into()),
                    ],
                    ..Default::default()
                },
            );
            nodes.push(format!("{machine}:{port}").parse().unwrap());
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

    // The password is required; it was never in a file tierform wrote.
    let first = nodes[0];
    let (host, port) = (first.ip().to_string(), first.port().to_string());
    let anonymous = Command::new("redis-cli")
        .args(["-h", &host, "-p", &port, "ping"])
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
        Command::new("/bin/sh")
            .arg(&init)
            .env("REDISCLI_AUTH", REDIS_PASSWORD)
            .output()
            .unwrap()
    };
    let out = ok(&run_init(), "cluster-init");
    assert!(out.contains("cluster formed"), "{out}");
    let again = ok(&run_init(), "cluster-init, again");
    assert!(again.contains("nothing to do"), "{again}");

    let info = ok(
        &redis_cli(&["-h", &host, "-p", &port, "cluster", "info"]),
        "cluster info",
    );
    let info = info.replace('\r', "");
    assert!(info.contains("cluster_state:ok"), "{info}");
    assert!(info.contains("cluster_size:3"), "{info}");
    assert!(info.contains("cluster_known_nodes:6"), "{info}");
    let topology = ok(
        &redis_cli(&["-h", &host, "-p", &port, "cluster", "nodes"]),
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
            &redis_cli(&["-h", &h, "-p", &p, "info", "replication"]),
            "info replication",
        );
        if role.contains("role:slave") {
            wait_for(
                "a replica's link to its master",
                Duration::from_secs(10),
                || {
                    let r = redis_cli(&["-h", &h, "-p", &p, "info", "replication"]);
                    String::from_utf8_lossy(&r.stdout).contains("master_link_status:up")
                },
            );
        }
        // A cache evicts LRU, with maxmemory from the memory limit (80% of 64Mi → 51Mi).
        let policy = ok(
            &redis_cli(&["-h", &h, "-p", &p, "config", "get", "maxmemory-policy"]),
            "config get",
        );
        assert!(policy.contains("allkeys-lru"), "{policy}");
        let max = ok(
            &redis_cli(&["-h", &h, "-p", &p, "config", "get", "maxmemory"]),
            "config get",
        );
        assert!(max.contains(&(51u64 * 1024 * 1024).to_string()), "{max}");
    }
    // Keys spread over the masters, reachable from any node.
    ok(
        &redis_cli(&["-c", "-h", &host, "-p", &port, "set", "tierform:k", "v"]),
        "set",
    );
    let last = nodes[5];
    let got = ok(
        &redis_cli(&[
            "-c",
            "-h",
            &last.ip().to_string(),
            "-p",
            &last.port().to_string(),
            "get",
            "tierform:k",
        ]),
        "get",
    );
    assert_eq!(got.trim(), "v");
    drop(lab);
}

/// The PostgreSQL server binaries (Debian keeps them off PATH).
pub(crate) fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("postgres").is_file())
        .collect();
    dirs.sort();
    let found = dirs.pop();
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "postgresql is required in CI: .ci/run installs it"
        );
        eprintln!("skipping: postgresql not installed");
    }
    found
}

/// A folder the postgres user owns.
pub(crate) fn postgres_dir(path: &Path, mode: u32) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    let status = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

pub(crate) fn psql(bin: &Path, conn: &str, password: &str, sql: &str) -> Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("psql"))
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            conn,
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .unwrap()
}

pub(crate) fn pg_path(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn postgres_primary_replica_and_pgbouncer_from_the_rendered_configs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bin) = pg_bin() else { return };
    let Some(pgbouncer) = lab::require("pgbouncer") else {
        return;
    };
    if !lab::require_isolation() {
        return;
    }
    let mut lab = Lab::new();
    let machines = bundle(&lab);
    let primary_conf = machines["127.0.0.41"].join("postgres/db");
    let replica_conf = machines["127.0.0.42"].join("postgres/db");
    let pooler_conf = machines["127.0.0.41"].join("pgbouncer/db");
    for dir in [&primary_conf, &replica_conf, &pooler_conf] {
        for f in common::files_under(dir) {
            let text = std::fs::read_to_string(&f).unwrap();
            for secret in [SUPERUSER_PASSWORD, APP_PASSWORD, REPLICATION_PASSWORD] {
                assert!(!text.contains(secret));
            }
        }
    }

    // The primary: initdb as the postgres image's entrypoint does, then the rendered
    // config and hba, then the rendered first-start script.
    let primary_data = lab.dir().join("primary-data");
    postgres_dir(&primary_data, 0o700);
    let primary_run = lab.dir().join("primary-run");
    postgres_dir(&primary_run, 0o755);
    let pwfile = lab.dir().join("pwfile");
    std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
    std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let initdb = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("initdb"))
        .arg("-D")
        .arg(&primary_data)
        .args(["-U", "postgres", "--auth=scram-sha-256"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .output()
        .unwrap();
    ok(&initdb, "initdb");
    let postgres = bin.join("postgres");
    let primary_args = [
        postgres.to_str().unwrap().to_string(),
        "-D".into(),
        primary_data.to_str().unwrap().into(),
        "-c".into(),
        format!("config_file={}/postgresql.conf", primary_conf.display()),
        "-c".into(),
        format!("hba_file={}/pg_hba.conf", primary_conf.display()),
    ];
    let argv: Vec<&str> = primary_args.iter().map(String::as_str).collect();
    lab.start_with(
        "db",
        &argv,
        &[],
        StartOptions {
            binds: vec![(primary_run.clone(), "/var/run/postgresql".into())],
            user: Some("postgres".into()),
            ..Default::default()
        },
    );
    let primary: SocketAddr = "127.0.0.41:5432".parse().unwrap();
    assert!(
        lab::wait_listening(primary, Duration::from_secs(30)),
        "{}",
        lab.logs("db")
    );
    // The TCP listener comes up before the server accepts connections; the scripts
    // use the Unix socket. Wait until it answers "accepting connections".
    wait_for(
        "the primary to accept connections",
        Duration::from_secs(30),
        || {
            Command::new(bin.join("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(&primary_run)
                .args(["-p", "5432"])
                .status()
                .is_ok_and(|s| s.success())
        },
    );
    let init = Command::new("runuser")
        .args(["-u", "postgres", "--", "/bin/sh"])
        .arg(primary_conf.join("init-primary.sh"))
        .env("PATH", pg_path(&bin))
        .env("PGHOST", &primary_run)
        .env("PGPORT", "5432")
        .env("PGUSER", "postgres")
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .env("APP_PASSWORD", APP_PASSWORD)
        .env("REPLICATION_PASSWORD", REPLICATION_PASSWORD)
        .output()
        .unwrap();
    ok(&init, "init-primary.sh");

    // The replica: the rendered start script copies the primary and streams from it.
    let replica_data = lab.dir().join("replica-data");
    postgres_dir(&replica_data, 0o700);
    let replica_run = lab.dir().join("replica-run");
    postgres_dir(&replica_run, 0o755);
    let script = replica_conf.join("start-db-replica-1.sh");
    lab.start_with(
        "db-replica-1",
        &["/bin/sh", script.to_str().unwrap()],
        &[],
        StartOptions {
            binds: vec![(replica_run.clone(), "/var/run/postgresql".into())],
            env: vec![
                ("PATH".into(), pg_path(&bin)),
                ("PGDATA".into(), replica_data.to_str().unwrap().into()),
                (
                    "TIERFORM_CONF".into(),
                    replica_conf.to_str().unwrap().into(),
                ),
                ("REPLICATION_PASSWORD".into(), REPLICATION_PASSWORD.into()),
            ],
            user: Some("postgres".into()),
        },
    );
    let replica: SocketAddr = "127.0.0.42:5432".parse().unwrap();
    assert!(
        lab::wait_listening(replica, Duration::from_secs(60)),
        "{}",
        lab.logs("db-replica-1")
    );

    let on = |run: &Path, db: &str, user: &str| {
        format!("host={} port=5432 dbname={db} user={user}", run.display())
    };
    wait_for("the replica to stream", Duration::from_secs(30), || {
        let out = psql(
            &bin,
            &on(&primary_run, "postgres", "postgres"),
            SUPERUSER_PASSWORD,
            "SELECT application_name || ' ' || state FROM pg_stat_replication",
        );
        String::from_utf8_lossy(&out.stdout).contains("db-replica-1 streaming")
    });
    let slot = ok(
        &psql(
            &bin,
            &on(&primary_run, "postgres", "postgres"),
            SUPERUSER_PASSWORD,
            "SELECT slot_name, active FROM pg_replication_slots",
        ),
        "slots",
    );
    assert_eq!(slot.trim(), "db_replica_1|t");

    // Written on the primary by the application's role, read on the replica.
    ok(
        &psql(
            &bin,
            &on(&primary_run, "shop", "shop"),
            APP_PASSWORD,
            "CREATE TABLE orders (id int primary key); INSERT INTO orders VALUES (42)",
        ),
        "write on the primary",
    );
    wait_for("the row on the replica", Duration::from_secs(15), || {
        let out = psql(
            &bin,
            &on(&replica_run, "shop", "shop"),
            APP_PASSWORD,
            "SELECT id FROM orders",
        );
        String::from_utf8_lossy(&out.stdout).trim() == "42"
    });
    let refused = psql(
        &bin,
        &on(&replica_run, "shop", "shop"),
        APP_PASSWORD,
        "INSERT INTO orders VALUES (43)",
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("read-only transaction"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // PgBouncer: read-write to the primary, read-only to the replica, wrong password refused.
    let script = pooler_conf.join("start.sh");
    let ini = pooler_conf.join("pgbouncer.ini");
    lab.start_with(
        "db-pgbouncer",
        &["/bin/sh", script.to_str().unwrap(), ini.to_str().unwrap()],
        &[],
        StartOptions {
            env: vec![
                (
                    "PATH".into(),
                    format!(
                        "{}:{}",
                        pgbouncer.parent().unwrap().display(),
                        pg_path(&bin)
                    ),
                ),
                ("APP_PASSWORD".into(), APP_PASSWORD.into()),
            ],
            user: Some("postgres".into()),
            ..Default::default()
        },
    );
    let pooler: SocketAddr = "127.0.0.41:6432".parse().unwrap();
    assert!(
        lab::wait_listening(pooler, Duration::from_secs(15)),
        "{}",
        lab.logs("db-pgbouncer")
    );
    let via = |db: &str| format!("host=127.0.0.41 port=6432 dbname={db} user=shop");
    let rw = ok(
        &psql(
            &bin,
            &via("shop"),
            APP_PASSWORD,
            "INSERT INTO orders VALUES (7); SELECT pg_is_in_recovery()",
        ),
        "read-write through PgBouncer",
    );
    assert_eq!(rw.trim(), "f");
    wait_for(
        "the new row through the read-only database",
        Duration::from_secs(15),
        || {
            let out = psql(
                &bin,
                &via("shop_ro"),
                APP_PASSWORD,
                "SELECT pg_is_in_recovery(), count(*) FROM orders",
            );
            String::from_utf8_lossy(&out.stdout).trim() == "t|2"
        },
    );
    let wrong = psql(&bin, &via("shop"), "not the password", "SELECT 1");
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("authentication failed"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );

    // Stop in order: the pool, the replica, then the primary (each by its PID).
    drop(lab);
}

#[test]
fn postgres_accepts_every_rendered_postgresql_conf() {
    let Some(bin) = pg_bin() else { return };
    let scratch = lab::scratch_dir();
    let empty = scratch.path().join("empty-data");
    postgres_dir(&empty, 0o700);
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut checked = 0;
    for path in common::render_blueprints() {
        for (file, text) in common::render_all(&path).iter() {
            if !file.ends_with("/postgresql.conf") {
                continue;
            }
            let conf = scratch.path().join(format!("{checked}.conf"));
            std::fs::write(&conf, text).unwrap();
            std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
            let out = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(bin.join("postgres"))
                .arg("-D")
                .arg(&empty)
                .args(["-C", "shared_buffers"])
                .arg("-c")
                .arg(format!("config_file={}", conf.display()))
                .output()
                .unwrap();
            ok(&out, &format!("postgres -C for {} {file}", path.display()));
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} postgresql.conf files");
}
