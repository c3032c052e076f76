//! Names that must not be shared: a service and a datastore become the same host name.

use super::{service_ptr, store_ptr, Checker};
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;

impl Checker<'_> {
    pub(super) fn names(&mut self) {
        for name in self.bp.datastores.keys() {
            if self.bp.services.contains_key(name) {
                self.push(
                    Diagnostic::error(
                        Code::DuplicateName,
                        store_ptr(name),
                        format!("`{name}` names both a service and a datastore"),
                    )
                    .at_key()
                    .hint("services and datastores share one namespace (they become host names): rename one"),
                );
            }
        }
    }

    /// On Kubernetes each balanced service gets a second Service, `NAME-pods`, for the
    /// balancer to find its pods: no service or datastore may already be called that.
    pub(super) fn pod_service_names(&mut self, engine: crate::model::BalancerEngine) {
        for (name, s) in &self.bp.services {
            let hashed = s
                .balance
                .as_ref()
                .and_then(|b| b.sticky.as_deref())
                .is_some_and(|sticky| sticky != "none");
            if !self.is_routed(name)
                || !crate::model::Platform::Kubernetes.addresses_instances(engine, hashed)
            {
                continue;
            }
            let headless = crate::model::capabilities::pod_service_name(name);
            let ptr = if self.bp.services.contains_key(&headless) {
                service_ptr(&headless)
            } else if self.bp.datastores.contains_key(&headless) {
                store_ptr(&headless)
            } else {
                continue;
            };
            self.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    ptr,
                    format!("`{headless}` is the Service through which the balancer finds the pods of `{name}` on Kubernetes"),
                )
                .at_key()
                .hint(format!("rename `{headless}`")),
            );
        }
    }

    /// On compose, the monitoring containers and scrape jobs take names of their own:
    /// `prometheus`, `alertmanager`, `grafana`, `cadvisor`, `balancer` (the balancer's job) and every
    /// `NAME-exporter`. A service or datastore named so would be a second container or
    /// job of that name.
    pub(super) fn monitoring_names(&mut self) {
        let names = self
            .bp
            .services
            .keys()
            .map(|n| (n, service_ptr(n)))
            .chain(self.bp.datastores.keys().map(|n| (n, store_ptr(n))));
        let datadog = self
            .bp
            .monitoring
            .as_ref()
            .and_then(|m| m.apm.as_ref())
            .is_some_and(|a| a.vendor == crate::model::ApmVendor::Datadog);
        let mut found = Vec::new();
        for (name, ptr) in names {
            if datadog && name == crate::model::DATADOG_AGENT_CONTAINER {
                found.push(
                    Diagnostic::error(
                        Code::ReservedName,
                        ptr.clone(),
                        format!("on compose and hosts, `{name}` is the container of the Datadog Agent that `monitoring.apm` runs on each Docker host"),
                    )
                    .at_key()
                    .hint(format!("rename `{name}`, or remove it: tierform runs the Agent")),
                );
                continue;
            }
            let taken = crate::model::MONITORING_CONTAINERS.contains(&name.as_str())
                || (name == "balancer" && self.bp.balancer.is_some())
                || name.ends_with("-exporter");
            if taken {
                found.push(
                    Diagnostic::error(
                        Code::ReservedName,
                        ptr,
                        format!("on compose and hosts, `{name}` names a container or scrape job of the monitoring tierform runs beside the stack (Prometheus, Alertmanager, Grafana, cAdvisor, the balancer's job, each exporter `NAME-exporter`)"),
                    )
                    .at_key()
                    .hint(format!("rename `{name}`")),
                );
            }
        }
        for d in found {
            self.push(d);
        }
    }
}
