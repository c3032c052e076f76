//! The monitoring tierform runs beside the stack, and where its alerts go.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ENV_NAME_PATTERN;

/// The role postgres_exporter logs in as (a member of `pg_monitor`): a user name the
/// blueprint may not give its application.
pub const POSTGRES_MONITOR_ROLE: &str = "postgres_exporter";

/// The names the monitoring containers take in a compose file: no service or datastore
/// may take one (nor `balancer`, the balancer's job, nor `NAME-exporter`).
pub const MONITORING_CONTAINERS: [&str; 4] = ["prometheus", "alertmanager", "cadvisor", "grafana"];

/// A Kubernetes label key: an optional DNS-subdomain prefix and `/`, then a name of up
/// to 63 letters, digits, `-`, `_` and `.`, starting and ending alphanumeric.
pub const K8S_LABEL_KEY_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/// A Kubernetes label value: empty, or up to 63 letters, digits, `-`, `_` and `.`,
/// starting and ending alphanumeric.
pub const K8S_LABEL_VALUE_PATTERN: &str = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";
/// The labels tierform itself puts on every Kubernetes object.
pub const OWN_LABELS: [&str; 2] = ["app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"];

/// A Slack channel: `#name`, letters, digits, `-`, `_` and `.`.
pub const SLACK_CHANNEL_PATTERN: &str = "^#[a-z0-9][a-z0-9._-]{0,79}$";

/// The monitoring tierform runs beside the stack: on compose and hosts, a Prometheus
/// with the exporters, its rules, Grafana, and with `notify` an Alertmanager that sends
/// the alerts on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// The tier whose first host runs Prometheus, Alertmanager and Grafana on the
    /// `hosts` platform (every machine runs its own exporters). Default: the
    /// balancer's first host, else the first machine of the phase in address order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"ops")]
    pub tier: Option<String>,
    /// Labels for the Kubernetes bundle's PodMonitors and PrometheusRule, so that the
    /// cluster's Prometheus selects them: kube-prometheus-stack's selects only those
    /// labelled `release: <its Helm release>`, unless told otherwise.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(
        extend("propertyNames" = { "pattern": K8S_LABEL_KEY_PATTERN }),
        extend("additionalProperties" = { "type": "string", "pattern": K8S_LABEL_VALUE_PATTERN }),
        extend("maxProperties" = 16),
        example = serde_json::json!({ "release": "kube-prometheus-stack" })
    )]
    pub labels: BTreeMap<String, String>,
    /// Where Alertmanager sends every alert (the phase alerts and the health ones), each
    /// a receiver. Without any, no Alertmanager runs: the alerts show on Prometheus's
    /// `/alerts` page only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub notify: Vec<Notify>,
}

/// One receiver of the alerts: a webhook or a Slack channel, its URL in a secret (the
/// URL of a Slack incoming webhook carries its token), never in the blueprint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct Notify {
    /// The secret (environment variable) holding the URL Alertmanager POSTs its
    /// webhook payload to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENV_NAME_PATTERN), example = &"ALERT_WEBHOOK_URL")]
    pub webhook: Option<String>,
    /// The secret (environment variable) holding a Slack incoming webhook's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENV_NAME_PATTERN), example = &"SLACK_WEBHOOK_URL")]
    pub slack: Option<String>,
    /// The Slack channel to post in (`slack` only). Default: the webhook's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SLACK_CHANNEL_PATTERN), example = &"#ops")]
    pub channel: Option<String>,
}
