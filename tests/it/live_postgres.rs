//! Live: the PostgreSQL primary, its streaming replica and PgBouncer of
//! `tests/fixtures/render/lab-data.yaml` (machines 127.0.0.41–42), started from the
//! rendered `hosts` bundle on each supported server set (PostgreSQL 15 and PgBouncer
//! 1.18 from Debian 12, PostgreSQL 17 and PgBouncer 1.24 from the Debian 13 root): the
//! replica reads what the primary writes and refuses writes; PgBouncer serves the
//! read-write and the read-only database and refuses a wrong password. Also: each
//! set's `postgres -C` accepts every rendered postgresql.conf of every blueprint.

use crate::common;
use crate::live_data::{bundle, ok, wait_for, SERIAL};
use tierform_lab as lab;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use lab::{Lab, ServerSet, StartOptions};

pub(crate) const SUPERUSER_PASSWORD: &str = "super secret";
pub(crate) const APP_PASSWORD: &str = "app's pass:word $1";
pub(crate) const REPLICATION_PASSWORD: &str = "repl:pass\\word";
/// URL-safe, as `.env.example` asks: postgres_exporter 0.17 cannot read a quote or a
/// backslash in it.
pub(crate) const MONITOR_PASSWORD: &str = "monitor-pass.1~";

/// A folder the set's postgres user owns.
pub(crate) fn postgres_dir(set: &ServerSet, path: &Path, mode: u32) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    let (uid, gid) = set.ids("postgres").expect("a postgres user");
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

/// `argv` as the set's postgres user.
pub(crate) fn as_postgres<'a>(argv: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["runuser", "-u", "postgres", "--"];
    all.extend(argv);
    all
}

pub(crate) fn psql(
    lab: &Lab,
    set: &ServerSet,
    bin: &str,
    conn: &str,
    password: &str,
    sql: &str,
) -> Output {
    let psql = format!("{bin}/psql");
    lab.command(
        set.root(),
        &as_postgres(&[
            &psql,
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
        ]),
    )
    .env("PGPASSWORD", password)
    .env("PGCONNECT_TIMEOUT", "5")
    .output()
    .unwrap()
}

pub(crate) fn pg_path(bin: &str) -> String {
    format!("{bin}:{}", std::env::var("PATH").unwrap_or_default())
}

/// Starts `conf`'s primary (`db` on 127.0.0.41) with its data in `data`, as the
/// postgres image would: initdb, the rendered config and hba, then the rendered
/// first-start script. Returns its PID and its socket folder.
pub(crate) fn start_primary(
    lab: &mut Lab,
    set: &ServerSet,
    bin: &str,
    conf: &Path,
    data: &Path,
) -> (u32, PathBuf) {
    postgres_dir(set, data, 0o700);
    let run = lab.dir().join("primary-run");
    postgres_dir(set, &run, 0o755);
    let pwfile = lab.dir().join("pwfile");
    std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
    std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let pwfile_arg = format!("--pwfile={}", pwfile.display());
    let initdb = format!("{bin}/initdb");
    let argv = [
        initdb.as_str(),
        "-D",
        data.to_str().unwrap(),
        "-U",
        "postgres",
        "--auth=scram-sha-256",
        &pwfile_arg,
    ];
    ok(
        &lab.command(set.root(), &as_postgres(&argv))
            .output()
            .unwrap(),
        "initdb",
    );
    let args = [
        format!("{bin}/postgres"),
        "-D".into(),
        data.display().to_string(),
        "-c".into(),
        format!("config_file={}/postgresql.conf", conf.display()),
        "-c".into(),
        format!("hba_file={}/pg_hba.conf", conf.display()),
    ];
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let pid = lab.start_with(
        "db",
        &argv,
        &[],
        StartOptions {
            binds: vec![(run.clone(), "/var/run/postgresql".into())],
            user: Some("postgres".into()),
            root: set.root().map(Path::to_path_buf),
            ..Default::default()
        },
    );
    // Where the rendered config listens: one address (hosts), or every one, of which
    // the lab's primaries use 127.0.0.41.
    let config = std::fs::read_to_string(conf.join("postgresql.conf")).unwrap();
    let address = config
        .lines()
        .find_map(|l| l.strip_prefix("listen_addresses = '"))
        .map(|a| a.trim_end_matches('\''))
        .filter(|a| *a != "*")
        .unwrap_or("127.0.0.41");
    let primary: SocketAddr = format!("{address}:5432").parse().unwrap();
    assert!(
        lab::wait_listening(primary, Duration::from_secs(30)),
        "{}",
        lab.logs("db")
    );
    // The TCP listener comes up before the server accepts connections; the scripts
    // use the Unix socket. Wait until it answers "accepting connections".
    let ready = format!("{bin}/pg_isready");
    wait_for(
        "the primary to accept connections",
        Duration::from_secs(30),
        || {
            lab.command(
                set.root(),
                &[&ready, "-q", "-h", run.to_str().unwrap(), "-p", "5432"],
            )
            .status()
            .is_ok_and(|s| s.success())
        },
    );
    let script = conf.join("init-primary.sh");
    let init = lab
        .command(
            set.root(),
            &as_postgres(&["/bin/sh", script.to_str().unwrap()]),
        )
        .env("PATH", pg_path(bin))
        .env("PGHOST", &run)
        .env("PGPORT", "5432")
        .env("PGUSER", "postgres")
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .env("APP_PASSWORD", APP_PASSWORD)
        .env("REPLICATION_PASSWORD", REPLICATION_PASSWORD)
        .env("MONITOR_PASSWORD", MONITOR_PASSWORD)
        .output()
        .unwrap();
    ok(&init, "init-primary.sh");
    (pid, run)
}

/// The set's servers, checked to be the versions the test names.
fn versions(lab: &Lab, set: &ServerSet, bin: &str, pgbouncer: &str, postgres: &str, bouncer: &str) {
    let booted = ok(
        &lab.command(set.root(), &[&format!("{bin}/postgres"), "--version"])
            .output()
            .unwrap(),
        "postgres --version",
    );
    let pooler = ok(
        &lab.command(set.root(), &[pgbouncer, "--version"])
            .output()
            .unwrap(),
        "pgbouncer --version",
    );
    let pooler = pooler.lines().next().unwrap_or_default();
    eprintln!("{}: {} and {pooler}", set.name(), booted.trim());
    assert!(
        booted.contains(&format!(") {postgres}.")),
        "{} boots {booted}, not PostgreSQL {postgres}",
        set.name()
    );
    assert!(
        pooler.contains(&format!("PgBouncer {bouncer}.")),
        "{} boots {pooler}, not PgBouncer {bouncer}",
        set.name()
    );
}

#[test]
fn postgres_15_and_pgbouncer_1_18_on_debian12_from_the_rendered_configs() {
    primary_replica_and_pgbouncer(Some(ServerSet::host()), "15", "1.18");
}

#[test]
fn postgres_17_and_pgbouncer_1_24_on_debian13_from_the_rendered_configs() {
    primary_replica_and_pgbouncer(ServerSet::trixie(), "17", "1.24");
}

fn primary_replica_and_pgbouncer(set: Option<ServerSet>, major: &str, bouncer: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(set) = set else { return };
    let Some(bin) = set.postgres_bin() else {
        return;
    };
    let Some(pgbouncer) = set.require("pgbouncer") else {
        return;
    };
    if !lab::private_network() {
        return;
    }
    let mut lab = Lab::new();
    versions(&lab, &set, &bin, &pgbouncer, major, bouncer);
    let machines = bundle(&lab, &[("db", major)]);
    let root = set.root().map(Path::to_path_buf);
    let primary_conf = machines["127.0.0.41"].join("postgres/db");
    let replica_conf = machines["127.0.0.42"].join("postgres/db");
    let pooler_conf = machines["127.0.0.41"].join("pgbouncer/db");
    for dir in [&primary_conf, &replica_conf, &pooler_conf] {
        for f in common::files_under(dir) {
            let text = std::fs::read_to_string(&f).unwrap();
            for secret in [
                SUPERUSER_PASSWORD,
                APP_PASSWORD,
                REPLICATION_PASSWORD,
                MONITOR_PASSWORD,
            ] {
                assert!(!text.contains(secret));
            }
        }
    }

    // The primary, as the postgres image starts it.
    let primary_data = lab.dir().join("primary-data");
    let (primary_pid, primary_run) =
        start_primary(&mut lab, &set, &bin, &primary_conf, &primary_data);

    // The replica: the rendered start script copies the primary and streams from it.
    // The replica's volume, which its postgres user owns: the data folder is made
    // inside it, from a copy beside it that is moved into place once complete.
    let replica_volume = lab.dir().join("replica-volume");
    postgres_dir(&set, &replica_volume, 0o700);
    let replica_data = replica_volume.join("pgdata");
    let replica_run = lab.dir().join("replica-run");
    postgres_dir(&set, &replica_run, 0o755);
    let script = replica_conf.join("start-db-replica-1.sh");
    let replica_pid = lab.start_with(
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
            root: root.clone(),
        },
    );
    let replica: SocketAddr = "127.0.0.42:5432".parse().unwrap();
    assert!(
        lab::wait_listening(replica, Duration::from_secs(60)),
        "{}",
        lab.logs("db-replica-1")
    );
    lab.assert_loopback_only(primary_pid);
    lab.assert_loopback_only(replica_pid);

    let on = |run: &Path, db: &str, user: &str| {
        format!("host={} port=5432 dbname={db} user={user}", run.display())
    };
    wait_for("the replica to stream", Duration::from_secs(30), || {
        let out = psql(
            &lab,
            &set,
            &bin,
            &on(&primary_run, "postgres", "postgres"),
            SUPERUSER_PASSWORD,
            "SELECT application_name || ' ' || state FROM pg_stat_replication",
        );
        String::from_utf8_lossy(&out.stdout).contains("db-replica-1 streaming")
    });
    let slot = ok(
        &psql(
            &lab,
            &set,
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
            &lab,
            &set,
            &bin,
            &on(&primary_run, "shop", "shop"),
            APP_PASSWORD,
            "CREATE TABLE orders (id int primary key); INSERT INTO orders VALUES (42)",
        ),
        "write on the primary",
    );
    wait_for("the row on the replica", Duration::from_secs(15), || {
        let out = psql(
            &lab,
            &set,
            &bin,
            &on(&replica_run, "shop", "shop"),
            APP_PASSWORD,
            "SELECT id FROM orders",
        );
        String::from_utf8_lossy(&out.stdout).trim() == "42"
    });
    let refused = psql(
        &lab,
        &set,
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
    let pooler_pid = lab.start_with(
        "db-pgbouncer",
        &["/bin/sh", script.to_str().unwrap(), ini.to_str().unwrap()],
        &[],
        StartOptions {
            env: vec![
                (
                    "PATH".into(),
                    format!(
                        "{}:{}",
                        Path::new(&pgbouncer).parent().unwrap().display(),
                        pg_path(&bin)
                    ),
                ),
                ("APP_PASSWORD".into(), APP_PASSWORD.into()),
            ],
            user: Some("postgres".into()),
            root,
            ..Default::default()
        },
    );
    let pooler: SocketAddr = "127.0.0.41:6432".parse().unwrap();
    assert!(
        lab::wait_listening(pooler, Duration::from_secs(15)),
        "{}",
        lab.logs("db-pgbouncer")
    );
    lab.assert_loopback_only(pooler_pid);
    let via = |db: &str| format!("host=127.0.0.41 port=6432 dbname={db} user=shop");
    let rw = ok(
        &psql(
            &lab,
            &set,
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
                &lab,
                &set,
                &bin,
                &via("shop_ro"),
                APP_PASSWORD,
                "SELECT pg_is_in_recovery(), count(*) FROM orders",
            );
            String::from_utf8_lossy(&out.stdout).trim() == "t|2"
        },
    );
    let wrong = psql(
        &lab,
        &set,
        &bin,
        &via("shop"),
        "not the password",
        "SELECT 1",
    );
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
fn postgres_15_on_debian12_accepts_every_rendered_postgresql_conf() {
    accepts_every_rendered_postgresql_conf(Some(ServerSet::host()), "15");
}

#[test]
fn postgres_17_on_debian13_accepts_every_rendered_postgresql_conf() {
    accepts_every_rendered_postgresql_conf(ServerSet::trixie(), "17");
}

fn accepts_every_rendered_postgresql_conf(set: Option<ServerSet>, major: &str) {
    let Some(set) = set else { return };
    let Some(bin) = set.postgres_bin() else {
        return;
    };
    assert_eq!(
        bin,
        format!("/usr/lib/postgresql/{major}/bin"),
        "{} has another PostgreSQL",
        set.name()
    );
    if set.root().is_some() && !lab::require_isolation() {
        return;
    }
    let lab = Lab::new();
    let empty = lab.dir().join("empty-data");
    postgres_dir(&set, &empty, 0o700);
    let mut checked = 0;
    for path in common::render_blueprints() {
        for (file, text) in common::render_all(&path).iter() {
            if !file.ends_with("/postgresql.conf") {
                continue;
            }
            let conf = lab.dir().join(format!("{checked}.conf"));
            std::fs::write(&conf, text).unwrap();
            std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
            let config = format!("config_file={}", conf.display());
            let out = lab
                .command(
                    set.root(),
                    &as_postgres(&[
                        &format!("{bin}/postgres"),
                        "-D",
                        empty.to_str().unwrap(),
                        "-C",
                        "shared_buffers",
                        "-c",
                        &config,
                    ]),
                )
                .output()
                .unwrap();
            ok(&out, &format!("postgres -C for {} {file}", path.display()));
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} postgresql.conf files");
}
