//! The datastores' config files and start scripts, shared by the compose and hosts
//! platforms: Redis (standalone or cluster), PostgreSQL (primary and replicas),
//! PgBouncer and RabbitMQ.
//!
//! Files live under `<engine>/<datastore>/` in a bundle. On the `hosts` platform each
//! machine gets the files of the nodes it runs, and the configs listen on that
//! machine's address; elsewhere they listen on every address of the container.

use serde::Serialize;

use crate::model::Platform;
use crate::plan::{DatastoreNode, DatastorePlan, Plan};
use crate::render::templates::{TemplateError, Templates};

use super::bundle::generated_header;

/// A rendered file and the machine it belongs to (`hosts` platform; empty elsewhere).
pub struct ConfigFile {
    pub machine: String,
    pub path: String,
    pub text: String,
}

/// Where a datastore's files are mounted in its containers.
pub fn mount_dir(store: &DatastorePlan) -> String {
    format!("/etc/tierform/{}", engine_dir(store))
}

fn engine_dir(store: &DatastorePlan) -> &'static str {
    store.engine.name()
}

/// The bundle folder of a datastore's files: `redis/cache`, `postgres/db`.
pub fn bundle_dir(store: &DatastorePlan) -> String {
    format!("{}/{}", engine_dir(store), store.name)
}

/// The bundle folder of a Postgres datastore's PgBouncer files.
pub fn pooler_dir(store: &DatastorePlan) -> String {
    format!("pgbouncer/{}", store.name)
}

#[derive(Serialize)]
struct Base<'a> {
    generated: String,
    store: &'a DatastorePlan,
}

/// Renders every file of `store` on `platform`.
pub fn render(
    plan: &Plan,
    store: &DatastorePlan,
    platform: Platform,
    templates: &Templates,
) -> Result<Vec<ConfigFile>, TemplateError> {
    let nodes = store.nodes.get(&platform).cloned().unwrap_or_default();
    // The machines in node order, each once (everything on one "machine" off `hosts`).
    let mut machines: Vec<String> = Vec::new();
    for n in &nodes {
        if !machines.contains(&n.machine) {
            machines.push(n.machine.clone());
        }
    }
    let base = Base {
        generated: generated_header(plan),
        store,
    };
    let mut out = Vec::new();
    let dir = bundle_dir(store);
    let mut push = |machine: &str, path: String, text: String| {
        out.push(ConfigFile {
            machine: machine.to_string(),
            path,
            text,
        })
    };
    if let (Some(redis), Platform::Kubernetes) = (store.redis(), platform) {
        // One StatefulSet: every pod reads the same config.
        let node = DatastoreNode {
            id: store.name.clone(),
            role: "node".into(),
            host: String::new(),
            port: nodes.first().map_or(6379, |n| n.port),
            machine: String::new(),
        };
        let ctx = minijinja::context! { redis => redis, node => node, nodes => &nodes, kubernetes => true, ..minijinja::Value::from_serialize(&base) };
        push(
            "",
            format!("{dir}/redis.conf"),
            templates.render("redis/redis.conf.j2", &ctx)?,
        );
        push(
            "",
            format!("{dir}/start.sh"),
            templates.render("redis/start.sh.j2", &ctx)?,
        );
        if redis.cluster {
            push(
                "",
                format!("{dir}/cluster-init.sh"),
                templates.render("redis/cluster-init.sh.j2", &ctx)?,
            );
        }
    } else if let Some(redis) = store.redis() {
        for machine in &machines {
            for node in nodes.iter().filter(|n| &n.machine == machine) {
                let text = templates.render(
                    "redis/redis.conf.j2",
                    &minijinja::context! { redis => redis, node => node, ..minijinja::Value::from_serialize(&base) },
                )?;
                push(machine, format!("{dir}/{}.conf", node.id), text);
            }
            let text = templates.render(
                "redis/start.sh.j2",
                &minijinja::context! { redis => redis, ..minijinja::Value::from_serialize(&base) },
            )?;
            push(machine, format!("{dir}/start.sh"), text);
        }
        if redis.cluster {
            // The bootstrap runs once, beside the first node.
            let text = templates.render(
                "redis/cluster-init.sh.j2",
                &minijinja::context! { redis => redis, nodes => &nodes, ..minijinja::Value::from_serialize(&base) },
            )?;
            push(&nodes[0].machine, format!("{dir}/cluster-init.sh"), text);
        }
    }
    if let Some(pg) = store.postgres() {
        let primary = nodes.iter().find(|n| n.role == "primary").cloned();
        let replicas: Vec<&DatastoreNode> = nodes.iter().filter(|n| n.role == "replica").collect();
        let pooler = nodes.iter().find(|n| n.role == "pooler");
        let Some(primary) = primary else {
            return Ok(out);
        };
        let memory = crate::model::units::format_bytes(pg.memory_bytes);
        let cpus = pg.cpus;
        let (app_networks, replication_networks) = hba_networks(plan, store, platform, &nodes);
        for machine in &machines {
            let here: Vec<&DatastoreNode> = nodes
                .iter()
                .filter(|n| &n.machine == machine && n.role != "pooler")
                .collect();
            if here.is_empty() {
                continue;
            }
            let listen = if machine.is_empty() {
                "*".to_string()
            } else {
                machine.clone()
            };
            let port = here
                .iter()
                .find(|n| n.role == "primary")
                .map_or(5432, |n| n.port);
            let ctx = minijinja::context! {
                pg => pg, listen => listen, port => port, memory => memory, cpus => cpus,
                app_networks => app_networks, replication_networks => replication_networks,
                ..minijinja::Value::from_serialize(&base)
            };
            push(
                machine,
                format!("{dir}/postgresql.conf"),
                templates.render("postgres/postgresql.conf.j2", &ctx)?,
            );
            push(
                machine,
                format!("{dir}/pg_hba.conf"),
                templates.render("postgres/pg_hba.conf.j2", &ctx)?,
            );
            if here.iter().any(|n| n.role == "primary") {
                push(
                    machine,
                    format!("{dir}/init-primary.sh"),
                    templates.render("postgres/init-primary.sh.j2", &ctx)?,
                );
            }
            for (i, node) in replicas.iter().enumerate() {
                if &node.machine != machine {
                    continue;
                }
                // Kubernetes: one script for the replica StatefulSet (it picks its slot
                // from the pod's ordinal).
                if platform == Platform::Kubernetes && i > 0 {
                    continue;
                }
                let ctx = minijinja::context! {
                    pg => pg, node => node, primary => &primary, slot => &pg.slots[i],
                    ..minijinja::Value::from_serialize(&base)
                };
                let file = if platform == Platform::Kubernetes {
                    "start-replica.sh".to_string()
                } else {
                    format!("start-{}.sh", node.id)
                };
                push(
                    machine,
                    format!("{dir}/{file}"),
                    templates.render("postgres/start-replica.sh.j2", &ctx)?,
                );
            }
        }
        // Replicas behind one address (a Kubernetes Service) are listed once.
        let mut distinct: Vec<&DatastoreNode> = Vec::new();
        for r in &replicas {
            if !distinct
                .iter()
                .any(|d| d.host == r.host && d.port == r.port)
            {
                distinct.push(r);
            }
        }
        if let (Some(pooler), Some(pool)) = (pooler, &pg.pooler) {
            let ctx = minijinja::context! {
                pg => pg, pooler => pool, primary => &primary, replicas => &distinct,
                listen => if pooler.machine.is_empty() { "*".to_string() } else { pooler.host.clone() },
                port => pooler.port,
                // Server connections per database: the pool and its reserve, within
                // what PostgreSQL allows.
                max_db_connections => (pool.default_pool_size + pool.reserve_pool_size).min(pg.max_connections),
                ..minijinja::Value::from_serialize(&base)
            };
            let pdir = pooler_dir(store);
            push(
                &pooler.machine,
                format!("{pdir}/pgbouncer.ini"),
                templates.render("pgbouncer/pgbouncer.ini.j2", &ctx)?,
            );
            push(
                &pooler.machine,
                format!("{pdir}/start.sh"),
                templates.render("pgbouncer/start.sh.j2", &ctx)?,
            );
        }
    }
    if let Some(rabbit) = store.rabbitmq() {
        for node in &nodes {
            let ctx = minijinja::context! {
                rabbit => rabbit, port => node.port, node => node,
                ..minijinja::Value::from_serialize(&base)
            };
            push(
                &node.machine,
                format!("{dir}/rabbitmq.conf"),
                templates.render("rabbitmq/rabbitmq.conf.j2", &ctx)?,
            );
            push(
                &node.machine,
                format!("{dir}/enabled_plugins"),
                templates.render("rabbitmq/enabled_plugins.j2", &ctx)?,
            );
        }
    }
    Ok(out)
}

/// The networks `pg_hba.conf` admits: on `hosts`, the machines of the services that use
/// the database and of the pooler (as /32 or /128; loopback machines as 127.0.0.0/8),
/// and for replication the replicas' machines; elsewhere the container's own networks
/// (`samenet`: the compose back network, or the pod network).
fn hba_networks(
    plan: &Plan,
    store: &DatastorePlan,
    platform: Platform,
    nodes: &[DatastoreNode],
) -> (Vec<String>, Vec<String>) {
    match platform {
        // One Docker host: the back network is the server's own.
        Platform::Compose => return (vec!["samenet".into()], vec!["samenet".into()]),
        // Pods come from any node's pod network: NetworkPolicies narrow who connects.
        Platform::Kubernetes => {
            let any = vec!["0.0.0.0/0".to_string(), "::/0".to_string()];
            return (any.clone(), any);
        }
        Platform::Hosts => {}
    }
    let net = |host: &str| match host.parse::<std::net::IpAddr>() {
        // Loopback "machines" are one machine: its clients connect from any 127/8
        // address (usually 127.0.0.1), so the narrowest network is the loopback one.
        Ok(std::net::IpAddr::V4(ip)) if ip.is_loopback() => "127.0.0.0/8".to_string(),
        Ok(std::net::IpAddr::V4(ip)) => format!("{ip}/32"),
        Ok(std::net::IpAddr::V6(ip)) => format!("{ip}/128"),
        Err(_) => host.to_string(),
    };
    let mut app = std::collections::BTreeSet::new();
    for s in plan.services.values() {
        if s.uses.iter().any(|u| u == &store.name) {
            for m in &s.machines {
                app.insert(net(m));
            }
        }
    }
    for n in nodes.iter().filter(|n| n.role == "pooler") {
        app.insert(net(&n.machine));
    }
    let replication: std::collections::BTreeSet<String> = nodes
        .iter()
        .filter(|n| n.role == "replica")
        .map(|n| net(&n.machine))
        .collect();
    (app.into_iter().collect(), replication.into_iter().collect())
}
