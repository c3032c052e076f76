//! How the plan's own servers (datastores, PgBouncer, the balancer) are watched and
//! stopped, and how every workload is rolled out: decided here, so compose's
//! healthchecks and Kubernetes' probes come from one table and a renderer only writes
//! them in its own form.

use serde::Serialize;

use super::datastores::NodeRole;
use crate::model::ServiceKind;

/// A Kubernetes-style probe's timing: how often it runs, how long one run may take
/// (`None`: the platform's default) and how many failures in a row count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub period_s: u32,
    pub timeout_s: Option<u32>,
    pub failures: Option<u32>,
}

/// A compose healthcheck's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    pub interval_s: u32,
    pub timeout_s: u32,
    pub retries: u32,
    /// Failures during the first start do not count for this long.
    pub start_period_s: Option<u32>,
}

/// How one server is watched and stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServerHealth {
    /// Compose's healthcheck; `None`: compose does not check it.
    pub healthcheck: Option<Healthcheck>,
    /// Whether it takes traffic.
    pub readiness: Probe,
    /// Whether it must be restarted.
    pub liveness: Probe,
    /// How long its first start may take, where a platform probes that apart.
    pub startup: Option<Probe>,
    /// How long a stopping server has to finish (a checkpoint, the last writes) before
    /// it is killed; `None`: the platform's default.
    pub stop_grace_s: Option<u32>,
}

const fn probe(period_s: u32, timeout_s: Option<u32>, failures: Option<u32>) -> Probe {
    Probe {
        period_s,
        timeout_s,
        failures,
    }
}

/// A PostgreSQL server (`Primary` or `Replica`), its pooler, or the router and etcd
/// members of automatic failover. A replica's first start
/// copies the primary (a base backup), so it gets twice the primary's patience.
pub fn postgres(role: NodeRole) -> ServerHealth {
    if role == NodeRole::Etcd {
        return ServerHealth {
            healthcheck: Some(Healthcheck {
                interval_s: 5,
                timeout_s: 3,
                retries: 10,
                start_period_s: None,
            }),
            readiness: probe(5, None, None),
            liveness: probe(10, None, Some(6)),
            startup: None,
            stop_grace_s: None,
        };
    }
    if matches!(role, NodeRole::Pooler | NodeRole::Router) {
        return ServerHealth {
            healthcheck: None,
            readiness: probe(5, None, None),
            liveness: probe(10, None, None),
            startup: None,
            stop_grace_s: None,
        };
    }
    let first_start_s = if role == NodeRole::Replica { 120 } else { 30 };
    let startup_failures = if role == NodeRole::Replica { 120 } else { 60 };
    ServerHealth {
        healthcheck: Some(Healthcheck {
            interval_s: 5,
            timeout_s: 3,
            retries: 10,
            start_period_s: Some(first_start_s),
        }),
        readiness: probe(5, None, None),
        liveness: probe(10, None, Some(6)),
        startup: Some(probe(5, None, Some(startup_failures))),
        // A fast shutdown writes a checkpoint; a killed server replays WAL at start.
        stop_grace_s: Some(60),
    }
}

/// A Redis server, standalone or a cluster node.
pub fn redis() -> ServerHealth {
    ServerHealth {
        healthcheck: Some(Healthcheck {
            interval_s: 5,
            timeout_s: 3,
            retries: 10,
            start_period_s: None,
        }),
        readiness: probe(5, None, None),
        liveness: probe(10, None, Some(6)),
        startup: None,
        stop_grace_s: None,
    }
}

/// A RabbitMQ node: its readiness command starts an Erlang VM, so each check is slow
/// and rarer. A cluster's broker may take its time to stop: it waits until its quorum
/// queues keep a majority without it (see `RABBITMQ_QUORUM_WAIT_S`).
pub fn rabbitmq(nodes: u32) -> ServerHealth {
    ServerHealth {
        stop_grace_s: (nodes > 1).then_some(RABBITMQ_QUORUM_WAIT_S + 60),
        ..rabbitmq_node()
    }
}

/// How long a cluster's broker, told to stop, waits for every quorum queue it serves to
/// keep a majority without it (`rabbitmq-upgrade await_online_quorum_plus_one`).
pub const RABBITMQ_QUORUM_WAIT_S: u32 = 600;

fn rabbitmq_node() -> ServerHealth {
    ServerHealth {
        healthcheck: Some(Healthcheck {
            interval_s: 10,
            timeout_s: 5,
            retries: 10,
            start_period_s: Some(30),
        }),
        readiness: probe(10, Some(5), None),
        liveness: probe(30, Some(10), None),
        startup: None,
        stop_grace_s: None,
    }
}

/// The balancer, where a platform runs copies of it (Kubernetes).
pub fn balancer() -> ServerHealth {
    ServerHealth {
        healthcheck: None,
        readiness: probe(5, None, None),
        liveness: probe(10, None, None),
        startup: None,
        stop_grace_s: Some(30),
    }
}

/// How new instances replace old ones where a platform rolls them out (Kubernetes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rollout {
    /// Stop every old instance, then start the new ones: never two at once.
    Recreate,
    /// Start new instances before stopping old ones, never fewer than asked for.
    Rolling {
        /// Extra instances during a rollout.
        surge: Surge,
        /// Instances that may be missing during a rollout.
        max_unavailable: u32,
    },
}

/// A count, or a share of the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Surge {
    Count(u32),
    Percent(u32),
}

/// A `kind` service's rollout: a scheduler never runs twice; one that takes GPUs
/// replaces one instance at a time without a surge (a surge pod would wait for a GPU
/// that its old pods hold, and the rollout never ends); anything else surges by a
/// quarter, never dropping below its count.
pub fn service_rollout(kind: ServiceKind, gpus: bool) -> Rollout {
    if kind == ServiceKind::Scheduler {
        Rollout::Recreate
    } else if gpus {
        Rollout::Rolling {
            surge: Surge::Count(0),
            max_unavailable: 1,
        }
    } else {
        Rollout::Rolling {
            surge: Surge::Percent(25),
            max_unavailable: 0,
        }
    }
}

/// The balancer's rollout: one new copy at a time, never one fewer.
pub fn balancer_rollout() -> Rollout {
    Rollout::Rolling {
        surge: Surge::Count(1),
        max_unavailable: 0,
    }
}
