//! The blueprint language, version 1: what a user writes.
//!
//! Every type here derives `JsonSchema`; the committed `schema/blueprint.schema.json`
//! is generated from these definitions and their doc comments (which become the
//! schema's descriptions, so editors show them on hover). Unknown fields are
//! rejected everywhere.
//!
//! One file per part of the blueprint; every type is re-exported here, so
//! `crate::model::Service` names it wherever it is defined.

mod balancer;
mod blueprint;
pub mod capabilities;
mod datastore;
pub mod schema;
mod service;
mod tier;
pub mod units;
pub mod versions;

pub use crate::model::units::{Duration, Quantity};
pub use balancer::*;
pub use blueprint::*;
pub use datastore::*;
pub use service::*;
pub use versions::BalancerVersion;

/// Names of services, datastores, tiers, phases and the blueprint: a DNS-1035 label of
/// at most 40 characters, so every name derived from it stays a valid Kubernetes name.
pub const NAME_PATTERN: &str = "^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$";
/// Environment variable and secret names.
pub const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]{0,127}$";
/// Route prefixes: a path of safe characters only, so no route can inject a directive.
pub const ROUTE_PATTERN: &str = "^/[A-Za-z0-9._~/-]{0,200}$";
/// Health-check paths: a path with an optional simple query string.
pub const HEALTH_PATH_PATTERN: &str = "^/[A-Za-z0-9._~/-]{0,200}(\\?[A-Za-z0-9._~=&-]{0,200})?$";
/// Container image references.
pub const IMAGE_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$";
/// Queue names.
pub const QUEUE_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$";
/// Host addresses: an IPv4 or IPv6 address or a DNS name.
pub const HOST_PATTERN: &str = "^[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}$";
/// A file on the machine (a TLS certificate or key): an absolute path of safe
/// characters only, so no path can inject a directive or break out of a quoted value.
pub const FILE_PATH_PATTERN: &str = "^/[A-Za-z0-9._+@/-]{0,250}[A-Za-z0-9._+@-]$";
/// A Kubernetes Secret name: a DNS subdomain, like a StorageClass name.
pub const SECRET_NAME_PATTERN: &str = STORAGE_CLASS_PATTERN;
/// SQL identifiers (database and user names).
/// A Kubernetes StorageClass name (a DNS subdomain).
pub const STORAGE_CLASS_PATTERN: &str = "^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$";
pub const SQL_IDENT_PATTERN: &str = "^[a-z_][a-z0-9_]{0,62}$";
/// Rate-limit keys.
/// An IPv4 or IPv6 network in CIDR notation (validation parses it too).
pub const CIDR_PATTERN: &str = "^[0-9A-Fa-f.:]{2,45}/[0-9]{1,3}$";
pub const RATE_KEY_PATTERN: &str = "^(client_ip|header:[A-Za-z0-9][A-Za-z0-9-]{0,63})$";
/// Session stickiness.
pub const STICKY_PATTERN: &str =
    "^(none|client_ip|header:[A-Za-z0-9][A-Za-z0-9-]{0,63}|cookie(:[A-Za-z0-9_.-]{1,64})?)$";
/// Text passed to a process (an argument, an environment value): anything but NUL,
/// which no program can receive.
pub const TEXT_PATTERN: &str = "^[^\\u0000]*$";
/// One line of text for people: no control characters.
pub const LINE_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f]*$";
