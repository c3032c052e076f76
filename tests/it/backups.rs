//! PostgreSQL backups (`backup`), as rendered: every platform runs the same pgBackRest
//! command on the same schedule (systemd timers whose calendars systemd reads as the
//! cron text means, CronJobs with the cron text); archiving only where the repository
//! is reachable; the bucket's secrets by reference; on Kubernetes a Role that reaches
//! only the primary's pod, and a restore applied by hand, outside the kustomization.
//! (The backup, destroy and restore itself: `live_backup`.)

use std::process::Command;

use serde_json::Value;

use crate::common;

const FIXTURE: &str = "tests/fixtures/render/lab-backup.yaml";

fn set() -> tierform::OutputSet {
    common::render_all(std::path::Path::new(FIXTURE))
}

fn compose(text: &str) -> Value {
    tierform::load_yaml(text).unwrap().to_json()
}

/// `ExecStart`'s pgBackRest command, after the container's name.
fn unit_command(unit: &str) -> String {
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/bin/docker exec --user postgres "))
        .expect("ExecStart runs docker exec");
    exec.split_once(' ').unwrap().1.to_string()
}

#[test]
fn timers_run_the_schedules_the_blueprint_gives_as_systemd_reads_them() {
    let set = set();
    let timers: Vec<(&str, &str)> = set.iter().filter(|(f, _)| f.ends_with(".timer")).collect();
    // full and differential, on the hosts machine of `local` and compose's `bucket`.
    assert_eq!(timers.len(), 4, "{timers:?}");
    let Some(analyze) = lab_tool("systemd-analyze") else {
        return;
    };
    // The next run systemd computes from Tuesday 2026-12-01 00:30 UTC, as cron would.
    let expected = [
        ("local/", "full", "Sun 2026-12-06 01:00:00 UTC"),
        ("local/", "differential", "Tue 2026-12-01 01:00:00 UTC"),
        ("bucket/", "full", "Tue 2026-12-01 02:30:00 UTC"),
        ("bucket/", "differential", "Wed 2026-12-02 02:30:00 UTC"),
    ];
    for (path, text) in timers {
        let calendar = text
            .lines()
            .find_map(|l| l.strip_prefix("OnCalendar="))
            .expect("OnCalendar");
        let out = Command::new(&analyze)
            .args(["calendar", "--base-time=2026-12-01 00:30:00 UTC", calendar])
            .env("TZ", "UTC")
            .output()
            .unwrap();
        let text_out = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{path}: systemd refuses `{calendar}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (_, kind, next) = expected
            .iter()
            .find(|(p, k, _)| path.starts_with(p) && path.contains(&format!("-{k}.timer")))
            .unwrap();
        let next_line = text_out
            .lines()
            .find_map(|l| l.trim().strip_prefix("Next elapse: "))
            .unwrap_or_default();
        assert_eq!(
            next_line, *next,
            "{path} ({kind}): `{calendar}`\n{text_out}"
        );
    }
}

/// A tool the lab may use; in CI it must be there.
fn lab_tool(name: &str) -> Option<String> {
    let found = ["/usr/bin", "/bin", "/usr/sbin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).is_file());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "{name} is required in CI");
        eprintln!("skipping: {name} missing");
    }
    found
}

#[test]
fn every_platform_runs_the_same_backup_command() {
    let set = set();
    let full = unit_command(
        set.get("local/hosts/127.0.0.41/backup/db/tierform-labbackup-db-backup-full.service")
            .unwrap(),
    );
    assert_eq!(
        full,
        "pgbackrest --config=/etc/tierform/postgres/pgbackrest.conf --stanza=db --type=full backup"
    );
    assert_eq!(
        unit_command(
            set.get("bucket/compose/backup/db/tierform-labbackup-db-backup-full.service")
                .unwrap()
        ),
        full
    );
    let docs = common::yaml_docs(set.get("cluster/kubernetes/db.yaml").unwrap());
    let cron = docs
        .iter()
        .find(|d| d["kind"] == "CronJob" && d["metadata"]["name"] == "db-backup-full")
        .expect("a CronJob of full backups");
    assert_eq!(cron["spec"]["schedule"], "30 2 1,15 * *");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[..4], ["exec", "db-0", "--container=postgres", "--"]);
    assert_eq!(args[4..].join(" "), full);
    assert_eq!(pod["serviceAccountName"], "db-backup");
    // The account may run a command in the primary's pod, and nothing else.
    let role = docs
        .iter()
        .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "db-backup")
        .unwrap();
    for rule in role["rules"].as_array().unwrap() {
        assert_eq!(rule["resourceNames"], serde_json::json!(["db-0"]), "{rule}");
    }
    assert_eq!(
        pod["nodeSelector"],
        Value::Null,
        "kubectl needs no node of the pool"
    );
}

#[test]
fn servers_archive_where_the_repository_is_and_read_secrets_by_reference() {
    let set = set();
    // A folder on the primary's machine: only its server archives, and mounts it.
    let primary = set
        .get("local/hosts/127.0.0.41/postgres/db/postgresql.conf")
        .unwrap();
    assert!(primary.contains("archive_mode = on\n"));
    assert!(!primary.contains("restore_command"));
    let replica = set
        .get("local/hosts/127.0.0.42/postgres/db/postgresql.conf")
        .unwrap();
    assert!(
        !replica.contains("archive_"),
        "the replica's machine has no repository"
    );
    assert!(set
        .get("local/hosts/127.0.0.42/postgres/db/pgbackrest.conf")
        .is_none());
    let c41 = compose(
        set.get("local/hosts/127.0.0.41/docker-compose.yml")
            .unwrap(),
    );
    let volumes = c41["services"]["db"]["volumes"].as_array().unwrap();
    assert!(volumes
        .iter()
        .any(|v| v["source"] == "/var/lib/pgbackrest" && v["target"] == "/var/lib/pgbackrest"));
    assert_eq!(c41["services"]["db"]["build"]["context"], "./images/db");
    assert_eq!(c41["services"]["db"]["container_name"], "labbackup-db");
    // A bucket: every server archives and reads the archive, with the secrets.
    let conf = set
        .get("bucket/compose/postgres/db/postgresql.conf")
        .unwrap();
    assert!(conf.contains("restore_command = 'pgbackrest"));
    let bucket = compose(set.get("bucket/compose/docker-compose.yml").unwrap());
    for id in ["db", "db-replica-1"] {
        let env = &bucket["services"][id]["environment"];
        for var in [
            "PGBACKREST_REPO1_S3_KEY",
            "PGBACKREST_REPO1_S3_KEY_SECRET",
            "PGBACKREST_REPO1_CIPHER_PASS",
        ] {
            let v = env[var].as_str().unwrap_or_default();
            assert!(v.starts_with("${DB_BACKUP_"), "{id}: {var} = {v:?}");
        }
    }
    assert_eq!(
        bucket["services"]["db-replica-1"]["environment"]["PGBACKREST_PG1_PATH"],
        "/var/lib/postgresql/data/pgdata"
    );
    let example = set.get("bucket/compose/.env.example").unwrap();
    for secret in [
        "DB_BACKUP_S3_KEY=",
        "DB_BACKUP_S3_KEY_SECRET=",
        "DB_BACKUP_CIPHER_PASS=",
    ] {
        assert!(
            example.contains(secret),
            "{secret} missing from .env.example"
        );
    }
    let pgbackrest = set
        .get("bucket/compose/postgres/db/pgbackrest.conf")
        .unwrap();
    assert!(pgbackrest.contains("repo1-cipher-type=aes-256-cbc\n"));
    assert!(
        !pgbackrest.contains("repo1-s3-key"),
        "a key written in the file"
    );
}

#[test]
fn the_kubernetes_restore_is_applied_by_hand_and_fills_the_primarys_volume() {
    let set = set();
    let kustomization = set.get("cluster/kubernetes/kustomization.yaml").unwrap();
    assert!(!kustomization.contains("restore/"), "{kustomization}");
    let docs = common::yaml_docs(set.get("cluster/kubernetes/restore/db.yaml").unwrap());
    let job = docs.iter().find(|d| d["kind"] == "Job").unwrap();
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "data-db-0"
    );
    let statefulset = common::yaml_docs(set.get("cluster/kubernetes/db.yaml").unwrap())
        .into_iter()
        .find(|d| d["kind"] == "StatefulSet" && d["metadata"]["name"] == "db")
        .unwrap();
    assert_eq!(
        statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data",
        "the claim of pod db-0 is data-db-0"
    );
    let image = &statefulset["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(
        image,
        "registry.example.com/labbackup/db-postgres:17-pgbackrest"
    );
    assert_eq!(pod["containers"][0]["image"], *image);
    // The ConfigMap holds the same pgbackrest.conf as the server's.
    let map = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(
        map["data"]["pgbackrest.conf"],
        *set.get("cluster/kubernetes/postgres/db/pgbackrest.conf")
            .unwrap()
    );
    let readme = set.get("cluster/kubernetes/README.md").unwrap();
    assert!(readme.contains("kubectl -n labbackup apply -f restore/db.yaml"));
}
