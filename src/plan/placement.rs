//! Where instances go on the `hosts` platform, and what the compose platform calls
//! them. One rule, used by validation (to refuse port clashes) and by the plan.

use std::collections::{BTreeMap, BTreeSet};

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

/// The nodes a datastore runs, in placement order, as (compose name, role, base port).
pub fn datastore_nodes(
    name: &str,
    store: &crate::model::Datastore,
) -> Vec<(String, &'static str, u16)> {
    use crate::model::{Datastore, RedisMode};
    match store {
        Datastore::Postgres(p) => {
            let mut nodes = vec![(name.to_string(), "primary", 5432)];
            for i in 1..=p.replicas {
                nodes.push((format!("{name}-replica-{i}"), "replica", 5432));
            }
            if p.pooler.is_some() {
                nodes.push((format!("{name}-pgbouncer"), "pooler", 6432));
            }
            nodes
        }
        Datastore::Redis(r) => match (r.mode, &r.cluster) {
            (RedisMode::Cluster, Some(shape)) => {
                let total = shape.masters * (1 + shape.replicas_per_master);
                (1..=total)
                    .map(|i| {
                        let role = if i <= shape.masters {
                            "master"
                        } else {
                            "replica"
                        };
                        (format!("{name}-{i}"), role, 6379)
                    })
                    .collect()
            }
            _ => vec![(name.to_string(), "node", 6379)],
        },
        Datastore::Rabbitmq(_) => vec![(name.to_string(), "node", 5672)],
    }
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
    /// What could not be placed: (JSON pointer, what it is).
    pub unplaced: Vec<(String, String)>,
    /// Two listeners on one port of a machine: (JSON pointer, message).
    pub conflicts: Vec<(String, String)>,
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
pub fn hosts_layout(bp: &crate::model::Blueprint) -> HostsLayout {
    use crate::model::{Datastore, RedisMode};
    use crate::source::pointer::Pointer;

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
                 conflicts: &mut Vec<(String, String)>,
                 host: &str,
                 port: u32,
                 owner: String,
                 ptr: String| {
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
                .push(("/balancer".into(), "the balancer".into())),
            Some(hosts) => {
                for h in hosts.iter().collect::<BTreeSet<_>>() {
                    claim(
                        &mut book,
                        &mut layout.conflicts,
                        h,
                        lb.listen,
                        "the balancer".into(),
                        "/balancer/listen".into(),
                    );
                }
            }
        }
    }
    for (name, s) in &bp.services {
        let ptr = Pointer::build(["services", name.as_str()]).to_string();
        let Some(hosts) = hosts_of(s.tier.as_deref()) else {
            layout.unplaced.push((ptr, format!("service `{name}`")));
            continue;
        };
        let every = vec![0u16; s.fixed_instances() as usize];
        layout.machines.insert(
            name.clone(),
            spread(hosts.len(), &every)
                .into_iter()
                .map(|(h, _)| hosts[h].clone())
                .collect(),
        );
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
                        format!("{ptr}/port"),
                    );
                    placed.push((hosts[h].clone(), p));
                }
                None => layout.conflicts.push((
                    format!("{ptr}/port"),
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
    for (name, store) in &bp.datastores {
        let ptr = Pointer::build(["datastores", name.as_str()]).to_string();
        let Some(hosts) = hosts_of(store.tier()) else {
            layout.unplaced.push((ptr, format!("datastore `{name}`")));
            continue;
        };
        let bus = matches!(store, Datastore::Redis(r) if r.mode == RedisMode::Cluster);
        let nodes = datastore_nodes(name, store);
        let bases: Vec<u16> = nodes.iter().map(|(_, _, p)| *p).collect();
        let mut placed = Vec::new();
        for ((id, _, base), (h, _)) in nodes.iter().zip(spread(hosts.len(), &bases)) {
            let host = &hosts[h];
            let free = (u32::from(*base)..=55_535).find(|&p| {
                book.owner(host, p).is_none() && (!bus || book.owner(host, p + 10_000).is_none())
            });
            match free {
                Some(p) => {
                    book.take(host, p, format!("datastore node `{id}`"));
                    if bus {
                        book.take(host, p + 10_000, format!("the cluster bus of `{id}`"));
                    }
                    placed.push((host.clone(), p as u16));
                }
                None => layout
                    .conflicts
                    .push((ptr.clone(), format!("`{id}` finds no free port on {host}"))),
            }
        }
        layout.datastores.insert(name.clone(), placed);
    }
    layout
}
