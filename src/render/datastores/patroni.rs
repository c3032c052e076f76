//! Automatic failover's files (`ha: auto`): a `patroni-<node>.yml` per server, beside
//! the `postgresql.conf`, `pg_hba.conf` and `init-primary.sh` every server may need (any
//! of them may bootstrap the cluster or become the primary); an `etcd-<member>.yml`
//! per etcd member; the router's `router.cfg`; and the images' Dockerfiles.

use minijinja::context;
use serde::Serialize;

use super::Files;
use crate::model::Platform;
use crate::plan::patroni_servers as servers;
use crate::plan::{DatastoreNode, DatastorePlan, NodeRole, PatroniPlan, Plan, PostgresPlan};
use crate::render::templates::TemplateError;
use crate::render::url_host;

/// `host:port`, the host bracketed when it is an IPv6 address.
fn address(host: &str, port: u16) -> String {
    format!("{}:{port}", url_host(host))
}

/// What a server's container listens on: its machine's address on `hosts`, every
/// address elsewhere.
fn listen(node: &DatastoreNode, port: u16, every: &str) -> String {
    if node.machine.is_empty() {
        format!("{every}:{port}")
    } else {
        address(&node.host, port)
    }
}

/// A server as the router checks it.
#[derive(Serialize)]
struct Checked<'a> {
    id: &'a str,
    address: String,
    api_port: u16,
}

/// The files of `machine`'s nodes (servers, etcd members, the router), into `dir`.
#[allow(clippy::too_many_arguments)]
pub(super) fn render(
    files: &mut Files,
    plan: &Plan,
    store: &DatastorePlan,
    pg: &PostgresPlan,
    pat: &PatroniPlan,
    platform: Platform,
    machine: &str,
    dir: &str,
    mount: &str,
    data_dir: &str,
) -> Result<(), TemplateError> {
    let nodes = store.nodes_on(platform);
    if platform == Platform::Kubernetes {
        return kubernetes(files, plan, store, pg, pat, dir, mount, data_dir);
    }
    let etcd: Vec<&DatastoreNode> = nodes.iter().filter(|n| n.role == NodeRole::Etcd).collect();
    let etcd_clients: Vec<String> = etcd.iter().map(|e| address(&e.host, e.port)).collect();
    let initial_cluster = etcd
        .iter()
        .map(|e| format!("{}=http://{}", e.id, address(&e.host, e.port + 1)))
        .collect::<Vec<_>>()
        .join(",");
    let here = |n: &&DatastoreNode| n.machine == machine;
    let mut images = false;
    for node in servers(nodes).filter(here) {
        let api_port = pat.api_port(platform, &node.id);
        files.push(
            machine,
            format!("{dir}/patroni-{}.yml", node.id),
            "patroni/patroni.yml.j2",
            context! {
                pg => pg, pat => pat, node => node, mount => mount, data_dir => data_dir,
                etcd => etcd_clients, kubernetes => (),
                api_listen => listen(node, api_port, "0.0.0.0"),
                api_address => address(&node.host, api_port),
                pg_listen => listen(node, node.port, "*"),
                pg_address => address(&node.host, node.port),
            },
        )?;
        images = true;
    }
    if images {
        files.push(
            machine,
            format!("images/{}/Dockerfile", store.name),
            "postgres/Dockerfile.j2",
            context! { patroni => pat, backup => pg.backup },
        )?;
    }
    let mut etcd_here = false;
    for member in etcd.iter().filter(|m| m.machine == machine) {
        files.push(
            machine,
            format!("{dir}/etcd-{}.yml", member.id),
            "patroni/etcd.yml.j2",
            context! {
                pat => pat, member => member, mount => mount,
                initial_cluster => initial_cluster,
                listen_client => format!("http://{}", listen(member, member.port, "0.0.0.0")),
                client_url => format!("http://{}", address(&member.host, member.port)),
                listen_peer => format!("http://{}", listen(member, member.port + 1, "0.0.0.0")),
                peer_url => format!("http://{}", address(&member.host, member.port + 1)),
            },
        )?;
        etcd_here = true;
    }
    if etcd_here {
        files.push(
            machine,
            format!("images/{}-etcd/Dockerfile", store.name),
            "patroni/etcd.Dockerfile.j2",
            context! { base_image => crate::model::versions::ETCD_BASE_IMAGE },
        )?;
    }
    for router in nodes
        .iter()
        .filter(|n| n.role == NodeRole::Router)
        .filter(here)
    {
        let checked: Vec<Checked> = servers(nodes)
            .map(|s| Checked {
                id: &s.id,
                address: address(&s.host, s.port),
                api_port: pat.api_port(platform, &s.id),
            })
            .collect();
        files.push(
            machine,
            format!("{dir}/router.cfg"),
            "patroni/router.cfg.j2",
            context! {
                pat => pat, node => router, mount => mount, servers => checked,
                bind_write => listen(router, router.port, ""),
                bind_read => listen(router, router.port + 1, ""),
                up_within_s => pat.check.up_within_s(),
                // Compose names its containers; an address needs no DNS.
                resolvers => platform == Platform::Compose,
            },
        )?;
    }
    Ok(())
}

/// On Kubernetes one `patroni.yml` for the StatefulSet's pods (each pod's name and
/// address come from its environment), with Kubernetes as Patroni's store.
#[allow(clippy::too_many_arguments)]
fn kubernetes(
    files: &mut Files,
    plan: &Plan,
    store: &DatastorePlan,
    pg: &PostgresPlan,
    pat: &PatroniPlan,
    dir: &str,
    mount: &str,
    data_dir: &str,
) -> Result<(), TemplateError> {
    let (Some(node), Some(objects)) = (
        servers(store.nodes_on(Platform::Kubernetes)).next(),
        &store.kubernetes.patroni,
    ) else {
        return Ok(());
    };
    let api_port = pat.api_port(Platform::Kubernetes, &node.id);
    files.push(
        "",
        format!("{dir}/patroni.yml"),
        "patroni/patroni.yml.j2",
        context! {
            pg => pg, pat => pat, node => node, mount => mount, data_dir => data_dir,
            etcd => Vec::<String>::new(),
            api_listen => listen(node, api_port, "0.0.0.0"),
            api_address => "",
            pg_listen => listen(node, node.port, "*"),
            pg_address => "",
            kubernetes => context! {
                namespace => plan.namespace,
                labels => objects.labels,
                scope_label => objects.scope_label,
                role_label => objects.role_label,
                leader => store.kubernetes.workload,
                config_endpoints => objects.config_endpoints,
            },
        },
    )?;
    files.push(
        "",
        format!("images/{}/Dockerfile", store.name),
        "postgres/Dockerfile.j2",
        context! { patroni => pat, backup => pg.backup },
    )?;
    Ok(())
}
