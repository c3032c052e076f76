//! The monitoring block: each receiver names one kind, its fields fit it, and no
//! receiver is given twice.

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
