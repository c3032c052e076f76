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
            pods: 0,
        }],
    }
}

/// Where the balancer reaches a routed service's instances on each platform. On
/// Kubernetes HAProxy resolves the headless Service's name at run time into one slot
/// per pod (as many slots as the service may have pods), so balancing, stickiness and
/// failure counting act on pods, not on one virtual IP that kube-proxy spreads behind.
/// nginx does the same with `server … resolve` for a pool it does not hash, and keeps
/// the Service's virtual IP for one it does (see `Platform::addresses_instances`).
pub(super) fn pool_servers(
    s: &ServicePlan,
    engine: BalancerEngine,
    hashed: bool,
    blueprint: &str,
) -> (BTreeMap<Platform, Vec<Endpoint>>, Option<String>) {
    let mut servers = s.endpoints.clone();
    let mut pod_service = None;
    let per_pod = Platform::Kubernetes.addresses_instances(engine, hashed);
    if let (Some(list), true) = (servers.get_mut(&Platform::Kubernetes), per_pod) {
        let headless = crate::model::capabilities::pod_service_name(&s.name);
        *list = vec![Endpoint {
            id: s.name.clone(),
            host: format!("{headless}.{blueprint}.svc.cluster.local"),
            port: list.first().map_or(0, |e| e.port),
            node: String::new(),
            pods: most_pods(s),
        }];
        pod_service = Some(headless);
    }
    (servers, pod_service)
}

/// Where the balancer listens on `platform`: one node per instance with its own
/// config.
pub(super) fn balancer_nodes(
    platform: Platform,
    lb: &Balancer,
    tiers: &BTreeMap<String, TierPlan>,
    listen: u16,
    tls_listen: Option<u16>,
    monitoring: Option<&super::placement::HostsMonitoring>,
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
                .map(|h| {
                    let metrics_port = monitoring
                        .and_then(|m| m.balancer.get(&h))
                        .map(|(port, _)| *port);
                    // nginx's stub_status for the exporter beside it; HAProxy's
                    // metrics for the monitoring machine.
                    let metrics_address = match lb.engine {
                        crate::model::BalancerEngine::Nginx => super::scrape::local_address(&h),
                        crate::model::BalancerEngine::Haproxy => match monitoring {
                            Some(m) => super::scrape::metrics_address(&h, &m.machine),
                            None => h.clone(),
                        },
                    };
                    BalancerNode {
                        address: h.clone(),
                        host: h,
                        port: listen,
                        tls_port: tls_listen,
                        health_port: health_port(lb),
                        metrics_port,
                        metrics_address,
                    }
                })
                .collect()
        }
        Platform::Compose | Platform::Kubernetes => vec![BalancerNode {
            host: String::new(),
            address: String::new(),
            port: CONTAINER_LISTEN_PORT,
            tls_port: tls_listen.map(|_| CONTAINER_TLS_PORT),
            health_port: health_port(lb),
            metrics_port: Some(super::scrape::BALANCER_METRICS_PORT),
            metrics_address: String::new(),
        }],
    })
}

/// The balancer's plain health port, where its listeners expect the PROXY protocol.
fn health_port(lb: &Balancer) -> Option<u16> {
    lb.proxy_protocol.then_some(crate::model::PROXY_HEALTH_PORT)
}

/// The most pods of `s` that can be ready at once on Kubernetes: the autoscaler's
/// maximum (or the fixed count), plus the rollout's surge, which starts new pods
/// before it stops old ones. Each gets a balancer slot.
fn most_pods(s: &ServicePlan) -> u32 {
    let most = s.scaling.max.max(s.instances).max(1);
    let surge = match s.rollout {
        super::health::Rollout::Recreate => 0,
        super::health::Rollout::Rolling { surge, .. } => match surge {
            super::health::Surge::Count(n) => n,
            // Kubernetes rounds a percentage of surge up.
            super::health::Surge::Percent(p) => (most * p).div_ceil(100),
        },
    };
    most + surge
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
            pods: 0,
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
            pods: 0,
        })
        .collect()
}

impl BalancerPlan {
    /// How many copies of the balancer run on `platform`: one per node it has there
    /// (one per machine of its tier on `hosts`, one elsewhere), and on Kubernetes each
    /// node is a Deployment of [`BalancerPlan::replicas`] pods behind one Service.
    pub fn instances(&self, platform: Platform) -> u32 {
        let nodes = self.nodes.get(&platform).map_or(0, Vec::len) as u32;
        match platform {
            Platform::Kubernetes => nodes * self.replicas,
            Platform::Compose | Platform::Hosts => nodes,
        }
    }
}
