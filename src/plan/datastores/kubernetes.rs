//! A datastore's objects on Kubernetes: their names, ports, and how its pods are kept
//! apart and kept up (disruption budgets, spreading over nodes, no API token).

use std::collections::BTreeMap;

use serde::Serialize;

use super::EnginePlan;
use crate::plan::ResourcesPlan;

/// A datastore's objects on Kubernetes, by name, and the ports its containers open
/// there: decided once, so its manifests, its NetworkPolicies and the addresses its
/// users get agree.
#[derive(Debug, Clone, Serialize)]
pub struct KubernetesObjects {
    /// The StatefulSet of the primary (or only) server, the Service in front of it, and
    /// its pods' name label.
    pub workload: String,
    /// `workload`'s headless Service (each pod gets a stable name under it).
    pub headless: String,
    /// The ConfigMap of its files.
    pub config: String,
    /// The port its server listens on, and its Services'.
    pub port: u16,
    /// A Redis Cluster's bus port (the nodes' own traffic).
    pub bus_port: Option<u16>,
    /// RabbitMQ's management API.
    pub management_port: Option<u16>,
    /// PostgreSQL's first-start script's ConfigMap.
    pub init_config: Option<String>,
    /// PostgreSQL's read replicas.
    pub replicas: Option<ReplicaObjects>,
    /// PgBouncer.
    pub pooler: Option<PoolerObjects>,
    /// Patroni's (`ha: auto`): every server in `workload`'s StatefulSet.
    pub patroni: Option<PatroniObjects>,
    /// The Job that forms a Redis Cluster (its name before the content hash).
    pub cluster_init: Option<String>,
    /// What that Job's container requests and may use.
    pub job_resources: ResourcesPlan,
    /// The NetworkPolicy that admits its users to `workload`.
    pub network_policy: String,
    /// How long a finished Job stays (its pod and its log) before Kubernetes deletes
    /// it: a day. A later `kubectl apply -k` creates it again, and it runs again: the
    /// cluster-init script does nothing on a formed cluster.
    pub job_ttl_seconds: u32,
    /// Whether its pods get a service account token: none of its servers, nor the
    /// cluster-init Job (redis-cli only), call the Kubernetes API.
    pub api_token: bool,
    /// The StatefulSets that run two or more pods: each gets a PodDisruptionBudget
    /// (one pod down at a time, a node drain waits for the others to be ready; a pod
    /// that is not ready anyway may always be evicted).
    pub disruption_budgets: Vec<String>,
    /// How its pods keep off each other's nodes.
    pub spread: Spread,
}

/// How a datastore's pods are placed on nodes (every pod of the datastore, over all
/// its StatefulSets: they share the label `app.kubernetes.io/instance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    /// One pod: nothing to keep apart.
    None,
    /// Never two on one node (required pod anti-affinity): a PostgreSQL primary and
    /// its replicas, so that losing a node loses one copy of the data. A pod with no
    /// free node stays Pending.
    OwnNode,
    /// Evenly over nodes (a topology spread of skew 1 that schedules no pod against
    /// it): a Redis Cluster, whose six or more pods usually outnumber the nodes.
    EvenOverNodes,
}

/// The read replicas' StatefulSet and Services.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaObjects {
    pub workload: String,
    pub headless: String,
    /// The Service that spreads reads over them.
    pub read_service: String,
    /// The NetworkPolicy that admits readers.
    pub network_policy: String,
}

/// Patroni's objects: the servers are one StatefulSet (`workload`); Patroni keeps the
/// Endpoints of `workload`'s Service (which has no selector) on the primary's pod, and
/// labels each pod with its role, which the read-only Service selects.
#[derive(Debug, Clone, Serialize)]
pub struct PatroniObjects {
    /// The service account Patroni reads and writes its cluster's objects as, and its
    /// Role and RoleBinding.
    pub account: String,
    /// The Service over the running replicas (pods labelled `role: replica`).
    pub read_service: String,
    /// The Endpoints (and Service) Patroni keeps its cluster's state in.
    pub config_endpoints: String,
    /// Every Endpoints Patroni writes: the leader's (the read-write Service's), the
    /// state's, the synchronous standby's and a requested switchover's.
    pub endpoints: Vec<String>,
    /// The label a pod of this cluster carries with the cluster's name (Patroni's
    /// `scope_label`).
    pub scope_label: String,
    /// The label Patroni sets to a pod's role (`role_label`).
    pub role_label: String,
    /// The StatefulSet's pods, by name: the only pods Patroni may change (each its own
    /// labels and annotations).
    pub pods: Vec<String>,
    /// The labels of the objects Patroni creates (its Endpoints and Services): the
    /// cluster's pods' own name labels, which its Role and NetworkPolicies match.
    pub labels: BTreeMap<String, String>,
}

/// PgBouncer's Deployment (and its Service, of the same name), ConfigMap and port.
#[derive(Debug, Clone, Serialize)]
pub struct PoolerObjects {
    pub workload: String,
    pub config: String,
    pub port: u16,
    /// The NetworkPolicy that admits the pool's users.
    pub network_policy: String,
}

/// The objects of datastore `name` on Kubernetes.
pub(super) fn kubernetes_objects(
    name: &str,
    blueprint: &str,
    engine: &EnginePlan,
    patroni: bool,
) -> KubernetesObjects {
    use crate::plan::placement::{
        PGBOUNCER_PORT, POSTGRES_PORT, RABBITMQ_MANAGEMENT_PORT, RABBITMQ_PORT, REDIS_BUS_OFFSET,
        REDIS_PORT,
    };
    let mut objects = KubernetesObjects {
        workload: name.to_string(),
        headless: format!("{name}-headless"),
        config: format!("{name}-config"),
        port: 0,
        bus_port: None,
        management_port: None,
        init_config: None,
        replicas: None,
        pooler: None,
        patroni: None,
        cluster_init: None,
        job_resources: ResourcesPlan::default().with_defaults(),
        network_policy: policy_name(name),
        job_ttl_seconds: 24 * 60 * 60,
        api_token: false,
        disruption_budgets: Vec::new(),
        spread: Spread::None,
    };
    match engine {
        EnginePlan::Postgres(pg) => {
            objects.port = POSTGRES_PORT;
            objects.init_config = Some(format!("{name}-init"));
            let set = format!("{name}-replica");
            if pg.replicas > 0 {
                objects.spread = Spread::OwnNode;
            }
            if pg.replicas >= 2 && !patroni {
                objects.disruption_budgets.push(format!("{name}-replica"));
            }
            if patroni {
                // One StatefulSet of every server: Patroni decides which is primary.
                objects.init_config = None;
                // `<name>-config` is Patroni's (its state's Endpoints and Service):
                // the files' ConfigMap takes another name, which kustomize's
                // references to the ConfigMap never confuse with it.
                objects.config = format!("{name}-files");
                objects.disruption_budgets.push(name.to_string());
                objects.patroni = Some(PatroniObjects {
                    account: format!("{name}-patroni"),
                    read_service: format!("{name}-ro"),
                    config_endpoints: format!("{name}-config"),
                    endpoints: ["", "-config", "-sync", "-failover"]
                        .iter()
                        .map(|suffix| format!("{name}{suffix}"))
                        .collect(),
                    pods: (0..=pg.replicas).map(|i| format!("{name}-{i}")).collect(),
                    scope_label: "cluster-name".into(),
                    role_label: "role".into(),
                    labels: BTreeMap::from([
                        ("app.kubernetes.io/name".to_string(), name.to_string()),
                        (
                            "app.kubernetes.io/part-of".to_string(),
                            blueprint.to_string(),
                        ),
                    ]),
                });
            }
            objects.replicas = (pg.replicas > 0 && !patroni).then(|| ReplicaObjects {
                headless: format!("{set}-headless"),
                read_service: format!("{name}-ro"),
                network_policy: policy_name(&set),
                workload: set,
            });
            objects.pooler = pg.pooler.as_ref().map(|_| PoolerObjects {
                workload: format!("{name}-pgbouncer"),
                config: format!("{name}-pgbouncer-config"),
                port: PGBOUNCER_PORT,
                network_policy: policy_name(&format!("{name}-pgbouncer")),
            });
        }
        EnginePlan::Redis(r) => {
            objects.port = REDIS_PORT;
            if r.cluster {
                objects.bus_port = Some(REDIS_PORT + REDIS_BUS_OFFSET);
                objects.cluster_init = Some(format!("{name}-cluster-init"));
                if r.masters * (1 + r.replicas_per_master) >= 2 {
                    objects.disruption_budgets.push(name.to_string());
                    objects.spread = Spread::EvenOverNodes;
                }
            }
        }
        EnginePlan::Rabbitmq(r) => {
            objects.port = RABBITMQ_PORT;
            objects.management_port = Some(RABBITMQ_MANAGEMENT_PORT);
            if r.nodes > 1 {
                // A quorum queue keeps a copy on each broker: two on one node would
                // lose the majority with it.
                objects.disruption_budgets.push(name.to_string());
                objects.spread = Spread::OwnNode;
            }
        }
    }
    objects
}

/// The NetworkPolicy admitting the users of the pods of `workload`.
fn policy_name(workload: &str) -> String {
    format!("{workload}-from-its-users")
}
