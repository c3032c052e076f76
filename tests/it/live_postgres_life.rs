//! Live: the rendered PostgreSQL setup through the events of its life, not only its
//! first start, on each supported server set. A replica whose first copy of the
//! primary is cut short (SIGKILL: an eviction, the OOM killer, a startup probe) starts
//! over and streams at its next start; one told to stop (SIGTERM) while it copies stops
//! at once even as PID 1 of its container. A primary on a small disk whose replica is
//! away keeps running through sustained writes. Same lab machines as `live_postgres`.

use crate::live_data::{bundle, ok, wait_for, SERIAL};
use crate::live_postgres::{
    pg_path, postgres_dir, psql, start_primary, APP_PASSWORD, REPLICATION_PASSWORD,
    SUPERUSER_PASSWORD,
};
use tierform_lab as lab;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, ServerSet, StartOptions};

/// A server set's PostgreSQL of major `major`, and its binaries' folder (inside its
/// root); `None` (the test skips) where the set or the server is absent.
fn postgres(set: Option<ServerSet>, major: &str) -> Option<(ServerSet, String)> {
    let set = set?;
    let bin = set.postgres_bin()?;
    assert!(
        bin.contains(&format!("/{major}/")),
        "{} has PostgreSQL at {bin}, not {major}",
        set.name()
    );
    lab::private_network().then_some((set, bin))
}

fn on(run: &Path, db: &str, user: &str) -> String {
    format!("host={} port=5432 dbname={db} user={user}", run.display())
}

/// A `pg_basebackup` that copies at 2 MB/s, first on `PATH`: a copy of the primary's
/// tens of megabytes then takes long enough to be cut short midway.
fn slow_copy(lab: &Lab, bin: &str) -> PathBuf {
    let dir = lab.dir().join("slow-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let wrapper = dir.join("pg_basebackup");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {bin}/pg_basebackup --max-rate=2M \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The lab's primary with about 40 MB in `big`, and the replica's start script and
/// environment (its data folder one level below a folder the postgres user owns).
struct Setup {
    primary_run: PathBuf,
    script: PathBuf,
    env: Vec<(String, String)>,
    data: PathBuf,
}

fn setup(lab: &mut Lab, set: &ServerSet, bin: &str, major: &str) -> Setup {
    let machines = bundle(lab, &[("db", major)]);
    let primary_conf = machines["127.0.0.41"].join("postgres/db");
    let replica_conf = machines["127.0.0.42"].join("postgres/db");
    let data = lab.dir().join("primary-data");
    let (_, primary_run) = start_primary(lab, set, bin, &primary_conf, &data);
    ok(
        &psql(
            lab,
            set,
            bin,
            &on(&primary_run, "shop", "shop"),
            APP_PASSWORD,
            "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 30) AS pad FROM generate_series(1, 40000) g",
        ),
        "fill the primary",
    );
    let volume = lab.dir().join("replica-volume");
    postgres_dir(set, &volume, 0o700);
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
    Setup {
        script: replica_conf.join("start-db-replica-1.sh"),
        primary_run,
        env,
        data,
    }
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
fn postgres_15_on_debian12_a_replica_whose_first_copy_was_killed_copies_again() {
    a_replica_whose_first_copy_was_killed_copies_again(Some(ServerSet::host()), "15");
}

#[test]
fn postgres_17_on_debian13_a_replica_whose_first_copy_was_killed_copies_again() {
    a_replica_whose_first_copy_was_killed_copies_again(ServerSet::trixie(), "17");
}

fn a_replica_whose_first_copy_was_killed_copies_again(set: Option<ServerSet>, major: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((set, bin)) = postgres(set, major) else {
        return;
    };
    let mut lab = Lab::new();
    let s = setup(&mut lab, &set, &bin, major);
    let slow = slow_copy(&lab, &bin);
    let replica = |lab: &mut Lab, name: &str, path: String| {
        let mut env = s.env.clone();
        env.push(("PATH".into(), path));
        let run = lab.dir().join(format!("{name}-run"));
        postgres_dir(&set, &run, 0o755);
        let pid = lab.start_with(
            name,
            &["/bin/sh", s.script.to_str().unwrap()],
            &[],
            StartOptions {
                binds: vec![(run.clone(), "/var/run/postgresql".into())],
                env,
                user: Some("postgres".into()),
                root: set.root().map(Path::to_path_buf),
            },
        );
        (pid, run)
    };

    // First start: the copy is killed midway, with everything it started.
    let (first, _) = replica(
        &mut lab,
        "db-replica-1",
        format!("{}:{}", slow.display(), pg_path(&bin)),
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
    let (_, replica_run) = replica(&mut lab, "db-replica-1-again", pg_path(&bin));
    let superuser = on(&s.primary_run, "postgres", "postgres");
    let deadline = Instant::now() + Duration::from_secs(60);
    let streams = loop {
        let out = psql(
            &lab,
            &set,
            &bin,
            &superuser,
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
    };
    assert!(
        streams,
        "the replica does not stream after its interrupted copy; its log:\n{}",
        lab.logs("db-replica-1-again")
    );
    let rows = ok(
        &psql(
            &lab,
            &set,
            &bin,
            &on(&replica_run, "shop", "shop"),
            APP_PASSWORD,
            "SELECT count(*) FROM big",
        ),
        "read the copied table on the replica",
    );
    assert_eq!(rows.trim(), "40000");
    drop(lab);
}

/// The PID, in the machine's namespace, of the process that is PID 1 in its own PID
/// namespace below `pid`.
fn pid_one_below(pid: u32) -> Option<u32> {
    lab::descendants(pid).into_iter().find(|p| {
        std::fs::read_to_string(format!("/proc/{p}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("NSpid:"))
                    .map(|l| l.split_whitespace().last() == Some("1"))
            })
            .unwrap_or(false)
    })
}

#[test]
fn postgres_15_on_debian12_a_replica_told_to_stop_while_it_copies_stops_as_pid_one() {
    a_replica_told_to_stop_while_it_copies_stops_as_pid_one(Some(ServerSet::host()), "15");
}

#[test]
fn postgres_17_on_debian13_a_replica_told_to_stop_while_it_copies_stops_as_pid_one() {
    a_replica_told_to_stop_while_it_copies_stops_as_pid_one(ServerSet::trixie(), "17");
}

fn a_replica_told_to_stop_while_it_copies_stops_as_pid_one(set: Option<ServerSet>, major: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((set, bin)) = postgres(set, major) else {
        return;
    };
    let mut lab = Lab::new();
    let s = setup(&mut lab, &set, &bin, major);
    let slow = slow_copy(&lab, &bin);
    // `sh` as PID 1 of a new PID namespace, as in a container, running as postgres.
    let log_path = lab.dir().join("pid-one.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let argv = [
        "unshare",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "setpriv",
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "/bin/sh",
        s.script.to_str().unwrap(),
    ];
    let mut child = lab
        .command(set.root(), &argv)
        .envs(s.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PATH", format!("{}:{}", slow.display(), pg_path(&bin)))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("unshare runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    let init = loop {
        if let Some(pid) = pid_one_below(child.id()) {
            break pid;
        }
        assert!(Instant::now() < deadline, "no PID 1 below {}", child.id());
        std::thread::sleep(Duration::from_millis(20));
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
        let mut tree = lab::descendants(child.id());
        tree.push(child.id());
        signal("-KILL", &tree);
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
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

/// On the machine's own PostgreSQL only: the small disk is a mount outside the lab
/// folder, which a server set's root does not see.
#[test]
fn postgres_15_on_debian12_a_primary_on_a_small_disk_keeps_running_while_its_replica_is_away() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((set, bin)) = postgres(Some(ServerSet::host()), "15") else {
        return;
    };
    // Declared before the lab: dropped after it, once the servers are stopped.
    let disk = SmallDisk::new(320);
    let mut lab = Lab::new();
    let rendered = crate::common::render_all(Path::new("tests/fixtures/render/lab-wal.yaml"));
    let mut dirs = std::collections::BTreeMap::new();
    for (path, text) in rendered.iter() {
        let Some(rest) = path.strip_prefix("data/hosts/") else {
            continue;
        };
        // The bundle's README.md and .gitignore are in no machine's folder.
        let Some((machine, rel)) = rest.split_once('/') else {
            continue;
        };
        let dest = lab.dir().join("wal").join(machine).join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, text).unwrap();
        dirs.insert(machine.to_string(), lab.dir().join("wal").join(machine));
    }
    let primary_conf = dirs["127.0.0.41"].join("postgres/db");
    let replica_conf = dirs["127.0.0.42"].join("postgres/db");
    let data = disk.dir.path().join("data");
    let (_, primary_run) = start_primary(&mut lab, &set, &bin, &primary_conf, &data);

    // The replica streams once (its slot now holds WAL for it), then goes away.
    let volume = lab.dir().join("replica-volume");
    postgres_dir(&set, &volume, 0o700);
    let script = replica_conf.join("start-db-replica-1.sh");
    let replica = lab.start_with(
        "db-replica-1",
        &["/bin/sh", script.to_str().unwrap()],
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
    let sql = |conn: &str, password: &str, sql: &str| psql(&lab, &set, &bin, conn, password, sql);
    wait_for("the replica to stream", Duration::from_secs(60), || {
        let out = sql(
            &superuser,
            SUPERUSER_PASSWORD,
            "SELECT state FROM pg_stat_replication",
        );
        String::from_utf8_lossy(&out.stdout).contains("streaming")
    });
    lab.stop(replica);

    // Sustained writes: about 600 MB of write-ahead log on a 320 MB disk.
    let sql = |conn: &str, password: &str, sql: &str| psql(&lab, &set, &bin, conn, password, sql);
    let app = on(&primary_run, "shop", "shop");
    ok(
        &sql(
            &app,
            APP_PASSWORD,
            "CREATE TABLE churn AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 40000) g",
        ),
        "create the table",
    );
    for round in 0..60 {
        let mut out = sql(&app, APP_PASSWORD, "UPDATE churn SET v = md5(v)");
        if out.status.success() {
            out = sql(&app, APP_PASSWORD, "VACUUM churn");
        }
        if !out.status.success() {
            let log = lab.logs("db");
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            panic!(
                "round {round}: the primary stopped taking writes: {}\nits log ends:\n{}",
                String::from_utf8_lossy(&out.stderr),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
    ok(
        &sql(&superuser, SUPERUSER_PASSWORD, "CHECKPOINT"),
        "a checkpoint after the writes",
    );
    let slot = ok(
        &sql(
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
