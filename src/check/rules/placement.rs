//! Findings that need the plan's placement: on the `hosts` platform, what cannot be placed
//! and which listeners share a port; what does not fit its tier; compose names that clash.
//! Kept together (bodies as they were in `analyze.rs`) so they can move to the plan stage
//! as one file.

use std::collections::BTreeMap;

use super::{service_ptr, store_ptr, Checker};
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::Resources;
use crate::plan::placement::{datastore_nodes, hosts_layout, instance_names};
use crate::source::pointer::Pointer;

impl Checker<'_> {
    /// On the `hosts` platform everything runs on a machine of a tier that lists its
    /// hosts, and no two listeners on one machine share a port.
    pub(super) fn placement(&mut self) {
        let layout = hosts_layout(self.bp);
        let (unplaced, conflicts) = (layout.unplaced, layout.conflicts);
        for (ptr, what) in unplaced {
            self.push(
                Diagnostic::error(
                    Code::Unplaced,
                    ptr,
                    format!("the `hosts` platform cannot place {what}: it is on no tier that lists hosts"),
                )
                .at_key()
                .hint("set its `tier` to a tier with `hosts: [...]`, or drop the `hosts` target from this phase"),
            );
        }
        for (ptr, message) in conflicts {
            self.push(
                Diagnostic::error(Code::PortConflict, ptr, message)
                    .hint("give one of them another `port`, or put them on different tiers"),
            );
        }
    }

    /// What runs on a tier (at its fewest instances) must fit its machines: the sum of
    /// CPU and memory requests against the machines' size. Nodes of a datastore count
    /// once each (a PgBouncer's small footprint aside).
    pub(super) fn capacity(&mut self) {
        use crate::plan::placement::datastore_nodes;
        for (tier_name, tier) in &self.bp.tiers {
            let (Ok(cpu), Ok(memory)) =
                (tier.machine.cpu.millicores(), tier.machine.memory.bytes())
            else {
                continue;
            };
            let machines = u64::from(tier.machines());
            let (mut want_cpu, mut want_mem) = (0u64, 0u64);
            let mut add = |r: Option<&Resources>, n: u64| {
                if let Some(r) = r {
                    want_cpu += r
                        .cpu
                        .as_ref()
                        .and_then(|q| q.millicores().ok())
                        .unwrap_or(0)
                        * n;
                    want_mem += r.memory.as_ref().and_then(|q| q.bytes().ok()).unwrap_or(0) * n;
                }
            };
            for s in self
                .bp
                .services
                .values()
                .filter(|s| s.tier.as_deref() == Some(tier_name))
            {
                add(s.resources.as_ref(), u64::from(s.fixed_instances()));
            }
            for (name, d) in self
                .bp
                .datastores
                .iter()
                .filter(|(_, d)| d.tier() == Some(tier_name))
            {
                let nodes = datastore_nodes(name, d)
                    .iter()
                    .filter(|(_, role, _)| *role != "pooler")
                    .count();
                add(d.resources(), nodes as u64);
            }
            let over_cpu = want_cpu > cpu * machines;
            let over_mem = want_mem > memory * machines;
            if over_cpu || over_mem {
                let mut what = Vec::new();
                if over_cpu {
                    what.push(format!(
                        "{} CPU requested of {}",
                        crate::model::units::format_millicores(want_cpu),
                        crate::model::units::format_millicores(cpu * machines)
                    ));
                }
                if over_mem {
                    what.push(format!(
                        "{} memory requested of {}",
                        crate::model::units::format_bytes(want_mem),
                        crate::model::units::format_bytes(memory * machines)
                    ));
                }
                self.push(
                    Diagnostic::warning(
                        Code::OverCapacity,
                        Pointer::build(["tiers", tier_name.as_str(), "machine"]),
                        format!("tier `{tier_name}` does not fit what runs on it: {}", what.join(", ")),
                    )
                    .at_key()
                    .hint("give the tier more or bigger machines, or lower the requests (autoscaled services count at their `min`)"),
                );
            }
        }
    }

    /// Each instance and datastore node becomes a compose service (`api-1`,
    /// `db-replica-1`, …); two must never get the same name.
    pub(super) fn compose_names(&mut self) {
        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        let mut clashes = Vec::new();
        let mut claim = |id: String, owner: String, ptr: Pointer| {
            if let Some(first) = owners.get(&id) {
                if first != &owner {
                    clashes.push((ptr, format!("`{id}` would name both {first} and {owner}")));
                }
            } else {
                owners.insert(id, owner);
            }
        };
        for (name, s) in &self.bp.services {
            for id in instance_names(name, s.fixed_instances()) {
                claim(id, format!("service `{name}`"), service_ptr(name));
            }
        }
        for (name, store) in &self.bp.datastores {
            if self.bp.services.contains_key(name) {
                continue; // reported as `duplicate-name`
            }
            for (id, _, _) in datastore_nodes(name, store) {
                claim(id, format!("datastore `{name}`"), store_ptr(name));
            }
        }
        for (ptr, message) in clashes {
            self.push(
                Diagnostic::error(Code::NameCollision, ptr, message)
                    .at_key()
                    .hint("instances and datastore nodes are named `<name>-<n>`, `<name>-replica-<n>`, `<name>-pgbouncer`: rename one of the two"),
            );
        }
    }
}
