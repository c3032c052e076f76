//! Redis, resolved: standalone or a cluster of masters and replicas, its role (a cache
//! evicts, a broker keeps every message) and `maxmemory`.

use serde::Serialize;

use super::{DatastoreNode, EnvVar};
use crate::model::{Blueprint, Redis, RedisMode, RedisRole};
use crate::plan::ResourcesPlan;

const MIB: u64 = 1024 * 1024;

/// Redis, resolved.
///
/// Its `Debug` text names the Kubernetes cluster bootstrap Job (a hash of it): a new
/// field changes that name.
#[derive(Debug, Clone, Serialize)]
pub struct RedisPlan {
    pub cluster: bool,
    pub masters: u32,
    pub replicas_per_master: u32,
    /// `cache` or `broker`.
    pub role: String,
    /// Bytes, or 0 for no limit.
    pub maxmemory: u64,
    /// `allkeys-lru` for a cache, `noeviction` for a broker.
    pub maxmemory_policy: String,
    /// Append-only persistence: on for a broker (a queue survives a restart), off for
    /// a cache (it refills).
    pub appendonly: bool,
    pub password_secret: String,
    pub cluster_node_timeout_ms: u64,
    /// Share of the memory limit `maxmemory` allows.
    pub maxmemory_percent: u32,
}

pub(super) fn plan(
    name: &str,
    r: &Redis,
    prefix: &str,
    resources: &ResourcesPlan,
    bp: &Blueprint,
) -> RedisPlan {
    let queues_on_it = bp
        .services
        .values()
        .any(|s| s.queue.as_ref().is_some_and(|q| q.broker == name));
    let broker = match r.role {
        Some(RedisRole::Broker) => true,
        Some(RedisRole::Cache) => false,
        None => queues_on_it,
    };
    let cluster = r.mode == RedisMode::Cluster;
    let shape = r.cluster.as_ref();
    RedisPlan {
        cluster,
        masters: if cluster {
            shape.map_or(3, |s| s.masters)
        } else {
            1
        },
        replicas_per_master: if cluster {
            shape.map_or(1, |s| s.replicas_per_master)
        } else {
            0
        },
        role: if broker { "broker" } else { "cache" }.into(),
        maxmemory: maxmemory(resources.memory_ceiling(), r.maxmemory_percent),
        maxmemory_policy: if broker { "noeviction" } else { "allkeys-lru" }.into(),
        appendonly: broker,
        password_secret: format!("{prefix}_PASSWORD"),
        cluster_node_timeout_ms: 5_000,
        maxmemory_percent: r.maxmemory_percent,
    }
}

/// `maxmemory`: `percent` of the memory limit (else the request), in whole megabytes;
/// 0 (no limit) when no memory is given.
pub fn maxmemory(memory: u64, percent: u32) -> u64 {
    memory * u64::from(percent.min(100)) / 100 / MIB * MIB
}

/// What a service is given to connect: the first node, and every node of a cluster
/// (`_CLUSTER_NODES`, for cluster-aware clients).
pub(super) fn connection(prefix: &str, r: &RedisPlan, nodes: &[DatastoreNode]) -> Vec<EnvVar> {
    let mut vars = Vec::new();
    if let Some(n) = nodes.first() {
        vars.push(EnvVar::literal(format!("{prefix}_HOST"), &n.host));
        vars.push(EnvVar::literal(format!("{prefix}_PORT"), n.port));
    }
    if r.cluster {
        let all: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}:{}", n.host, n.port))
            .collect();
        vars.push(EnvVar::literal(
            format!("{prefix}_CLUSTER_NODES"),
            all.join(","),
        ));
    }
    vars.push(EnvVar::secret(
        format!("{prefix}_PASSWORD"),
        &r.password_secret,
    ));
    vars
}

/// A node's address inside a Kubernetes cluster: a cluster node is a pod of the
/// headless Service (`cache-0.cache-headless`), a standalone server its Service.
pub(super) fn kubernetes_host(
    id: &str,
    r: &RedisPlan,
    objects: &super::KubernetesObjects,
    ns: &str,
) -> String {
    if !r.cluster {
        return format!("{id}.{ns}.svc.cluster.local");
    }
    // StatefulSet pods are numbered from 0.
    let n: u32 = id
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    format!(
        "{}-{}.{}.{ns}.svc.cluster.local",
        objects.workload,
        n - 1,
        objects.headless
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxmemory_is_a_share_of_the_limit() {
        const GIB: u64 = 1024 * MIB;
        assert_eq!(maxmemory(512 * MIB, 80), 409 * MIB);
        assert_eq!(maxmemory(2 * GIB, 75), 1536 * MIB);
        assert_eq!(maxmemory(0, 80), 0);
    }
}
