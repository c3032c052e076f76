//! The blueprint as a whole: its platforms and the phases it grows through.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use super::balancer::Balancer;
use super::datastore::Datastore;
use super::service::Service;
use super::signal::{Condition, SignalCondition};
use super::tier::Tier;
use super::{NAME_PATTERN, TEXT_PATTERN};

pub use super::limits::MAX_PHASES;
use super::limits::{MAX_DATASTORES, MAX_SERVICES};

/// A tierform blueprint: the services, tiers, datastores, load balancing and scaling of
/// one application, and the phases it grows through.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tierform blueprint")]
pub struct Blueprint {
    /// The blueprint format version. Always `1`.
    #[schemars(extend("const" = 1))]
    pub version: u32,
    /// The application's name: lowercase letters, digits and `-`, starting with a
    /// letter, at most 40 characters. Prefixes generated resources.
    #[schemars(regex(pattern = NAME_PATTERN), example = &"bet-intel")]
    pub name: String,
    /// What the application is, for people reading the blueprint. Free text: no control
    /// character but line feeds and tabs, no Unicode line separator or bidirectional
    /// override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TEXT_PATTERN))]
    pub description: Option<String>,
    /// Platforms rendered for every phase that does not list its own. Default: `[compose]`.
    #[serde(default = "default_targets")]
    #[schemars(length(min = 1))]
    pub targets: Vec<Platform>,
    /// Groups of identical machines, by name. Services and datastores are placed on a tier.
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": NAME_PATTERN }))]
    pub tiers: BTreeMap<String, Tier>,
    /// The load balancer in front of the HTTP and WebSocket services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer: Option<Balancer>,
    /// The application's processes, by name. At most 10,000.
    #[schemars(extend("propertyNames" = { "pattern": NAME_PATTERN }, "minProperties" = 1, "maxProperties" = MAX_SERVICES))]
    pub services: BTreeMap<String, Service>,
    /// Databases, caches and brokers, by name. At most 1,000.
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": NAME_PATTERN }, "maxProperties" = MAX_DATASTORES))]
    pub datastores: BTreeMap<String, Datastore>,
    /// The monitoring tierform runs beside the stack (compose), and where its alerts
    /// go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<super::Monitoring>,
    /// A second region that keeps a streaming copy of the PostgreSQL datastores and
    /// serves nothing until it is promoted (`hosts` platform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<super::Standby>,
    /// The stages the application grows through, in order. Each phase patches the state
    /// the phase before it left. Without phases, the blueprint is one phase named `default`.
    #[serde(default)]
    #[schemars(extend("maxItems" = MAX_PHASES))]
    pub phases: Vec<Phase>,
}

fn default_targets() -> Vec<Platform> {
    vec![Platform::Compose]
}

/// A platform tierform renders a bundle for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// The whole stack on one Docker host, with Docker Compose.
    Compose,
    /// One Compose bundle per server, for phases whose tiers list their hosts.
    Hosts,
    /// Kubernetes manifests with autoscaling.
    Kubernetes,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Compose, Platform::Hosts, Platform::Kubernetes];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Compose => "compose",
            Platform::Hosts => "hosts",
            Platform::Kubernetes => "kubernetes",
        }
    }
}

/// A stage the application grows through.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// The phase's name; also its output folder.
    #[schemars(regex(pattern = NAME_PATTERN), example = &"horizontal")]
    pub name: String,
    /// What the phase is for, and the load it carries. Free text: no control character
    /// but line feeds and tabs, no Unicode line separator or bidirectional override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TEXT_PATTERN))]
    pub description: Option<String>,
    /// Signals that it is time to enter this phase, watched in the phase before it:
    /// each a signal with a threshold (`{ signal: cpu, service: api, above: 70, for:
    /// 5m }`), which becomes an alert in the previous phase's monitoring, or a line of
    /// text for what no metric measures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(example = crate::model::signal::enter_example())]
    pub enter_when: Vec<Condition>,
    /// Signals that this phase is more than the load needs (`{ signal: cpu, service:
    /// api, below: 30, for: 30m }`), watched in this phase: an alert that names the
    /// phase before it. Text lines are for people, as in `enter_when`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leave_when: Vec<Condition>,
    /// What this phase should hold to, watched in it: each a signal and the side of a
    /// threshold it should stay on (`{ signal: p95_latency, service: api, below:
    /// 200ms }`: the 95th percentile under 200ms; `{ signal: error_rate, service: api,
    /// below: 0.1 }`: under 0.1 % errors). One past its threshold for its `for`
    /// (default 5m) is an alert, `ObjectiveMissed`, for people to look into: not a
    /// reason to change phase, which is what `enter_when` says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), example = crate::model::signal::objectives_example())]
    pub objectives: Vec<SignalCondition>,
    /// Platforms rendered for this phase. Default: the blueprint's `targets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub targets: Option<Vec<Platform>>,
    /// Changes from the previous phase, as a JSON merge patch (RFC 7386) of the
    /// blueprint: mappings merge, other values replace, `null` removes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PatchRef")]
    pub patch: Option<serde_json::Value>,
}

/// Stands for the patch schema in [`Phase::patch`]; the schema module fills it in.
struct PatchRef;

impl JsonSchema for PatchRef {
    fn schema_name() -> Cow<'static, str> {
        "BlueprintPatch".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Replaced by `schema::blueprint_schema` with the patch form of the blueprint.
        json_schema!({ "type": "object" })
    }
}
