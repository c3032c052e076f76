//! Live: the rendered datastore setups through the events of their life, not only
//! their first start. A PostgreSQL replica whose first copy of the primary is cut
//! short (SIGKILL: an eviction, the OOM killer, a startup probe) starts over and
//! streams at its next start, and one told to stop (SIGTERM) while it copies stops at
//! once even as PID 1. A Redis Cluster that a phase grows takes in its new nodes:
//! new masters get slots, new replicas attach, no key is lost. A primary on a small
//! disk whose replica is away keeps running through sustained writes.

use crate::live_data::{
    bundle, ok, pg_bin, pg_path, postgres_dir, psql, wait_for, APP_PASSWORD, REPLICATION_PASSWORD,
    SERIAL, SUPERUSER_PASSWORD,
};
use tierform_lab as lab;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, StartOptions};

/// Starts the lab bundle's primary (`db` on 127.0.0.41) as the postgres image would:
/// initdb, the rendered config and hba, then the rendered first-start script. Returns
/// its socket folder.
fn start_primary(lab: &mut Lab, bin: &Path, conf: &Path, data: &Path) -> PathBuf {
    postgres_dir(data, 0o700);
    let run = lab.dir().join("primary-run");
    postgres_dir(&run, 0o755);
    let pwfile = lab.dir().join("pwfile");
    std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
    std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let initdb = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("initdb"))
        .arg("-D")
        .arg(data)
        .args(["-U", "postgres", "--auth=scram-sha-256"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .output()
        .unwrap();
    ok(&initdb, "initdb");
    let args = [
        bin.join("postgres").display().to_string(),
        "-D".into(),
        data.display().to_string(),
        "-c".into(),
        format!("config_file={}/postgresql.conf", conf.display()),
        "-c".into(),
        format!("hba_file={}/pg_hba.conf", conf.display()),
    ];
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.start_with(
        "db",
        &argv,
        &[],
        StartOptions {
            binds: vec![(run.clone(), "/var/run/postgresql".into())],
            user: Some("postgres".into()),
            ..Default::default()
        },
    );
    wait_for(
        "the primary to accept connections",
        Duration::from_secs(30),
        || {
            Command::new(bin.join("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(&run)
                .args(["-p", "5432"])
                .status()
                .is_ok_and(|s| s.success())
        },
    );
    let init = Command::new("runuser")
        .args(["-u", "postgres", "--", "/bin/sh"])
        .arg(conf.join("init-primary.sh"))
        .env("PATH", pg_path(bin))
        .env("PGHOST", &run)
        .env("PGPORT", "5432")
        .env("PGUSER", "postgres")
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .env("APP_PASSWORD", APP_PASSWORD)
        .env("REPLICATION_PASSWORD", REPLICATION_PASSWORD)
        .output()
        .unwrap();
    ok(&init, "init-primary.sh");
    run
}

fn on(run: &Path, db: &str, user: &str) -> String {
    format!("host={} port=5432 dbname={db} user={user}", run.display())
}

/// A `pg_basebackup` that copies at 2 MB/s, first on `PATH`: a copy of the primary's
/// tens of megabytes then takes long enough to be cut short midway.
fn slow_copy(lab: &Lab, bin: &Path) -> PathBuf {
    let dir = lab.dir().join("slow-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let wrapper = dir.join("pg_basebackup");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} --max-rate=2M \"$@\"\n",
            bin.join("pg_basebackup").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The lab's primary with about 40 MB in `big`, and the replica's start script and
/// environment (its data folder one level below a folder the postgres user owns).
struct Setup {
    bin: PathBuf,
    primary_run: PathBuf,
    script: PathBuf,
    env: Vec<(String, String)>,
    data: PathBuf,
}

fn setup(lab: &mut Lab) -> Option<Setup> {
    let bin = pg_bin()?;
    if !lab::private_network() {
        return None;
    }
    let machines = bundle(lab);
    let primary_conf = machines["127.0.0.41"].join("postgres/db");
    let replica_conf = machines["127.0.0.42"].join("postgres/db");
    let data = lab.dir().join("primary-data");
    let primary_run = start_primary(lab, &bin, &primary_conf, &data);
    ok(
        &psql(
            &bin,
            &on(&primary_run, "shop", "shop"),
            APP_PASSWORD,
            "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 30) AS pad FROM generate_series(1, 40000) g",
        ),
        "fill the primary",
    );
    let volume = lab.dir().join("replica-volume");
    postgres_dir(&volume, 0o700);
    let data = volume.join("pgdata");
    let env = vec![
        ("PGDATA".to_string(), data.display().to_string()),
        (
            "TIERFORM_CONF".to_string(),
            replica_conf.display().to_string(),
        ),
        (
            "REPLICATION_PASSWORD".to_string(),
            REPLICATION_PASSWORD.to_string(),
        ),
    ];
    Some(Setup {
        script: replica_conf.join("start-db-replica-1.sh"),
        bin,
        primary_run,
        env,
        data,
    })
}

/// Whether a copy has begun: `PG_VERSION`, which pg_basebackup writes early, is in the
/// data folder or in a folder beside it.
fn copy_began(data: &Path) -> bool {
    let parent = data.parent().unwrap();
    std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("PG_VERSION").exists())
}

fn signal(sig: &str, pids: &[u32]) {
    for pid in pids {
        let _ = Command::new("kill")
            .args([sig, &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn a_replica_whose_first_copy_was_killed_copies_again_and_streams() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new();
    let Some(s) = setup(&mut lab) else { return };
    let slow = slow_copy(&lab, &s.bin);

    // First start: the copy is killed midway, with everything it started.
    let mut env = s.env.clone();
    env.push((
        "PATH".into(),
        format!("{}:{}", slow.display(), pg_path(&s.bin)),
    ));
    let first = lab.start_with(
        "db-replica-1",
        &["/bin/sh", s.script.to_str().unwrap()],
        &[],
        StartOptions {
            env,
            user: Some("postgres".into()),
            ..Default::default()
        },
    );
    wait_for("the copy to begin", Duration::from_secs(60), || {
        copy_began(&s.data)
    });
    std::thread::sleep(Duration::from_secs(2));
    let mut tree = lab::descendants(first);
    tree.push(first);
    signal("-KILL", &tree);
    lab.stop(first);

    // Next start, at full speed: it must copy again and stream, with no manual step.
    let mut env = s.env.clone();
    env.push(("PATH".into(), pg_path(&s.bin)));
    let replica_run = lab.dir().join("replica-run");
    postgres_dir(&replica_run, 0o755);
    lab.start_with(
        "db-replica-1-again",
        &["/bin/sh", s.script.to_str().unwrap()],
        &[],
        StartOptions {
            binds: vec![(replica_run.clone(), "/var/run/postgresql".into())],
            env,
            user: Some("postgres".into()),
        },
    );
    let streams = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = psql(
                &s.bin,
                &on(&s.primary_run, "postgres", "postgres"),
                SUPERUSER_PASSWORD,
                "SELECT application_name || ' ' || state FROM pg_stat_replication",
            );
            if String::from_utf8_lossy(&out.stdout).contains("db-replica-1 streaming") {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    assert!(
        streams,
        "the replica does not stream after its interrupted copy; its log:\n{}",
        lab.logs("db-replica-1-again")
    );
    let rows = ok(
        &psql(
            &s.bin,
            &on(&replica_run, "shop", "shop"),
            APP_PASSWORD,
            "SELECT count(*) FROM big",
        ),
        "read the copied table on the replica",
    );
    assert_eq!(rows.trim(), "40000");
    drop(lab);
}

/// `sh` as PID 1 of a new PID namespace, as in a container, running as postgres.
fn as_pid_one(script: &Path, env: &[(String, String)], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "--mount-proc"])
        .args([
            "setpriv",
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "/bin/sh",
        ])
        .arg(script)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("unshare runs")
}

#[test]
fn a_replica_told_to_stop_while_it_copies_stops_at_once_as_pid_one() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new();
    let Some(s) = setup(&mut lab) else { return };
    let slow = slow_copy(&lab, &s.bin);
    let mut env = s.env.clone();
    env.push((
        "PATH".into(),
        format!("{}:{}", slow.display(), pg_path(&s.bin)),
    ));
    let log = lab.dir().join("pid-one.log");
    let mut child = as_pid_one(&s.script, &env, &log);
    // unshare's child is the namespace's PID 1: the script's shell.
    let init = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pid) = lab::descendants(child.id()).first().copied() {
                break pid;
            }
            assert!(Instant::now() < deadline, "no PID 1 under unshare");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("the copy to begin", Duration::from_secs(60), || {
        copy_began(&s.data)
    });
    signal("-TERM", &[init]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let stopped = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if stopped.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        stopped.is_some(),
        "PID 1 ignored SIGTERM: still copying 10 s later; log:\n{log}"
    );
    assert!(
        !s.data.join("PG_VERSION").exists(),
        "a stopped copy left a data folder that passes for complete"
    );
    drop(lab);
}

const SCALE: &str = "tests/fixtures/render/lab-redis-scale.yaml";
const REDIS_PASSWORD: &str = "scale \"up\" pass";

/// Phase `phase`'s hosts bundle of the scale lab, written under the lab folder:
/// (node id, machine, port, its config), the start script of each machine, and the
/// cluster-init script.
struct RedisBundle {
    nodes: Vec<(String, String, u16, PathBuf)>,
    start: std::collections::BTreeMap<String, PathBuf>,
    init: PathBuf,
}

fn redis_bundle(lab: &Lab, phase: &str) -> RedisBundle {
    let set = crate::common::render_all(Path::new(SCALE));
    let mut nodes = Vec::new();
    let mut start = std::collections::BTreeMap::new();
    let mut init = None;
    for (path, text) in set.iter() {
        let Some(rest) = path.strip_prefix(&format!("{phase}/hosts/")) else {
            continue;
        };
        let (machine, rel) = rest.split_once('/').unwrap();
        let dest = lab.dir().join(phase).join(machine).join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, text).unwrap();
        let Some(file) = rel.strip_prefix("redis/cache/") else {
            continue;
        };
        match file {
            "start.sh" => {
                start.insert(machine.to_string(), dest);
            }
            "cluster-init.sh" => init = Some(dest),
            conf => {
                let id = conf.strip_suffix(".conf").unwrap().to_string();
                let port = text
                    .lines()
                    .find_map(|l| l.strip_prefix("port "))
                    .unwrap()
                    .parse()
                    .unwrap();
                nodes.push((id, machine.to_string(), port, dest));
            }
        }
    }
    nodes.sort();
    RedisBundle {
        nodes,
        start,
        init: init.expect("a cluster-init.sh"),
    }
}

fn redis(addr: &str, args: &[&str]) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let out = Command::new("redis-cli")
        .args(["-h", host, "-p", port])
        .args(args)
        .env("REDISCLI_AUTH", REDIS_PASSWORD)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

/// Runs a phase's cluster-init.sh to its end, as its one-shot container would.
fn cluster_init(lab: &mut Lab, name: &str, script: &Path) -> String {
    let pid = lab.start_with(
        name,
        &["/bin/sh", script.to_str().unwrap()],
        &[],
        StartOptions {
            env: vec![("REDISCLI_AUTH".into(), REDIS_PASSWORD.into())],
            ..Default::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(150);
    while lab.is_running(pid) {
        assert!(
            Instant::now() < deadline,
            "{name} still runs after 150 s:\n{}",
            lab.logs(name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    lab.stop(pid);
    lab.logs(name)
}

#[test]
fn a_redis_cluster_grown_by_a_phase_takes_in_its_new_nodes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(_), Some(_)) = (lab::require("redis-server"), lab::require("redis-cli")) else {
        return;
    };
    if !lab::private_network() {
        return;
    }
    let mut lab = Lab::new();
    let small = redis_bundle(&lab, "small");
    let grown = redis_bundle(&lab, "grown");
    assert_eq!((small.nodes.len(), grown.nodes.len()), (3, 8));
    let start = |lab: &mut Lab, bundle: &RedisBundle, id: &str| {
        let (_, machine, port, conf) = bundle.nodes.iter().find(|n| n.0 == id).unwrap();
        let data = lab.dir().join(format!("{id}-data"));
        std::fs::create_dir_all(&data).unwrap();
        lab.start_with(
            id,
            &[
                "/bin/sh",
                bundle.start[machine].to_str().unwrap(),
                conf.to_str().unwrap(),
            ],
            &[],
            StartOptions {
                env: vec![
                    ("REDIS_PASSWORD".into(), REDIS_PASSWORD.into()),
                    ("REDIS_DATA_DIR".into(), data.display().to_string()),
                ],
                ..Default::default()
            },
        );
        let addr: SocketAddr = format!("{machine}:{port}").parse().unwrap();
        assert!(
            lab::wait_listening(addr, Duration::from_secs(10)),
            "{}",
            lab.logs(id)
        );
        addr.to_string()
    };

    // The first phase: three masters, formed by its cluster-init, with keys in it.
    let ids: Vec<String> = small.nodes.iter().map(|n| n.0.clone()).collect();
    let first: Vec<String> = ids.iter().map(|id| start(&mut lab, &small, id)).collect();
    let log = cluster_init(&mut lab, "init-small", &small.init);
    assert!(log.contains("cluster formed"), "{log}");
    for i in 0..200 {
        let out = redis(
            &first[0],
            &["-c", "set", &format!("key:{i}"), &i.to_string()],
        );
        assert_eq!(out.trim(), "OK", "set key:{i}");
    }

    // The phase that grows it: the nodes it adds start, then its cluster-init runs.
    let new: Vec<String> = grown
        .nodes
        .iter()
        .filter(|n| !small.nodes.iter().any(|s| s.0 == n.0))
        .map(|n| n.0.clone())
        .collect();
    assert_eq!(new.len(), 5);
    for id in &new {
        start(&mut lab, &grown, id);
    }
    let log = cluster_init(&mut lab, "init-grown", &grown.init);
    let nodes = redis(&first[0], &["cluster", "nodes"]);
    let info = redis(&first[0], &["cluster", "info"]);
    assert!(
        info.contains("cluster_known_nodes:8") && info.contains("cluster_state:ok"),
        "the grown cluster does not know its new nodes; cluster-init said:\n{log}\ncluster info:\n{info}\ncluster nodes:\n{nodes}"
    );
    let serving = nodes
        .lines()
        .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("master")))
        .filter(|l| l.split(' ').count() > 8)
        .count();
    let replicas = nodes.lines().filter(|l| l.contains("slave")).count();
    assert_eq!((serving, replicas), (4, 4), "{nodes}");
    // The keys are all still there, wherever their slots went.
    for i in 0..200 {
        let out = redis(&first[0], &["-c", "get", &format!("key:{i}")]);
        assert_eq!(out.trim(), i.to_string(), "key:{i}");
    }

    // Run again: nothing to add, nothing changes.
    let again = cluster_init(&mut lab, "init-grown-again", &grown.init);
    assert!(again.contains("nothing to do"), "{again}");
    assert_eq!(
        redis(&first[0], &["cluster", "info"])
            .lines()
            .find(|l| l.starts_with("cluster_known_nodes")),
        Some("cluster_known_nodes:8")
    );
    drop(lab);
}

/// A tmpfs of `megabytes` MB, unmounted when dropped (after the servers using it).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(megabytes: u32) -> SmallDisk {
        let dir = lab::scratch_dir();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m,mode=0755"),
                "small-disk",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount a {megabytes} MB tmpfs");
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_primary_on_a_small_disk_keeps_running_while_its_replica_is_away() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bin) = pg_bin() else { return };
    if !lab::private_network() {
        return;
    }
    // Declared before the lab: dropped after it, once the servers are stopped.
    let disk = SmallDisk::new(320);
    let mut lab = Lab::new();
    let set = crate::common::render_all(Path::new("tests/fixtures/render/lab-wal.yaml"));
    let mut dirs = std::collections::BTreeMap::new();
    for (path, text) in set.iter() {
        let Some(rest) = path.strip_prefix("data/hosts/") else {
            continue;
        };
        let (machine, rel) = rest.split_once('/').unwrap();
        let dest = lab.dir().join("wal").join(machine).join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, text).unwrap();
        dirs.insert(machine.to_string(), lab.dir().join("wal").join(machine));
    }
    let primary_conf = dirs["127.0.0.41"].join("postgres/db");
    let replica_conf = dirs["127.0.0.42"].join("postgres/db");
    let primary_run = start_primary(&mut lab, &bin, &primary_conf, &disk.dir.path().join("data"));

    // The replica streams once (its slot now holds WAL for it), then goes away.
    let volume = lab.dir().join("replica-volume");
    postgres_dir(&volume, 0o700);
    let replica = lab.start_with(
        "db-replica-1",
        &[
            "/bin/sh",
            replica_conf.join("start-db-replica-1.sh").to_str().unwrap(),
        ],
        &[],
        StartOptions {
            env: vec![
                ("PATH".into(), pg_path(&bin)),
                ("PGDATA".into(), volume.join("pgdata").display().to_string()),
                ("TIERFORM_CONF".into(), replica_conf.display().to_string()),
                ("REPLICATION_PASSWORD".into(), REPLICATION_PASSWORD.into()),
            ],
            user: Some("postgres".into()),
            ..Default::default()
        },
    );
    let superuser = on(&primary_run, "postgres", "postgres");
    wait_for("the replica to stream", Duration::from_secs(60), || {
        let out = psql(
            &bin,
            &superuser,
            SUPERUSER_PASSWORD,
            "SELECT state FROM pg_stat_replication",
        );
        String::from_utf8_lossy(&out.stdout).contains("streaming")
    });
    lab.stop(replica);

    // Sustained writes: about 600 MB of write-ahead log on a 320 MB disk.
    let app = on(&primary_run, "shop", "shop");
    ok(
        &psql(
            &bin,
            &app,
            APP_PASSWORD,
            "CREATE TABLE churn AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 40000) g",
        ),
        "create the table",
    );
    for round in 0..60 {
        let mut out = psql(&bin, &app, APP_PASSWORD, "UPDATE churn SET v = md5(v)");
        if out.status.success() {
            out = psql(&bin, &app, APP_PASSWORD, "VACUUM churn");
        }
        if !out.status.success() {
            let disk_log = lab.logs("db");
            panic!(
                "round {round}: the primary stopped taking writes: {}\nits log ends:\n{}",
                String::from_utf8_lossy(&out.stderr),
                disk_log
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    let checkpoint = psql(&bin, &superuser, SUPERUSER_PASSWORD, "CHECKPOINT");
    ok(&checkpoint, "a checkpoint after the writes");
    let slot = ok(
        &psql(
            &bin,
            &superuser,
            SUPERUSER_PASSWORD,
            "SELECT slot_name || ' ' || wal_status FROM pg_replication_slots",
        ),
        "the slot's state",
    );
    assert_eq!(slot.trim(), "db_replica_1 lost", "the slot gave up its WAL");
    drop(lab);
    drop(disk);
}
