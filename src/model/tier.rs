//! Tiers: groups of identical machines that services and datastores are placed on.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{HOST_PATTERN, K8S_LABEL_KEY_PATTERN, K8S_LABEL_VALUE_PATTERN};
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
    /// The Kubernetes node pool the tier's machines are: the pods of what runs on the
    /// tier are scheduled on its nodes only (a `nodeSelector` on its labels) and
    /// tolerate its taints. Without one, a tier means nothing on Kubernetes: pods land
    /// on any node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<NodePool>,
}

/// A Kubernetes node pool (a GKE node pool, an EKS managed node group, an AKS agent
/// pool, a Karpenter NodePool): how its nodes are told apart, and what keeps other
/// pods off them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodePool {
    /// Labels every node of the pool has, and other nodes lack, like
    /// `cloud.google.com/gke-nodepool: gpu` or `eks.amazonaws.com/nodegroup: gpu`.
    #[schemars(
        extend("propertyNames" = { "pattern": K8S_LABEL_KEY_PATTERN }),
        extend("additionalProperties" = { "type": "string", "pattern": K8S_LABEL_VALUE_PATTERN }),
        extend("minProperties" = 1, "maxProperties" = 16)
    )]
    pub labels: BTreeMap<String, String>,
    /// Taints on the pool's nodes, which the pods placed on the tier tolerate (and no
    /// other pod does), like `{ key: nvidia.com/gpu, value: present, effect:
    /// NoSchedule }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub taints: Vec<Taint>,
    /// The most nodes a cluster autoscaler may grow the pool to; the tier's `count`
    /// is then the fewest it keeps. `plan` costs the range, and validation checks the
    /// autoscalers' maxima against it. Default: `count` (a fixed pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_nodes: Option<u32>,
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Taint {
    /// The taint's key, a label key like `nvidia.com/gpu` or `dedicated`.
    #[schemars(regex(pattern = K8S_LABEL_KEY_PATTERN))]
    pub key: String,
    /// Its value, if it has one: tolerated only with that value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = K8S_LABEL_VALUE_PATTERN))]
    pub value: Option<String>,
    /// What it does to pods that do not tolerate it.
    pub effect: TaintEffect,
}

/// A taint's effect.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum TaintEffect {
    /// No new pod is scheduled there unless it tolerates the taint.
    NoSchedule,
    /// The scheduler avoids the node for such pods, but may still use it.
    PreferNoSchedule,
    /// Such pods are not scheduled there, and those running are evicted.
    NoExecute,
}

impl std::fmt::Display for Taint {
    /// As `kubectl taint` writes it: `key=value:Effect`, or `key:Effect`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}:{}", self.key, self.effect.as_str()),
            None => write!(f, "{}:{}", self.key, self.effect.as_str()),
        }
    }
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// GPUs: on a machine, how many it has; on a service, how many each instance takes
/// for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gpu {
    /// How many GPUs.
    #[schemars(range(min = 1, max = 16))]
    pub count: u32,
    /// Whose GPUs. Default: `nvidia`.
    #[serde(default, skip_serializing_if = "GpuVendor::is_default")]
    pub vendor: GpuVendor,
}

impl std::fmt::Display for Gpu {
    /// `1 NVIDIA GPU`, `2 AMD GPUs`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = if self.count == 1 { "" } else { "s" };
        write!(f, "{} {} GPU{s}", self.count, self.vendor.display())
    }
}

/// A GPU maker, which names the device plugin's resource on Kubernetes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GpuVendor {
    /// `nvidia.com/gpu` (NVIDIA's device plugin or GPU Operator); Docker's NVIDIA
    /// Container Toolkit on compose and hosts.
    #[default]
    Nvidia,
    /// `amd.com/gpu` (ROCm's device plugin); `/dev/kfd` and `/dev/dri` on compose and
    /// hosts.
    Amd,
    /// `gpu.intel.com/i915` (Intel's device plugin); `/dev/dri` on compose and hosts.
    Intel,
}

impl GpuVendor {
    fn is_default(&self) -> bool {
        *self == GpuVendor::Nvidia
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GpuVendor::Nvidia => "nvidia",
            GpuVendor::Amd => "amd",
            GpuVendor::Intel => "intel",
        }
    }

    /// The variable that tells its runtime which of the machine's GPUs a container
    /// may use, where Docker gives it every one's device files (AMD's, Intel's);
    /// NVIDIA's are given by index.
    pub fn visible_devices_var(self) -> Option<&'static str> {
        match self {
            GpuVendor::Nvidia => None,
            GpuVendor::Amd => Some("ROCR_VISIBLE_DEVICES"),
            GpuVendor::Intel => Some("ZE_AFFINITY_MASK"),
        }
    }

    /// The extended resource its Kubernetes device plugin advertises.
    pub fn kubernetes_resource(self) -> &'static str {
        match self {
            GpuVendor::Nvidia => "nvidia.com/gpu",
            GpuVendor::Amd => "amd.com/gpu",
            GpuVendor::Intel => "gpu.intel.com/i915",
        }
    }

    /// As people name it: `NVIDIA`.
    pub fn display(self) -> &'static str {
        match self {
            GpuVendor::Nvidia => "NVIDIA",
            GpuVendor::Amd => "AMD",
            GpuVendor::Intel => "Intel",
        }
    }
}

/// The size of one machine.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// CPU cores, like `4`.
    pub cpu: Quantity,
    /// Memory, like `16Gi`.
    pub memory: Quantity,
    /// The disk each machine has, like `200Gi`: from `1G` to `1024Ti`. `plan`,
    /// ARCHITECTURE.md and the Kubernetes README state it with the machine's size, and
    /// on `hosts` validation warns where the `storage` of the datastore servers placed
    /// on one machine adds up to more (their data, in Docker volumes, lives on this
    /// disk, beside the system, the images and the logs). Its kind (SSD or not) is the
    /// provider's: nothing rendered depends on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<Quantity>,
    /// Each machine's network bandwidth, like `1Gbps` or `500Mbps` (from `10Mbps`):
    /// `plan`, ARCHITECTURE.md and the Kubernetes README state it with the machine's
    /// size, for choosing the provider's machine type. Nothing rendered depends on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::model::units::BANDWIDTH_PATTERN), example = &"1Gbps")]
    pub network: Option<String>,
    /// The GPUs each machine has, like `{ count: 1 }` (NVIDIA's by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<Gpu>,
}

impl Tier {
    /// How many machines the tier has: `count`, else one per listed host, at least 1.
    pub fn machines(&self) -> u32 {
        self.count
            .unwrap_or_else(|| (self.hosts.len() as u32).max(1))
    }
}
