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
pub mod cron;
mod datastore;
pub mod limits;
mod monitoring;
pub mod schema;
mod service;
pub mod signal;
mod standby;
mod tier;
pub mod units;
pub mod versions;

pub use crate::model::units::{Duration, Quantity};
pub use balancer::*;
pub use blueprint::*;
pub use datastore::*;
pub use monitoring::*;
pub use service::*;
pub use signal::{Condition, Metrics, Signal, SignalCondition, Threshold};
pub use standby::Standby;
pub use tier::{Gpu, GpuVendor, Taint};
pub use versions::BalancerVersion;

/// Names of services, datastores, tiers, phases and the blueprint: a DNS-1035 label of
/// at most 40 characters, so every name derived from it stays a valid Kubernetes name.
pub const NAME_PATTERN: &str = "^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$";
/// Environment variable and secret names.
pub const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]{0,127}$";
/// Route prefixes: a path of safe characters only, so no route can inject a directive.
pub const ROUTE_PATTERN: &str = "^/[A-Za-z0-9._~/-]{0,200}$";
/// Health-check paths: a path with an optional simple query string. No `..` in the
/// path (each `.` is followed by another character than `.`), so it cannot climb out of
/// where the service answers.
pub const HEALTH_PATH_PATTERN: &str =
    "^/(\\.?[A-Za-z0-9_~/-]){0,200}\\.?(\\?[A-Za-z0-9._~=&-]{0,200})?$";
/// Container image references, without `..` (no registry, repository or tag has one).
pub const IMAGE_PATTERN: &str = "^[A-Za-z0-9](\\.?[A-Za-z0-9_/:@-]){0,254}\\.?$";
/// Queue names.
pub const QUEUE_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$";
/// Host addresses: an IPv4 or IPv6 address or a DNS name.
pub const HOST_PATTERN: &str = "^[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}$";
/// A file on the machine (a TLS certificate or key): an absolute path of safe
/// characters only, so no path can inject a directive or break out of a quoted value.
pub const FILE_PATH_PATTERN: &str = "^/[A-Za-z0-9._+@/-]{0,250}[A-Za-z0-9._+@-]$";
/// A cron schedule: five fields (minute, hour, day of month, month, day of week) of
/// numbers, `*`, ranges, lists and steps; validation checks each field's range.
pub const CRON_PATTERN: &str = "^[0-9*/,-]{1,40}( [0-9*/,-]{1,40}){4}$";
/// An S3 bucket name.
pub const BUCKET_PATTERN: &str = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";
/// A cloud region (`eu-west-1`, `auto`).
pub const REGION_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,62}$";
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
/// Free text (a description, an argument, an environment value), which is printed
/// (`plan`, the phase diff) or written outside YAML (ARCHITECTURE.md): line feeds and
/// tabs, but no other C0 control (NUL, which no program can receive, ESC, CR, …), no
/// DEL, no C1 control (U+0085 NEL included), no Unicode line or paragraph separator
/// (U+2028, U+2029) and no bidirectional override or isolate (U+202A–U+202E,
/// U+2066–U+2069): each would drive the terminal that prints it or make the text read
/// otherwise than it is. [`is_refused_in_text`] is the same rule in code.
pub const TEXT_PATTERN: &str =
    "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]*$";
/// One line of text for people (an entry condition): free text without line feeds or
/// tabs either.
pub const LINE_PATTERN: &str =
    "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]*$";

/// Whether [`TEXT_PATTERN`] refuses `c` (with `one_line`, [`LINE_PATTERN`]).
pub fn is_refused_in_text(c: char, one_line: bool) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        && (one_line || !matches!(c, '\n' | '\t'))
}
