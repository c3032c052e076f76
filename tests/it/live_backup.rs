//! Live: PostgreSQL backed up by pgBackRest from the rendered `hosts` bundle of
//! `tests/fixtures/render/lab-backup.yaml` (phase `local`, the primary on 127.0.0.41),
//! on each supported server set: PostgreSQL 15 with pgBackRest 2.45 from Debian 12,
//! PostgreSQL 17 with Debian 13's pgBackRest. The first start creates the stanza
//! (init-primary.sh), `check` proves archiving, the timers' own commands take a full
//! and a differential backup, and after the data folder is destroyed the README's
//! restore command brings back every row committed before the last archived segment,
//! on a new timeline that accepts writes and backs up again.
//!
//! The server, `init-primary.sh` and every pgBackRest command run in one mount
//! namespace layout, the container's: the rendered files at /etc/tierform/postgres,
//! the data at /var/lib/postgresql/data, the repository at the blueprint's path. On
//! Debian 12 (no root of its own) those mount points are created on the machine,
//! empty, if missing.

use crate::common;
use crate::live_data::{ok, wait_for, SERIAL};
use crate::live_postgres::{
    pg_path, postgres_dir, psql, APP_PASSWORD, MONITOR_PASSWORD, REPLICATION_PASSWORD,
    SUPERUSER_PASSWORD,
};
use tierform_lab as lab;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lab::{Lab, ServerSet, StartOptions};

const FIXTURE: &str = "tests/fixtures/render/lab-backup.yaml";
const CONF: &str = "/etc/tierform/postgres";
const DATA: &str = "/var/lib/postgresql/data";
const REPO: &str = "/var/lib/pgbackrest";
const RUN: &str = "/var/run/postgresql";

#[test]
fn postgres_15_with_debian12_pgbackrest_backs_up_and_restores_from_the_rendered_bundle() {
    backup_destroy_restore(Some(ServerSet::host()), "15");
}

#[test]
fn postgres_17_with_debian13_pgbackrest_backs_up_and_restores_from_the_rendered_bundle() {
    backup_destroy_restore(ServerSet::trixie(), "17");
}

/// The primary machine's files of phase `local`, rendered for PostgreSQL `major`.
fn primary_bundle(lab: &Lab, major: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    assert!(text.contains("    version: \"15\"\n"));
    let text = text.replacen(
        "    version: \"15\"\n",
        &format!("    version: \"{major}\"\n"),
        1,
    );
    let blueprint = lab.dir().join("blueprint.yaml");
    std::fs::write(&blueprint, text).unwrap();
    common::render_all(&blueprint)
        .iter()
        .filter_map(|(path, text)| {
            let rel = path.strip_prefix("local/hosts/127.0.0.41/")?;
            Some((rel.to_string(), text.to_string()))
        })
        .collect()
}

/// The pgBackRest command of a rendered systemd service: what follows the container's
/// name in `ExecStart=/usr/bin/docker exec --user postgres <container> pgbackrest …`.
fn unit_command(unit: &str) -> Vec<String> {
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let words: Vec<&str> = exec.split(' ').collect();
    assert_eq!(
        &words[..4],
        ["/usr/bin/docker", "exec", "--user", "postgres"],
        "{exec}"
    );
    words[5..].iter().map(|w| w.to_string()).collect()
}

/// The restore step of the backup README: the shell command inside
/// `docker compose run … sh <primary> -c '…'`.
fn readme_restore(readme: &str) -> String {
    let line = readme
        .lines()
        .find(|l| l.contains("docker compose run") && l.contains(" restore'"))
        .expect("a restore command in the backup README");
    let start = line.find(" -c '").expect("sh -c '…'") + 5;
    line[start..line.len() - 1].to_string()
}

struct Db<'a> {
    set: &'a ServerSet,
    bin: &'a str,
    binds: Vec<(PathBuf, String)>,
}

impl Db<'_> {
    fn options(&self, env: &[(&str, &str)]) -> StartOptions {
        StartOptions {
            binds: self.binds.clone(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            user: Some("postgres".into()),
            root: self.set.root().map(Path::to_path_buf),
        }
    }

    /// `argv` as the postgres user in the server's mount layout; its output.
    fn run(&self, lab: &Lab, argv: &[&str], what: &str) -> String {
        let path = pg_path(self.bin);
        let out = lab
            .command_with(argv, self.options(&[("PATH", &path)]))
            .output()
            .unwrap();
        ok(&out, what)
    }

    /// Starts the server as the rendered compose file does (the config files, the
    /// data folder from the image's PGDATA, the machine's port).
    fn start(&self, lab: &mut Lab, name: &str) -> u32 {
        let postgres = format!("{}/postgres", self.bin);
        let config = format!("config_file={CONF}/postgresql.conf");
        let hba = format!("hba_file={CONF}/pg_hba.conf");
        let argv = [
            postgres.as_str(),
            "-D",
            DATA,
            "-c",
            &config,
            "-c",
            &hba,
            "-c",
            "port=5432",
        ];
        let path = pg_path(self.bin);
        let options = self.options(&[("PATH", &path)]);
        let pid = lab.start_with(name, &argv, &[], options);
        let ready = format!("{}/pg_isready", self.bin);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !lab
            .command(
                self.set.root(),
                &[&ready, "-q", "-h", "127.0.0.41", "-p", "5432"],
            )
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                std::time::Instant::now() < deadline && lab.is_running(pid),
                "{name} does not accept connections (running: {}); its log:\n{}",
                lab.is_running(pid),
                lab.logs(name)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        pid
    }
}

fn sql(lab: &Lab, db: &Db, user: &str, password: &str, query: &str) -> String {
    let conn = format!("host=127.0.0.41 port=5432 dbname=shop user={user}");
    ok(
        &psql(lab, db.set, db.bin, &conn, password, query),
        &format!("psql {query}"),
    )
    .trim()
    .to_string()
}

fn backup_destroy_restore(set: Option<ServerSet>, major: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(set) = set else { return };
    let Some(bin) = set.postgres_bin() else {
        return;
    };
    assert!(bin.contains(&format!("/{major}/")), "{bin}");
    let Some(pgbackrest) = set.require("pgbackrest") else {
        return;
    };
    if !lab::private_network() {
        return;
    }
    let mut lab = Lab::new();
    let files = primary_bundle(&lab, major);
    let conf = lab.dir().join("conf");
    for (rel, text) in &files {
        if let Some(name) = rel.strip_prefix("postgres/db/") {
            std::fs::create_dir_all(&conf).unwrap();
            std::fs::write(conf.join(name), text).unwrap();
        }
    }
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in std::fs::read_dir(&conf).unwrap() {
        std::fs::set_permissions(f.unwrap().path(), std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }
    assert!(
        conf.join("pgbackrest.conf").is_file(),
        "no pgbackrest.conf beside the primary's config"
    );
    let data = lab.dir().join("data");
    let repo = lab.dir().join("repo");
    let run = lab.dir().join("run");
    postgres_dir(&set, &data, 0o700);
    postgres_dir(&set, &repo, 0o750);
    postgres_dir(&set, &run, 0o755);
    if set.root().is_none() {
        // The mount points of the container's layout, on the machine itself.
        for target in [CONF, DATA, REPO, RUN] {
            std::fs::create_dir_all(target).unwrap();
        }
    }
    let db = Db {
        set: &set,
        bin: &bin,
        binds: vec![
            (conf.clone(), CONF.into()),
            (data.clone(), DATA.into()),
            (repo.clone(), REPO.into()),
            (run.clone(), RUN.into()),
        ],
    };
    let version = db.run(&lab, &[&pgbackrest, "version"], "pgbackrest version");
    eprintln!("{}: {}", set.name(), version.trim());

    // initdb as the image's entrypoint does, then the first start.
    let pwfile = lab.dir().join("pwfile");
    std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
    std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let initdb = format!("{bin}/initdb");
    let pwfile_arg = format!("--pwfile={}", pwfile.display());
    db.run(
        &lab,
        &[
            &initdb,
            "-D",
            DATA,
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            &pwfile_arg,
        ],
        "initdb",
    );
    let pid = db.start(&mut lab, "db");
    let init = format!("{CONF}/init-primary.sh");
    let path = pg_path(&bin);
    let out = lab
        .command_with(
            &["/bin/sh", &init],
            db.options(&[
                ("PATH", &path),
                ("PGHOST", RUN),
                ("PGPORT", "5432"),
                ("APP_PASSWORD", APP_PASSWORD),
                ("REPLICATION_PASSWORD", REPLICATION_PASSWORD),
                ("MONITOR_PASSWORD", MONITOR_PASSWORD),
            ]),
        )
        .output()
        .unwrap();
    ok(&out, "init-primary.sh (with the stanza)");

    // `check` archives a segment and waits for it: archiving works.
    let readme = &files["backup/db/README.md"];
    let check = readme
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("docker exec --user postgres labbackup-db ")
        })
        .filter(|c| c.ends_with(" check"))
        .expect("the README's check command");
    let argv: Vec<&str> = check.split(' ').collect();
    db.run(&lab, &argv, "pgbackrest check");

    sql(
        &lab,
        &db,
        "shop",
        APP_PASSWORD,
        "CREATE TABLE orders (id int PRIMARY KEY, what text); INSERT INTO orders SELECT g, 'before the full backup' FROM generate_series(1, 1000) g",
    );
    let full = unit_command(&files["backup/db/tierform-labbackup-db-backup-full.service"]);
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    db.run(&lab, &full, "the full backup");
    sql(
        &lab,
        &db,
        "shop",
        APP_PASSWORD,
        "INSERT INTO orders SELECT g, 'between the backups' FROM generate_series(1001, 1500) g",
    );
    let diff = unit_command(&files["backup/db/tierform-labbackup-db-backup-differential.service"]);
    let diff: Vec<&str> = diff.iter().map(String::as_str).collect();
    db.run(&lab, &diff, "the differential backup");
    sql(
        &lab,
        &db,
        "shop",
        APP_PASSWORD,
        "INSERT INTO orders SELECT g, 'after the last backup' FROM generate_series(1501, 1700) g",
    );
    // The segment holding the last rows is archived when it fills or after
    // archive_timeout; here at once.
    let segment = sql(
        &lab,
        &db,
        "postgres",
        SUPERUSER_PASSWORD,
        "SELECT pg_walfile_name(pg_switch_wal())",
    );
    wait_for(
        "the last segment to be archived",
        Duration::from_secs(60),
        || {
            let archived = sql(
                &lab,
                &db,
                "postgres",
                SUPERUSER_PASSWORD,
                "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
            );
            archived.as_str() >= segment.as_str()
        },
    );
    let info = db.run(
        &lab,
        &[
            &pgbackrest,
            &format!("--config={CONF}/pgbackrest.conf"),
            "--stanza=db",
            "info",
        ],
        "pgbackrest info",
    );
    assert!(
        info.contains("full backup") && info.contains("diff backup"),
        "the repository lacks a full and a differential backup:\n{info}"
    );

    // The primary is lost (killed) and its data destroyed.
    for p in lab::descendants(pid).into_iter().chain([pid]) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .status();
    }
    wait_for("the primary to die", Duration::from_secs(20), || {
        !lab.is_running(pid)
    });
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    std::fs::write(data.join("PG_VERSION"), "garbage\n").unwrap();

    // The server restarts in a new container, whose socket folder is new: the killed
    // one's lock file goes (its PID may still be a zombie's here, which PostgreSQL
    // would take for a live server).
    for entry in std::fs::read_dir(&run).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".s.PGSQL."))
        {
            std::fs::remove_file(&path).unwrap();
        }
    }
    // The README's restore, then a start: the archive is replayed and the server
    // opens for writes on a new timeline.
    let restore = readme_restore(readme);
    db.run(&lab, &["/bin/sh", "-c", &restore], "the README's restore");
    db.start(&mut lab, "db-restored");
    wait_for(
        "the restored server to leave recovery",
        Duration::from_secs(120),
        || {
            psql(
                &lab,
                &set,
                &bin,
                "host=127.0.0.41 port=5432 dbname=shop user=postgres",
                SUPERUSER_PASSWORD,
                "SELECT pg_is_in_recovery()",
            )
            .stdout
            .starts_with(b"f")
        },
    );
    let rows = sql(
        &lab,
        &db,
        "shop",
        APP_PASSWORD,
        "SELECT count(*) || ' ' || count(*) FILTER (WHERE what = 'after the last backup') FROM orders",
    );
    assert_eq!(
        rows, "1700 200",
        "the restore lost rows committed before the last archived segment"
    );
    sql(
        &lab,
        &db,
        "shop",
        APP_PASSWORD,
        "INSERT INTO orders VALUES (1701, 'after the restore')",
    );
    let timeline = sql(
        &lab,
        &db,
        "postgres",
        SUPERUSER_PASSWORD,
        "SELECT timeline_id FROM pg_control_checkpoint()",
    );
    assert_ne!(
        timeline, "1",
        "the restored server did not start a new timeline"
    );
    // The README's last step: a full backup of the new timeline.
    db.run(&lab, &full, "a full backup after the restore");
}
