//! Where things run on Kubernetes and what they run on: tiers' node pools, and the
//! GPUs services take.

use std::collections::BTreeSet;

use super::{service_ptr, store_ptr, Checker};
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::{GpuVendor, Platform, ServiceKind};
use crate::source::pointer::Pointer;

impl Checker<'_> {
    /// Node pools: no taint twice; and on Kubernetes, tiers that mean something there
    /// when a phase puts its parts on several of them.
    pub(super) fn node_pools(&mut self, targets: &[Platform]) {
        for (name, tier) in &self.bp.tiers {
            let Some(pool) = &tier.pool else {
                continue;
            };
            if let Some(max) = pool.max_nodes.filter(|m| *m < tier.machines()) {
                self.push(
                    Diagnostic::error(
                        Code::MinAboveMax,
                        Pointer::build(["tiers", name.as_str(), "pool", "max_nodes"]),
                        format!(
                            "tier `{name}`'s pool may grow to {max} node{}, fewer than the {} it keeps (`count`)",
                            if max == 1 { "" } else { "s" },
                            tier.machines()
                        ),
                    )
                    .hint("`count` is the fewest nodes, `max_nodes` the most: raise `max_nodes`, or lower `count`"),
                );
            }
            let mut seen = BTreeSet::new();
            for (i, t) in pool.taints.iter().enumerate() {
                if !seen.insert((t.key.as_str(), t.effect)) {
                    self.push(Diagnostic::error(
                        Code::DuplicateItem,
                        Pointer::build(["tiers", name.as_str(), "pool", "taints"]).child(i),
                        format!(
                            "tier `{name}`'s pool lists the taint `{}:{}` twice",
                            t.key,
                            t.effect.as_str()
                        ),
                    ));
                }
            }
        }
        if !targets.contains(&Platform::Kubernetes) {
            return;
        }
        // The tiers something runs on: services (jobs run once, anywhere), the
        // datastores tierform runs, the balancer.
        let used: BTreeSet<&str> = self
            .bp
            .services
            .values()
            .filter(|s| s.kind != ServiceKind::Job)
            .filter_map(|s| s.tier.as_deref())
            .chain(
                self.bp
                    .datastores
                    .values()
                    .filter(|d| d.runs_here())
                    .filter_map(|d| d.tier()),
            )
            .chain(self.bp.balancer.iter().filter_map(|b| b.tier.as_deref()))
            .filter(|t| self.bp.tiers.contains_key(*t))
            .collect();
        let without: Vec<&str> = used
            .iter()
            .copied()
            .filter(|t| self.bp.tiers[*t].pool.is_none())
            .collect();
        if used.len() < 2 || without.is_empty() {
            return;
        }
        let list = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (one, rest) = if without.len() == 1 {
            ("tier", "has")
        } else {
            ("tiers", "have")
        };
        self.push(
            Diagnostic::warning(
                Code::TiersWithoutPools,
                Pointer::build(["tiers", without[0]]),
                format!(
                    "this phase runs on tiers {} on Kubernetes, but {one} {} {rest} no `pool`: their pods land on any node, beside each other's",
                    list(&used.iter().copied().collect::<Vec<_>>()),
                    list(&without),
                ),
            )
            .at_key()
            .hint(format!(
                "give each tier the labels of its node pool, like `pool: {{ labels: {{ cloud.google.com/gke-nodepool: {} }} }}`, and taints to keep others off it",
                without[0]
            )),
        );
    }

    /// A service that takes GPUs runs on a tier whose machines have enough of the
    /// vendor's; a datastore takes none.
    pub(super) fn gpus(&mut self, targets: &[Platform]) {
        for (name, s) in &self.bp.services {
            let Some(gpu) = s.resources.as_ref().and_then(|r| r.gpu.as_ref()) else {
                continue;
            };
            let ptr = service_ptr(name).child("resources").child("gpu");
            let want = *gpu;
            let fix = format!("put `{name}` on a tier whose machines have at least that many: `machine: {{ gpu: {{ count: {}{} }} }}`", gpu.count,
                if gpu.vendor == GpuVendor::Nvidia { String::new() } else { format!(", vendor: {}", gpu.vendor.as_str()) });
            let problem = match s.tier.as_deref() {
                None => Some((
                    ptr.clone(),
                    format!("service `{name}` takes {want} per instance but is on no tier: nothing says which machines have them"),
                )),
                // An unknown tier is reported where it is named.
                Some(t) => match self.bp.tiers.get(t).map(|t| t.machine.gpu.as_ref()) {
                    None => None,
                    Some(None) => Some((
                        ptr.clone(),
                        format!("service `{name}` takes {want} per instance, but tier `{t}`'s machines have no GPU"),
                    )),
                    Some(Some(has)) if has.vendor != gpu.vendor => Some((
                        ptr.child("vendor"),
                        format!(
                            "service `{name}` takes {} GPUs, but tier `{t}`'s machines have {}'s",
                            gpu.vendor.display(),
                            has.vendor.display()
                        ),
                    )),
                    Some(Some(has)) if has.count < gpu.count => Some((
                        ptr.child("count"),
                        format!(
                            "each instance of service `{name}` takes {want}, but a machine of tier `{t}` has {}: an instance runs on one machine",
                            has
                        ),
                    )),
                    Some(Some(_)) => None,
                },
            };
            if let Some((at, message)) = problem {
                self.push(Diagnostic::error(Code::NoGpuOnTier, at, message).hint(fix));
                continue;
            }
            // An instance that takes every GPU of its machine sees none of another's.
            let takes_all = s
                .tier
                .as_deref()
                .and_then(|t| self.bp.tiers.get(t))
                .and_then(|t| t.machine.gpu)
                .is_some_and(|has| has.count <= gpu.count);
            let on_docker = targets
                .iter()
                .any(|p| matches!(p, Platform::Compose | Platform::Hosts));
            if let (Some(var), false, true) =
                (gpu.vendor.visible_devices_var(), takes_all, on_docker)
            {
                self.push(
                    Diagnostic::warning(
                        Code::GpuNotCounted,
                        ptr.child("count"),
                        format!(
                            "on compose and hosts, Docker cannot reserve {} GPUs: each instance of `{name}` is given the device files of every {} GPU on its machine, and {var} naming its own, which the runtime honours but nothing enforces",
                            gpu.vendor.display(),
                            gpu.vendor.display()
                        ),
                    )
                    .hint("keep the application from overriding the variable, or run it on Kubernetes, where the device plugin hands out whole GPUs"),
                );
            }
        }
        for (name, d) in &self.bp.datastores {
            if d.resources().is_some_and(|r| r.gpu.is_some()) {
                self.push(
                    Diagnostic::error(
                        Code::UnusedSetting,
                        store_ptr(name).child("resources").child("gpu"),
                        format!("datastore `{name}` takes no GPU: PostgreSQL, Redis and RabbitMQ never use one"),
                    )
                    .at_key()
                    .hint("remove `gpu`; GPUs are for the services that compute on them"),
                );
            }
        }
    }
}
