//! PostgreSQL backups with pgBackRest, resolved: the repository (a folder on the
//! primary's machine or an S3 bucket), retention, the schedules in cron's and systemd's
//! forms, the archive and restore commands the server runs, the image with pgBackRest
//! in it and the secrets it reads. Every platform renders from this.

use serde::Serialize;

use super::EnvVar;
use crate::model::cron::Cron;
use crate::model::{Backup, UriStyle};

/// Where the rendered `pgbackrest.conf` is read from inside a server's container: the
/// folder PostgreSQL's own configuration is mounted at.
pub const CONFIG_DIR: &str = "/etc/tierform/postgres";

/// Backups of one PostgreSQL datastore.
#[derive(Debug, Clone, Serialize)]
pub struct BackupPlan {
    /// pgBackRest's name for the cluster: the datastore's.
    pub stanza: String,
    /// The rendered configuration, inside the server's container.
    pub config: String,
    pub repo: BackupRepo,
    /// Full backups kept.
    pub retention_full: u32,
    pub full: BackupSchedule,
    pub differential: BackupSchedule,
    /// Parallel processes of a backup or restore: half the server's CPUs, at least one.
    pub process_max: u32,
    /// `archive_command`: each filled write-ahead log segment into the repository.
    pub archive_command: String,
    /// `restore_command`, where every server reaches the repository (S3): a replica
    /// whose slot was dropped catches up from the archive instead of a new copy.
    pub restore_command: Option<String>,
    /// The most seconds a write may wait in the current segment before it is
    /// archived (`archive_timeout`): the most work a lost primary loses from the
    /// archive.
    pub archive_timeout_s: u32,
    /// The image with pgBackRest in it: built from [`BackupPlan::base_image`] by
    /// compose and hosts (this is its tag), the blueprint's `image` on Kubernetes.
    pub image: String,
    /// The PostgreSQL image it is built from.
    pub base_image: String,
    /// Whether Kubernetes has an image to run: the blueprint's `image`.
    pub kubernetes_image: Option<String>,
    /// The secrets pgBackRest reads from its environment (S3 key, secret key,
    /// encryption passphrase), by its variable names.
    pub env: Vec<EnvVar>,
    /// The primary's container name on compose and hosts, so a timer on the machine
    /// can reach it (`docker exec`).
    pub container: String,
    /// The systemd units' name stem (`tierform-<blueprint>-<name>-backup`).
    pub unit: String,
}

/// Where backups are kept.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BackupRepo {
    /// A folder on the primary's machine, mounted at the same path in its container.
    Local { path: String },
    /// An S3-compatible bucket, encrypted with AES-256.
    S3 {
        bucket: String,
        endpoint: String,
        region: String,
        path: String,
        uri_style: String,
    },
}

impl BackupRepo {
    /// `s3://bucket/path` or the folder: for people.
    pub fn text(&self) -> String {
        match self {
            BackupRepo::Local { path } => path.clone(),
            BackupRepo::S3 {
                bucket,
                endpoint,
                path,
                ..
            } => format!("s3://{bucket}{path} at {endpoint}"),
        }
    }
}

/// When one kind of backup runs.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSchedule {
    /// The blueprint's cron text (a Kubernetes CronJob's `schedule`).
    pub cron: String,
    /// The same as a systemd timer's `OnCalendar=`.
    pub on_calendar: String,
}

fn schedule(text: &str) -> Result<BackupSchedule, String> {
    let cron = Cron::parse(text)?;
    Ok(BackupSchedule {
        cron: text.to_string(),
        on_calendar: cron.on_calendar(),
    })
}

/// `b` for datastore `name` of blueprint `blueprint`, whose servers run `base_image`
/// (`version` its major) on `cpus` CPUs; `prefix` names its secrets.
pub(super) fn plan(
    name: &str,
    b: &Backup,
    blueprint: &str,
    base_image: &str,
    version: &str,
    prefix: &str,
    cpus: u32,
) -> Result<BackupPlan, String> {
    let (repo, env) = match (&b.path, &b.s3) {
        (Some(path), None) => (BackupRepo::Local { path: path.clone() }, Vec::new()),
        (None, Some(s3)) => (
            BackupRepo::S3 {
                bucket: s3.bucket.clone(),
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
                path: s3
                    .path
                    .clone()
                    .unwrap_or_else(|| format!("/{blueprint}/{name}")),
                uri_style: match s3.uri_style {
                    UriStyle::Host => "host",
                    UriStyle::Path => "path",
                }
                .to_string(),
            },
            vec![
                EnvVar::secret(
                    "PGBACKREST_REPO1_S3_KEY",
                    &format!("{prefix}_BACKUP_S3_KEY"),
                ),
                EnvVar::secret(
                    "PGBACKREST_REPO1_S3_KEY_SECRET",
                    &format!("{prefix}_BACKUP_S3_KEY_SECRET"),
                ),
                EnvVar::secret(
                    "PGBACKREST_REPO1_CIPHER_PASS",
                    &format!("{prefix}_BACKUP_CIPHER_PASS"),
                ),
            ],
        ),
        // Validation refuses both and neither.
        _ => {
            return Err(format!(
                "datastore `{name}`: backup needs one of `path` and `s3`"
            ))
        }
    };
    let config = format!("{CONFIG_DIR}/pgbackrest.conf");
    let pgbackrest = |what: &str| command(&config, name, what);
    let restore_command =
        matches!(repo, BackupRepo::S3 { .. }).then(|| pgbackrest("archive-get %f \"%p\""));
    Ok(BackupPlan {
        stanza: name.to_string(),
        archive_command: pgbackrest("archive-push %p"),
        restore_command,
        archive_timeout_s: 60,
        config,
        repo,
        retention_full: b.retention_full,
        full: schedule(&b.full)?,
        differential: schedule(&b.differential)?,
        process_max: (cpus / 2).max(1),
        image: format!("{blueprint}/{name}-postgres:{version}-pgbackrest"),
        base_image: base_image.to_string(),
        kubernetes_image: b.image.clone(),
        env,
        container: format!("{blueprint}-{name}"),
        unit: format!("tierform-{blueprint}-{name}-backup"),
    })
}

/// pgBackRest's command `what` on `stanza`, with its configuration `config`.
fn command(config: &str, stanza: &str, what: &str) -> String {
    format!("pgbackrest --config={config} --stanza={stanza} {what}")
}

/// A kind of backup: as the units, CronJobs and README name it, as pgBackRest's
/// `--type` names it, and when it runs.
pub struct BackupKind<'a> {
    pub name: &'static str,
    pub pgbackrest_type: &'static str,
    pub schedule: &'a BackupSchedule,
}

impl BackupPlan {
    /// pgBackRest's command `what` (`check`, `info`, `restore`, …) on this stanza.
    pub fn command(&self, what: &str) -> String {
        command(&self.config, &self.stanza, what)
    }

    /// The command of one kind of backup.
    pub fn backup_command(&self, kind: &BackupKind) -> String {
        self.command(&format!("--type={} backup", kind.pgbackrest_type))
    }

    /// The kinds of backup, full first.
    pub fn kinds(&self) -> [BackupKind<'_>; 2] {
        [
            BackupKind {
                name: "full",
                pgbackrest_type: "full",
                schedule: &self.full,
            },
            BackupKind {
                name: "differential",
                pgbackrest_type: "diff",
                schedule: &self.differential,
            },
        ]
    }

    /// The secrets pgBackRest reads, by name.
    pub fn secrets(&self) -> Vec<&str> {
        self.env
            .iter()
            .filter_map(|v| match &v.value {
                super::EnvValue::Secret(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }
}
