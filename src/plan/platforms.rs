//! Each platform's part of the plan, in one place: where a service's instances are
//! reached, where the balancer listens, and the per-platform settings the renderers
//! write out. A new platform adds its arm to each function here (and its datastore
//! addressing in `datastores.rs`); what it can do is stated in `model::capabilities`.

use std::collections::BTreeMap;

use super::*;

/// Where each instance of a routable service `name` listening on `port` is reached on
/// `platform`.
pub(super) fn service_endpoints(
    platform: Platform,
    name: &str,
    instances: u32,
    port: u16,
    bp: &Blueprint,
    layout: &placement::HostsLayout,
) -> Vec<Endpoint> {
    match platform {
        Platform::Compose => compose_endpoints(name, instances, port),
        Platform::Hosts => hosts_endpoints(name, layout),
        Platform::Kubernetes => vec![Endpoint {
            id: name.to_string(),
            host: format!("{name}.{}.svc.cluster.local", bp.name),
            port,
            node: String::new(),
        }],
    }
}

/// Where the balancer listens on `platform`: one node per instance with its own
/// config.
pub(super) fn balancer_nodes(
    platform: Platform,
    lb: &Balancer,
    tiers: &BTreeMap<String, TierPlan>,
    listen: u16,
    tls_listen: Option<u16>,
) -> Result<Vec<BalancerNode>, String> {
    Ok(match platform {
        Platform::Hosts => {
            let hosts = lb
                .tier
                .as_deref()
                .and_then(|t| tiers.get(t))
                .map(|t| t.hosts.clone())
                .unwrap_or_default();
            if hosts.is_empty() {
                return Err(
                    "the balancer is on no tier that lists hosts, so the hosts platform cannot place it"
                        .into(),
                );
            }
            hosts
                .into_iter()
                .map(|h| BalancerNode {
                    address: h.clone(),
                    host: h,
                    port: listen,
                    tls_port: tls_listen,
                })
                .collect()
        }
        Platform::Compose | Platform::Kubernetes => vec![BalancerNode {
            host: String::new(),
            address: String::new(),
            port: CONTAINER_LISTEN_PORT,
            tls_port: tls_listen.map(|_| CONTAINER_TLS_PORT),
        }],
    })
}

/// The time a stopping instance of a `kind` service gets on `platform` before it is
/// killed: a worker or scheduler finishes the task in hand; on Kubernetes a web
/// process drains its connections too. `None`: the platform's own default.
pub fn stop_grace_ms(platform: Platform, kind: ServiceKind) -> Option<u64> {
    let long_tasks = matches!(kind, ServiceKind::Worker | ServiceKind::Scheduler);
    match platform {
        Platform::Kubernetes => Some(if long_tasks { 300_000 } else { 30_000 }),
        Platform::Compose | Platform::Hosts => long_tasks.then_some(60_000),
    }
}

fn compose_endpoints(name: &str, instances: u32, port: u16) -> Vec<Endpoint> {
    placement::instance_names(name, instances)
        .into_iter()
        .map(|id| Endpoint {
            host: id.clone(),
            id,
            port,
            node: String::new(),
        })
        .collect()
}

/// The instances' machines and ports on the `hosts` platform ([`placement::hosts_layout`]).
fn hosts_endpoints(name: &str, layout: &placement::HostsLayout) -> Vec<Endpoint> {
    layout
        .services
        .get(name)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, (host, port))| Endpoint {
            id: format!("{name}-{}", i + 1),
            host: host.clone(),
            port: *port,
            node: host.clone(),
        })
        .collect()
}
