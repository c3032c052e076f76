//! RabbitMQ, resolved: its user, virtual host and the durable queues the blueprint's
//! workers consume.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{DatastoreNode, EnvVar};
use crate::model::Blueprint;
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
}

pub(super) fn plan(
    name: &str,
    prefix: &str,
    resources: &ResourcesPlan,
    bp: &Blueprint,
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
    }
}

/// What a service is given to connect: the node, the user and its virtual host.
pub(super) fn connection(prefix: &str, r: &RabbitmqPlan, nodes: &[DatastoreNode]) -> Vec<EnvVar> {
    let mut vars = Vec::new();
    if let Some(n) = nodes.first() {
        vars.push(EnvVar::literal(format!("{prefix}_HOST"), &n.host));
        vars.push(EnvVar::literal(format!("{prefix}_PORT"), n.port));
    }
    vars.push(EnvVar::literal(format!("{prefix}_USER"), &r.user));
    vars.push(EnvVar::secret(
        format!("{prefix}_PASSWORD"),
        &r.password_secret,
    ));
    vars.push(EnvVar::literal(format!("{prefix}_VHOST"), &r.vhost));
    vars
}
