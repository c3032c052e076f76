//! The hosts platform: one bundle per machine, `<machine>/…`, for phases whose tiers
//! list their hosts: that machine's `docker-compose.yml`, the configs of what runs
//! there, and the `.env.example` of the secrets it reads.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::model::Platform;
use crate::plan::Plan;
use crate::render::templates::{TemplateError, Templates};

use super::bundle::machine_dir;
use super::compose_file::{
    app_containers, balancer_container, compose_document, datadog_agent, datastore_containers,
    emit, env_example, interpolated, monitoring_containers, Layout,
};
use super::{balancer, datastores};

#[derive(Default)]
struct Machine {
    files: Vec<(String, String)>,
    services: Map<String, Value>,
    volumes: BTreeSet<String>,
    /// The receivers whose URLs Alertmanager reads here.
    secrets: Vec<crate::plan::scrape::NotifyPlan>,
}

/// The files of the hosts bundle, by path inside it (`<machine>/…`).
pub fn render(plan: &Plan, templates: &Templates) -> Result<Vec<(String, String)>, TemplateError> {
    let mut machines: BTreeMap<String, Machine> = BTreeMap::new();
    if let Some(lb) = &plan.balancer {
        for node in lb.nodes.get(&Platform::Hosts).into_iter().flatten() {
            let text = balancer::render(plan, lb, Platform::Hosts, node, templates)?;
            let m = machines.entry(node.host.clone()).or_default();
            m.files
                .push((balancer::file_name(lb.engine).to_string(), text));
            if let Some(text) = balancer::tls_readme(plan, lb, Platform::Hosts) {
                m.files.push(("README.md".to_string(), text));
            }
            let (name, svc) = balancer_container(plan, Layout::Hosts, &node.host);
            m.services.insert(name, svc);
        }
    }
    for s in plan.services.values() {
        for machine in s.machines.iter().collect::<BTreeSet<_>>() {
            let m = machines.entry(machine.clone()).or_default();
            for (name, svc) in app_containers(plan, s, Layout::Hosts, Some(machine)) {
                m.services.insert(name, svc);
            }
        }
    }
    for store in plan.datastores.values() {
        for f in datastores::render(plan, store, Platform::Hosts, templates)? {
            machines
                .entry(f.machine)
                .or_default()
                .files
                .push((f.path, f.text));
        }
        let on: BTreeSet<String> = store
            .nodes
            .get(&Platform::Hosts)
            .into_iter()
            .flatten()
            .map(|n| n.machine.clone())
            .collect();
        for machine in on {
            let m = machines.entry(machine.clone()).or_default();
            for (name, svc, volume) in datastore_containers(store, Layout::Hosts, Some(&machine)) {
                m.services.insert(name, svc);
                m.volumes.extend(volume);
            }
        }
    }
    // The Datadog Agent beside the traced services, on each of their machines.
    if let Some(agent) = plan.apm.as_ref().and_then(|a| a.agent.as_ref()) {
        for machine in &agent.machines {
            if let Some((name, c)) = datadog_agent(plan, Some(machine)) {
                machines
                    .entry(machine.clone())
                    .or_default()
                    .services
                    .insert(name, c);
            }
        }
    }
    let scrape = plan.scrape.get(&Platform::Hosts);
    if let Some(scrape) = scrape {
        // Every machine's cAdvisor and exporters; on the monitoring machine,
        // Prometheus, Alertmanager and Grafana with their files.
        let on: BTreeSet<String> = scrape
            .exporters
            .values()
            .filter_map(|e| e.machine.clone())
            .chain(scrape.home.as_ref().and_then(|h| h.machine.clone()))
            .collect();
        for machine in on {
            let m = machines.entry(machine.clone()).or_default();
            let (containers, volumes) = monitoring_containers(plan, scrape, Some(&machine));
            m.services.extend(containers);
            m.volumes.extend(volumes);
        }
        if let Some(home) = scrape.home.as_ref().and_then(|h| h.machine.as_ref()) {
            let m = machines.entry(home.clone()).or_default();
            m.files
                .extend(super::monitoring::files(plan, Platform::Hosts)?);
            m.secrets = scrape.notify.clone();
        }
    }
    // A standby region runs its PostgreSQL servers only: the rest waits, in the
    // compose profile `promoted`, for the region to take over.
    if plan.standby_region.is_some() {
        let servers: BTreeSet<&str> = plan
            .datastores
            .values()
            .filter(|d| d.postgres().is_some())
            .flat_map(|d| d.nodes_on(Platform::Hosts))
            .filter(|n| {
                matches!(
                    n.role,
                    crate::plan::NodeRole::Primary | crate::plan::NodeRole::Replica
                )
            })
            .map(|n| n.id.as_str())
            .collect();
        for m in machines.values_mut() {
            for (name, svc) in &mut m.services {
                if !servers.contains(name.as_str()) {
                    svc["profiles"] = serde_json::json!([PROMOTED_PROFILE]);
                }
            }
        }
    }
    let mut files = vec![
        ("README.md".to_string(), start_order(plan)),
        (
            ".gitignore".to_string(),
            super::bundle::secrets_gitignore(plan, ".env"),
        ),
    ];
    for (machine, m) in machines {
        let dir = machine_dir(&machine);
        for (path, text) in m.files {
            files.push((format!("{dir}/{path}"), text));
        }
        if !m.services.is_empty() {
            let mut doc = compose_document(plan, m.services, m.volumes, false);
            // Each receiver's URL, from the .env, as a file only Alertmanager reads.
            if !m.secrets.is_empty() {
                doc["secrets"] = super::compose_file::notify_secrets(&m.secrets);
            }
            files.push((
                format!("{dir}/docker-compose.yml"),
                emit(plan, &doc, &match plan.standby_region {
                    None => format!("docker compose up -d  (on {machine})"),
                    Some(_) => format!("docker compose up -d  (on {machine}: PostgreSQL only, until the region is promoted; then `docker compose --profile {PROMOTED_PROFILE} up -d`)"),
                })?,
            ));
            files.push((
                format!("{dir}/.env.example"),
                env_example(plan, Some(&machine), &interpolated(&doc)),
            ));
        }
    }
    if let Some(standby) = &plan.standby {
        for (path, text) in render(&standby.plan, templates)? {
            files.push((format!("{}/{path}", standby.dir), text));
        }
    }
    Ok(files)
}

/// The compose profile of what a standby region starts only once promoted.
pub const PROMOTED_PROFILE: &str = "promoted";

/// The bundle's README: what runs on each machine, and the order to start them in.
/// Nothing waits across machines (compose's `depends_on` is per machine), so the
/// machines of datastores' primaries come first, then their replicas and poolers, then
/// the jobs, then the services, then the balancer.
fn start_order(plan: &Plan) -> String {
    use crate::plan::NodeRole;
    // Each machine's earliest step, and what runs there.
    let mut on: BTreeMap<String, (u8, Vec<String>)> = BTreeMap::new();
    let mut put = |machine: &str, step: u8, what: String| {
        let entry = on.entry(machine.to_string()).or_insert((step, Vec::new()));
        entry.0 = entry.0.min(step);
        entry.1.push(what);
    };
    for store in plan.datastores.values() {
        for node in store.nodes.get(&Platform::Hosts).into_iter().flatten() {
            let step = match node.role {
                // etcd's members wait for each other, and Patroni for etcd.
                NodeRole::Primary | NodeRole::Master | NodeRole::Node | NodeRole::Etcd => 1,
                NodeRole::Replica | NodeRole::Pooler | NodeRole::Router => 2,
            };
            put(&node.machine, step, format!("`{}`", node.id));
        }
    }
    // Jobs run after the datastores and before the services (a step of their own
    // when the phase has any).
    let jobs: Vec<&crate::plan::ServicePlan> =
        plan.services.values().filter(|s| s.job.is_some()).collect();
    let after_jobs = u8::from(!jobs.is_empty());
    for s in plan.services.values() {
        let (step, what) = if s.job.is_some() {
            (3, format!("`{}` (job)", s.name))
        } else {
            (3 + after_jobs, format!("`{}`", s.name))
        };
        for machine in s.machines.iter().collect::<BTreeSet<_>>() {
            put(machine, step, what.clone());
        }
    }
    // The Datadog Agent with the services it takes traces from.
    if let Some(agent) = plan.apm.as_ref().and_then(|a| a.agent.as_ref()) {
        for machine in &agent.machines {
            put(machine, 3 + after_jobs, format!("`{}`", agent.container));
        }
    }
    if let Some(lb) = &plan.balancer {
        for node in lb.nodes.get(&Platform::Hosts).into_iter().flatten() {
            put(&node.host, 4 + after_jobs, "the balancer".to_string());
        }
    }
    // The monitoring last: it would only page about what has not started yet.
    let home = plan
        .scrape
        .get(&Platform::Hosts)
        .and_then(|s| s.home.as_ref())
        .and_then(|h| h.machine.clone().map(|m| (m, h.clone())));
    if let Some((machine, _)) = &home {
        put(
            machine,
            4 + after_jobs,
            "the monitoring (Prometheus, Grafana)".to_string(),
        );
    }
    // A service that waits for a job on another machine, on a machine that starts no
    // later than the job's (it also runs a datastore, or the job shares its step):
    // the order cannot hold it back, so the README says what to do.
    let step_of = |m: &String| on.get(m).map_or(0, |(step, _)| *step);
    let mut early: Vec<String> = Vec::new();
    for s in plan.services.values() {
        for job in s.after.iter().filter_map(|j| plan.services.get(j)) {
            for m in &s.machines {
                for jm in job.machines.iter().filter(|jm| *jm != m) {
                    if step_of(m) <= step_of(jm) {
                        early.push(format!(
                            "- `{}` on `{}/` waits for job `{}` on `{}/`, which this order does not start first: on `{}/`, start the datastores alone first (`docker compose up -d <datastore> …`), and the rest once the job succeeded.\n",
                            s.name,
                            machine_dir(m),
                            job.name,
                            machine_dir(jm),
                            machine_dir(m)
                        ));
                    }
                }
            }
        }
    }
    early.sort();
    early.dedup();
    let mut rows: Vec<(u8, String, Vec<String>)> = on
        .into_iter()
        .map(|(machine, (step, what))| (step, machine, what))
        .collect();
    rows.sort();
    // Steps numbered 1, 2, 3 … over the kinds of step this phase has.
    let kinds: BTreeSet<u8> = rows.iter().map(|(step, ..)| *step).collect();
    for row in &mut rows {
        row.0 = kinds.iter().position(|k| *k == row.0).expect("a kind") as u8 + 1;
    }
    let (mut out, up) = match &plan.standby_region {
        None => (
            format!(
                "<!-- {} -->\n\n# {}: phase `{}` on its machines\n\nOne folder per machine. On each machine: copy its folder there, `cp .env.example .env` and fill in every value (the same secret values on every machine), then `docker compose up -d`.\n\n",
                super::bundle::generated_header(plan),
                plan.blueprint,
                plan.phase
            ),
            "docker compose up -d",
        ),
        Some(region) => (
            format!(
                "<!-- {} -->\n\n# {}: phase `{}`, standby region `{}`\n\n{}## Once promoted: the start order\n\nOn each machine: `docker compose --profile {PROMOTED_PROFILE} up -d`. ",
                super::bundle::generated_header(plan),
                plan.blueprint,
                plan.phase,
                region.name,
                standby_intro(plan),
            ),
            "docker compose --profile promoted up -d",
        ),
    };
    out.push_str(
        "Start the machines in this order. Services reach datastores on other machines by address and nothing waits across machines, so a datastore's primary comes before its replicas and pooler, the datastores before the services, and the services before the balancer. A machine that runs several of these starts at its earliest step: what it runs that needs another machine (a service whose database or pooler starts later) exits until that answers, and Docker restarts it (`restart: unless-stopped`), so the order shortens the wait rather than being required.\n\n| step | machine | runs |\n|---|---|---|\n"
    );
    for (step, machine, what) in rows {
        out.push_str(&format!(
            "| {step} | `{}/` | {} |\n",
            machine_dir(&machine),
            what.join(", ")
        ));
    }
    if !jobs.is_empty() {
        out.push_str("\nA job runs once to completion, after the datastores it uses on its machine are healthy and before the services that wait for it (`after`); a service on the job's machine waits for it by itself. Before the next machine, check that each job on this one succeeded: the command stops with an error when it did not (`docker compose logs <job>` tells why). Each `docker compose up` runs the job again, as compose does, so it must be safe to repeat (migrations are). After `");
        out.push_str(up);
        out.push_str("` on a job's machine:\n\n");
        for s in jobs {
            for machine in s.machines.iter().collect::<BTreeSet<_>>() {
                let container = s.containers.first().map_or(s.name.as_str(), String::as_str);
                out.push_str(&format!(
                    "- `{}/`, job `{}`: `test \"$(docker wait \"$(docker compose ps -aq {container})\")\" = 0`\n",
                    machine_dir(machine),
                    s.name
                ));
            }
        }
        if !early.is_empty() {
            out.push('\n');
            out.extend(early);
        }
    }
    if let Some((machine, h)) = &home {
        let dir = machine_dir(machine);
        let grafana = crate::plan::scrape::address(&h.listen_address(), h.grafana);
        let alertmanager = if plan.scrape[&Platform::Hosts].notify.is_empty() {
            String::new()
        } else {
            format!(
                ", Alertmanager on {}, which sends the alerts to `monitoring.notify`",
                h.alertmanager_address()
            )
        };
        out.push_str(&format!(
            "\n## Monitoring\n\nEvery machine runs cAdvisor (its containers' CPU and memory), node_exporter (its disks) and an exporter beside each Redis node, PostgreSQL server and nginx balancer, in the machine's network. `{dir}/` also runs Prometheus, which scrapes them all across the machines and evaluates `{dir}/{}` (when this phase has outgrown its shape, and when something is down), and Grafana with the phase's dashboard. They listen on that machine's loopback address only: Prometheus on {}, Grafana on {grafana}{alertmanager}. Reach them through an SSH tunnel, e.g. `ssh -L {}:{grafana} {machine}`, then http://localhost:{}/ (user `admin`, the password `{}` held when Grafana first started: change it in Grafana afterwards).\n",
            super::monitoring::RULES_FILE,
            h.prometheus_address(),
            h.grafana,
            h.grafana,
            crate::plan::scrape::GRAFANA_ADMIN_SECRET,
        ));
    }
    out.push_str(&super::apm::section(plan, Platform::Hosts).unwrap_or_default());
    out.push_str(&gpus(plan));
    out.push_str(&backups(plan));
    out.push_str(&failover(plan));
    out.push_str(&standby_section(plan));
    out.push_str(&providers(plan));
    out.push_str(&ports(plan));
    out
}

/// The standby region's own README, before its start order: what runs now, how the
/// stream is watched, how the region takes over (planned or not), and what it cannot
/// do yet.
fn standby_intro(plan: &Plan) -> String {
    use crate::plan::NodeRole;
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let mut promote = Vec::new();
    let mut lag = Vec::new();
    let mut slots = Vec::new();
    for store in plan.datastores.values() {
        let Some(link) = store.postgres().and_then(|pg| pg.upstream.as_ref()) else {
            continue;
        };
        let nodes = store.nodes_on(Platform::Hosts);
        let Some(leader) = store.primary_on(Platform::Hosts) else {
            continue;
        };
        let upstream = crate::plan::scrape::address(&link.upstream_host, link.upstream_port);
        let dir = machine_dir(&leader.machine);
        rows.push((
            1,
            dir.clone(),
            format!(
                "`{}`, streaming from the phase's `{}` at {upstream} (slot `{}`)",
                leader.id, store.name, link.slot
            ),
        ));
        for r in nodes.iter().filter(|n| n.role == NodeRole::Replica) {
            rows.push((
                2,
                machine_dir(&r.machine),
                format!("`{}`, streaming from `{}` on `{dir}/`", r.id, leader.id),
            ));
        }
        let exec = format!("docker compose exec {} psql -U postgres -Atc", leader.id);
        checks.push(format!(
            "- `{}`: on `{dir}/`, `{exec} 'SELECT status, sender_host FROM pg_stat_wal_receiver'` answers `streaming|{}` (the superuser's password); on the phase's primary, `SELECT state, replay_lag FROM pg_stat_replication WHERE application_name = '{}'` shows how far behind this region is.\n",
            store.name, link.upstream_host, link.application_name
        ));
        lag.push(format!(
            "on `{dir}/`, `{exec} 'SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), pg_last_xact_replay_timestamp()'`"
        ));
        promote.push(format!(
            "on `{dir}/`, `{exec} 'SELECT pg_promote()'` answers `t`"
        ));
        slots.push(format!(
            "`SELECT pg_drop_replication_slot('{}')` on the phase's primary ({})",
            link.slot, link.upstream_host
        ));
    }
    rows.sort();
    let mut out = format!(
        "This region keeps a streaming copy of the phase's PostgreSQL and serves nothing until it is promoted. On each machine `docker compose up -d` starts the PostgreSQL servers alone; the services, the balancer, the other datastores and the monitoring are in the compose profile `{PROMOTED_PROFILE}`, which promotion starts.\n\n## Now: the copies\n\nOn each machine: copy its folder there, `cp .env.example .env` and fill in every value (the same secret values as the phase's machines: the copies log in to the phase's primary as its replication user), then `docker compose up -d`, in this order. On the machines with no server, fill in `.env` all the same and fetch the images (`docker compose --profile {PROMOTED_PROFILE} pull`): when the phase's region is lost, its secrets and registry may be lost with it.\n\n| step | machine | runs |\n|---|---|---|\n"
    );
    for (step, dir, what) in &rows {
        out.push_str(&format!("| {step} | `{dir}/` | {what} |\n"));
    }
    out.push_str("\nThe phase's primary admits each copy's machine for replication (its `pg_hba.conf`); its firewall must let it in on the server's port across the regions, over a private link or a VPN: tierform does not encrypt the stream. Each copy streams from the primary's address, which its start script holds (`primary_host`): after a failover inside the phase's region, set the new primary's there, empty the copy's volume and start it again, which copies the new primary over a slot of its own.\n\n");
    out.extend(checks);
    out.push_str(&format!(
        "- The phase's primary keeps the WAL a copy has not received, in its slot, up to `max_slot_wal_keep_size`; its alert `PostgresReplicaNotStreaming` fires when the slot is idle for 5 minutes. Nothing else in this region is watched until it is promoted. A copy away longer loses its slot and is copied again: {}, then `docker compose down`, delete its volume (`docker volume rm`) and `docker compose up -d`. Never empty a promoted server's volume: its start script would copy the old region again.\n",
        slots.join("; ")
    ));
    let mut others: Vec<String> = Vec::new();
    for store in plan.datastores.values() {
        match &store.engine {
            crate::plan::EnginePlan::Postgres(_) => {}
            crate::plan::EnginePlan::Redis(r) if r.role == "broker" => others.push(format!(
                "Redis `{}` (a broker) starts empty: the tasks queued in the lost region are lost with it; reconcile what they were for",
                store.name
            )),
            crate::plan::EnginePlan::Redis(_) => others.push(format!(
                "Redis `{}` starts empty (a cache: it refills)",
                store.name
            )),
            crate::plan::EnginePlan::Rabbitmq(_) => others.push(format!(
                "RabbitMQ `{}` starts empty: the messages queued in the lost region are lost with it; reconcile what they were for",
                store.name
            )),
        }
    }
    for m in plan.managed.values() {
        others.push(format!(
            "`{}` runs at its provider: promote the provider's replica in this region and give its address in the blueprint",
            m.name
        ));
    }
    let clients = plan
        .balancer
        .as_ref()
        .map(|lb| {
            lb.nodes
                .get(&Platform::Hosts)
                .into_iter()
                .flatten()
                .map(|n| format!("`{}`", n.host))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|b| !b.is_empty())
        .map_or("this region's services".to_string(), |b| {
            format!("this region's balancer ({b})")
        });
    let dns = match plan.standby_region.as_ref().and_then(|r| r.dns.as_ref()) {
        Some(n) => format!("`{n}`"),
        None => "the application's DNS name".to_string(),
    };
    out.push_str(&format!(
        "\n## Promotion: when the phase's region is lost\n\nThe stream is asynchronous: what the lost primary committed in its last moments, and had not sent yet, is lost with it.\n\n1. Fence the old region, for good: nothing there may take a write again, even after a reboot. On each machine that answers, `docker compose down` (a container only stopped comes back with Docker after a reboot); at the provider, close the old region's database and client ports (security groups, firewall) or detach its disks. Two primaries that both took writes cannot be merged.\n2. Note what is lost: {}. The last replayed transaction's time is where this region's data ends.\n3. Promote PostgreSQL: {}. The region's replicas follow their server by themselves.\n4. Start the rest, machine by machine in the order below: `docker compose --profile {PROMOTED_PROFILE} up -d`.\n",
        lag.join("; "),
        promote.join("; ")
    ));
    let mut step = 5;
    if !others.is_empty() {
        out.push_str(&format!("{step}. {}.\n", others.join("; ")));
        step += 1;
    }
    out.push_str(&format!(
        "{step}. Move the clients, only once step 1 is done: point {dns} at {clients}. Keep its TTL low (60 s) ahead of time, or let the DNS provider's health-checked failover routing move it (it does so once the old region stops answering).\n{}. This region is the application from then on: its promoted servers start as primaries (promotion ended their recovery). The old region comes back only as a new copy of this one, its volumes emptied. tierform does not yet render a region swapped back after a promotion: copy this region's primary by hand (`pg_basebackup`) to protect it again.\n\n**A planned move** (a region's maintenance) loses nothing: stop the services and the balancer in the phase's region, wait until on its primary `SELECT pg_current_wal_lsn()` equals, here, `pg_last_wal_replay_lsn()`, fence the old region (step 1), then go on from step 3.\n\n",
        step + 1
    ));
    out
}

/// The phase's side of the standby region: where its bundle is, and the stream each
/// PostgreSQL primary here feeds.
fn standby_section(plan: &Plan) -> String {
    let Some(standby) = &plan.standby else {
        return String::new();
    };
    let mut lines = Vec::new();
    for store in plan.datastores.values() {
        let Some(link) = store.postgres().and_then(|pg| pg.standby.as_ref()) else {
            continue;
        };
        lines.push(format!(
            "- `{}` streams to the standby's copy on `{}` (replication slot `{}`, `application_name` `{}`), which its `pg_hba.conf` admits; open its port to that machine across the regions, over a private link or a VPN (tierform does not encrypt the stream).\n",
            store.name, link.machine, link.slot, link.application_name
        ));
    }
    format!(
        "\n## Standby region `{}`\n\n`{}/` is a second copy of this phase on other machines, which keeps a streaming copy of the PostgreSQL datastores and serves nothing until promoted: its README has its start order and the promotion procedure.\n\n{}",
        standby.name,
        standby.dir,
        lines.concat()
    )
}

/// How each PostgreSQL under Patroni (`ha: auto`) is watched and looked after: the
/// cluster's state, a switchover, a lost etcd member, a machine that changes address.
fn failover(plan: &Plan) -> String {
    use crate::plan::NodeRole;
    let mut out = String::new();
    for store in plan.datastores.values() {
        let Some(pat) = store.postgres().and_then(|pg| pg.patroni.as_ref()) else {
            continue;
        };
        let nodes = store.nodes_on(Platform::Hosts);
        let Some(first) = crate::plan::patroni_servers(nodes).next() else {
            continue;
        };
        let etcd: Vec<&crate::plan::DatastoreNode> =
            nodes.iter().filter(|n| n.role == NodeRole::Etcd).collect();
        let endpoints = etcd
            .iter()
            .map(|e| format!("http://{}", crate::plan::scrape::address(&e.host, e.port)))
            .collect::<Vec<_>>()
            .join(",");
        let router = nodes
            .iter()
            .find(|n| n.role == NodeRole::Router)
            .map(|r| format!("`{}` on `{}/`", r.id, machine_dir(&r.machine)))
            .unwrap_or_default();
        let exec = format!(
            "docker compose exec {} patronictl -c /etc/tierform/postgres/patroni-{}.yml",
            first.id, first.id
        );
        out.push_str(&format!(
            "\n## `{name}`: automatic failover (Patroni)\n\nPatroni runs each server of `{name}` and holds the primary's lease in etcd ({members} members: {list}); when the primary stops renewing it, its lease runs out within {ttl} s and the most advanced replica{sync} takes over. Clients reach the primary through the router, {router}, which asks each server's Patroni. The machines need each other's etcd (client and peer) and Patroni API ports open (below).\n\n- The cluster, on `{dir}/`: `{exec} list`.\n- Move the primary on purpose (before a machine's maintenance): `{exec} switchover --candidate <server> --force`; `{exec} pause` keeps Patroni from acting while you work on the servers, `resume` gives it back.\n- A former primary rejoins as a replica by itself (pg_rewind); one whose data cannot be rewound: `{exec} reinit {name} <server>`.\n- etcd keeps its lease with two of three members. A member's machine lost for good: on a living member `etcdctl --endpoints={endpoints} member remove <id>` (`member list` shows the ids), then `member add <name> --peer-urls=http://<address>:<peer port>`, and start the new member with an empty data folder and `initial-cluster-state: existing` in its file.\n- A machine that changes address: etcd keeps its members' peer addresses itself (`etcdctl member update <id> --peer-urls=…`); render the bundle again for the Patroni files, the router's and `pg_hba.conf`, and restart the router last.\n",
            name = store.name,
            members = etcd.len(),
            list = etcd
                .iter()
                .map(|e| format!("`{}` on `{}/`", e.id, machine_dir(&e.machine)))
                .collect::<Vec<_>>()
                .join(", "),
            ttl = pat.ttl_s,
            sync = if pat.synchronous_mode { " (the synchronous standby: no acknowledged commit is lost)" } else { "" },
            dir = machine_dir(&first.machine),
        ));
    }
    out
}

/// Where each backed-up datastore's backup README is: on its primary's machine.
fn backups(plan: &Plan) -> String {
    let mut lines = Vec::new();
    for store in plan.datastores.values() {
        let Some(b) = store.backup() else { continue };
        if let Some(p) = store.primary_on(Platform::Hosts) {
            lines.push(format!(
                "- `{}` to {}: follow `{}/backup/{}/README.md` on `{}` before its first `docker compose up` ({}, the timers); it checks the archive and restores.",
                store.name,
                b.repo.text(),
                p.machine,
                store.name,
                p.machine,
                match b.repo {
                    crate::plan::BackupRepo::Local { .. } => "the repository's folder",
                    crate::plan::BackupRepo::S3 { .. } => "the bucket's secrets",
                }
            ));
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    format!("\n## Backups\n\n{}\n", lines.join("\n"))
}

/// The datastores a provider runs: which machines must reach them, where.
fn providers(plan: &Plan) -> String {
    let mut rows = Vec::new();
    for m in plan.managed.values() {
        let machines: std::collections::BTreeSet<String> = plan
            .services
            .values()
            .filter(|s| {
                s.uses.contains(&m.name) || s.queue.as_ref().is_some_and(|q| q.broker == m.name)
            })
            .flat_map(|s| {
                s.machines
                    .iter()
                    .map(|x| format!("`{}/`", super::bundle::machine_dir(x)))
            })
            .collect();
        rows.push(format!(
            "| `{}` ({}) | {}:{} | {} | {} |",
            m.name,
            m.engine,
            crate::render::url_host(&m.host),
            m.port,
            m.tls_text(),
            if machines.is_empty() {
                "–".to_string()
            } else {
                machines.into_iter().collect::<Vec<_>>().join(", ")
            }
        ));
    }
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "\n## Datastores a provider runs\n\nNo server is rendered for these: let the machines that use them in at the provider (a security group, authorized networks), and make sure they can reach it.\n\n| datastore | address | connection | from |\n|---|---|---|---|\n{}\n",
        rows.join("\n")
    )
}

/// What a machine whose containers take GPUs needs installed, and which GPUs each
/// instance is given.
fn gpus(plan: &Plan) -> String {
    let mut lines = Vec::new();
    for s in plan.services.values() {
        let Some(gpu) = s.resources.gpu else {
            continue;
        };
        let ids = s.gpu_devices.get(&crate::model::Platform::Hosts);
        for (i, (container, machine)) in s.containers.iter().zip(&s.machines).enumerate() {
            let how = match gpu.vendor.visible_devices_var() {
                None => "`device_ids`".to_string(),
                Some(var) => format!(
                    "`{var}`, beside the device files of every {} GPU",
                    gpu.vendor.display()
                ),
            };
            let given = match ids.and_then(|ids| ids.get(i)) {
                Some(ids) => format!(
                    "GPU {} ({how})",
                    ids.iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => format!("every {} GPU of the machine", gpu.vendor.display()),
            };
            lines.push(format!(
                "| `{}/` | `{container}` | {given} |",
                super::bundle::machine_dir(machine)
            ));
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    let needs: Vec<&str> = plan
        .gpu_vendors()
        .into_iter()
        .map(super::docker_gpu_needs)
        .collect();
    format!(
        "\n## GPUs\n\nThe machines below need {} before `docker compose up`. Each instance gets GPUs of its own, by index (validation refuses a machine whose instances take more GPUs than it has).\n\n| machine | container | given |\n|---|---|---|\n{}\n",
        needs.join("; and "),
        lines.join("\n")
    )
}

/// The ports each machine must open: to the other machines (its datastore nodes, a
/// Redis Cluster node's bus, its balanced instances) and to clients (the balancer);
/// and, when the balancer runs on several machines, what goes in front of them.
fn ports(plan: &Plan) -> String {
    // machine -> (port -> what), to the other machines and to clients.
    type Ports = BTreeMap<u16, BTreeSet<String>>;
    let mut open: BTreeMap<String, (Ports, Ports)> = BTreeMap::new();
    for store in plan.datastores.values() {
        let cluster = store.redis().is_some_and(|r| r.cluster);
        for node in store.nodes.get(&Platform::Hosts).into_iter().flatten() {
            let inner = &mut open.entry(node.machine.clone()).or_default().0;
            inner.entry(node.port).or_default().insert(node.id.clone());
            if cluster {
                inner
                    .entry(node.port + 10000)
                    .or_default()
                    .insert(format!("{} cluster bus", node.id));
            }
            // etcd's peers, the router's read-only port, Patroni's REST API (the
            // router's checks, the servers' leader race, patronictl).
            match node.role {
                crate::plan::NodeRole::Etcd => {
                    inner
                        .entry(node.port + 1)
                        .or_default()
                        .insert(format!("{} peers", node.id));
                }
                crate::plan::NodeRole::Router => {
                    inner
                        .entry(node.port + 1)
                        .or_default()
                        .insert(format!("{} reads", node.id));
                }
                crate::plan::NodeRole::Primary | crate::plan::NodeRole::Replica => {
                    if let Some(pat) = store.postgres().and_then(|pg| pg.patroni.as_ref()) {
                        inner
                            .entry(pat.api_port(Platform::Hosts, &node.id))
                            .or_default()
                            .insert(format!("{} Patroni API", node.id));
                    }
                }
                _ => {}
            }
            // A RabbitMQ cluster's brokers reach each other through Erlang.
            if store.rabbitmq().is_some_and(|r| r.nodes > 1) {
                use crate::plan::placement::{RABBITMQ_DIST_PORT, RABBITMQ_EPMD_PORT};
                for (port, what) in [
                    (RABBITMQ_EPMD_PORT, "epmd"),
                    (RABBITMQ_DIST_PORT, "distribution"),
                ] {
                    inner
                        .entry(port)
                        .or_default()
                        .insert(format!("{} {what}", node.id));
                }
            }
        }
    }
    // machine -> port -> what the monitoring machine's Prometheus scrapes there.
    let mut scraped: BTreeMap<String, Ports> = BTreeMap::new();
    let scrape = plan.scrape.get(&Platform::Hosts);
    let home = scrape
        .and_then(|s| s.home.as_ref())
        .and_then(|h| h.machine.clone());
    let home_local = home.as_deref().map(crate::plan::scrape::local_address);
    // Docker publishes a service's metrics port: the DOCKER-USER chain filters it.
    let published: BTreeSet<String> = scrape
        .iter()
        .flat_map(|s| s.published.values())
        .map(|(host, port, _)| crate::plan::scrape::address(host, *port))
        .collect();
    for (name, job) in scrape.iter().flat_map(|s| &s.jobs) {
        for target in &job.targets {
            if let Some((host, port)) = target.rsplit_once(':') {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                // On the monitoring machine's loopback address: nothing to open.
                if home_local.as_deref() == Some(host) && home.as_deref() != Some(host) {
                    continue;
                }
                let what = if published.contains(target) {
                    format!("{name} metrics, Docker-published")
                } else {
                    format!("{name} metrics")
                };
                if let Ok(port) = port.parse::<u16>() {
                    scraped
                        .entry(host.to_string())
                        .or_default()
                        .entry(port)
                        .or_default()
                        .insert(what);
                }
            }
        }
    }
    let mut front = 0;
    if let Some(lb) = &plan.balancer {
        for pool in lb.pools.values() {
            for server in pool.servers.get(&Platform::Hosts).into_iter().flatten() {
                open.entry(server.node.clone())
                    .or_default()
                    .0
                    .entry(server.port)
                    .or_default()
                    .insert(pool.service.clone());
            }
        }
        for node in lb.nodes.get(&Platform::Hosts).into_iter().flatten() {
            front += 1;
            let outer = &mut open.entry(node.host.clone()).or_default().1;
            outer.entry(node.port).or_default().insert("HTTP".into());
            if let Some(tls) = node.tls_port {
                outer.entry(tls).or_default().insert("HTTPS".into());
            }
        }
    }
    let say = |ports: &Ports| {
        if ports.is_empty() {
            return "none".to_string();
        }
        ports
            .iter()
            .map(|(port, what)| {
                format!(
                    "{port} ({})",
                    what.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for machine in scraped.keys() {
        open.entry(machine.clone()).or_default();
    }
    let mut out = String::from(
        "\n## Ports to open\n\nEach machine's firewall must let the other machines of the phase reach the first column's ports (nothing else needs them: keep them closed to the internet) and clients reach the second's. The datastores and the balancer use the machine's network, so its firewall covers them; the services' ports are published by Docker, whose rules come before ufw's and firewalld's: filter those in the `DOCKER-USER` chain.\n",
    );
    match &home {
        Some(home) => out.push_str(&format!(
            "\nThe third column's ports serve metrics to the monitoring machine, `{home}`: open them to it alone (no other machine needs them, unless the first column lists them too; those Docker publishes are filtered in `DOCKER-USER` as the services' are). The monitoring machine's own metrics stay on its loopback address.\n\n| machine | to the other machines | to clients | to `{home}` (metrics) |\n|---|---|---|---|\n",
        )),
        None => out.push_str("\n| machine | to the other machines | to clients |\n|---|---|---|\n"),
    }
    for (machine, (inner, outer)) in &open {
        let metrics = match &home {
            Some(_) => format!(" {} |", say(scraped.get(machine).unwrap_or(&Ports::new()))),
            None => String::new(),
        };
        out.push_str(&format!(
            "| `{machine}` | {} | {} |{metrics}\n",
            say(inner),
            say(outer)
        ));
    }
    if front > 1 {
        out.push_str(&format!(
            "\nThe balancer runs on {front} machines, each a full copy. Clients need one address for all of them: a virtual IP that moves between them (keepalived/VRRP), a DNS name with one record per machine (and a short TTL), or a cloud load balancer in front.\n"
        ));
    }
    out
}
