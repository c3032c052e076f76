//! Application performance monitoring by a vendor (`monitoring.apm`): the variables
//! each traced service gets on each platform, its pod labels on Kubernetes, the
//! Datadog Agent compose and hosts run beside the services, and how a cluster gets
//! Datadog's own.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{EnvValue, EnvVar, ResourcesPlan, ServicePlan};
use crate::model::{Apm, ApmVendor, Platform, DATADOG_AGENT_CONTAINER, K8S_LABEL_VALUE_PATTERN};

/// The port the Datadog Agent receives traces on (its default, `DD_APM_RECEIVER_PORT`).
pub const DATADOG_TRACE_PORT: u16 = 8126;
/// The Datadog site of an `apm` that names none.
pub const DATADOG_DEFAULT_SITE: &str = "datadoghq.com";
/// The Datadog Agent's limits on compose and hosts: what Datadog sizes its container
/// for (the Helm chart's examples), beside the fixed limits of the other monitoring
/// containers.
pub const DATADOG_AGENT_LIMITS: ResourcesPlan = ResourcesPlan {
    cpu_millis: 0,
    memory_bytes: 0,
    cpu_limit_millis: 500,
    memory_limit_bytes: 512 * 1024 * 1024,
    gpu: None,
};
/// Where a cluster runs Datadog's Helm chart: the namespace, the release, and the
/// Secret (key `api-key`, the name the chart reads) the API key goes in.
pub const DATADOG_HELM_NAMESPACE: &str = "datadog";
pub const DATADOG_HELM_RELEASE: &str = "datadog-agent";
pub const DATADOG_HELM_SECRET: &str = "datadog-secret";

/// The phase's APM.
#[derive(Debug, Clone, Serialize)]
pub struct ApmPlan {
    pub vendor: ApmVendor,
    /// The secret holding the API key (Datadog) or the license key (New Relic).
    pub key: String,
    /// The Datadog site (Datadog only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The traced services (http, worker, scheduler, websocket), by name.
    pub services: BTreeMap<String, TracedService>,
    /// The Datadog Agent of compose and hosts (Datadog only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentPlan>,
}

/// What one traced service gets.
#[derive(Debug, Clone, Serialize)]
pub struct TracedService {
    /// Its variables, per platform, in the order the container gets them.
    pub env: BTreeMap<Platform, Vec<EnvVar>>,
    /// The labels of its pods on Kubernetes (Datadog's unified service tagging).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The Datadog Agent container of compose and hosts: one per Docker host that runs a
/// traced service, on the services' network, its trace port published nowhere.
#[derive(Debug, Clone, Serialize)]
pub struct AgentPlan {
    /// The container's name, which the services reach it by (`DD_AGENT_HOST`).
    pub container: String,
    pub image: String,
    pub env: Vec<EnvVar>,
    pub resources: ResourcesPlan,
    /// On hosts: the machines it runs on (those of the traced services).
    pub machines: BTreeSet<String>,
}

impl ApmPlan {
    /// The APM variables of service `name` on `platform` (none for one not traced).
    pub fn env(&self, name: &str, platform: Platform) -> &[EnvVar] {
        self.services
            .get(name)
            .and_then(|t| t.env.get(&platform))
            .map_or(&[], Vec::as_slice)
    }

    /// Whether the Datadog Agent runs on `machine` (hosts) or in the compose file
    /// (`None`).
    pub fn agent_on(&self, machine: Option<&str>) -> Option<&AgentPlan> {
        self.agent
            .as_ref()
            .filter(|a| machine.is_none_or(|m| a.machines.contains(m)))
    }
}

/// The tag of an image (`demo/api:1.4.2` → `1.4.2`), which Datadog's `version` is: none
/// for an image named by digest alone or with no tag.
pub fn image_tag(image: &str) -> Option<&str> {
    let named = image.split_once('@').map_or(image, |(n, _)| n);
    let last = named.rsplit_once('/').map_or(named, |(_, l)| l);
    last.split_once(':')
        .map(|(_, t)| t)
        .filter(|t| !t.is_empty())
}

fn literal(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: EnvValue::Literal(value.into()),
    }
}

/// The phase's APM plan: each traced service's variables on each platform.
pub(super) fn apm_plan(
    apm: &Apm,
    blueprint: &str,
    phase: &str,
    services: &BTreeMap<String, ServicePlan>,
    platforms: &[Platform],
) -> ApmPlan {
    let label_value = regex::Regex::new(K8S_LABEL_VALUE_PATTERN).expect("a label pattern");
    let traced = services.values().filter(|s| crate::model::traced(s.kind));
    let mut out = BTreeMap::new();
    for s in traced {
        let mut env = BTreeMap::new();
        let mut labels = BTreeMap::new();
        for &platform in platforms {
            let vars = match apm.vendor {
                ApmVendor::Newrelic => vec![
                    // One name for the service in every phase: New Relic keeps an app's
                    // history by its name, so the phases read as one application.
                    literal("NEW_RELIC_APP_NAME", format!("{blueprint}-{}", s.name)),
                    EnvVar {
                        name: "NEW_RELIC_LICENSE_KEY".into(),
                        value: EnvValue::Secret(apm.key.clone()),
                    },
                ],
                ApmVendor::Datadog => {
                    let mut v = vec![
                        literal("DD_SERVICE", s.name.clone()),
                        literal("DD_ENV", phase),
                    ];
                    if let Some(tag) = image_tag(&s.image) {
                        v.push(literal("DD_VERSION", tag));
                    }
                    v.push(EnvVar {
                        name: "DD_AGENT_HOST".into(),
                        value: match platform {
                            // The Agent of the node the pod runs on (Datadog's Helm
                            // chart opens its trace port on every node).
                            Platform::Kubernetes => EnvValue::Field("status.hostIP".into()),
                            Platform::Compose | Platform::Hosts => {
                                EnvValue::Literal(DATADOG_AGENT_CONTAINER.into())
                            }
                        },
                    });
                    v.push(literal(
                        "DD_TRACE_AGENT_PORT",
                        DATADOG_TRACE_PORT.to_string(),
                    ));
                    v
                }
            };
            env.insert(platform, vars);
        }
        if apm.vendor == ApmVendor::Datadog && platforms.contains(&Platform::Kubernetes) {
            labels.insert("tags.datadoghq.com/service".to_string(), s.name.clone());
            if label_value.is_match(phase) {
                labels.insert("tags.datadoghq.com/env".to_string(), phase.to_string());
            }
            // A tag a label cannot hold (longer than 63, say) stays in DD_VERSION only.
            if let Some(tag) = image_tag(&s.image).filter(|t| label_value.is_match(t)) {
                labels.insert("tags.datadoghq.com/version".to_string(), tag.to_string());
            }
        }
        out.insert(s.name.clone(), TracedService { env, labels });
    }
    let agent = (apm.vendor == ApmVendor::Datadog
        && platforms
            .iter()
            .any(|p| matches!(p, Platform::Compose | Platform::Hosts)))
    .then(|| AgentPlan {
        container: DATADOG_AGENT_CONTAINER.to_string(),
        image: crate::model::versions::DATADOG_AGENT.image.to_string(),
        env: vec![
            EnvVar {
                name: "DD_API_KEY".into(),
                value: EnvValue::Secret(apm.key.clone()),
            },
            literal(
                "DD_SITE",
                apm.site.map_or(DATADOG_DEFAULT_SITE, |s| s.as_str()),
            ),
            literal("DD_APM_ENABLED", "true"),
            // The services send from their own containers, not the Agent's.
            literal("DD_APM_NON_LOCAL_TRAFFIC", "true"),
        ],
        resources: DATADOG_AGENT_LIMITS,
        machines: services
            .values()
            .filter(|s| crate::model::traced(s.kind))
            .flat_map(|s| s.machines.iter().cloned())
            .collect(),
    });
    ApmPlan {
        vendor: apm.vendor,
        key: apm.key.clone(),
        site: (apm.vendor == ApmVendor::Datadog).then(|| {
            apm.site
                .map_or(DATADOG_DEFAULT_SITE, |s| s.as_str())
                .to_string()
        }),
        services: out,
        agent,
    }
}

#[cfg(test)]
mod tests {
    use super::image_tag;

    #[test]
    fn the_tag_of_an_image() {
        assert_eq!(image_tag("demo/api:1.4.2"), Some("1.4.2"));
        assert_eq!(image_tag("registry:5000/demo/api:v2"), Some("v2"));
        assert_eq!(image_tag("registry:5000/demo/api"), None);
        assert_eq!(image_tag("demo/api@sha256:abcd"), None);
        assert_eq!(image_tag("demo/api:1.0@sha256:abcd"), Some("1.0"));
        assert_eq!(image_tag("api"), None);
    }
}
