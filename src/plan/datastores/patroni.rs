//! Automatic failover of a PostgreSQL datastore (`ha: auto`), resolved: Patroni runs
//! every server and holds the primary's lease in a three-member etcd; when the primary
//! stops renewing it, the most advanced replica (in synchronous replication, the one
//! that confirmed every commit) promotes itself. A router (HAProxy) sends clients, or
//! PgBouncer, to whichever server Patroni's REST API calls the primary.
//!
//! The timing is Patroni's rule `loop_wait + 2 × retry_timeout ≤ ttl`: the lease
//! lasts 20 s and is renewed every 5 s, so a lost primary's lease runs out 15 to 20 s
//! after its last renewal and a replica takes over within about 25 s; the router sees
//! the new primary within [`RouterCheck::up_within_s`] more.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{DatastoreNode, EnvVar, NodeRole};
use crate::model::Platform;
use crate::plan::placement::PATRONI_API_PORT;

/// Patroni's settings for one datastore.
#[derive(Debug, Clone, Serialize)]
pub struct PatroniPlan {
    /// The cluster's name in etcd: the datastore's.
    pub scope: String,
    /// The etcd prefix every key is under: `/tierform/<scope>/`.
    pub namespace: String,
    /// How long the primary's lease lasts without a renewal.
    pub ttl_s: u32,
    /// How often each Patroni runs its loop (and the primary renews the lease).
    pub loop_wait_s: u32,
    /// How long an etcd or PostgreSQL call may be retried before Patroni gives up on
    /// it (the primary then demotes itself rather than risk two primaries).
    pub retry_timeout_s: u32,
    /// A replica further behind than this many bytes is not promoted.
    pub maximum_lag_on_failover: u64,
    /// `synchronous_mode`: Patroni names the synchronous standby, and promotes only it,
    /// so no acknowledged commit is lost (`replication: sync`).
    pub synchronous_mode: bool,
    /// The REST API's user for its unsafe methods (switchover, restart, reinitialize);
    /// reading the state needs none.
    pub api_user: String,
    pub api_secret: String,
    /// The image every server runs: PostgreSQL's with Patroni, built from the bundle's
    /// `images/<name>/Dockerfile` (this is its tag).
    pub image: String,
    /// The PostgreSQL image it is built from.
    pub base_image: String,
    /// The image Kubernetes runs: the blueprint's `image`, built and pushed by the
    /// operator (validation requires it on Kubernetes).
    pub kubernetes_image: Option<String>,
    /// etcd's image, built from the bundle's `images/<name>-etcd/Dockerfile`.
    pub etcd_image: String,
    /// The router's image.
    pub router_image: String,
    /// Where PostgreSQL's programs are (`bin_dir`): the Debian layout of the official
    /// image and of Debian's packages.
    pub bin_dir: String,
    /// How the router checks each server.
    pub check: RouterCheck,
    /// Per platform, each server's REST API port, by node id.
    pub api_ports: BTreeMap<Platform, BTreeMap<String, u16>>,
    /// etcd's cluster token: the members of one cluster only join each other.
    pub etcd_token: String,
}

/// The router's health check of each server, against Patroni's REST API
/// (`/primary` answers 200 on the primary only, `/replica` on a running replica).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RouterCheck {
    pub inter_s: u32,
    /// The interval while a server's state is changing.
    pub fastinter_s: u32,
    /// Failed checks in a row that take a server out.
    pub fall: u32,
    /// Passed checks in a row that put it back.
    pub rise: u32,
}

impl RouterCheck {
    /// At most how long after a promotion the router sends writes to the new primary.
    pub fn up_within_s(&self) -> u32 {
        self.inter_s * self.rise
    }
}

/// Patroni for datastore `name`, whose servers run `supported`'s image and version;
/// `prefix` names its secrets. `nodes` are its nodes per platform, `api_ports` the REST
/// API ports the hosts layout gave its servers.
pub(super) fn plan(
    name: &str,
    blueprint: &str,
    synchronous: bool,
    supported: &crate::model::versions::Supported,
    prefix: &str,
    nodes: &BTreeMap<Platform, Vec<DatastoreNode>>,
    hosts_api: &BTreeMap<String, u16>,
) -> PatroniPlan {
    let api_ports = nodes
        .iter()
        .map(|(platform, nodes)| {
            let ports = servers(nodes)
                .map(|n| {
                    let port = match platform {
                        Platform::Hosts => {
                            hosts_api.get(&n.id).copied().unwrap_or(PATRONI_API_PORT)
                        }
                        Platform::Compose | Platform::Kubernetes => PATRONI_API_PORT,
                    };
                    (n.id.clone(), port)
                })
                .collect();
            (*platform, ports)
        })
        .collect();
    PatroniPlan {
        scope: name.to_string(),
        namespace: "/tierform/".into(),
        ttl_s: 20,
        loop_wait_s: 5,
        retry_timeout_s: 5,
        maximum_lag_on_failover: 1 << 20,
        synchronous_mode: synchronous,
        api_user: "patroni".into(),
        api_secret: format!("{prefix}_PATRONI_API_PASSWORD"),
        image: format!("{blueprint}/{name}-postgres:{}-patroni", supported.version),
        base_image: supported.image.to_string(),
        kubernetes_image: None,
        etcd_image: format!("{blueprint}/{name}-etcd:3.4"),
        router_image: crate::model::versions::HAPROXY[0].image.to_string(),
        bin_dir: format!("/usr/lib/postgresql/{}/bin", supported.version),
        check: RouterCheck {
            inter_s: 2,
            fastinter_s: 1,
            fall: 3,
            rise: 2,
        },
        api_ports,
        etcd_token: format!("{blueprint}-{name}-etcd"),
    }
}

/// The PostgreSQL servers among `nodes`: the first primary and the replicas.
pub fn servers(nodes: &[DatastoreNode]) -> impl Iterator<Item = &DatastoreNode> {
    nodes
        .iter()
        .filter(|n| matches!(n.role, NodeRole::Primary | NodeRole::Replica))
}

impl PatroniPlan {
    /// The REST API port of server `id` on `platform`.
    pub fn api_port(&self, platform: Platform, id: &str) -> u16 {
        self.api_ports
            .get(&platform)
            .and_then(|p| p.get(id))
            .copied()
            .unwrap_or(PATRONI_API_PORT)
    }

    /// What every server's Patroni reads from its environment: the superuser's (also
    /// pg_rewind's) and replication role's passwords for its own connections and the
    /// bootstrap, the
    /// REST API's, and the application's and monitoring role's for the bootstrap
    /// script.
    pub fn env(&self, pg: &super::PostgresPlan) -> Vec<EnvVar> {
        vec![
            EnvVar::secret("PATRONI_SUPERUSER_PASSWORD", &pg.superuser_secret),
            // pg_rewind's account is the superuser: without its password a former
            // primary could not rejoin.
            EnvVar::secret("PATRONI_REWIND_PASSWORD", &pg.superuser_secret),
            EnvVar::secret("PATRONI_REPLICATION_PASSWORD", &pg.replication_secret),
            EnvVar::literal("PATRONI_RESTAPI_USERNAME", &self.api_user),
            EnvVar::secret("PATRONI_RESTAPI_PASSWORD", &self.api_secret),
            EnvVar::secret("APP_PASSWORD", &pg.password_secret),
            EnvVar::secret("MONITOR_PASSWORD", &pg.monitor_secret),
        ]
    }
}
