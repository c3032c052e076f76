//! Datastores, resolved: their nodes and addresses per platform, the settings of their
//! engine (PGTune-style Postgres memory, Redis maxmemory and eviction by role), and the
//! secrets they need.
//!
//! One module per engine ([`postgres`], [`redis`], [`rabbitmq`]) holds everything the
//! plan decides for it; this module holds what every datastore has, and dispatches to
//! the engine with exhaustive matches on [`EnginePlan`], so a new engine does not
//! compile until each stage knows it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::placement::{datastore_nodes, HostsLayout};
use super::{resources_plan, ResourcesPlan, ServerHealth, ServicePlan};
use crate::model::versions;
use crate::model::{Blueprint, Datastore, Platform};

pub mod backup;
mod kubernetes;
pub(in crate::plan) mod managed;
pub mod patroni;
pub(crate) mod postgres;
mod rabbitmq;
mod redis;
mod url;

pub use backup::{BackupPlan, BackupRepo};
use kubernetes::kubernetes_objects;
pub use kubernetes::{KubernetesObjects, PatroniObjects, PoolerObjects, Spread};
pub use managed::ManagedPlan;
pub use patroni::PatroniPlan;
pub use postgres::{PoolerPlan, PostgresPlan, StandbyLink};
pub use rabbitmq::RabbitmqPlan;
pub use redis::RedisPlan;

/// The first node of `role`, in placement order.
fn first_of(nodes: &[DatastoreNode], role: NodeRole) -> Option<&DatastoreNode> {
    nodes.iter().find(|n| n.role == role)
}

/// A datastore with every default applied.
#[derive(Debug, Clone, Serialize)]
pub struct DatastorePlan {
    pub name: String,
    /// The engine and its settings. Serialized as `engine: "postgres"` beside
    /// `postgres: {…}`, the shape templates read.
    #[serde(flatten)]
    pub engine: EnginePlan,
    /// The server version, one of the supported table's (`model::versions`).
    pub version: String,
    /// The server's container image, the table's for `version` (`postgres:17`,
    /// `rabbitmq:4.0-management`).
    pub image: String,
    /// The user (and group) the image's server runs as: 999 in the official
    /// PostgreSQL, Redis and RabbitMQ images.
    pub uid: u32,
    pub tier: Option<String>,
    /// Requests and limits as the blueprint gives them (0: not set).
    pub resources: ResourcesPlan,
    /// What each server container is sized for where a platform must request some
    /// (Kubernetes): `resources`, except that PostgreSQL without a memory size gets
    /// the memory it is tuned for.
    pub server_resources: ResourcesPlan,
    /// The disk each node claims where a platform claims one (Kubernetes): the
    /// blueprint's `storage.size`, 10 GiB without one. PostgreSQL's write-ahead log
    /// budget is derived from it.
    pub volume_bytes: u64,
    /// The StorageClass those claims name; `None`: the cluster's default.
    pub storage_class: Option<String>,
    /// Whether its data must outlive a restart, so needs a disk where a platform
    /// chooses (Kubernetes): always for PostgreSQL and RabbitMQ; for Redis, a cluster
    /// (its nodes' identities) or an append-only broker, not a cache (it refills).
    pub keeps_data: bool,
    /// The prefix of the connection variables given to the services that use it:
    /// `DB` for `db`, `CACHE_EU` for `cache-eu`.
    pub env_prefix: String,
    /// The secrets (passwords) it needs at start, by variable name; values never appear.
    pub secrets: Vec<String>,
    /// Its nodes, per platform, in placement order.
    pub nodes: BTreeMap<Platform, Vec<DatastoreNode>>,
    /// The connection variables each service that uses it gets (`DB_HOST`, `DB_PORT`,
    /// …), per platform, in order: the platform's addresses, with passwords as secret
    /// references a platform writes in its own form.
    pub connection: BTreeMap<Platform, Vec<EnvVar>>,
    /// Its connection URL per platform (`postgresql://…`, `redis://…`, `amqp://…`),
    /// built from `connection`, for the services that ask for it by a name of their
    /// own (`urls`).
    pub url: BTreeMap<Platform, EnvValue>,
    /// What it is made of on Kubernetes.
    pub kubernetes: KubernetesObjects,
    /// What it is made of in a compose file.
    pub compose: ComposeObjects,
    /// How each kind of its servers is watched and stopped, by role.
    pub health: BTreeMap<NodeRole, ServerHealth>,
    /// The name of the image's own user (uid [`DatastorePlan::uid`]), which owns its
    /// data folder: what a platform that names users runs its servers as once they
    /// are initialised.
    pub image_user: String,
}

/// A datastore's names in a compose file (`compose` and `hosts`).
#[derive(Debug, Clone, Serialize)]
pub struct ComposeObjects {
    /// Each node's named volume, by node id.
    pub volumes: BTreeMap<String, String>,
    /// The one-shot service that forms a Redis Cluster.
    pub cluster_init: Option<String>,
}

/// A datastore's compose names: a volume per node, and a Redis Cluster's forming
/// service.
fn compose_objects(
    name: &str,
    engine: &EnginePlan,
    nodes: &[(String, NodeRole, u16)],
) -> ComposeObjects {
    ComposeObjects {
        volumes: nodes
            .iter()
            .map(|(id, _, _)| (id.clone(), format!("{id}-data")))
            .collect(),
        cluster_init: match engine {
            EnginePlan::Redis(r) if r.cluster => Some(format!("{name}-cluster-init")),
            _ => None,
        },
    }
}

/// One environment variable a container gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

/// An environment variable's value: the text itself, or the name of the secret that
/// holds it (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    Literal(String),
    Secret(String),
    /// Text around the values of secrets (a connection URL with its password): each
    /// platform writes a reference where a secret goes, never its value.
    Composed(Vec<EnvPart>),
    /// A field of the pod, through Kubernetes's downward API (`status.hostIP`): only
    /// in a variable of the Kubernetes platform, which alone has one.
    Field(String),
}

/// A piece of a [`EnvValue::Composed`] value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvPart {
    Text(String),
    /// The secret `key`, which the same container also receives, earlier in its
    /// environment, as the variable `var` (Kubernetes refers to `$(var)`, compose to
    /// the key in the `.env`).
    Secret {
        var: String,
        key: String,
    },
}

impl DatastorePlan {
    /// pgBackRest's backups of a PostgreSQL datastore that has them.
    pub fn backup(&self) -> Option<&BackupPlan> {
        match &self.engine {
            EnginePlan::Postgres(pg) => pg.backup.as_ref(),
            EnginePlan::Redis(_) | EnginePlan::Rabbitmq(_) => None,
        }
    }
}

impl EnvVar {
    /// `name` set to `value`.
    pub fn literal(name: impl Into<String>, value: impl ToString) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: EnvValue::Literal(value.to_string()),
        }
    }

    /// `name` read from the secret `secret`.
    pub fn secret(name: impl Into<String>, secret: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: EnvValue::Secret(secret.to_string()),
        }
    }
}

/// A datastore's engine with its resolved settings.
#[derive(Debug, Clone)]
pub enum EnginePlan {
    /// Boxed: its settings outweigh the other engines' several times.
    Postgres(Box<PostgresPlan>),
    Redis(RedisPlan),
    Rabbitmq(RabbitmqPlan),
}

impl EnginePlan {
    /// `postgres`, `redis` or `rabbitmq`.
    pub fn name(&self) -> &'static str {
        match self {
            EnginePlan::Postgres(_) => "postgres",
            EnginePlan::Redis(_) => "redis",
            EnginePlan::Rabbitmq(_) => "rabbitmq",
        }
    }

    /// The secret holding the password the services that use it connect with.
    pub fn app_secret(&self) -> &str {
        match self {
            EnginePlan::Postgres(pg) => &pg.password_secret,
            EnginePlan::Redis(r) => &r.password_secret,
            EnginePlan::Rabbitmq(r) => &r.password_secret,
        }
    }
}

impl std::fmt::Display for EnginePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for EnginePlan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("engine", self.name())?;
        match self {
            EnginePlan::Postgres(pg) => map.serialize_entry("postgres", pg)?,
            EnginePlan::Redis(r) => map.serialize_entry("redis", r)?,
            EnginePlan::Rabbitmq(r) => map.serialize_entry("rabbitmq", r)?,
        }
        map.end()
    }
}

impl DatastorePlan {
    /// Its PostgreSQL settings, when it is a PostgreSQL datastore.
    pub fn postgres(&self) -> Option<&PostgresPlan> {
        match &self.engine {
            EnginePlan::Postgres(pg) => Some(pg.as_ref()),
            _ => None,
        }
    }

    /// Its Redis settings, when it is a Redis datastore.
    pub fn redis(&self) -> Option<&RedisPlan> {
        match &self.engine {
            EnginePlan::Redis(r) => Some(r),
            _ => None,
        }
    }

    pub fn rabbitmq(&self) -> Option<&RabbitmqPlan> {
        match &self.engine {
            EnginePlan::Rabbitmq(r) => Some(r),
            _ => None,
        }
    }

    /// Its nodes on `platform`, in placement order (none when it is not rendered there).
    pub fn nodes_on(&self, platform: Platform) -> &[DatastoreNode] {
        self.nodes.get(&platform).map_or(&[], Vec::as_slice)
    }

    /// Its PostgreSQL primary on `platform`, if it has one there.
    pub fn primary_on(&self, platform: Platform) -> Option<&DatastoreNode> {
        first_of(self.nodes_on(platform), NodeRole::Primary)
    }

    /// How its `role` servers are watched and stopped.
    pub fn health(&self, role: NodeRole) -> ServerHealth {
        self.health
            .get(&role)
            .copied()
            .unwrap_or_else(|| panic!("datastore `{}` has no {role:?} servers", self.name))
    }

    /// Node `id`'s named volume in a compose file.
    pub fn compose_volume(&self, id: &str) -> &str {
        self.compose.volumes.get(id).map_or("", String::as_str)
    }
}

/// What a datastore node is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// A PostgreSQL primary.
    Primary,
    /// A PostgreSQL read replica, or a Redis Cluster replica.
    Replica,
    /// PgBouncer in front of PostgreSQL.
    Pooler,
    /// A Redis Cluster master.
    Master,
    /// The one server of a standalone Redis or a RabbitMQ.
    Node,
    /// HAProxy in front of an `ha: auto` PostgreSQL: to whichever server Patroni says
    /// is the primary, and to the replicas.
    Router,
    /// A member of the etcd that holds an `ha: auto` PostgreSQL's leader lease.
    Etcd,
}

impl NodeRole {
    /// Whether it is one of the datastore's servers, sized by its `resources`: not a
    /// pooler, router or etcd member, whose footprints are small and their own.
    pub fn is_server(self) -> bool {
        matches!(
            self,
            NodeRole::Primary | NodeRole::Replica | NodeRole::Master | NodeRole::Node
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Primary => "primary",
            NodeRole::Replica => "replica",
            NodeRole::Pooler => "pooler",
            NodeRole::Master => "master",
            NodeRole::Node => "node",
            NodeRole::Router => "router",
            NodeRole::Etcd => "etcd",
        }
    }
}

/// The role's text, quoted, as its Debug form was when roles were strings: the Redis
/// cluster-init Job's name hashes the nodes' Debug text, and must not change with how
/// a role is represented.
impl std::fmt::Debug for NodeRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// One server process of a datastore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatastoreNode {
    /// The compose service name, also the node's name elsewhere (`db-replica-1`).
    pub id: String,
    pub role: NodeRole,
    /// Where clients connect: a host name or address.
    pub host: String,
    pub port: u16,
    /// The machine it runs on (the `hosts` platform), else empty.
    pub machine: String,
}

/// The disk each node claims (the blueprint has no disk sizes yet).
const VOLUME_BYTES: u64 = 10 << 30;

/// The server user of the official images.
const IMAGE_UID: u32 = 999;

pub(in crate::plan) fn datastore_plan(
    name: &str,
    store: &Datastore,
    bp: &Blueprint,
    platforms: &[Platform],
    layout: &HostsLayout,
    services: &BTreeMap<String, ServicePlan>,
) -> Result<DatastorePlan, String> {
    let resources = resources_plan(store.resources())?;
    let volume_bytes = match store.storage() {
        Some(st) => super::quantity_bytes(&st.size)?,
        None => VOLUME_BYTES,
    };
    let prefix = crate::model::env_prefix(name);
    let (mut engine, supported) = match store {
        Datastore::Postgres(p) => (
            EnginePlan::Postgres(Box::new(postgres::plan(
                name,
                p,
                &prefix,
                &resources,
                volume_bytes,
            ))),
            versions::select(versions::POSTGRES, p.version.as_ref().map(|v| v.as_str())),
        ),
        Datastore::Redis(r) => (
            EnginePlan::Redis(redis::plan(name, r, &prefix, &resources, bp)),
            versions::select(versions::REDIS, r.version.as_ref().map(|v| v.as_str())),
        ),
        Datastore::Rabbitmq(r) => (
            EnginePlan::Rabbitmq(rabbitmq::plan(name, &prefix, &resources, bp, r.nodes)),
            versions::select(versions::RABBITMQ, r.version.as_ref().map(|v| v.as_str())),
        ),
    };
    // Validation refuses a version the table does not have.
    let supported = supported.ok_or_else(|| {
        format!(
            "datastore `{name}`: {} version is not supported",
            store.engine()
        )
    })?;

    if let (EnginePlan::Postgres(pg), Datastore::Postgres(p)) = (&mut engine, store) {
        if let Some(b) = &p.backup {
            pg.backup = Some(backup::plan(
                name,
                b,
                &bp.name,
                supported.image,
                supported.version,
                &prefix,
                pg.cpus,
            )?);
        }
    }
    let patroni = matches!(store, Datastore::Postgres(p) if p.ha == crate::model::Ha::Auto);
    let kubernetes = kubernetes_objects(name, &bp.name, &engine, patroni);
    let nodes_layout = datastore_nodes(name, store);
    let mut nodes = BTreeMap::new();
    for platform in platforms {
        let list: Vec<DatastoreNode> = match platform {
            Platform::Compose => nodes_layout
                .iter()
                .map(|(id, role, port)| DatastoreNode {
                    id: id.clone(),
                    role: *role,
                    host: id.clone(),
                    port: *port,
                    machine: String::new(),
                })
                .collect(),
            Platform::Hosts => {
                let placed = layout.datastores.get(name).cloned().unwrap_or_default();
                if placed.len() != nodes_layout.len() {
                    return Err(format!(
                        "the hosts platform cannot place datastore `{name}`"
                    ));
                }
                nodes_layout
                    .iter()
                    .zip(placed)
                    .map(|((id, role, _), (host, port))| DatastoreNode {
                        id: id.clone(),
                        role: *role,
                        host: host.clone(),
                        port,
                        machine: host,
                    })
                    .collect()
            }
            // Patroni keeps its state in Kubernetes' own objects, and its Services
            // follow the primary: no etcd, no router.
            Platform::Kubernetes => nodes_layout
                .iter()
                .filter(|(_, role, _)| !matches!(role, NodeRole::Router | NodeRole::Etcd))
                .map(|(id, role, port)| DatastoreNode {
                    id: id.clone(),
                    role: *role,
                    host: kubernetes_host(id, *role, &engine, &kubernetes, &bp.name),
                    port: *port,
                    machine: String::new(),
                })
                .collect(),
        };
        nodes.insert(*platform, list);
    }

    // What depends on where the nodes are.
    match &mut engine {
        EnginePlan::Postgres(pg) => {
            if let Datastore::Postgres(p) = store {
                if p.ha == crate::model::Ha::Auto {
                    pg.patroni = Some(patroni::plan(
                        name,
                        &bp.name,
                        pg.synchronous,
                        supported,
                        &prefix,
                        &nodes,
                        &layout.patroni_api,
                    ));
                    if let Some(pat) = &mut pg.patroni {
                        pat.kubernetes_image = p.image.clone();
                    }
                }
            }
            pg.hba = nodes
                .iter()
                .map(|(p, n)| (*p, postgres::hba(*p, name, services, n)))
                .collect();
        }
        EnginePlan::Rabbitmq(r) => {
            if r.nodes > 1 {
                r.peers = nodes
                    .iter()
                    .map(|(p, n)| (*p, rabbitmq::peers(*p, n, &kubernetes, &bp.name)))
                    .collect();
            }
        }
        EnginePlan::Redis(_) => {}
    }
    let connection: BTreeMap<Platform, Vec<EnvVar>> = nodes
        .iter()
        .map(|(platform, nodes)| {
            let vars = match &engine {
                EnginePlan::Postgres(pg) => postgres::connection(&prefix, pg, nodes),
                EnginePlan::Redis(r) => redis::connection(&prefix, r, nodes),
                EnginePlan::Rabbitmq(r) => rabbitmq::connection(&prefix, r, nodes, *platform, name),
            };
            (*platform, vars)
        })
        .collect();
    let url = connection
        .iter()
        .filter_map(|(p, vars)| Some((*p, url::url(&engine, &prefix, vars)?)))
        .collect();
    let secrets = match &engine {
        EnginePlan::Postgres(pg) => {
            let mut secrets = vec![
                pg.password_secret.clone(),
                pg.superuser_secret.clone(),
                pg.replication_secret.clone(),
                pg.monitor_secret.clone(),
            ];
            secrets.extend(pg.patroni.iter().map(|p| p.api_secret.clone()));
            secrets.extend(
                pg.backup
                    .iter()
                    .flat_map(|b| b.secrets())
                    .map(str::to_string),
            );
            secrets
        }
        EnginePlan::Redis(r) => vec![r.password_secret.clone()],
        EnginePlan::Rabbitmq(r) => std::iter::once(r.password_secret.clone())
            .chain(r.cookie_secret.clone())
            .collect(),
    };
    let keeps_data = match &engine {
        EnginePlan::Postgres(_) | EnginePlan::Rabbitmq(_) => true,
        EnginePlan::Redis(r) => r.cluster || r.appendonly,
    };
    let server_resources = match &engine {
        EnginePlan::Postgres(pg) => postgres::server_resources(pg, &resources),
        EnginePlan::Redis(_) | EnginePlan::Rabbitmq(_) => resources.clone(),
    }
    .with_defaults();
    let compose = compose_objects(name, &engine, &nodes_layout);
    let health = nodes_layout
        .iter()
        .map(|(_, role, _)| {
            let health = match &engine {
                EnginePlan::Postgres(_) => super::health::postgres(*role),
                EnginePlan::Redis(_) => super::health::redis(),
                EnginePlan::Rabbitmq(r) => super::health::rabbitmq(r.nodes),
            };
            (*role, health)
        })
        .collect();
    let image_user = match &engine {
        EnginePlan::Postgres(_) => "postgres",
        EnginePlan::Redis(_) => "redis",
        EnginePlan::Rabbitmq(_) => "rabbitmq",
    };
    Ok(DatastorePlan {
        name: name.to_string(),
        engine,
        version: supported.version.to_string(),
        image: supported.image.to_string(),
        uid: IMAGE_UID,
        tier: store.tier().map(str::to_string),
        resources,
        server_resources,
        volume_bytes,
        storage_class: store.storage().and_then(|s| s.class.clone()),
        keeps_data,
        env_prefix: prefix,
        secrets,
        nodes,
        connection,
        url,
        kubernetes,
        compose,
        health,
        image_user: image_user.to_string(),
    })
}

/// A datastore node's address inside a Kubernetes cluster, in namespace `ns`: a
/// Service's name, or a pod's under a headless Service (see each engine).
fn kubernetes_host(
    id: &str,
    role: NodeRole,
    engine: &EnginePlan,
    objects: &KubernetesObjects,
    ns: &str,
) -> String {
    match engine {
        EnginePlan::Postgres(_) => postgres::kubernetes_host(id, role, objects, ns),
        EnginePlan::Redis(r) => redis::kubernetes_host(id, r, objects, ns),
        // Every broker behind the one Service (a cluster's pods are `<name>-0`…, not
        // its nodes' ids).
        EnginePlan::Rabbitmq(_) => format!("{}.{ns}.svc.cluster.local", objects.workload),
    }
}

#[cfg(test)]
mod tests;
