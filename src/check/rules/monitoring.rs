//! The monitoring block: Prometheus's budget is sizes, each receiver names one kind,
//! its fields fit it, and no receiver is given twice; APM's fields fit its vendor, and
//! no traced service sets a variable APM gives it.

use super::Checker;
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::Platform;
use crate::source::pointer::Pointer;

impl Checker<'_> {
    pub(super) fn monitoring(&mut self, targets: &[Platform]) {
        let Some(m) = &self.bp.monitoring else {
            return;
        };
        self.tier_ref(Pointer::build(["monitoring", "tier"]), m.tier.as_ref());
        if let Some(r) = &m.resources {
            let ptr = Pointer::build(["monitoring", "resources"]);
            self.resources(&ptr, r);
            if r.gpu.is_some() {
                self.push(
                    Diagnostic::error(
                        Code::UnusedSetting,
                        ptr.child("gpu"),
                        "Prometheus takes no GPU",
                    )
                    .at_key()
                    .hint("remove `gpu`; GPUs are for the services that compute on them"),
                );
            }
        }
        for key in m.labels.keys() {
            if crate::model::OWN_LABELS.contains(&key.as_str()) {
                self.push(
                    Diagnostic::error(
                        Code::ReservedName,
                        Pointer::build(["monitoring", "labels", key.as_str()]),
                        format!("tierform sets `{key}` on every object itself"),
                    )
                    .at_key()
                    .hint("remove it: the PodMonitors and the PrometheusRule carry it already"),
                );
            }
        }
        if let Some(apm) = &m.apm {
            self.apm(apm);
        }
        // Only compose and hosts bundles run an Alertmanager.
        let elsewhere: Vec<&str> = targets
            .iter()
            .filter(|p| !matches!(p, Platform::Compose | Platform::Hosts))
            .map(|p| p.as_str())
            .collect();
        if !m.notify.is_empty() && !elsewhere.is_empty() {
            self.push(
                Diagnostic::warning(
                    Code::NoReceiver,
                    Pointer::build(["monitoring", "notify"]),
                    format!(
                        "`notify` reaches the alerts of compose and hosts bundles only: the {} bundles run no Alertmanager, so their alerts reach none of these receivers",
                        elsewhere.join(" and ")
                    ),
                )
                .at_key()
                .hint("route those alerts with your own Alertmanager (on Kubernetes, an AlertmanagerConfig for the PrometheusRule's alerts)"),
            );
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, n) in m.notify.iter().enumerate() {
            let ptr = Pointer::build(["monitoring", "notify"]).child(i);
            let secret = match (&n.webhook, &n.slack) {
                (Some(_), Some(_)) => {
                    self.push(
                        Diagnostic::error(
                            Code::ConflictingFields,
                            ptr.child("slack"),
                            "a receiver is a webhook or a Slack channel, not both",
                        )
                        .hint("give each its own entry of `notify`"),
                    );
                    continue;
                }
                (None, None) => {
                    self.push(
                        Diagnostic::error(
                            Code::MissingField,
                            ptr,
                            "a receiver needs `webhook` or `slack`: the secret holding its URL",
                        )
                        .hint("e.g. `{ webhook: ALERT_WEBHOOK_URL }` or `{ slack: SLACK_WEBHOOK_URL, channel: \"#ops\" }`"),
                    );
                    continue;
                }
                (Some(s), None) => {
                    if n.channel.is_some() {
                        self.push(
                            Diagnostic::error(
                                Code::ConflictingFields,
                                ptr.child("channel"),
                                "`channel` is for a Slack receiver; this one is a webhook",
                            )
                            .hint("remove `channel`, or make the receiver `slack:`"),
                        );
                    }
                    (s, "webhook")
                }
                (None, Some(s)) => (s, "slack"),
            };
            if seen.contains(&secret.0.as_str()) {
                self.push(
                    Diagnostic::error(
                        Code::DuplicateItem,
                        ptr.child(secret.1),
                        format!("`{}` is already the URL of another receiver: each alert would be sent there twice", secret.0),
                    )
                    .hint("remove one of the two"),
                );
            }
            seen.push(secret.0);
        }
    }
}

impl Checker<'_> {
    /// `monitoring.apm`: `site` is Datadog's; no traced service sets one of the
    /// variables tierform gives it (its own value would be silently replaced).
    fn apm(&mut self, apm: &crate::model::Apm) {
        use crate::model::ApmVendor;
        let ptr = Pointer::build(["monitoring", "apm"]);
        if apm.vendor == ApmVendor::Newrelic && apm.site.is_some() {
            self.push(
                Diagnostic::error(
                    Code::ConflictingFields,
                    ptr.child("site"),
                    "`site` is a Datadog site; New Relic's agent finds its region from the license key",
                )
                .at_key()
                .hint("remove `site`"),
            );
        }
        let vars = apm.vendor.service_variables();
        for (name, s) in &self.bp.services {
            if !crate::model::traced(s.kind) {
                continue;
            }
            let own = s
                .env
                .keys()
                .map(|k| (k, "env"))
                .chain(s.urls.keys().map(|k| (k, "urls")))
                .chain(s.secrets.iter().map(|k| (k, "secrets")));
            let mut found = Vec::new();
            for (key, field) in own {
                if !vars.contains(&key.as_str()) {
                    continue;
                }
                let at = if field == "secrets" {
                    let i = s.secrets.iter().position(|x| x == key).unwrap_or(0);
                    super::service_ptr(name).child(field).child(i)
                } else {
                    super::service_ptr(name).child(field).child(key.as_str())
                };
                found.push(
                    Diagnostic::error(
                        Code::EnvConflict,
                        at,
                        format!(
                            "`{key}` is one of the variables `monitoring.apm` gives `{name}` for {}",
                            apm.vendor.title()
                        ),
                    )
                    .at_key()
                    .hint(format!(
                        "remove it from `{field}`: tierform sets {}",
                        vars.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                    )),
                );
            }
            for d in found {
                self.push(d);
            }
        }
    }
}
