//! pgBackRest on compose and hosts: the systemd service and timer of each kind of
//! backup, and the README that sets them up and restores, for the primary's machine,
//! in `backup/<name>/`. (The configuration, archive command and image are
//! PostgreSQL's files: see `postgres`.)

use std::fmt::Write;

use minijinja::context;

use super::Files;
use crate::model::Platform;
use crate::plan::{BackupPlan, BackupRepo, DatastoreNode, DatastorePlan, NodeRole, Plan};
use crate::render::templates::TemplateError;

/// The units and README of `store`'s backups, on the primary's machine.
pub(super) fn render(
    files: &mut Files,
    plan: &Plan,
    store: &DatastorePlan,
    b: &BackupPlan,
    platform: Platform,
    primary: &DatastoreNode,
) -> Result<(), TemplateError> {
    let machine = primary.machine.as_str();
    let dir = format!("backup/{}", store.name);
    for kind in b.kinds() {
        let unit = format!("{}-{}", b.unit, kind.name);
        let ctx = context! {
            backup => b, kind => kind.name, unit => unit, schedule => kind.schedule,
            command => b.backup_command(&kind),
            stanza_create => b.command("stanza-create"),
            after => (kind.name != "full").then(|| format!("{}-full", b.unit)),
        };
        files.push(
            machine,
            format!("{dir}/{unit}.service"),
            "postgres/backup.service.j2",
            ctx.clone(),
        )?;
        files.push(
            machine,
            format!("{dir}/{unit}.timer"),
            "postgres/backup.timer.j2",
            ctx,
        )?;
    }
    files.push_text(
        machine,
        format!("{dir}/README.md"),
        readme(plan, store, b, platform, primary),
    );
    Ok(())
}

/// How to set the backups up, check them and restore, in the bundle's terms.
fn readme(
    plan: &Plan,
    store: &DatastorePlan,
    b: &BackupPlan,
    platform: Platform,
    primary: &DatastoreNode,
) -> String {
    let name = &store.name;
    let nodes = store.nodes_on(platform);
    let replicas: Vec<&DatastoreNode> = nodes
        .iter()
        .filter(|n| n.role == NodeRole::Replica)
        .collect();
    let on = |n: &DatastoreNode| {
        if n.machine.is_empty() {
            String::new()
        } else {
            format!(" (on `{}`)", n.machine)
        }
    };
    let exec = |what: &str| format!("docker exec --user postgres {} {what}", b.container);
    let units: Vec<String> = b
        .kinds()
        .iter()
        .map(|kind| format!("{}-{}", b.unit, kind.name))
        .collect();
    let users: Vec<String> = plan
        .services
        .values()
        .filter(|s| s.uses.contains(name))
        .map(|s| format!("`{}`", s.name))
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!-- {} -->\n\n# Backups of `{name}`\n\nPostgreSQL {} with pgBackRest (the image `images/{name}/Dockerfile` builds). The primary{} archives each write-ahead log segment to the repository as it fills, and after {} s of writes at the latest: that is the most a lost primary takes with it. A full backup runs at `{}` and a differential one (what changed since the full) at `{}`, in UTC; the last {} full backup{} and everything they need are kept.\n\n",
        crate::render::bundle::generated_header(plan),
        store.version,
        on(primary),
        b.archive_timeout_s,
        b.full.cron,
        b.differential.cron,
        b.retention_full,
        if b.retention_full == 1 { "" } else { "s" },
    );
    match &b.repo {
        BackupRepo::Local { path } => {
            let _ = write!(
                out,
                "The repository is the folder `{path}` on the primary's machine. It protects from mistakes (a dropped table, a bad migration), not from losing the machine: mount another disk there, copy it off the machine, or use `s3`.\n\n"
            );
        }
        BackupRepo::S3 { .. } => {
            let _ = write!(
                out,
                "The repository is `{}`, encrypted by pgBackRest with AES-256 before anything leaves the machine. Every server reaches it: a replica whose slot was dropped catches up from the archive.\n\n",
                b.repo.text()
            );
        }
    }
    out.push_str("## Set up, once\n\n");
    match &b.repo {
        BackupRepo::Local { path } => {
            let _ = write!(
                out,
                "1. On the primary's machine, the repository's folder, owned by the image's `postgres` user (999):\n\n   ```sh\n   sudo install -d -o 999 -g 999 -m 750 {path}\n   ```\n\n"
            );
        }
        BackupRepo::S3 { .. } => {
            let secrets: Vec<String> = b.secrets().iter().map(|s| format!("`{s}`")).collect();
            let _ = write!(
                out,
                "1. In `.env`: {}: a key allowed to read, write and delete in the bucket's folder, and the passphrase every backup is encrypted with. Keep a copy of the passphrase away from these machines: without it no backup can be read.\n\n",
                secrets.join(", ")
            );
        }
    }
    let _ = write!(
        out,
        "2. `docker compose up -d` builds the image and starts the primary, which creates the repository's stanza on its first start. Should that fail (a folder it cannot write, a wrong key, another database's stanza), the primary still runs but archives nothing, and its write-ahead log grows until the disk is full: `check` below says why, and each backup run creates the stanza first or fails.\n\n3. Install and start the timers{}:\n\n   ```sh\n   sudo cp backup/{name}/*.service backup/{name}/*.timer /etc/systemd/system/\n   sudo systemctl daemon-reload\n   sudo systemctl enable --now {}.timer {}.timer\n   ```\n\n4. Take the first full backup now, then check that archiving works (`check` archives a segment and waits for it) and see what the repository holds:\n\n   ```sh\n   sudo systemctl start {}.service\n   {}\n   {}\n   ```\n\n`systemctl list-timers 'tierform-*'` shows the next runs. A backup that fails leaves its service failed (`systemctl --failed`, `journalctl -u {}.service`).\n\n",
        on(primary),
        units[0],
        units[1],
        units[0],
        exec(&b.command("check")),
        exec(&b.command("info")),
        units[0],
    );
    let _ = write!(
        out,
        "## Restore\n\nThe latest backup and the archive after it bring back every transaction archived before the loss.\n\n1. Stop the timers (`sudo systemctl stop {}.timer {}.timer`), what writes to `{name}`{}, then the primary: `docker compose stop {}`.\n2. Empty its data volume and restore into it. To stop at a moment instead of the end of the archive, add `--type=time \"--target=2026-12-01 09:59:00+00\" --target-action=promote` before `restore`.\n\n   ```sh\n   docker compose run --rm --no-deps --user postgres --entrypoint sh {} -c 'find {} -mindepth 1 -delete && {}'\n   ```\n\n3. `docker compose up -d {}`: PostgreSQL replays the archive, then opens for writes on a new timeline.\n",
        units[0],
        units[1],
        if users.is_empty() {
            String::new()
        } else {
            format!(" ({})", users.join(", "))
        },
        primary.id,
        primary.id,
        crate::render::datastores::postgres::DATA_DIR,
        b.command("restore"),
        primary.id,
    );
    let mut step = 4;
    if !replicas.is_empty() {
        let _ = write!(
            out,
            "{step}. The replicas copy the restored primary anew: for each, on its machine, remove it and its volume and start it again (it creates its replication slot, which no backup holds).\n\n   ```sh\n",
        );
        for r in &replicas {
            let volume = store.compose_volume(&r.id);
            let _ = writeln!(
                out,
                "   docker compose rm -sf {id}  # {where_}\n   docker volume rm \"$(docker volume ls -q | grep -- '_{volume}$')\"\n   docker compose up -d {id}",
                id = r.id,
                where_ = if r.machine.is_empty() { "here".to_string() } else { format!("on {}", r.machine) },
            );
        }
        out.push_str("   ```\n\n");
        step += 1;
    }
    let _ = write!(
        out,
        "{step}. Start the services again, take a full backup of the new timeline (`sudo systemctl start {}.service`) and start the timers again (`sudo systemctl start {}.timer {}.timer`).\n\n## After a failover\n\nThe timers run on this machine, against this container. When a replica is promoted in its place ({}), stop and disable the timers here, install them on the new primary's machine with its container's name, take a full backup there, and keep the old primary down: its archive and backups would go into the same repository.\n\n",
        units[0],
        units[0],
        units[1],
        match b.repo {
            BackupRepo::Local { .. } => "it archives nothing: the repository is a folder on this machine",
            BackupRepo::S3 { .. } => "it archives to the same bucket",
        }
    );
    let _ = writeln!(
        out,
        "A database rebuilt empty (a new volume without a restore) while the repository holds this one's backups cannot create its stanza there, so that two databases never mix in one repository, and archives nothing: move the repository's content away first, or give the phase another `backup` {}.",
        match b.repo {
            BackupRepo::Local { .. } => "`path`",
            BackupRepo::S3 { .. } => "`s3.path`",
        }
    );
    out
}
