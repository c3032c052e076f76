//! Where instances go on the `hosts` platform, and what the compose platform calls
//! them. One rule, used by validation (to refuse port clashes, through [`findings`])
//! and by the plan.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::{Blueprint, Datastore, Platform};
use crate::plan::NodeRole;
use crate::source::pointer::Pointer;

/// Spreads items over `hosts` in turn. Each item asks for a base port; the k-th item
/// with the same base port on one machine listens on `base + k`, so items sharing a
/// machine never share a port. Returns, per item, the host index and the port (`None`
/// when the port would pass 65535).
pub fn spread(hosts: usize, bases: &[u16]) -> Vec<(usize, Option<u16>)> {
    let mut taken: BTreeMap<(usize, u16), u16> = BTreeMap::new();
    bases
        .iter()
        .enumerate()
        .map(|(i, &base)| {
            let host = if hosts == 0 { 0 } else { i % hosts };
            let k = taken.entry((host, base)).or_insert(0);
            let port = base.checked_add(*k);
            *k += 1;
            (host, port)
        })
        .collect()
}

/// The compose service names of `instances` instances of `name`: the name itself for
/// one, `name-1`, `name-2`, … for several. Each instance is its own compose service so
/// the balancer names every one (nginx resolves an upstream name once, at start).
pub fn instance_names(name: &str, instances: u32) -> Vec<String> {
    if instances <= 1 {
        vec![name.to_string()]
    } else {
        (1..=instances).map(|i| format!("{name}-{i}")).collect()
    }
}

/// PostgreSQL's port.
pub const POSTGRES_PORT: u16 = 5432;
/// PgBouncer's port.
pub const PGBOUNCER_PORT: u16 = 6432;
/// Redis's port.
pub const REDIS_PORT: u16 = 6379;
/// A Redis Cluster node's bus listens this far above its client port.
pub const REDIS_BUS_OFFSET: u16 = 10_000;
/// RabbitMQ's AMQP port.
pub const RABBITMQ_PORT: u16 = 5672;
/// RabbitMQ's management API (KEDA reads queue lengths there).
pub const RABBITMQ_MANAGEMENT_PORT: u16 = 15672;
/// Patroni's REST API on each PostgreSQL server of `ha: auto`: the router asks it who
/// the primary is, and `patronictl` drives a switchover through it.
pub const PATRONI_API_PORT: u16 = 8008;
/// etcd's client port (Patroni's); its peers talk one port above.
pub const ETCD_CLIENT_PORT: u16 = 2379;
/// The router's read-write port (to the primary); the read-only one (to the replicas)
/// is one above.
pub const ROUTER_PORT: u16 = 5000;
/// etcd members of an `ha: auto` PostgreSQL: three, so the lease survives one loss.
pub const ETCD_MEMBERS: u32 = 3;

/// Erlang's port mapper (epmd), which a RabbitMQ node's peers ask for its port.
pub const RABBITMQ_EPMD_PORT: u16 = 4369;
/// The port RabbitMQ's nodes (and its CLI tools) talk to a node on: AMQP's + 20000.
pub const RABBITMQ_DIST_PORT: u16 = 25672;

/// The nodes a datastore runs, in placement order, as (compose name, role, base port).
pub fn datastore_nodes(
    name: &str,
    store: &crate::model::Datastore,
) -> Vec<(String, NodeRole, u16)> {
    use crate::model::RedisMode;
    match store {
        Datastore::Postgres(p) => {
            let mut nodes = vec![(name.to_string(), NodeRole::Primary, POSTGRES_PORT)];
            for i in 1..=p.replicas {
                nodes.push((
                    format!("{name}-replica-{i}"),
                    NodeRole::Replica,
                    POSTGRES_PORT,
                ));
            }
            if p.pooler.is_some() {
                nodes.push((
                    format!("{name}-pgbouncer"),
                    NodeRole::Pooler,
                    PGBOUNCER_PORT,
                ));
            }
            if p.ha == crate::model::Ha::Auto {
                nodes.push((format!("{name}-router"), NodeRole::Router, ROUTER_PORT));
                for i in 1..=ETCD_MEMBERS {
                    nodes.push((format!("{name}-etcd-{i}"), NodeRole::Etcd, ETCD_CLIENT_PORT));
                }
            }
            nodes
        }
        Datastore::Redis(r) => match (r.mode, &r.cluster) {
            (RedisMode::Cluster, Some(shape)) => {
                let total = shape.masters * (1 + shape.replicas_per_master);
                (1..=total)
                    .map(|i| {
                        let role = if i <= shape.masters {
                            NodeRole::Master
                        } else {
                            NodeRole::Replica
                        };
                        (format!("{name}-{i}"), role, REDIS_PORT)
                    })
                    .collect()
            }
            _ => vec![(name.to_string(), NodeRole::Node, REDIS_PORT)],
        },
        Datastore::Rabbitmq(r) if r.nodes > 1 => (1..=r.nodes)
            .map(|i| (format!("{name}-{i}"), NodeRole::Node, RABBITMQ_PORT))
            .collect(),
        Datastore::Rabbitmq(_) => vec![(name.to_string(), NodeRole::Node, RABBITMQ_PORT)],
    }
}

/// Every finding about where things run and what they are called, for one phase's
/// blueprint rendered for `targets`: [`name_collisions`], [`over_capacity`] and, when a
/// target runs things on listed machines and a tier lists some, [`hosts_placement`].
/// Validation reports these; they are computed here, by the rules the plan follows.
pub fn findings(bp: &Blueprint, targets: &[Platform]) -> Vec<Diagnostic> {
    let mut out = name_collisions(bp);
    let sums = over_capacity_by_tier(bp);
    // A pool's finding where the tier-wide sums do not already say as much: its pods
    // Pending at their fewest beside a sum that only fails at the most, say.
    let pools = super::pools::findings(bp, targets)
        .into_iter()
        .filter(|(tier, d)| {
            !sums
                .iter()
                .any(|(t, s)| t == tier && (s.code == d.code || s.code == Code::OverCapacity))
        })
        .map(|(_, d)| d)
        .collect::<Vec<_>>();
    out.extend(sums.into_iter().map(|(_, d)| d));
    out.extend(pools);
    out.extend(gpus_shared(bp, targets));
    if crate::model::capabilities::any_has_machines(targets)
        && bp.tiers.values().any(|t| !t.hosts.is_empty())
    {
        out.extend(hosts_placement(bp));
    }
    out
}

/// On a platform with machines everything runs on a machine of a tier that lists its
/// hosts, and no two listeners on one machine share a port.
pub fn hosts_placement(bp: &Blueprint) -> Vec<Diagnostic> {
    let layout = hosts_layout(bp);
    let mut out = Vec::new();
    for (ptr, what) in &layout.unplaced {
        out.push(
            Diagnostic::error(
                Code::Unplaced,
                ptr.clone(),
                format!("the `hosts` platform cannot place {what}: it is on no tier that lists hosts"),
            )
            .at_key()
            .hint("set its `tier` to a tier with `hosts: [...]`, or drop the `hosts` target from this phase"),
        );
    }
    for (ptr, message) in &layout.conflicts {
        out.push(
            Diagnostic::error(Code::PortConflict, ptr.clone(), message.clone())
                .hint("give one of them another `port`, or put them on different tiers"),
        );
    }
    out.extend(copies_on_one_machine(bp, &layout));
    out.extend(storage_over_disk(bp, &layout));
    out
}

/// The volumes of the datastore servers placed on a machine (each its datastore's
/// `storage.size`, where it states one) must fit the machine's `disk`, where its tier
/// states one: Docker keeps them on that disk. Warned once per tier, at its `disk`,
/// naming each machine that is short.
fn storage_over_disk(bp: &Blueprint, layout: &HostsLayout) -> Vec<Diagnostic> {
    use crate::model::units::format_bytes_pair;
    // Per machine, per datastore: its servers there, the size of each one's volume and
    // that size as the blueprint writes it.
    type Volumes<'a> = BTreeMap<&'a str, (u64, u64, &'a str)>;
    let mut on: BTreeMap<&str, Volumes> = BTreeMap::new();
    for (name, store) in &bp.datastores {
        let Some((size, written)) = store
            .storage()
            .and_then(|s| Some((s.size.bytes().ok()?, s.size.0.as_str())))
        else {
            continue;
        };
        let Some(placed) = layout.datastores.get(name) else {
            continue;
        };
        for ((_, role, _), (host, _)) in datastore_nodes(name, store).iter().zip(placed) {
            if role.is_server() {
                let entry = on
                    .entry(host.as_str())
                    .or_default()
                    .entry(name.as_str())
                    .or_insert((0, size, written));
                entry.0 += 1;
            }
        }
    }
    let mut out = Vec::new();
    for (tier_name, tier) in &bp.tiers {
        let Some(disk) = tier.machine.disk.as_ref().and_then(|d| d.disk_bytes().ok()) else {
            continue;
        };
        let mut short = Vec::new();
        for host in &tier.hosts {
            let Some(stores) = on.get(host.as_str()) else {
                continue;
            };
            let total: u64 = stores.values().map(|(n, size, _)| n * size).sum();
            if total <= disk {
                continue;
            }
            let each: Vec<String> = stores
                .iter()
                .map(|(name, (n, _, written))| match n {
                    1 => format!("`{name}` {written}"),
                    n => format!("`{name}` {n} × {written}"),
                })
                .collect();
            let (total, disk) = format_bytes_pair(total, disk);
            short.push(format!(
                "{host} holds {total} of its {disk} ({})",
                each.join(", ")
            ));
        }
        if short.is_empty() {
            continue;
        }
        out.push(
            Diagnostic::warning(
                Code::StorageOverDisk,
                Pointer::build(["tiers", tier_name.as_str(), "machine", "disk"]),
                format!(
                    "the datastores' volumes on tier `{tier_name}`'s machines outgrow their disks (`{}` each): {}",
                    tier.machine.disk.as_ref().map_or("", |d| d.0.as_str()),
                    short.join("; ")
                ),
            )
            .at_key()
            .hint("give the tier a larger `disk` or more machines, or lower the datastores' `storage.size` (the system, the images and the logs need room on the disk too)"),
        );
    }
    out
}

/// A PostgreSQL whose replicas all run on its primary's machine: losing that machine
/// loses every copy of the data, which the replicas are there to prevent.
fn copies_on_one_machine(bp: &Blueprint, layout: &HostsLayout) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (name, store) in &bp.datastores {
        // A RabbitMQ cluster's brokers each need a machine: they share Erlang's ports
        // (epmd, distribution, management), and two on one lose the majority with it.
        if let (Datastore::Rabbitmq(r), Some(placed)) = (store, layout.datastores.get(name)) {
            let machines: std::collections::BTreeSet<&str> =
                placed.iter().map(|(h, _)| h.as_str()).collect();
            if r.nodes > 1 && machines.len() < placed.len() {
                let tier = store.tier().unwrap_or_default();
                out.push(
                    Diagnostic::error(
                        Code::ReplicasOnOneMachine,
                        Pointer::build(["datastores", name.as_str(), "nodes"]),
                        format!(
                            "RabbitMQ `{name}`'s {} brokers need a machine each, and tier `{tier}` lists {}",
                            r.nodes,
                            machines.len()
                        ),
                    )
                    .hint(format!("list {} hosts in tier `{tier}`, or lower `nodes`", r.nodes)),
                );
            }
        }
        let Datastore::Postgres(pg) = store else {
            continue;
        };
        let Some(placed) = layout.datastores.get(name) else {
            continue;
        };
        if pg.ha == crate::model::Ha::Auto && pg.replicas > 0 {
            // Patroni's servers and etcd's members each need a machine of their own:
            // two on one are lost together, and etcd keeps its lease only with a
            // majority of three.
            let servers: Vec<&str> = datastore_nodes(name, store)
                .iter()
                .zip(placed)
                .filter(|((_, r, _), _)| matches!(r, NodeRole::Primary | NodeRole::Replica))
                .map(|(_, (h, _))| h.as_str())
                .collect();
            let machines: BTreeSet<&str> = placed.iter().map(|(h, _)| h.as_str()).collect();
            let distinct: BTreeSet<&str> = servers.iter().copied().collect();
            let need = servers.len().max(ETCD_MEMBERS as usize);
            if machines.len() < need || distinct.len() < servers.len() {
                let tier = store.tier().unwrap_or_default();
                out.push(
                    Diagnostic::error(
                        Code::ReplicasOnOneMachine,
                        Pointer::build(["datastores", name.as_str(), "ha"]),
                        format!(
                            "`{name}`'s automatic failover needs {need} machines (a server each, and etcd's three members), and tier `{tier}` lists {}",
                            machines.len()
                        ),
                    )
                    .hint(format!("list {need} hosts in tier `{tier}`")),
                );
                continue;
            }
        }
        let nodes = datastore_nodes(name, store);
        let machine_of = |role: NodeRole| {
            nodes
                .iter()
                .zip(placed)
                .filter(move |((_, r, _), _)| *r == role)
                .map(|(_, (host, _))| host.as_str())
        };
        let Some(primary) = machine_of(NodeRole::Primary).next() else {
            continue;
        };
        if pg.replicas > 0 && machine_of(NodeRole::Replica).all(|m| m == primary) {
            let tier = store.tier().unwrap_or_default();
            out.push(
                Diagnostic::warning(
                    Code::ReplicasOnOneMachine,
                    Pointer::build(["datastores", name.as_str(), "replicas"]),
                    format!(
                        "datastore `{name}`'s primary and {} on one machine, {primary}: losing it loses every copy",
                        if pg.replicas == 1 { "its replica run".to_string() } else { format!("its {} replicas all run", pg.replicas) }
                    ),
                )
                .hint(format!(
                    "list another host in tier `{tier}` (replicas go to the machines after the primary's), or put `{name}` on a tier with more machines"
                )),
            );
        }
    }
    out
}

/// What runs on a tier (at its fewest instances) must fit its machines: the sum of
/// CPU and memory requests against the machines' size. Nodes of a datastore count
/// once each (a PgBouncer's small footprint aside).
///
/// Each finding comes with the tier it is about.
fn over_capacity_by_tier(bp: &Blueprint) -> Vec<(String, Diagnostic)> {
    use crate::model::units::{format_bytes_pair, format_millicores};
    use crate::model::Resources;
    let mut out = Vec::new();
    for (tier_name, tier) in &bp.tiers {
        let (Ok(cpu), Ok(memory)) = (tier.machine.cpu.millicores(), tier.machine.memory.bytes())
        else {
            continue;
        };
        let machines = u64::from(tier.machines());
        // A node pool a cluster autoscaler grows holds the autoscalers' maxima on its
        // most nodes.
        let most_machines = tier
            .pool
            .as_ref()
            .and_then(|p| p.max_nodes)
            .map_or(machines, |m| u64::from(m).max(machines));
        // What runs at its fewest instances, and at its autoscalers' maxima.
        let (mut want_cpu, mut want_mem) = (0u64, 0u64);
        let (mut peak_cpu, mut peak_mem) = (0u64, 0u64);
        // GPUs are whole devices: an instance's are its own (a tier without GPUs is
        // refused where a service asks for them).
        let gpus = u64::from(tier.machine.gpu.map_or(0, |g| g.count));
        let (mut want_gpu, mut peak_gpu) = (0u64, 0u64);
        let mut add = |r: Option<&Resources>, n: u64, most: u64| {
            if let Some(r) = r {
                // What fits no machine (too many, another vendor's) is refused where
                // the service asks for it.
                let machine_gpu = tier.machine.gpu;
                if let Some(g) = r.gpu.filter(|g| {
                    machine_gpu.is_some_and(|m| m.vendor == g.vendor && m.count >= g.count)
                }) {
                    want_gpu += u64::from(g.count) * n;
                    peak_gpu += u64::from(g.count) * most;
                }
                let cpu = r
                    .cpu
                    .as_ref()
                    .and_then(|q| q.millicores().ok())
                    .unwrap_or(0);
                let mem = r.memory.as_ref().and_then(|q| q.bytes().ok()).unwrap_or(0);
                want_cpu += cpu * n;
                want_mem += mem * n;
                peak_cpu += cpu * most;
                peak_mem += mem * most;
            }
        };
        // A job runs once, before what waits for it: it holds no steady capacity.
        for s in bp
            .services
            .values()
            .filter(|s| s.tier.as_deref() == Some(tier_name))
            .filter(|s| s.kind != crate::model::ServiceKind::Job)
        {
            let n = u64::from(s.fixed_instances());
            add(
                s.resources.as_ref(),
                n,
                n.max(u64::from(s.instance_range().max)),
            );
        }
        for (name, d) in bp
            .datastores
            .iter()
            .filter(|(_, d)| d.tier() == Some(tier_name) && d.runs_here())
        {
            let nodes = datastore_nodes(name, d)
                .iter()
                .filter(|(_, role, _)| role.is_server())
                .count();
            add(d.resources(), nodes as u64, nodes as u64);
        }
        let over_cpu = want_cpu > cpu * machines;
        let over_mem = want_mem > memory * machines;
        let over_gpu = want_gpu > gpus * machines;
        let gpu_text = |n: u64| {
            let vendor = tier.machine.gpu.map_or("", |g| g.vendor.display());
            format!("{n} {vendor} GPU{}", if n == 1 { "" } else { "s" })
        };
        if over_cpu || over_mem || over_gpu {
            let mut what = Vec::new();
            if over_cpu {
                what.push(format!(
                    "{} CPU requested of {}",
                    format_millicores(want_cpu),
                    format_millicores(cpu * machines)
                ));
            }
            if over_mem {
                let (want, have) = format_bytes_pair(want_mem, memory * machines);
                what.push(format!("{want} memory requested of {have}"));
            }
            if over_gpu {
                what.push(format!(
                    "{} requested of {}",
                    gpu_text(want_gpu),
                    gpu_text(gpus * machines)
                ));
            }
            out.push((
                tier_name.clone(),
                Diagnostic::warning(
                    Code::OverCapacity,
                    Pointer::build(["tiers", tier_name.as_str(), "machine"]),
                    format!("tier `{tier_name}` does not fit what runs on it: {}", what.join(", ")),
                )
                .at_key()
                .hint("give the tier more or bigger machines, or lower the requests (autoscaled services count at their `min`)"),
            ));
        } else if peak_cpu > cpu * most_machines
            || peak_mem > memory * most_machines
            || peak_gpu > gpus * most_machines
        {
            let mut what = Vec::new();
            if peak_cpu > cpu * most_machines {
                what.push(format!(
                    "{} CPU of {}",
                    format_millicores(peak_cpu),
                    format_millicores(cpu * most_machines)
                ));
            }
            if peak_mem > memory * most_machines {
                let (peak, have) = format_bytes_pair(peak_mem, memory * most_machines);
                what.push(format!("{peak} memory of {have}"));
            }
            if peak_gpu > gpus * most_machines {
                what.push(format!(
                    "{} of {}",
                    gpu_text(peak_gpu),
                    gpu_text(gpus * most_machines)
                ));
            }
            // At the `max` that reaches past the tier (in the patch of the phase that
            // sets it, where one does), else at the tier.
            let at = bp
                .services
                .iter()
                .find(|(_, s)| {
                    s.tier.as_deref() == Some(tier_name)
                        && s.instance_range().max > s.fixed_instances()
                })
                .map(|(name, _)| Pointer::build(["services", name.as_str(), "scaling", "max"]))
                .unwrap_or_else(|| Pointer::build(["tiers", tier_name.as_str(), "machine"]));
            out.push((
                tier_name.clone(),
                Diagnostic::warning(
                    Code::MaxOverCapacity,
                    at,
                    format!(
                        "tier `{tier_name}` cannot hold its services at their autoscalers' maximum: they would request {}, so the autoscalers stop short of `max`",
                        what.join(", ")
                    ),
                )
                .at_key()
                .hint("give the tier more or bigger machines (or let a cluster autoscaler add them), or lower `max`"),
            ));
        }
    }
    out
}

/// On Docker (compose, hosts) each instance gets GPUs of its own only while its
/// machine has enough: compose runs every instance on one Docker host (a machine of
/// the GPU services' tier), hosts on the machines placement chose. Jobs count: they
/// hold their GPUs while they run.
pub fn gpus_shared(bp: &Blueprint, targets: &[Platform]) -> Vec<Diagnostic> {
    use crate::model::Gpu;
    // Each service that takes GPUs its tier's machines have: (name, its GPUs, the
    // machine's).
    let takers: Vec<(&String, Gpu, Gpu)> = bp
        .services
        .iter()
        .filter_map(|(name, s)| {
            let want = s.resources.as_ref()?.gpu?;
            let has = bp.tiers.get(s.tier.as_deref()?)?.machine.gpu?;
            (has.vendor == want.vendor && has.count >= want.count).then_some((name, want, has))
        })
        .collect();
    let mut out = Vec::new();
    let mut report = |machine: String, on: Vec<(&String, u32)>, want: u32, has: Gpu| {
        let names: Vec<String> = on
            .iter()
            .map(|(n, k)| {
                if *k > 1 {
                    format!("`{n}` ×{k}")
                } else {
                    format!("`{n}`")
                }
            })
            .collect();
        let first = on[0].0;
        out.push(
            Diagnostic::error(
                Code::GpuShared,
                Pointer::build(["services", first.as_str(), "resources", "gpu"]),
                format!(
                    "{machine}, {} take {want} {} GPUs of its {}: instances would share a GPU",
                    names.join(", "),
                    has.vendor.display(),
                    has.count
                ),
            )
            .at_key()
            .hint("give the tier more GPUs per machine or more machines (`hosts`), or run fewer instances; on Kubernetes the device plugin hands out whole GPUs"),
        );
    };
    if targets.contains(&Platform::Compose) {
        let want: u32 = takers
            .iter()
            .map(|(n, g, _)| g.count * bp.services[*n].fixed_instances())
            .sum();
        if let Some(has) = takers.iter().map(|(_, _, h)| *h).max_by_key(|h| h.count) {
            if want > has.count {
                let on = takers
                    .iter()
                    .map(|(n, _, _)| (*n, bp.services[*n].fixed_instances()))
                    .collect();
                report("On compose's one Docker host".into(), on, want, has);
            }
        }
    }
    if crate::model::capabilities::any_has_machines(targets)
        && bp.tiers.values().any(|t| !t.hosts.is_empty())
    {
        let layout = hosts_layout(bp);
        // Per machine: the services on it with their instances there, the GPUs they
        // take, and the machine's.
        type OnMachine<'a> = (Vec<(&'a String, u32)>, u32, Gpu);
        let mut per_machine: BTreeMap<&str, OnMachine> = BTreeMap::new();
        for (name, want, has) in &takers {
            for m in layout.machines.get(*name).into_iter().flatten() {
                let entry = per_machine.entry(m).or_insert((Vec::new(), 0, *has));
                match entry.0.iter_mut().find(|(n, _)| n == name) {
                    Some((_, k)) => *k += 1,
                    None => entry.0.push((name, 1)),
                }
                entry.1 += want.count;
            }
        }
        for (machine, (on, want, has)) in per_machine {
            if want > has.count {
                report(format!("On machine {machine}"), on, want, has);
            }
        }
    }
    out
}

/// Each instance and datastore node becomes a compose service (`api-1`,
/// `db-replica-1`, …); two must never get the same name.
pub fn name_collisions(bp: &Blueprint) -> Vec<Diagnostic> {
    type Owner<'a> = (&'static str, &'a str);
    // Each name's first owner, as (kind, name): the messages are written only for a clash.
    fn claim<'a>(
        owners: &mut BTreeMap<String, Owner<'a>>,
        clashes: &mut Vec<(Pointer, String)>,
        id: String,
        owner: Owner<'a>,
    ) {
        if let Some(first) = owners.get(&id) {
            if *first != owner {
                let (kind, name) = owner;
                let section = if kind == "service" {
                    "services"
                } else {
                    "datastores"
                };
                clashes.push((
                    Pointer::build([section, name]),
                    format!(
                        "`{id}` would name both {} `{}` and {kind} `{name}`",
                        first.0, first.1
                    ),
                ));
            }
        } else {
            owners.insert(id, owner);
        }
    }
    let mut owners = BTreeMap::new();
    let mut clashes = Vec::new();
    for (name, s) in &bp.services {
        for id in instance_names(name, s.fixed_instances()) {
            claim(&mut owners, &mut clashes, id, ("service", name));
        }
    }
    for (name, store) in bp.datastores.iter().filter(|(_, d)| d.runs_here()) {
        if bp.services.contains_key(name) {
            continue; // reported as `duplicate-name`
        }
        for (id, _, _) in datastore_nodes(name, store) {
            claim(&mut owners, &mut clashes, id, ("datastore", name));
        }
    }
    clashes
        .into_iter()
        .map(|(ptr, message)| {
            Diagnostic::error(Code::NameCollision, ptr, message)
                .at_key()
                .hint("instances and datastore nodes are named `<name>-<n>`, `<name>-replica-<n>`, `<name>-pgbouncer`: rename one of the two")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_turns_and_steps_ports() {
        assert_eq!(
            spread(2, &[8000, 8000, 8000, 9000]),
            vec![
                (0, Some(8000)),
                (1, Some(8000)),
                (0, Some(8001)),
                (1, Some(9000))
            ]
        );
        assert_eq!(
            spread(1, &[65535, 65535]),
            vec![(0, Some(65535)), (0, None)]
        );
    }

    /// A phase that trips every finding [`findings`] makes: two name collisions, a tier
    /// over its machines, a service on no tier with hosts, and two listeners on one port.
    fn crowded() -> Blueprint {
        serde_json::from_value(serde_json::json!({
            "version": 1,
            "name": "demo",
            "targets": ["compose", "hosts"],
            "tiers": { "app": { "machine": { "cpu": 1, "memory": "1Gi" }, "hosts": ["10.0.1.11"] } },
            "services": {
                "api": { "kind": "http", "tier": "app", "image": "demo:1.0", "port": 8000,
                         "scaling": { "replicas": 2 }, "resources": { "cpu": "600m", "memory": "768Mi" } },
                "api-1": { "kind": "http", "tier": "app", "image": "demo:1.0", "port": 9000 },
                "admin": { "kind": "http", "tier": "app", "image": "demo:1.0", "port": 8001 },
                "db-replica-1": { "kind": "worker", "image": "demo:1.0" },
            },
            "datastores": {
                "db": { "engine": "postgres", "version": "17", "database": "demo", "tier": "app", "replicas": 1 },
            },
        }))
        .expect("a blueprint")
    }

    /// (severity, code, pointer, message, hint, at_key) of each finding.
    fn summary(ds: &[Diagnostic]) -> Vec<(String, &str, &str, &str, &str, bool)> {
        ds.iter()
            .map(|d| {
                (
                    d.severity.as_str().to_string(),
                    d.code.as_str(),
                    d.pointer.as_str(),
                    d.message.as_str(),
                    d.hint.as_deref().unwrap_or_default(),
                    d.at_key,
                )
            })
            .collect()
    }

    /// The monitoring goes where the blueprint says (else on the balancer's first
    /// host), and every port it takes is one nothing of the blueprint's listens on:
    /// a service on 8080 moves cAdvisor to 8081 on its machine, two Redis nodes on one
    /// machine get an exporter each, a worker's metrics are published per instance.
    #[test]
    fn monitoring_takes_free_ports_where_the_blueprint_places_it() {
        let mut bp: Blueprint = serde_json::from_value(serde_json::json!({
            "version": 1,
            "name": "demo",
            "targets": ["hosts"],
            "tiers": {
                "web": { "machine": { "cpu": 2, "memory": "4Gi" }, "hosts": ["10.0.1.10", "10.0.1.11"] },
                "app": { "machine": { "cpu": 2, "memory": "4Gi" }, "hosts": ["10.0.1.20"] },
                "ops": { "machine": { "cpu": 1, "memory": "2Gi" }, "hosts": ["10.0.1.30"] },
            },
            "balancer": { "engine": "haproxy", "tier": "web", "listen": 8405, "routes": [{ "path": "/", "service": "api" }] },
            "services": {
                "api": { "kind": "http", "tier": "app", "image": "demo:1.0", "port": 8080 },
                "worker": { "kind": "worker", "tier": "app", "image": "demo:1.0",
                            "metrics": { "port": 9121 }, "scaling": { "replicas": 2 } },
            },
            "datastores": {
                "cache": { "engine": "redis", "version": "8.0", "tier": "app", "mode": "cluster",
                           "cluster": { "masters": 3, "replicas_per_master": 0 } },
            },
        }))
        .expect("a blueprint");
        let layout = hosts_layout(&bp);
        assert!(layout.conflicts.is_empty(), "{:?}", layout.conflicts);
        let m = layout.monitoring.expect("monitoring");
        assert_eq!(m.machine, "10.0.1.10", "the balancer's first host");
        assert_eq!(m.cadvisor["10.0.1.20"], 8081, "api has 8080");
        assert_eq!(m.cadvisor["10.0.1.10"], 8080);
        // The balancer listens on 8405: its metrics take the next port.
        assert_eq!(m.balancer["10.0.1.10"].0, 8406);
        assert_eq!(m.balancer["10.0.1.11"].0, 8406);
        // Three Redis nodes on one machine; the worker's metrics asked for 9121.
        let redis: Vec<u16> = ["cache-1", "cache-2", "cache-3"]
            .iter()
            .map(|n| m.exporters[*n])
            .collect();
        assert_eq!(redis, [9121, 9122, 9123]);
        assert_eq!(
            m.service_metrics["worker"],
            [
                ("10.0.1.20".to_string(), 9124),
                ("10.0.1.20".to_string(), 9125)
            ]
        );
        assert!(
            !m.service_metrics.contains_key("api"),
            "scraped on its port"
        );

        bp.monitoring = Some(crate::model::Monitoring {
            tier: Some("ops".into()),
            ..Default::default()
        });
        let m = hosts_layout(&bp).monitoring.expect("monitoring");
        assert_eq!(m.machine, "10.0.1.30", "monitoring.tier's first host");
        assert_eq!(m.cadvisor.len(), 4, "every machine, the monitoring one too");
    }

    /// The volumes of every server a machine holds count against its disk, each
    /// datastore's as often as it has servers there; machines within their disk, and
    /// datastores that state no `storage`, are not named.
    #[test]
    fn volumes_on_a_machine_count_against_its_disk() {
        let bp: Blueprint = serde_json::from_value(serde_json::json!({
            "version": 1,
            "name": "demo",
            "targets": ["hosts"],
            "tiers": {
                "data": { "machine": { "cpu": 4, "memory": "16Gi", "disk": "50Gi" },
                          "hosts": ["10.0.1.21", "10.0.1.22"] },
            },
            "services": {},
            "datastores": {
                "cache": { "engine": "redis", "version": "8.0", "tier": "data", "mode": "cluster",
                           "cluster": { "masters": 3, "replicas_per_master": 1 },
                           "storage": { "size": "20Gi" } },
                "db": { "engine": "postgres", "version": "17", "database": "demo", "tier": "data" },
            },
        }))
        .expect("a blueprint");
        let found = storage_over_disk(&bp, &hosts_layout(&bp));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, Code::StorageOverDisk);
        assert_eq!(found[0].pointer.as_str(), "/tiers/data/machine/disk");
        assert_eq!(
            found[0].message,
            "the datastores' volumes on tier `data`'s machines outgrow their disks (`50Gi` each): 10.0.1.21 holds 60Gi of its 50Gi (`cache` 3 × 20Gi); 10.0.1.22 holds 60Gi of its 50Gi (`cache` 3 × 20Gi)"
        );
        // Within the disk: nothing.
        let mut roomy = bp.clone();
        roomy.tiers.get_mut("data").unwrap().machine.disk =
            Some(crate::model::Quantity("60Gi".into()));
        assert!(storage_over_disk(&roomy, &hosts_layout(&roomy)).is_empty());
    }

    #[test]
    fn findings_are_those_validation_reports() {
        let bp = crowded();
        let targets = [Platform::Compose, Platform::Hosts];
        let ours = findings(&bp, &targets);
        let naming = "instances and datastore nodes are named `<name>-<n>`, `<name>-replica-<n>`, `<name>-pgbouncer`: rename one of the two";
        let expected = vec![
            ("error".to_string(), "name-collision", "/services/api-1", "`api-1` would name both service `api` and service `api-1`", naming, true),
            ("error".to_string(), "name-collision", "/datastores/db", "`db-replica-1` would name both service `db-replica-1` and datastore `db`", naming, true),
            ("warning".to_string(), "over-capacity", "/tiers/app/machine", "tier `app` does not fit what runs on it: 1200m CPU requested of 1, 1.5Gi memory requested of 1Gi", "give the tier more or bigger machines, or lower the requests (autoscaled services count at their `min`)", true),
            ("error".to_string(), "unplaced", "/services/db-replica-1", "the `hosts` platform cannot place service `db-replica-1`: it is on no tier that lists hosts", "set its `tier` to a tier with `hosts: [...]`, or drop the `hosts` target from this phase", true),
            ("error".to_string(), "port-conflict", "/services/api/port", "on host 10.0.1.11, port 8001 is taken by service `admin` and service `api`", "give one of them another `port`, or put them on different tiers", false),
            ("warning".to_string(), "replicas-on-one-machine", "/datastores/db/replicas", "datastore `db`'s primary and its replica run on one machine, 10.0.1.11: losing it loses every copy", "list another host in tier `app` (replicas go to the machines after the primary's), or put `db` on a tier with more machines", false),
        ];
        assert_eq!(summary(&ours), expected);
        // Without a target that has machines, placement is not checked.
        assert_eq!(findings(&bp, &[Platform::Compose]).len(), 3);
    }

    #[test]
    fn names() {
        assert_eq!(instance_names("api", 1), ["api"]);
        assert_eq!(instance_names("api", 2), ["api-1", "api-2"]);
    }
}

/// Where everything of one phase runs on the `hosts` platform.
#[derive(Debug, Clone, Default)]
pub struct HostsLayout {
    /// Per service (routable, with a port): each instance's machine and port.
    pub services: BTreeMap<String, Vec<(String, u16)>>,
    /// Per service (every kind): each instance's machine.
    pub machines: BTreeMap<String, Vec<String>>,
    /// Per datastore: each node's machine and port, in [`datastore_nodes`] order.
    pub datastores: BTreeMap<String, Vec<(String, u16)>>,
    /// The port of Patroni's REST API, per PostgreSQL server of `ha: auto`, by node id.
    pub patroni_api: BTreeMap<String, u16>,
    /// What could not be placed: (JSON pointer, what it is).
    pub unplaced: Vec<(Pointer, String)>,
    /// Two listeners on one port of a machine: (JSON pointer, message).
    pub conflicts: Vec<(Pointer, String)>,
    /// Where the monitoring runs, when anything runs on a machine.
    pub monitoring: Option<HostsMonitoring>,
}

/// The monitoring of the `hosts` platform: Prometheus, Alertmanager and Grafana on one
/// machine (on its loopback address), and on every machine cAdvisor and the exporters
/// of what runs there, each on the first port free from its usual one.
#[derive(Debug, Clone, Default)]
pub struct HostsMonitoring {
    /// The machine that runs Prometheus, Alertmanager and Grafana.
    pub machine: String,
    pub prometheus: u16,
    pub alertmanager: u16,
    pub grafana: u16,
    /// cAdvisor's port, per machine.
    pub cadvisor: BTreeMap<String, u16>,
    /// node_exporter's port, per machine.
    pub node: BTreeMap<String, u16>,
    /// Per machine of the balancer: the port of its metrics (HAProxy) or
    /// `stub_status` (nginx), and nginx's exporter's.
    pub balancer: BTreeMap<String, (u16, u16)>,
    /// The exporter's port of each Redis node and PostgreSQL server, by node id.
    pub exporters: BTreeMap<String, u16>,
    /// The services whose metrics are not on their balanced port (another port, or a
    /// service the balancer does not reach): each instance's machine and the port
    /// that publishes its metrics there.
    pub service_metrics: BTreeMap<String, Vec<(String, u16)>>,
}

struct PortBook {
    /// machine → port → who listens there
    taken: BTreeMap<String, BTreeMap<u32, String>>,
}

impl PortBook {
    fn owner(&self, host: &str, port: u32) -> Option<&String> {
        self.taken.get(host).and_then(|p| p.get(&port))
    }

    fn take(&mut self, host: &str, port: u32, owner: String) {
        self.taken
            .entry(host.to_string())
            .or_default()
            .insert(port, owner);
    }
}

/// Places the balancer, the services and the datastores of `bp` on the hosts of their
/// tiers. Services and the balancer listen where the blueprint says (instances of one
/// service step up from its port, see [`spread`]); a clash is a conflict. Datastore
/// nodes, whose ports the blueprint does not name, take the first free port from their
/// engine's default (a Redis Cluster node also its bus port, 10000 above).
pub fn hosts_layout(bp: &Blueprint) -> HostsLayout {
    use crate::model::RedisMode;

    let hosts_of = |tier: Option<&str>| -> Option<&Vec<String>> {
        tier.and_then(|t| bp.tiers.get(t))
            .map(|t| &t.hosts)
            .filter(|h| !h.is_empty())
    };
    let mut layout = HostsLayout::default();
    let mut book = PortBook {
        taken: BTreeMap::new(),
    };
    let claim = |book: &mut PortBook,
                 conflicts: &mut Vec<(Pointer, String)>,
                 host: &str,
                 port: u32,
                 owner: String,
                 ptr: Pointer| {
        match book.owner(host, port) {
            Some(first) if first != &owner => conflicts.push((
                ptr,
                format!("on host {host}, port {port} is taken by {first} and {owner}"),
            )),
            Some(_) => {}
            None => book.take(host, port, owner),
        }
    };

    if let Some(lb) = &bp.balancer {
        match hosts_of(lb.tier.as_deref()) {
            None => layout
                .unplaced
                .push((Pointer::build(["balancer"]), "the balancer".into())),
            Some(hosts) => {
                for h in hosts.iter().collect::<BTreeSet<_>>() {
                    claim(
                        &mut book,
                        &mut layout.conflicts,
                        h,
                        lb.listen,
                        "the balancer".into(),
                        Pointer::build(["balancer", "listen"]),
                    );
                    if let Some(tls) = &lb.tls {
                        claim(
                            &mut book,
                            &mut layout.conflicts,
                            h,
                            tls.listen,
                            "the balancer's HTTPS".into(),
                            Pointer::build(["balancer", "tls", "listen"]),
                        );
                    }
                }
            }
        }
    }
    // The GPUs taken on each machine so far: a service that takes GPUs starts on the
    // machine with the most left, so GPU services spread over the GPU machines.
    let mut gpus_taken: BTreeMap<String, u32> = BTreeMap::new();
    for (name, s) in &bp.services {
        let ptr = Pointer::build(["services", name.as_str()]);
        let Some(tier_hosts) = hosts_of(s.tier.as_deref()) else {
            layout.unplaced.push((ptr, format!("service `{name}`")));
            continue;
        };
        let gpu = s.resources.as_ref().and_then(|r| r.gpu);
        let machine_gpus = s
            .tier
            .as_deref()
            .and_then(|t| bp.tiers.get(t))
            .and_then(|t| t.machine.gpu)
            .map_or(0, |g| g.count);
        let rotated: Vec<String>;
        let hosts: &Vec<String> = match gpu {
            Some(_) => {
                let free = |h: &String| {
                    machine_gpus.saturating_sub(gpus_taken.get(h).copied().unwrap_or(0))
                };
                // The first machine with the most GPUs free.
                let start = (0..tier_hosts.len())
                    .rev()
                    .max_by_key(|&i| free(&tier_hosts[i]))
                    .unwrap_or(0);
                rotated = tier_hosts[start..]
                    .iter()
                    .chain(&tier_hosts[..start])
                    .cloned()
                    .collect();
                &rotated
            }
            None => tier_hosts,
        };
        let every = vec![0u16; s.fixed_instances() as usize];
        let machines: Vec<String> = spread(hosts.len(), &every)
            .into_iter()
            .map(|(h, _)| hosts[h].clone())
            .collect();
        if let Some(g) = gpu {
            for m in &machines {
                *gpus_taken.entry(m.clone()).or_insert(0) += g.count;
            }
        }
        layout.machines.insert(name.clone(), machines);
        let (Some(port), true) = (s.port, s.kind.is_routable()) else {
            continue;
        };
        let port16 = u16::try_from(port).unwrap_or(u16::MAX);
        let bases = vec![port16; s.fixed_instances() as usize];
        let mut placed = Vec::new();
        for (i, (h, p)) in spread(hosts.len(), &bases).into_iter().enumerate() {
            let owner = format!("service `{name}`");
            match p {
                Some(p) => {
                    claim(
                        &mut book,
                        &mut layout.conflicts,
                        &hosts[h],
                        u32::from(p),
                        owner,
                        ptr.child("port"),
                    );
                    placed.push((hosts[h].clone(), p));
                }
                None => layout.conflicts.push((
                    ptr.child("port"),
                    format!(
                        "instance {} of `{name}` on {} finds no port above {port}",
                        i + 1,
                        hosts[h]
                    ),
                )),
            }
        }
        layout.services.insert(name.clone(), placed);
    }
    // A provider's datastore runs on no machine of the blueprint's.
    for (name, store) in bp.datastores.iter().filter(|(_, d)| d.runs_here()) {
        let ptr = Pointer::build(["datastores", name.as_str()]);
        let Some(hosts) = hosts_of(store.tier()) else {
            layout.unplaced.push((ptr, format!("datastore `{name}`")));
            continue;
        };
        let bus = matches!(store, Datastore::Redis(r) if r.mode == RedisMode::Cluster);
        let nodes = datastore_nodes(name, store);
        let bases: Vec<u16> = nodes.iter().map(|(_, _, p)| *p).collect();
        let patroni = matches!(store, Datastore::Postgres(p) if p.ha == crate::model::Ha::Auto);
        // The tier's machines, each once: etcd's members go to the first three.
        let mut distinct: Vec<&String> = Vec::new();
        for h in hosts {
            if !distinct.contains(&h) {
                distinct.push(h);
            }
        }
        let mut placed: Vec<(String, u16)> = Vec::new();
        let mut etcd = 0;
        for ((id, role, base), (h, _)) in nodes.iter().zip(spread(hosts.len(), &bases)) {
            let host = match role {
                NodeRole::Etcd => {
                    etcd += 1;
                    distinct[(etcd - 1) % distinct.len()]
                }
                // The pooler, off the first primary's machine where the tier has
                // another: the last machine.
                NodeRole::Pooler if patroni => distinct[distinct.len() - 1],
                // Beside the pooler it serves (losing that machine loses both anyway),
                // never on a server's machine by turn.
                NodeRole::Router => nodes
                    .iter()
                    .zip(&placed)
                    .find(|((_, r, _), _)| *r == NodeRole::Pooler)
                    .map_or(&hosts[h], |(_, (m, _))| m),
                _ => &hosts[h],
            };
            let host = &host.clone();
            // etcd's peer port and the router's read-only port, one above.
            let pair = matches!(role, NodeRole::Etcd | NodeRole::Router);
            let free = (u32::from(*base)..=55_535).find(|&p| {
                book.owner(host, p).is_none()
                    && (!bus || book.owner(host, p + u32::from(REDIS_BUS_OFFSET)).is_none())
                    && (!pair || book.owner(host, p + 1).is_none())
            });
            match free {
                Some(p) => {
                    book.take(host, p, format!("datastore node `{id}`"));
                    if bus {
                        book.take(
                            host,
                            p + u32::from(REDIS_BUS_OFFSET),
                            format!("the cluster bus of `{id}`"),
                        );
                    }
                    if pair {
                        book.take(host, p + 1, format!("datastore node `{id}`"));
                    }
                    placed.push((host.clone(), p as u16));
                }
                None => layout
                    .conflicts
                    .push((ptr.clone(), format!("`{id}` finds no free port on {host}"))),
            }
            if patroni && matches!(role, NodeRole::Primary | NodeRole::Replica) {
                let api =
                    (u32::from(PATRONI_API_PORT)..=55_535).find(|&p| book.owner(host, p).is_none());
                match api {
                    Some(p) => {
                        book.take(host, p, format!("Patroni's API of `{id}`"));
                        layout.patroni_api.insert(id.clone(), p as u16);
                    }
                    None => layout.conflicts.push((
                        ptr.clone(),
                        format!("Patroni's API of `{id}` finds no free port on {host}"),
                    )),
                }
            }
        }
        layout.datastores.insert(name.clone(), placed);
    }
    monitoring_layout(bp, &mut layout, &mut book);
    layout
}

/// Places the monitoring (see [`HostsMonitoring`]) after everything else, on ports
/// nothing of the blueprint's takes.
fn monitoring_layout(bp: &Blueprint, layout: &mut HostsLayout, book: &mut PortBook) {
    use crate::plan::scrape::{
        ALERTMANAGER_PORT, BALANCER_METRICS_PORT, CADVISOR_PORT, GRAFANA_PORT, NGINX_EXPORTER_PORT,
        NODE_EXPORTER_PORT, POSTGRES_EXPORTER_PORT, PROMETHEUS_PORT, REDIS_EXPORTER_PORT,
    };
    let mut conflicts = Vec::new();
    let mut free = |book: &mut PortBook, host: &str, base: u16, owner: String| -> u16 {
        match (u32::from(base)..=65_535).find(|&p| book.owner(host, p).is_none()) {
            Some(p) => {
                book.take(host, p, owner);
                p as u16
            }
            None => {
                conflicts.push((
                    Pointer::build(["monitoring"]),
                    format!("{owner} finds no free port on {host}"),
                ));
                base
            }
        }
    };
    let balancer_hosts: Vec<String> = bp
        .balancer
        .as_ref()
        .and_then(|lb| lb.tier.as_deref())
        .and_then(|t| bp.tiers.get(t))
        .map(|t| t.hosts.clone())
        .unwrap_or_default();
    let mut machines: BTreeSet<String> = balancer_hosts.iter().cloned().collect();
    machines.extend(layout.machines.values().flatten().cloned());
    machines.extend(layout.datastores.values().flatten().map(|(h, _)| h.clone()));
    let home = match bp.monitoring.as_ref().and_then(|m| m.tier.as_deref()) {
        Some(tier) => match bp.tiers.get(tier).map(|t| t.hosts.first()) {
            Some(Some(h)) => h.clone(),
            // No such tier: reported as an unknown reference.
            None => return,
            Some(None) => {
                layout.unplaced.push((
                    Pointer::build(["monitoring", "tier"]),
                    "the monitoring (Prometheus, Alertmanager, Grafana)".into(),
                ));
                return;
            }
        },
        None => match balancer_hosts.first().or(machines.first()) {
            Some(h) => h.clone(),
            None => return,
        },
    };
    machines.insert(home.clone());
    let mut m = HostsMonitoring {
        machine: home.clone(),
        ..HostsMonitoring::default()
    };
    m.prometheus = free(book, &home, PROMETHEUS_PORT, "Prometheus".into());
    m.alertmanager = free(book, &home, ALERTMANAGER_PORT, "Alertmanager".into());
    m.grafana = free(book, &home, GRAFANA_PORT, "Grafana".into());
    for host in &machines {
        let port = free(book, host, CADVISOR_PORT, "cAdvisor".into());
        m.cadvisor.insert(host.clone(), port);
        let port = free(book, host, NODE_EXPORTER_PORT, "node_exporter".into());
        m.node.insert(host.clone(), port);
    }
    for host in &balancer_hosts {
        let metrics = free(
            book,
            host,
            BALANCER_METRICS_PORT,
            "the balancer's metrics".into(),
        );
        let exporter = free(
            book,
            host,
            NGINX_EXPORTER_PORT,
            "the balancer's exporter".into(),
        );
        m.balancer.insert(host.clone(), (metrics, exporter));
    }
    for (name, store) in &bp.datastores {
        let Some(placed) = layout.datastores.get(name) else {
            continue;
        };
        for ((id, role, _), (host, _)) in datastore_nodes(name, store).iter().zip(placed) {
            let base = match (store, role) {
                (Datastore::Redis(_), _) => REDIS_EXPORTER_PORT,
                (Datastore::Postgres(_), NodeRole::Primary | NodeRole::Replica) => {
                    POSTGRES_EXPORTER_PORT
                }
                _ => continue,
            };
            let port = free(book, host, base, format!("the exporter of `{id}`"));
            m.exporters.insert(id.clone(), port);
        }
    }
    for (name, s) in &bp.services {
        let port = s.port.and_then(|p| u16::try_from(p).ok());
        let Some(metrics) = s
            .metrics
            .as_ref()
            .and_then(|mx| crate::plan::watch::metrics_plan(mx, port))
        else {
            continue;
        };
        // Scraped where the balancer reaches it.
        if port == Some(metrics.port) && layout.services.contains_key(name) {
            continue;
        }
        let mut placed = Vec::new();
        for (i, host) in layout.machines.get(name).into_iter().flatten().enumerate() {
            let owner = format!("the metrics of `{name}` (instance {})", i + 1);
            placed.push((host.clone(), free(book, host, metrics.port, owner)));
        }
        m.service_metrics.insert(name.clone(), placed);
    }
    layout.conflicts.extend(conflicts);
    layout.monitoring = Some(m);
}

/// Gives each instance of a service that takes GPUs its own on its machine, by index
/// (the NVIDIA Container Toolkit would give every instance the first ones; AMD's and
/// Intel's runtimes see every GPU unless told which): on
/// compose every instance shares the one Docker host, on hosts each machine counts
/// its own. Past the machine's GPUs the indices start over, so instances share, which
/// validation reports as the tier over its capacity.
pub fn assign_gpus(
    services: &mut BTreeMap<String, crate::plan::ServicePlan>,
    tiers: &BTreeMap<String, crate::plan::TierPlan>,
    platforms: &[Platform],
) {
    for platform in [Platform::Compose, Platform::Hosts] {
        if !platforms.contains(&platform) {
            continue;
        }
        // The next free index on each machine ("" for compose's one host).
        let mut next: BTreeMap<String, u32> = BTreeMap::new();
        for s in services.values_mut() {
            let Some(gpu) = s.resources.gpu else {
                continue;
            };
            let Some(has) = s
                .tier
                .as_ref()
                .and_then(|t| tiers.get(t))
                .and_then(|t| t.gpu)
                .filter(|h| h.count > 0)
            else {
                continue;
            };
            let ids = (0..s.containers.len())
                .map(|i| {
                    let machine = match platform {
                        Platform::Hosts => s.machines.get(i).cloned().unwrap_or_default(),
                        _ => String::new(),
                    };
                    let first = next.entry(machine).or_insert(0);
                    let ids = (0..gpu.count).map(|k| (*first + k) % has.count).collect();
                    *first += gpu.count;
                    ids
                })
                .collect();
            s.gpu_devices.insert(platform, ids);
        }
    }
}
