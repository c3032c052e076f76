//! Live: a standby region from the rendered `hosts` bundle of
//! `tests/fixtures/render/lab-standby.yaml` (phase `two-regions`), on each supported
//! server set (PostgreSQL 15 from Debian 12, 17 from the Debian 13 root). The phase's
//! primary (127.0.0.82) is started as the postgres image would; the standby region's
//! server (127.0.0.92) by its rendered `start-db.sh` as the postgres image's container
//! runs it (its files, volume and PGDATA where the image has them), which copies the
//! primary across the "regions" and streams from it over its slot; the region's replica (127.0.0.93)
//! by its own script, streaming from that server in turn. Rows written on the primary
//! reach the region's replica; the standby refuses writes. Then the region is
//! promoted as its README says: the primary is stopped (fenced), `pg_promote()` on
//! the standby's server, which takes writes that its replica follows; started again by
//! the same script, it is still a primary.

use crate::common;
use crate::live_data::{ok, wait_for, with_versions, SERIAL};
use crate::live_postgres::{
    pg_path, postgres_dir, psql, start_primary, APP_PASSWORD, REPLICATION_PASSWORD,
    SUPERUSER_PASSWORD,
};
use tierform_lab as lab;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lab::{Lab, ServerSet, StartOptions};

const FIXTURE: &str = "tests/fixtures/render/lab-standby.yaml";
const PHASE: &str = "two-regions";

#[test]
fn standby_region_streams_and_is_promoted_on_debian12_postgres_15() {
    standby_region(Some(ServerSet::host()), "15");
}

#[test]
fn standby_region_streams_and_is_promoted_on_debian13_postgres_17() {
    standby_region(ServerSet::trixie(), "17");
}

/// The phase's bundle rendered for PostgreSQL `major`, written into the lab folder:
/// each machine's folder, by its path in the hosts bundle (`127.0.0.82`,
/// `standby-west/127.0.0.92`).
fn bundle(lab: &Lab, major: &str) -> BTreeMap<String, PathBuf> {
    let text = with_versions(&std::fs::read_to_string(FIXTURE).unwrap(), &[("db", major)]);
    let blueprint = lab.dir().join("blueprint.yaml");
    std::fs::write(&blueprint, text).unwrap();
    let mut machines = BTreeMap::new();
    for (path, text) in common::render_all(&blueprint).iter() {
        let Some(rest) = path.strip_prefix(&format!("{PHASE}/hosts/")) else {
            continue;
        };
        // Every file of the hosts bundle, in the same layout.
        let dest = lab.dir().join("bundle").join(rest);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, text).unwrap();
        // A machine's folder: its address, in the standby's folder or not.
        let parts: Vec<&str> = rest.split('/').collect();
        let machine = match parts.as_slice() {
            ["standby-west", m, _, ..] => format!("standby-west/{m}"),
            [m, _, ..] if !m.starts_with("standby-") => m.to_string(),
            _ => continue,
        };
        let dir = lab.dir().join("bundle").join(&machine);
        machines.insert(machine, dir);
    }
    machines
}

/// Where the postgres image's container sees the rendered files, its volume and its
/// socket folder; it sets PGDATA to the volume's root.
const CONF: &str = "/etc/tierform/postgres";
const VOLUME: &str = "/var/lib/postgresql/data";
const RUN: &str = "/var/run/postgresql";

/// A server of the standby region: its start script in its machine's rendered
/// folder, its volume and socket folder in the lab, the address it listens on.
struct Server<'a> {
    name: &'a str,
    script: &'a str,
    conf: &'a Path,
    volume: &'a Path,
    run: &'a Path,
    addr: &'a str,
}

/// Starts `copy` as the postgres image's container would (compose's `entrypoint`):
/// as the postgres user, its files at /etc/tierform, its volume at
/// /var/lib/postgresql/data and PGDATA pointing there, its own socket folder; waits
/// until it listens.
fn start_copy(lab: &mut Lab, set: &ServerSet, bin: &str, copy: &Server) -> u32 {
    let script = format!("{CONF}/{}", copy.script);
    let pid = lab.start_with(
        copy.name,
        &["/bin/sh", &script],
        &[],
        StartOptions {
            binds: vec![
                (copy.conf.to_path_buf(), CONF.into()),
                (copy.volume.to_path_buf(), VOLUME.into()),
                (copy.run.to_path_buf(), RUN.into()),
            ],
            env: vec![
                ("PATH".into(), pg_path(bin)),
                ("PGDATA".into(), VOLUME.into()),
                ("REPLICATION_PASSWORD".into(), REPLICATION_PASSWORD.into()),
            ],
            user: Some("postgres".into()),
            root: set.root().map(Path::to_path_buf),
        },
    );
    let addr: SocketAddr = copy.addr.parse().unwrap();
    assert!(
        lab::wait_listening(addr, Duration::from_secs(60)),
        "{}",
        lab.logs(copy.name)
    );
    lab.assert_loopback_only(pid);
    pid
}

fn standby_region(set: Option<ServerSet>, major: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(set) = set else { return };
    let Some(bin) = set.postgres_bin() else {
        return;
    };
    if !lab::private_network() {
        return;
    }
    let mut lab = Lab::new();
    let booted = ok(
        &lab.command(set.root(), &[&format!("{bin}/postgres"), "--version"])
            .output()
            .unwrap(),
        "postgres --version",
    );
    assert!(booted.contains(&format!(") {major}.")), "{booted}");
    let machines = bundle(&lab, major);
    let primary_conf = machines["127.0.0.82"].join("postgres/db");
    let leader_conf = machines["standby-west/127.0.0.92"].join("postgres/db");
    let replica_conf = machines["standby-west/127.0.0.93"].join("postgres/db");
    // The standby region starts no init script: its roles come with the copy.
    assert!(!leader_conf.join("init-primary.sh").exists());

    let primary_data = lab.dir().join("primary-data");
    let (primary_pid, primary_run) =
        start_primary(&mut lab, &set, &bin, &primary_conf, &primary_data);

    // The standby region's server copies the phase's primary and streams from it.
    let mut runs = Vec::new();
    for name in ["leader", "replica"] {
        let volume = lab.dir().join(format!("{name}-volume"));
        postgres_dir(&set, &volume, 0o700);
        let run = lab.dir().join(format!("{name}-run"));
        postgres_dir(&set, &run, 0o755);
        runs.push((volume, run));
    }
    let (leader_volume, leader_run) = runs[0].clone();
    let (replica_volume, replica_run) = runs[1].clone();
    // On this machine (no root of its own), the container's mount points.
    if set.root().is_none() {
        for target in [CONF, VOLUME] {
            std::fs::create_dir_all(target).unwrap();
        }
    }
    let leader = Server {
        name: "west-db",
        script: "start-db.sh",
        conf: &leader_conf,
        volume: &leader_volume,
        run: &leader_run,
        addr: "127.0.0.92:5432",
    };
    let leader_pid = start_copy(&mut lab, &set, &bin, &leader);
    // Its replica streams from it: a cascade, over a slot the script makes there.
    start_copy(
        &mut lab,
        &set,
        &bin,
        &Server {
            name: "west-db-replica-1",
            script: "start-db-replica-1.sh",
            conf: &replica_conf,
            volume: &replica_volume,
            run: &replica_run,
            addr: "127.0.0.93:5432",
        },
    );
    lab.assert_loopback_only(primary_pid);

    // As the superuser (its answer), or as the application's role (the outcome), on
    // the server whose socket folder is `run`.
    let on = |run: &Path, user: &str| {
        let db = if user == "postgres" {
            "postgres"
        } else {
            "shop"
        };
        format!("host={} port=5432 dbname={db} user={user}", run.display())
    };
    let superuser = |lab: &Lab, run: &Path, q: &str| {
        let out = psql(lab, &set, &bin, &on(run, "postgres"), SUPERUSER_PASSWORD, q);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let app =
        |lab: &Lab, run: &Path, q: &str| psql(lab, &set, &bin, &on(run, "shop"), APP_PASSWORD, q);
    let rows = |lab: &Lab, run: &Path| {
        String::from_utf8_lossy(&app(lab, run, "SELECT count(*) FROM orders").stdout)
            .trim()
            .to_string()
    };
    let streams = "SELECT application_name || ' ' || state FROM pg_stat_replication";
    wait_for(
        "the standby region to stream",
        Duration::from_secs(30),
        || superuser(&lab, &primary_run, streams) == "db-standby streaming",
    );
    assert_eq!(
        superuser(
            &lab,
            &primary_run,
            "SELECT slot_name, active FROM pg_replication_slots ORDER BY 1"
        ),
        "db_replica_1|f\ndb_standby|t",
        "the phase's own replica is not started here; the standby's slot is in use"
    );
    wait_for(
        "the region's replica to stream",
        Duration::from_secs(30),
        || superuser(&lab, &leader_run, streams) == "db-replica-1 streaming",
    );

    // Written on the phase's primary, read at the end of the cascade.
    ok(
        &app(
            &lab,
            &primary_run,
            "CREATE TABLE orders (id int primary key); INSERT INTO orders VALUES (42)",
        ),
        "write on the primary",
    );
    wait_for(
        "the row in the standby region",
        Duration::from_secs(15),
        || rows(&lab, &replica_run) == "1",
    );
    let refused = app(&lab, &leader_run, "INSERT INTO orders VALUES (43)");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("read-only transaction"), "{stderr}");

    // Promotion, as the region's README has it: fence the old region, promote.
    lab.stop(primary_pid);
    let readme = std::fs::read_to_string(
        machines["standby-west/127.0.0.92"]
            .parent()
            .unwrap()
            .join("README.md"),
    )
    .unwrap();
    let promote = "SELECT pg_promote()";
    assert!(readme.contains(promote), "{readme}");
    assert_eq!(superuser(&lab, &leader_run, promote), "t");
    // The copy is in the volume's `pgdata` folder, where the README's commands and
    // pgBackRest look for it.
    assert!(leader_volume.join("pgdata/PG_VERSION").is_file());
    assert_eq!(
        superuser(&lab, &leader_run, "SELECT pg_is_in_recovery()"),
        "f"
    );
    ok(
        &app(&lab, &leader_run, "INSERT INTO orders VALUES (43)"),
        "a write in the promoted region",
    );
    wait_for(
        "the region's replica to follow the promotion",
        Duration::from_secs(30),
        || rows(&lab, &replica_run) == "2",
    );

    // Started again by the same script, the promoted server is still a primary.
    lab.stop(leader_pid);
    start_copy(
        &mut lab,
        &set,
        &bin,
        &Server {
            name: "west-db-again",
            ..leader
        },
    );
    wait_for(
        "the restarted primary to take writes",
        Duration::from_secs(30),
        || {
            app(&lab, &leader_run, "INSERT INTO orders VALUES (44)")
                .status
                .success()
        },
    );
    drop(lab);
}
