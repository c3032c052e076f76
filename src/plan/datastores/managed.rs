//! A datastore a provider runs (`managed`): no server, only what the services that use
//! it are given: the engine's variables with the provider's address, and its URL.

use serde::Serialize;

use super::{
    postgres, rabbitmq, redis, url, DatastoreNode, EnginePlan, EnvPart, EnvValue, EnvVar, NodeRole,
};
use crate::model::{Blueprint, Datastore, Managed, Platform};
use crate::plan::ResourcesPlan;

/// A managed datastore, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct ManagedPlan {
    pub name: String,
    /// `postgres`, `redis` or `rabbitmq`.
    pub engine: &'static str,
    pub host: String,
    pub port: u16,
    /// PostgreSQL's read-only endpoint, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_host: Option<String>,
    pub tls: bool,
    /// With `tls`, whether clients check the provider's certificate.
    pub verify: bool,
    /// RabbitMQ's user, when the provider named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub cost_per_month: Option<f64>,
    /// The prefix of its variables (`DB`).
    pub env_prefix: String,
    /// What each service that uses it is given, the same on every platform.
    pub connection: Vec<EnvVar>,
    /// Its connection URL, for the services that ask for it (`urls`).
    pub url: Option<EnvValue>,
    /// The secrets the services need for it (its password).
    pub secrets: Vec<String>,
}

impl ManagedPlan {
    /// How its connections are secured, as people read it: the certificate check is
    /// said only where tierform sets it (PostgreSQL's `sslmode`, Redis's
    /// `ssl_cert_reqs`); an AMQP client checks as it is configured.
    pub fn tls_text(&self) -> &'static str {
        match (self.tls, self.verify, self.engine) {
            (false, _, _) => "without TLS",
            (true, _, "rabbitmq") => "over TLS",
            (true, true, _) => "over TLS, certificate checked",
            (true, false, _) => "over TLS, certificate not checked",
        }
    }
}

/// The port an engine listens on unless told: AMQP over TLS has its own.
fn default_port(store: &Datastore, tls: bool) -> u16 {
    match store {
        Datastore::Postgres(_) => 5432,
        Datastore::Redis(_) => 6379,
        Datastore::Rabbitmq(_) if tls => 5671,
        Datastore::Rabbitmq(_) => 5672,
    }
}

pub(in crate::plan) fn plan(
    name: &str,
    store: &Datastore,
    m: &Managed,
    bp: &Blueprint,
) -> Result<ManagedPlan, String> {
    let prefix = crate::model::env_prefix(name);
    let none = ResourcesPlan::default();
    let port = match m.port {
        Some(p) => u16::try_from(p).map_err(|_| format!("port {p} is out of range"))?,
        None => default_port(store, m.tls),
    };
    let node = |role: NodeRole, host: &str| DatastoreNode {
        id: name.to_string(),
        role,
        host: host.to_string(),
        port,
        machine: String::new(),
    };
    let (engine, mut connection, secrets) = match store {
        Datastore::Postgres(p) => {
            let pg = postgres::plan(name, p, &prefix, &none, 0);
            let mut nodes = vec![node(NodeRole::Primary, &m.host)];
            if let Some(read) = &m.read_host {
                nodes.push(node(NodeRole::Replica, read));
            }
            let vars = postgres::connection(&prefix, &pg, &nodes);
            let secrets = vec![pg.password_secret.clone()];
            (EnginePlan::Postgres(Box::new(pg)), vars, secrets)
        }
        Datastore::Redis(r) => {
            // A provider's cluster mode answers on one configuration endpoint, which
            // cluster clients start from (`<NAME>_CLUSTER_NODES`).
            let rp = redis::plan(name, r, &prefix, &none, bp);
            let vars = redis::connection(&prefix, &rp, &[node(NodeRole::Node, &m.host)]);
            let secrets = vec![rp.password_secret.clone()];
            (EnginePlan::Redis(rp), vars, secrets)
        }
        Datastore::Rabbitmq(_) => {
            let mut rp = rabbitmq::plan(name, &prefix, &none, bp, 1);
            if let Some(user) = &m.user {
                rp.user = user.clone();
            }
            let vars = rabbitmq::connection(
                &prefix,
                &rp,
                &[node(NodeRole::Node, &m.host)],
                Platform::Hosts,
                name,
            );
            let secrets = vec![rp.password_secret.clone()];
            (EnginePlan::Rabbitmq(rp), vars, secrets)
        }
    };
    let mut url = url::url(&engine, &prefix, &connection);
    if m.tls {
        connection.push(EnvVar::literal(format!("{prefix}_TLS"), "true"));
        if matches!(engine, EnginePlan::Postgres(_)) {
            connection.push(EnvVar::literal(
                format!("{prefix}_SSLMODE"),
                if m.verify { "verify-full" } else { "require" },
            ));
        }
        url = url.map(|u| with_tls(u, &engine, m.verify));
    }
    Ok(ManagedPlan {
        name: name.to_string(),
        engine: store.engine(),
        host: m.host.clone(),
        port,
        read_host: m.read_host.clone(),
        tls: m.tls,
        verify: m.tls && m.verify,
        user: m.user.clone(),
        cost_per_month: m.cost_per_month,
        env_prefix: prefix,
        connection,
        url,
        secrets,
    })
}

/// A URL that asks for TLS: PostgreSQL's `sslmode`, `rediss://` with the check of the
/// certificate said (redis-py and Celery want it said), `amqps://`.
fn with_tls(url: EnvValue, engine: &EnginePlan, verify: bool) -> EnvValue {
    let EnvValue::Composed(mut parts) = url else {
        return url;
    };
    if let Some(EnvPart::Text(first)) = parts.first_mut() {
        *first = first
            .replacen("redis://", "rediss://", 1)
            .replacen("amqp://", "amqps://", 1);
    }
    if let Some(EnvPart::Text(last)) = parts.last_mut() {
        match (engine, verify) {
            (EnginePlan::Postgres(_), true) => {
                last.push_str("?sslmode=verify-full&sslrootcert=system")
            }
            (EnginePlan::Postgres(_), false) => last.push_str("?sslmode=require"),
            (EnginePlan::Redis(_), true) => last.push_str("?ssl_cert_reqs=required"),
            (EnginePlan::Redis(_), false) => last.push_str("?ssl_cert_reqs=none"),
            (EnginePlan::Rabbitmq(_), _) => {}
        }
    }
    EnvValue::Composed(parts)
}
