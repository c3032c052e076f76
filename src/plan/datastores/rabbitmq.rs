//! RabbitMQ, resolved: its user, virtual host and the durable queues the blueprint's
//! workers consume.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{DatastoreNode, EnvVar};
use crate::model::{Blueprint, Platform};
use crate::plan::ResourcesPlan;

/// RabbitMQ, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct RabbitmqPlan {
    pub user: String,
    pub password_secret: String,
    pub vhost: String,
    /// The queues the blueprint's workers consume, declared durable.
    pub queues: Vec<String>,
    /// Share of the memory past which publishers are blocked.
    pub vm_memory_high_watermark: String,
    /// That share of its memory limit (else request), in bytes; 0 without one, when
    /// the share is of the memory the system reports (a container's is the node's).
    pub vm_memory_high_watermark_bytes: u64,
    /// Brokers in the cluster (1: no cluster).
    pub nodes: u32,
    /// A cluster's shared Erlang cookie: the secret that lets its nodes (and the CLI
    /// tools beside each) talk; `None` for one broker.
    pub cookie_secret: Option<String>,
    /// A cluster's queues are quorum queues (`default_queue_type`), replicated on a
    /// majority of its nodes before a publish is confirmed.
    pub quorum: bool,
    /// Each node's Erlang name per platform (`rabbit@<host>`), in node order; the
    /// cluster forms from this list (classic peer discovery).
    pub peers: BTreeMap<Platform, Vec<String>>,
}

impl RabbitmqPlan {
    /// Whether the nodes on `platform` are named by a fully qualified name or an
    /// address (Erlang's long names): every platform but compose, whose containers
    /// are named by their host names.
    pub fn long_names(platform: Platform) -> bool {
        platform != Platform::Compose
    }
}

/// The Erlang name of each node of `name` on `platform`, in node order: its id at its
/// address on machines, by container host name in compose, by the pod's stable name under the
/// headless Service on Kubernetes (namespace `ns`).
pub(super) fn peers(
    platform: Platform,
    nodes: &[DatastoreNode],
    objects: &super::KubernetesObjects,
    ns: &str,
) -> Vec<String> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| match platform {
            // Named for the node, not `rabbit`: one name per broker over the cluster,
            // which the machines' logs and `rabbitmqctl cluster_status` show as is.
            Platform::Hosts => format!("{}@{}", n.id, n.host),
            Platform::Compose => format!("rabbit@{}", n.id),
            Platform::Kubernetes => format!(
                "rabbit@{}-{i}.{}.{ns}.svc.cluster.local",
                objects.workload, objects.headless
            ),
        })
        .collect()
}

pub(super) fn plan(
    name: &str,
    prefix: &str,
    resources: &ResourcesPlan,
    bp: &Blueprint,
    nodes: u32,
) -> RabbitmqPlan {
    let queues: BTreeSet<String> = bp
        .services
        .values()
        .filter_map(|s| s.queue.as_ref())
        .filter(|q| q.broker == name)
        .map(|q| q.name.clone())
        .collect();
    RabbitmqPlan {
        user: "app".into(),
        password_secret: format!("{prefix}_PASSWORD"),
        vhost: "/".into(),
        queues: queues.into_iter().collect(),
        vm_memory_high_watermark: "0.6".into(),
        vm_memory_high_watermark_bytes: resources.memory_ceiling() * 6 / 10,
        nodes,
        cookie_secret: (nodes > 1).then(|| format!("{prefix}_ERLANG_COOKIE")),
        quorum: nodes > 1,
        // Known once the nodes are placed: see `datastore_plan`.
        peers: BTreeMap::new(),
    }
}

/// What a service is given to connect: the node, the user and its virtual host.
pub(super) fn connection(
    prefix: &str,
    r: &RabbitmqPlan,
    nodes: &[DatastoreNode],
    platform: Platform,
    name: &str,
) -> Vec<EnvVar> {
    let mut vars = Vec::new();
    if let Some(n) = nodes.first() {
        // A cluster in compose: the name every broker answers to on the network, which
        // Docker's DNS resolves to the brokers that run.
        let host = if platform == Platform::Compose && r.nodes > 1 {
            name
        } else {
            &n.host
        };
        vars.push(EnvVar::literal(format!("{prefix}_HOST"), host));
        vars.push(EnvVar::literal(format!("{prefix}_PORT"), n.port));
    }
    vars.push(EnvVar::literal(format!("{prefix}_USER"), &r.user));
    vars.push(EnvVar::secret(
        format!("{prefix}_PASSWORD"),
        &r.password_secret,
    ));
    vars.push(EnvVar::literal(format!("{prefix}_VHOST"), &r.vhost));
    // A cluster's every node, for clients that fail over between them (Celery's
    // `;`-separated broker URLs, a client's address list); behind one Service on
    // Kubernetes.
    let distinct: BTreeSet<String> = nodes
        .iter()
        .map(|n| format!("{}:{}", n.host, n.port))
        .collect();
    if r.nodes > 1 && distinct.len() > 1 {
        let all: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}:{}", n.host, n.port))
            .collect();
        vars.push(EnvVar::literal(format!("{prefix}_NODES"), all.join(",")));
    }
    vars
}
