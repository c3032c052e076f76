//! Tiers: groups of identical machines that services and datastores are placed on.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::HOST_PATTERN;
use crate::model::units::Quantity;

/// A group of identical machines.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The size of each machine in the tier.
    pub machine: Machine,
    /// How many machines. Default: the number of `hosts`, or 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub count: Option<u32>,
    /// The machines' addresses (IP addresses or DNS names), used by the `hosts` platform.
    /// Not an IPv6 link-local address (fe80::/10), which means nothing without a zone.
    /// At most 256 in a tier, and 1,024 in all tiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::model::limits::MAX_HOSTS_PER_TIER), inner(regex(pattern = HOST_PATTERN)), example = &["10.0.1.11", "10.0.1.12"])]
    pub hosts: Vec<String>,
    /// What one machine costs per month, in the currency of your choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000000))]
    pub cost_per_month: Option<f64>,
}

/// The size of one machine.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// CPU cores, like `4`.
    pub cpu: Quantity,
    /// Memory, like `16Gi`.
    pub memory: Quantity,
}

impl Tier {
    /// How many machines the tier has: `count`, else one per listed host, at least 1.
    pub fn machines(&self) -> u32 {
        self.count
            .unwrap_or_else(|| (self.hosts.len() as u32).max(1))
    }
}
