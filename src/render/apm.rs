//! What the bundles' READMEs say about a vendor's APM (`monitoring.apm`): which
//! services are traced and with what, where the traces go, and that each process must
//! run under the vendor's tracer, which tierform does not add to commands. Every
//! platform's README shares it.

use crate::model::{ApmVendor, Platform};
use crate::plan::apm::{
    ApmPlan, DATADOG_HELM_NAMESPACE, DATADOG_HELM_RELEASE, DATADOG_HELM_SECRET, DATADOG_TRACE_PORT,
};
use crate::plan::Plan;

fn traced(apm: &ApmPlan) -> String {
    apm.services
        .keys()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The README's APM section for `platform`, or `None` without APM or traced services.
pub fn section(plan: &Plan, platform: Platform) -> Option<String> {
    let apm = plan.apm.as_ref().filter(|a| !a.services.is_empty())?;
    let services = traced(apm);
    let key = &apm.key;
    let secrets = match platform {
        Platform::Kubernetes => "the Secret".to_string(),
        Platform::Compose | Platform::Hosts => "`.env`".to_string(),
    };
    Some(match apm.vendor {
        ApmVendor::Datadog => {
            let site = apm.site.as_deref().unwrap_or_default();
            let agent = match platform {
                Platform::Kubernetes => format!(
                    "the Datadog Agent of the node the pod runs on (`DD_AGENT_HOST` is the node's address, `DD_TRACE_AGENT_PORT` {DATADOG_TRACE_PORT}), which Datadog's Helm chart runs on every node (the step above); the pods carry the labels `tags.datadoghq.com/service`, `env` and `version` too"
                ),
                Platform::Compose => format!(
                    "the container `datadog-agent` of this compose file (`DD_AGENT_HOST`, port {DATADOG_TRACE_PORT}, not published), which reads the API key `{key}` from {secrets} and sends to the site `{site}`"
                ),
                Platform::Hosts => format!(
                    "the container `datadog-agent` beside them on their machine (`DD_AGENT_HOST`, port {DATADOG_TRACE_PORT}, not published), which reads the API key `{key}` from the machine's {secrets} and sends to the site `{site}`"
                ),
            };
            format!(
                "\n## APM (Datadog)\n\n{services} get Datadog's unified service tagging, `DD_SERVICE` (the service's name), `DD_ENV` (`{phase}`, the phase) and `DD_VERSION` (the image's tag), and send their traces to {agent}.\n\ntierform does not change the services' commands: each process must run under Datadog's tracer, e.g. `ddtrace-run gunicorn app:app` with `ddtrace` installed in the image (give the `command` so in the blueprint), or it sends nothing.\n",
                phase = plan.phase,
            )
        }
        ApmVendor::Newrelic => format!(
            "\n## APM (New Relic)\n\n{services} get `NEW_RELIC_APP_NAME` (`{bp}-<service>`, the same in every phase, so New Relic keeps one history per service) and `NEW_RELIC_LICENSE_KEY`, from the secret `{key}` in {secrets}. Their agents report to New Relic themselves: nothing else runs for it.\n\ntierform does not change the services' commands: each process must run under New Relic's agent, e.g. `newrelic-admin run-program gunicorn app:app` with `newrelic` installed in the image (give the `command` so in the blueprint), or it reports nothing.\n",
            bp = plan.blueprint,
        ),
    })
}

/// The Kubernetes README's step that installs the Datadog Agent with APM on, with
/// Datadog's Helm chart, its API key in a Secret of its own namespace.
pub fn kubernetes_step(plan: &Plan) -> Option<String> {
    let apm = plan
        .apm
        .as_ref()
        .filter(|a| a.vendor == ApmVendor::Datadog && !a.services.is_empty())?;
    let site = apm.site.as_deref().unwrap_or_default();
    Some(format!(
        "Install the Datadog Agent with APM on, with Datadog's Helm chart, in its own namespace (once per cluster; skip it where the cluster runs Datadog's Agent already, with its trace port open on the nodes): `kubectl create namespace {ns}`, its API key (the value of `{key}` in `secrets.env`) as the Secret the chart reads, `kubectl -n {ns} create secret generic {secret} --from-literal=api-key=\"$(sed -n 's/^{key}=//p' secrets.env)\"`, then `helm repo add datadog https://helm.datadoghq.com && helm repo update` and `helm install {release} datadog/datadog -n {ns} --set datadog.apiKeyExistingSecret={secret} --set datadog.site={site} --set datadog.apm.portEnabled=true`.",
        ns = DATADOG_HELM_NAMESPACE,
        key = apm.key,
        secret = DATADOG_HELM_SECRET,
        release = DATADOG_HELM_RELEASE,
    ))
}
