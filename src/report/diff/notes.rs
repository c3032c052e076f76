//! The operational notes of a phase change: what applying the files does not do by
//! itself (data to copy, secrets to create, an order to follow).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::capabilities::any_has_machines;
use crate::model::Platform;
use crate::plan::Plan;

/// Notes on the balancer's HTTPS: the certificate must exist before the balancer
/// starts, and browsers remember HSTS, so HTTPS cannot simply be turned off again.
fn tls_notes(from: &Plan, to: &Plan) -> Vec<String> {
    let tls = |p: &Plan| p.balancer.as_ref().and_then(|b| b.tls.clone());
    let (a, b) = (tls(from), tls(to));
    let mut notes = Vec::new();
    if let Some(t) = &b {
        let changed = a.as_ref().is_none_or(|a| {
            a.certificate_file != t.certificate_file
                || a.key_file != t.key_file
                || a.secret != t.secret
        });
        let on = |p: Platform| to.platforms.contains(&p);
        let mut wheres = Vec::new();
        if let (Some(c), Some(k), true) = (
            &t.certificate_file,
            &t.key_file,
            on(Platform::Compose) || on(Platform::Hosts),
        ) {
            wheres.push(format!("`{c}` and `{k}` on the balancer's machines"));
        }
        if let (Some(secret), true) = (&t.secret, on(Platform::Kubernetes)) {
            wheres.push(format!(
                "the `kubernetes.io/tls` Secret `{secret}` on Kubernetes"
            ));
        }
        if changed && !wheres.is_empty() {
            notes.push(format!(
                "Put the balancer's certificate and key in place before it starts: {}. tierform never writes them, and the balancer does not start without them.",
                wheres.join("; ")
            ));
        }
    }
    if let Some(hsts) = a.as_ref().and_then(|a| a.hsts.as_deref()) {
        match &b {
            None => notes.push(format!(
                "HTTPS goes away, but the previous phase sent Strict-Transport-Security ({hsts}): browsers that saw it refuse plain HTTP to this host until it expires. Send `max-age=0` over HTTPS for that long first."
            )),
            Some(t) if t.hsts.is_none() => notes.push(format!(
                "Strict-Transport-Security is no longer sent, but browsers keep the previous phase's ({hsts}) until it expires: keep serving HTTPS that long."
            )),
            Some(_) => {}
        }
    }
    notes
}

/// Operational notes for moves that need more than applying the files, in the order
/// to act on them: what must exist first (a platform, secrets), then the datastores,
/// then the processes.
pub fn notes(from: &Plan, to: &Plan) -> Vec<String> {
    let mut notes = Vec::new();
    let gained: Vec<&str> = to
        .platforms
        .iter()
        .filter(|p| !from.platforms.contains(p))
        .map(|p| p.as_str())
        .collect();
    if !gained.is_empty() && !to.datastores.is_empty() {
        notes.push(format!(
            "New platform ({}): the datastores start empty there; copy the data (pg_dump/pg_basebackup, Redis replication or a dump) before moving traffic, and keep the old stack until the new one is verified.",
            gained.join(", ")
        ));
    }
    let secrets = |p: &Plan| -> BTreeSet<String> {
        p.services
            .values()
            .flat_map(|s| s.secrets.iter().cloned())
            .chain(
                p.datastores
                    .values()
                    .flat_map(|d| d.secrets.iter().cloned()),
            )
            .chain(p.managed.values().flat_map(|m| m.secrets.iter().cloned()))
            .collect()
    };
    let new_secrets: Vec<String> = secrets(to).difference(&secrets(from)).cloned().collect();
    if !new_secrets.is_empty() {
        notes.push(format!(
            "New secrets to set before starting (in `.env`, or the platform's secret store): {}.",
            new_secrets.join(", ")
        ));
    }
    notes.extend(tls_notes(from, to));
    if to.platforms.contains(&crate::model::Platform::Kubernetes) {
        for (name, t) in &to.tiers {
            let Some(pool) = &t.pool else {
                continue;
            };
            if from.tiers.get(name).and_then(|f| f.pool.as_ref()) == Some(pool) {
                continue;
            }
            let labels: Vec<String> = pool
                .node_selector
                .iter()
                .map(|(k, v)| format!("`{k}={v}`"))
                .collect();
            // A datastore already running on Kubernetes keeps its volumes where they are.
            let moves_volumes = from.platforms.contains(&crate::model::Platform::Kubernetes)
                && to
                    .datastores
                    .values()
                    .any(|d| d.tier.as_deref() == Some(name.as_str()));
            notes.push(format!(
                "The pods of tier `{name}` now select nodes labelled {}: create that node pool{} before applying, or they stay Pending{}.",
                labels.join(" and "),
                if pool.tolerations.is_empty() {
                    ""
                } else {
                    " with its taints"
                },
                if moves_volumes {
                    "; a datastore's pod follows its volume, which stays in its zone: the pool needs nodes there"
                } else {
                    ""
                }
            ));
        }
    }
    for (name, b) in &to.datastores {
        let patroni =
            |d: &crate::plan::DatastorePlan| d.postgres().is_some_and(|pg| pg.patroni.is_some());
        let Some(a) = from.datastores.get(name) else {
            continue;
        };
        match (patroni(a), patroni(b)) {
            (false, true) if a.postgres().is_some() => notes.push(format!(
                "`{name}` moves under Patroni's automatic failover, which takes over the primary's data rather than copy it (Patroni's \"convert a standalone to a Patroni cluster\"): stop the old primary cleanly, move its data into `pgdata/` of its volume on machines and compose (on Kubernetes it is there already), start etcd's members (machines, compose), then Patroni on the primary's server first: it adopts the data and leads; the other servers start empty and copy it (on Kubernetes delete the replicas' StatefulSet `{name}-replica` and its claims). Clients reach the primary through `{name}-router` (machines, compose) or the Service `{name}`, which Patroni points at it (Kubernetes): writes stop from the old primary's stop until Patroni leads."
            )),
            (true, false) => notes.push(format!(
                "`{name}` leaves Patroni: fail over by hand from now on. Pause the cluster (`patronictl pause`), note which server is the primary (`patronictl list`), stop every server, and start the rendered primary on that server's data (on machines and compose, moved from `pgdata/` to its volume's root); the others are copied again as replicas. Remove etcd's members and `{name}-router`, or on Kubernetes Patroni's Endpoints (`kubectl delete endpoints,service -l cluster-name={name}`), once nothing uses them."
            )),
            _ => {}
        }
    }
    for (name, a) in &from.datastores {
        let (Some(old), Some(b)) = (a.backup(), to.datastores.get(name)) else {
            continue;
        };
        if b.backup().is_none() {
            notes.push(format!(
                "`{name}` is no longer backed up: disable its timers on the primary's machine (`sudo systemctl disable --now {u}-full.timer {u}-differential.timer`) or delete its CronJobs and their account on Kubernetes (`kubectl delete cronjob {name}-backup-full {name}-backup-differential`, then the ServiceAccount, Role and RoleBinding `{name}-backup`: `kubectl apply -k` keeps what it no longer lists); the repository keeps its backups until you remove them.",
                u = old.unit
            ));
        }
    }
    for (name, b) in &to.datastores {
        let Some(new) = b.backup() else { continue };
        let old = from.datastores.get(name).and_then(|a| a.backup());
        let repo_changes = old.is_some_and(|o| o.repo.text() != new.repo.text());
        if old.is_none() {
            notes.push(format!(
                "`{name}` is backed up from now on: its servers run the image with pgBackRest (built from `images/{name}/Dockerfile`), which a restart of each brings in; the primary's first start creates the stanza only on a new volume, so on an existing one run `{}` in it once, then the first full backup (the README's backup section).",
                new.command("stanza-create")
            ));
        } else if repo_changes {
            notes.push(format!(
                "`{name}`'s backups move to {}, which starts empty: create its stanza (`{}` in the primary) and take a full backup right away; the old repository keeps what it has until you remove it, and only it can restore to a moment before the move.",
                new.repo.text(),
                new.command("stanza-create")
            ));
        }
        if let Some(a) = from
            .datastores
            .get(name)
            .filter(|a| a.version != b.version && old.is_some() && !repo_changes)
        {
            notes.push(format!(
                "`{name}`'s repository holds PostgreSQL {}'s backups: after the upgrade run `{}` in the primary, before its archive accepts {}'s segments, then a full backup.",
                a.version, new.command("stanza-upgrade"), b.version
            ));
        }
    }
    for (name, b) in &to.datastores {
        let (Some(a), crate::plan::EnginePlan::Rabbitmq(rb)) =
            (from.datastores.get(name), &b.engine)
        else {
            continue;
        };
        let crate::plan::EnginePlan::Rabbitmq(ra) = &a.engine else {
            continue;
        };
        if ra.nodes == 1 && rb.nodes > 1 {
            let k8s =
                |p: &crate::plan::Plan| p.platforms.contains(&crate::model::Platform::Kubernetes);
            notes.push(format!(
                "`{name}` becomes a cluster of {} brokers, which start empty and form from their peer list (set `{}` first: the same on every broker). Its queues move only as messages: before the new brokers start, drain each queue on the old broker (stop the publishers, let the workers empty it); the workers then declare them on the cluster, as quorum queues. Remove the old broker afterwards (`docker compose up -d --remove-orphans`). A Celery worker must know its queues are quorum queues (which refuse the global QoS it asks for by default): declare them with `x-queue-type: quorum` in its `task_queues`{}.",
                rb.nodes,
                rb.cookie_secret.as_deref().unwrap_or_default(),
                if k8s(from) && k8s(to) {
                    format!("; on Kubernetes, delete the broker's StatefulSet first without its pod and volume (`kubectl delete statefulset {name} --cascade=orphan`), since its pod management policy cannot change in place; the new one adopts and replaces them")
                } else {
                    String::new()
                }
            ));
        } else if ra.nodes > 1 && rb.nodes != ra.nodes {
            notes.push(format!(
                "`{name}` goes from {} to {} brokers: a quorum queue keeps its members as they were; add or remove them with `rabbitmq-queues grow` / `shrink` once the brokers have joined or before they leave.",
                ra.nodes, rb.nodes
            ));
        }
    }
    for (name, m) in &from.managed {
        if to.datastores.contains_key(name) {
            notes.push(format!(
                "`{name}` moves from the provider ({}) to a server of its own, which starts empty: copy the data over before the services restart on its address.",
                m.host
            ));
        }
    }
    for (name, a) in &from.datastores {
        if let Some(m) = to.managed.get(name) {
            let how = match m.engine {
                "postgres" => "`pg_dump -Fc` and `pg_restore` in a quiet hour, or logical replication (a publication here, a subscription there) to cut over in seconds",
                "redis" => "let a cache refill, or copy a broker's keys (`redis-cli --rdb` and the provider's import, or `MIGRATE`) with the workers stopped",
                _ => "drain its queues (stop the publishers, let the consumers empty them)",
            };
            notes.push(format!(
                "`{name}` moves to the provider at {}: its data does not move by itself ({how}); `{}_PASSWORD` must now hold the provider's password{}, and the services use the new address once they restart. Stop the old server only afterwards.",
                m.host,
                m.env_prefix,
                match m.engine {
                    "postgres" => format!(" for the role `{}` created there", app_role(from, name)),
                    _ => String::new(),
                }
            ));
            continue;
        }
        let Some(b) = to.datastores.get(name) else {
            let queues: Vec<&str> = from
                .services
                .values()
                .filter_map(|s| s.queue.as_ref())
                .filter(|q| &q.broker == name)
                .map(|q| q.name.as_str())
                .collect();
            notes.push(format!(
                "`{name}` is removed{}: move or drain its data first; nothing copies it.",
                if queues.is_empty() {
                    String::new()
                } else {
                    format!(", with the messages queued in {}", queues.join(", "))
                }
            ));
            continue;
        };
        if a.engine.name() != b.engine.name() {
            notes.push(format!(
                "`{name}` changes engine ({} → {}): its data does not move by itself.",
                a.engine, b.engine
            ));
            continue;
        }
        if a.tier != b.tier && any_has_machines(&to.platforms) {
            notes.push(format!(
                "`{name}` moves to tier `{}`: on the new machines it starts empty; copy its data over before switching clients.",
                b.tier.clone().unwrap_or_default()
            ));
        }
        if let (Some(ra), Some(rb)) = (a.redis(), b.redis()) {
            if !ra.cluster && rb.cluster {
                notes.push(format!(
                    "`{name}` becomes a Redis Cluster, which starts empty: copy the data over (`redis-cli --cluster import <new node> --cluster-from <old standalone> --cluster-from-askpass --cluster-copy`, with REDISCLI_AUTH set for the new nodes), or let a cache refill, before pointing clients at `{}_CLUSTER_NODES` (cluster-aware clients only).",
                    b.env_prefix
                ));
            } else if ra.cluster && !rb.cluster {
                notes.push(format!(
                    "`{name}` goes from a cluster back to one server: copy the keys (e.g. MIGRATE, or a dump and restore of each master) before switching clients."
                ));
            } else if ra.cluster
                && rb.cluster
                && (rb.masters, rb.replicas_per_master) != (ra.masters, ra.replicas_per_master)
            {
                let (masters_a, masters_b) = (ra.masters, rb.masters);
                let replicas = |r: &crate::plan::RedisPlan| r.masters * r.replicas_per_master;
                let grows = masters_b >= masters_a && replicas(rb) >= replicas(ra);
                if grows {
                    let mut steps = Vec::new();
                    let added = masters_b - masters_a;
                    if added == 1 {
                        steps.push("adds 1 master (`redis-cli --cluster add-node`) and moves its share of the slots to it (`--cluster rebalance --cluster-use-empty-masters`, keys and all)".to_string());
                    } else if added > 1 {
                        steps.push(format!("adds {added} masters (`redis-cli --cluster add-node`) and moves their share of the slots to them (`--cluster rebalance --cluster-use-empty-masters`, keys and all)"));
                    }
                    let new_replicas = replicas(rb) - replicas(ra);
                    if new_replicas > 0 {
                        steps.push(format!(
                            "then attaches {new_replicas} replica{} to the masters with the fewest (`add-node --cluster-slave`)",
                            if new_replicas == 1 { "" } else { "s" }
                        ));
                    }
                    notes.push(format!(
                        "`{name}` grows from {} masters and {} replicas to {} and {}: once its new nodes run, its cluster-init (the `{}` one-shot service on `docker compose up`, a new Job on Kubernetes) {}; it waits until every slot is served and every replica attached. Until then clients see the old shape.",
                        masters_a,
                        replicas(ra),
                        masters_b,
                        replicas(rb),
                        b.compose.cluster_init.as_deref().unwrap_or_default(),
                        steps.join(", ")
                    ));
                } else {
                    notes.push(format!(
                        "`{name}` shrinks from {} masters and {} replicas to {} and {}: cluster-init never removes a node. Before the nodes go, move the slots off each master that leaves (`redis-cli --cluster rebalance` with `--cluster-weight <its id>=0`) and `redis-cli --cluster del-node` each leaving node, or its slots go down with it.",
                        masters_a,
                        replicas(ra),
                        masters_b,
                        replicas(rb)
                    ));
                }
            }
            if rb.role == "broker"
                && rb.maxmemory > 0
                && (ra.maxmemory == 0 || rb.maxmemory < ra.maxmemory)
            {
                notes.push(format!(
                    "`{name}` is a broker (it never evicts) and its memory shrinks: check `INFO memory` first, or new messages are refused once it is full."
                ));
            }
        }
        if let (Some(pa), Some(pb)) = (a.postgres(), b.postgres()) {
            let major = |v: &str| v.split('.').next().unwrap_or(v).to_string();
            if major(&a.version) != major(&b.version) {
                notes.push(format!(
                    "`{name}` moves to PostgreSQL {} from {}: the new server cannot read the old data directory. Upgrade it with pg_upgrade (or dump and restore), then rebuild the replicas from the new primary.",
                    b.version, a.version
                ));
            }
            if pb.replicas > pa.replicas {
                notes.push(format!(
                    "`{name}` gains replicas: start them (each creates its replication slot on the primary if missing), wait until `pg_stat_replication` on the primary shows each one `streaming`, and only then send reads to `{}_READ_HOST`.",
                    b.env_prefix
                ));
            }
            if pb.replicas < pa.replicas {
                notes.push(format!(
                    "`{name}` loses replicas: move reads away first, then drop each removed replica's slot on the primary (`SELECT pg_drop_replication_slot('…')`), or the primary keeps WAL for it."
                ));
            }
            if pa.pooler.is_none() && pb.pooler.is_some() {
                notes.push(format!(
                    "`{name}` gets PgBouncer: services reach the database through it (`{}_HOST` changes, and so must any connection URL among the secrets). In transaction mode, session state (prepared statements, SET, advisory locks) does not survive between transactions: check the application first.",
                    b.env_prefix
                ));
            }
            if !pa.synchronous && pb.synchronous {
                notes.push(format!(
                    "`{name}` turns synchronous: every commit now waits for a replica; make sure the replicas are streaming before the change, or writes stall."
                ));
            }
            if pb.max_connections > pa.max_connections {
                notes.push(format!(
                    "`{name}`: max_connections rises ({} → {}), which takes a restart: the replicas first (a replica's may not be below its primary's), then the primary.",
                    pa.max_connections, pb.max_connections
                ));
            } else if pb.max_connections < pa.max_connections {
                notes.push(format!(
                    "`{name}`: max_connections falls ({} → {}), which takes a restart: the primary first, then the replicas.",
                    pa.max_connections, pb.max_connections
                ));
            } else if pa.tune.shared_buffers != pb.tune.shared_buffers {
                notes.push(format!(
                    "`{name}`: shared_buffers changes ({} → {}), which takes a restart of each server (replicas first, then the primary).",
                    pa.tune.shared_buffers, pb.tune.shared_buffers
                ));
            }
        }
    }
    let consumed = |p: &Plan| -> BTreeSet<(String, String)> {
        p.services
            .values()
            .filter_map(|s| s.queue.as_ref())
            .map(|q| (q.broker.clone(), q.name.clone()))
            .collect()
    };
    for (broker, queue) in consumed(from).difference(&consumed(to)) {
        if to.datastores.contains_key(broker) {
            notes.push(format!(
                "Nothing consumes queue `{queue}` on `{broker}` any more: drain it before its last worker stops, or its messages stay unprocessed."
            ));
        }
    }
    // A job that is new or whose content changed runs before what waits for it.
    for (name, b) in &to.services {
        let Some(job) = &b.job else { continue };
        let before = from.services.get(name).and_then(|a| a.job.as_ref());
        if before.is_some_and(|a| a.hash == job.hash) {
            continue;
        }
        let waiting: Vec<String> = to
            .services
            .values()
            .filter(|s| s.after.contains(name))
            .map(|s| format!("`{}`", s.name))
            .collect();
        notes.push(format!(
            "Job `{name}` runs (content {}){}: it must succeed, and be safe to run again; on Kubernetes as the new Job `{}`.",
            job.hash,
            if waiting.is_empty() {
                String::new()
            } else {
                format!(" before {} start", waiting.join(", "))
            },
            job.kubernetes_name
        ));
    }
    for (name, b) in &to.services {
        if b.kind == crate::model::ServiceKind::Scheduler {
            if let Some(a) = from.services.get(name) {
                if a.image != b.image
                    || a.tier != b.tier
                    || from.platforms != to.platforms
                    || a.machines != b.machines
                {
                    notes.push(format!(
                        "Scheduler `{name}` must never run twice: stop the old one before the new one starts (every periodic job would run twice in between)."
                    ));
                }
            }
        }
    }
    if let (Some(a), Some(b)) = (&from.balancer, &to.balancer) {
        if a.engine != b.engine {
            let sticky: Vec<&str> = b
                .pools
                .iter()
                .filter(|(name, p)| {
                    p.sticky != crate::plan::Sticky::None && a.pools.contains_key(*name)
                })
                .map(|(name, _)| name.as_str())
                .collect();
            if !sticky.is_empty() {
                notes.push(format!(
                    "The balancer moves from {} to {}, which hash differently: most sticky clients of {} land on another instance once. Sessions or caches held on an instance start over for them.",
                    a.engine.as_str(),
                    b.engine.as_str(),
                    sticky
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if b.rate_limit.is_some() {
                notes.push(format!(
                    "Rate limits apply the same on {} as on {} (a token bucket per client), but the new balancer starts with every bucket full: each client may send its burst again at once.",
                    b.engine.as_str(),
                    a.engine.as_str()
                ));
            }
        }
        if a.engine != b.engine || a.listen != b.listen {
            if any_has_machines(&to.platforms) && a.listen == b.listen && a.tier == b.tier {
                notes.push("The balancer changes on the same machines and port: the new one cannot start beside the old. Stop the old and start the new in one step (a short outage), or bring the new one up on other machines and move DNS or the virtual IP.".into());
            } else {
                notes.push(format!("The balancer changes: bring the new one up beside the old, check its `{}`, then move DNS or the virtual IP, and only then stop the old one.", b.health_path));
            }
        }
        if a.health_path != b.health_path {
            notes.push(format!(
                "The balancer answers its own health at `{}`, no longer at `{}`: point whatever checks it from outside (a cloud load balancer's health check, an uptime monitor) at the new path; `{}` is routed like any other path.",
                b.health_path, a.health_path, a.health_path
            ));
        }
    }
    // Last: a standby region copies what the steps above put in place.
    notes.extend(standby_notes(from, to));
    notes
}

/// A standby region that appears, goes, or moves: what to open, start and clean up.
fn standby_notes(from: &Plan, to: &Plan) -> Vec<String> {
    let links = |p: &Plan| -> BTreeMap<String, crate::plan::StandbyLink> {
        p.datastores
            .iter()
            .filter_map(|(n, d)| Some((n.clone(), d.postgres()?.standby.clone()?)))
            .collect()
    };
    let (before, after) = (links(from), links(to));
    // Whether `name`'s primary runs on the same machine in both phases (hosts): a
    // server that runs on, rather than one that starts empty.
    let primary = |p: &Plan, name: &str| {
        p.datastores
            .get(name)
            .and_then(|d| d.primary_on(Platform::Hosts).map(|n| n.machine.clone()))
    };
    let same_primary =
        |name: &str| primary(from, name).is_some() && primary(from, name) == primary(to, name);
    let mut notes = Vec::new();
    for (name, link) in &after {
        let old = before.get(name);
        if old.is_some_and(|o| {
            o.region == link.region
                && o.machine == link.machine
                && o.upstream_host == link.upstream_host
        }) {
            continue;
        }
        notes.push(format!(
            "`{name}` streams to the standby region `{}`: {}open its port ({}) on `{}` to `{}` across the regions, then start the region from `hosts/standby-{}/` (its README: PostgreSQL alone, until promoted). The server there copies `{name}` whole on its first start{}.",
            link.region,
            match (old, same_primary(name)) {
                (Some(_), _) => String::new(),
                (None, true) => "its servers take two more WAL senders, which needs a restart (the replicas first, then the primary: a replica needs at least its primary's); ".to_string(),
                (None, false) => format!("once `{name}` holds its data and its replicas stream, "),
            },
            link.upstream_port,
            link.upstream_host,
            link.machine,
            link.region,
            if old.is_some() { "; the former standby's copy is not reused: stop it, and drop its slot if it had another name" } else { "" },
        ));
    }
    for (name, link) in &before {
        if after.get(name).is_some_and(|a| a.slot == link.slot) {
            continue;
        }
        notes.push(format!(
            "`{name}` no longer streams to the standby region `{}`: stop the servers there, then drop its slot on the primary (`SELECT pg_drop_replication_slot('{}')`), or the primary keeps WAL for it (up to `max_slot_wal_keep_size`) and `PostgresReplicaNotStreaming` keeps firing.",
            link.region, link.slot
        ));
    }
    notes
}

/// The application role of PostgreSQL `name` in `plan` (the one the services log in
/// as), for notes about moving it.
fn app_role(plan: &Plan, name: &str) -> String {
    plan.datastores
        .get(name)
        .and_then(|d| d.postgres())
        .map_or_else(|| name.to_string(), |pg| pg.user.clone())
}
