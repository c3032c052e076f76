//! The monitoring tierform runs beside the stack, and where its alerts go.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::service::Resources;
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
    /// The budget of Prometheus, the monitoring server of the compose and hosts
    /// bundles, like `{ cpu: 500m, memory: 512Mi }`: its container's reservations
    /// (`cpu`, `memory`) and limits (`cpu_limit`, `memory_limit`, each its request where
    /// not given), and `plan` counts it in the phase's requests. It covers Prometheus
    /// alone, whose needs grow with what it scrapes: Grafana (0.5 CPU, 256Mi),
    /// Alertmanager (0.25 CPU, 128Mi), cAdvisor and the exporters keep their own fixed
    /// limits. On Kubernetes the cluster's own Prometheus scrapes the bundle: this does
    /// not size it. Default, and for a measure it leaves out: no reservation, a limit
    /// of 1 CPU and 1Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Application performance monitoring by a vendor, beside tierform's own
    /// monitoring, like `{ vendor: datadog, key: DD_API_KEY }`: each application
    /// service (http, worker, scheduler, websocket) gets the vendor's variables, and
    /// the key reaches it (New Relic) or the Datadog Agent (Datadog) from the secrets
    /// like a service's `secrets`. The services' processes must run under the vendor's
    /// tracer (`ddtrace-run`, `newrelic-admin run-program`): tierform does not add it
    /// to their commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apm: Option<Apm>,
}

/// The name the Datadog Agent's container takes in a compose file: no service or
/// datastore may take it.
pub const DATADOG_AGENT_CONTAINER: &str = "datadog-agent";

/// A vendor's application performance monitoring.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Apm {
    /// Whose APM: `datadog` (the services send traces to a Datadog Agent: on compose
    /// and hosts one `datadog-agent` container per Docker host, on Kubernetes the
    /// cluster's own, installed with Datadog's Helm chart) or `newrelic` (the
    /// services' agents report to New Relic themselves).
    pub vendor: ApmVendor,
    /// The secret (environment variable, Kubernetes Secret key) holding the Datadog
    /// API key or the New Relic license key. Never the key itself.
    #[schemars(regex(pattern = ENV_NAME_PATTERN), example = &"DD_API_KEY")]
    pub key: String,
    /// The Datadog site the account is on (`datadog` only). Default: `datadoghq.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<DatadogSite>,
}

/// An APM vendor.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ApmVendor {
    /// Datadog APM: `ddtrace` in the services, a Datadog Agent receiving their traces.
    Datadog,
    /// New Relic APM: the `newrelic` agent in each service, reporting to New Relic.
    Newrelic,
}

impl ApmVendor {
    pub fn as_str(self) -> &'static str {
        match self {
            ApmVendor::Datadog => "datadog",
            ApmVendor::Newrelic => "newrelic",
        }
    }

    /// The vendor's name as people write it.
    pub fn title(self) -> &'static str {
        match self {
            ApmVendor::Datadog => "Datadog",
            ApmVendor::Newrelic => "New Relic",
        }
    }

    /// The variables tierform gives each traced service: a service may not set one
    /// itself.
    pub fn service_variables(self) -> &'static [&'static str] {
        match self {
            ApmVendor::Datadog => &[
                "DD_SERVICE",
                "DD_ENV",
                "DD_VERSION",
                "DD_AGENT_HOST",
                "DD_TRACE_AGENT_PORT",
            ],
            ApmVendor::Newrelic => &["NEW_RELIC_APP_NAME", "NEW_RELIC_LICENSE_KEY"],
        }
    }
}

/// Whether a service of `kind` runs the application's own code, which a vendor's
/// tracer instruments: http, worker, scheduler and websocket services. A static site
/// is a file server, and a job runs once and exits.
pub fn traced(kind: super::ServiceKind) -> bool {
    use super::ServiceKind as K;
    matches!(kind, K::Http | K::Worker | K::Scheduler | K::Websocket)
}

/// A Datadog site: where the account's data lives.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum DatadogSite {
    /// US1.
    #[serde(rename = "datadoghq.com")]
    Us1,
    /// US3.
    #[serde(rename = "us3.datadoghq.com")]
    Us3,
    /// US5.
    #[serde(rename = "us5.datadoghq.com")]
    Us5,
    /// EU1.
    #[serde(rename = "datadoghq.eu")]
    Eu1,
    /// AP1.
    #[serde(rename = "ap1.datadoghq.com")]
    Ap1,
    /// AP2.
    #[serde(rename = "ap2.datadoghq.com")]
    Ap2,
    /// US1-FED (GovCloud).
    #[serde(rename = "ddog-gov.com")]
    Us1Fed,
}

impl DatadogSite {
    pub fn as_str(self) -> &'static str {
        match self {
            DatadogSite::Us1 => "datadoghq.com",
            DatadogSite::Us3 => "us3.datadoghq.com",
            DatadogSite::Us5 => "us5.datadoghq.com",
            DatadogSite::Eu1 => "datadoghq.eu",
            DatadogSite::Ap1 => "ap1.datadoghq.com",
            DatadogSite::Ap2 => "ap2.datadoghq.com",
            DatadogSite::Us1Fed => "ddog-gov.com",
        }
    }
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
