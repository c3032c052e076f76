//! A standby region: a second copy of the stack, elsewhere, that PostgreSQL streams to
//! and that serves nothing until it is promoted.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{HOST_PATTERN, NAME_PATTERN};

/// A second region that keeps a streaming copy of every PostgreSQL datastore and runs
/// nothing else until it is promoted (`hosts` platform): its machines, tier by tier,
/// mirror the phase's. Its bundle is `hosts/standby-<name>/`, with the promotion
/// procedure in its README.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Standby {
    /// The region's name, like `eu-west`: lowercase letters, digits and `-`. Its
    /// bundle's folder is `standby-<name>`.
    #[schemars(regex(pattern = NAME_PATTERN), example = &"eu-west")]
    pub name: String,
    /// The region's machines for every tier that lists its `hosts`, as many and in the
    /// same order: the standby's machine N runs what the tier's machine N runs.
    #[schemars(
        extend(
            "propertyNames" = { "pattern": NAME_PATTERN },
            "additionalProperties" = {
                "type": "array",
                "items": { "type": "string", "pattern": HOST_PATTERN },
                "minItems": 1,
                "maxItems": crate::model::limits::MAX_HOSTS_PER_TIER
            },
            "minProperties" = 1
        ),
        example = standby_hosts_example()
    )]
    pub hosts: BTreeMap<String, Vec<String>>,
    /// The DNS name clients reach the application by (`shop.example.com`), which
    /// promotion moves to the standby's balancer; only the READMEs name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = HOST_PATTERN), example = &"shop.example.com")]
    pub dns: Option<String>,
}

fn standby_hosts_example() -> serde_json::Value {
    serde_json::json!({ "app": ["10.1.1.11", "10.1.1.12"], "data": ["10.1.2.11", "10.1.2.12"] })
}
