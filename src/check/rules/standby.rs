//! The standby region: machines that mirror the phase's, tier by tier, on the `hosts`
//! platform, and PostgreSQL it can stream.

use std::collections::BTreeSet;

use super::tiers::canonical_host;
use super::Checker;
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::{Datastore, Ha, Platform};
use crate::source::pointer::Pointer;

impl Checker<'_> {
    pub(super) fn standby(&mut self, targets: &[Platform]) {
        let Some(standby) = &self.bp.standby else {
            return;
        };
        let ptr = Pointer::build(["standby"]);
        if !targets.contains(&Platform::Hosts) {
            self.push(
                Diagnostic::error(
                    Code::NotOnPlatform,
                    ptr.clone(),
                    "a standby region is rendered for the `hosts` platform: this phase renders none",
                )
                .at_key()
                .hint("add `hosts` to this phase's `targets`, or drop the standby here (`standby: null` in its patch)"),
            );
        }
        let region = format!("standby-{}", standby.name);
        // Every machine of the phase, however it is spelt.
        let mut primary: BTreeSet<String> = BTreeSet::new();
        for (tier, t) in &self.bp.tiers {
            for (i, host) in t.hosts.iter().enumerate() {
                primary.insert(canonical_host(host));
                if host.eq_ignore_ascii_case(&region) {
                    self.push(
                        Diagnostic::error(
                            Code::DuplicateName,
                            Pointer::build(["tiers", tier.as_str(), "hosts"]).child(i),
                            format!("machine `{host}`'s folder in the hosts bundle is the standby region's, `{region}/`"),
                        )
                        .hint("give the machine its address here, or the standby region another `name`"),
                    );
                }
            }
        }
        let hosts_ptr = ptr.child("hosts");
        for (tier, hosts) in &standby.hosts {
            let tptr = hosts_ptr.child(tier.as_str());
            let Some(t) = self.bp.tiers.get(tier) else {
                let candidates = self.bp.tiers.keys().cloned().collect();
                self.reference(tptr, "tier", tier, candidates);
                continue;
            };
            if t.hosts.is_empty() {
                self.push(
                    Diagnostic::error(
                        Code::HostsWithoutHosts,
                        tptr,
                        format!("tier `{tier}` lists no `hosts` in this phase: the standby's machines mirror a tier's, one for each of its hosts"),
                    )
                    .at_key()
                    .hint(format!("list the tier's `hosts`, or remove `{tier}` here")),
                );
                continue;
            }
            if hosts.len() != t.hosts.len() {
                self.push(
                    Diagnostic::error(
                        Code::CountMismatch,
                        tptr.clone(),
                        format!(
                            "the standby region lists {} machine{} for tier `{tier}`, which has {}",
                            hosts.len(),
                            if hosts.len() == 1 { "" } else { "s" },
                            t.hosts.len()
                        ),
                    )
                    .at_key()
                    .hint("list one standby machine for each of the tier's hosts, in the same order: machine N runs what the tier's machine N runs"),
                );
            }
            let mut seen = BTreeSet::new();
            for (i, host) in hosts.iter().enumerate() {
                let hptr = tptr.child(i);
                self.host(host, &hptr);
                let canonical = canonical_host(host);
                if primary.contains(&canonical) {
                    self.push(
                        Diagnostic::error(
                            Code::DuplicateItem,
                            hptr,
                            format!("`{host}` is one of the phase's own machines: a standby region is other machines, elsewhere"),
                        )
                        .hint("give the standby region's own machines"),
                    );
                } else if !seen.insert(canonical) {
                    self.push(Diagnostic::error(
                        Code::DuplicateItem,
                        hptr,
                        format!("host `{host}` is listed twice for tier `{tier}`"),
                    ));
                }
            }
        }
        for (tier, t) in &self.bp.tiers {
            if !t.hosts.is_empty() && !standby.hosts.contains_key(tier) {
                self.push(
                    Diagnostic::error(
                        Code::MissingField,
                        hosts_ptr.clone(),
                        format!(
                            "the standby region lists no machines for tier `{tier}` ({} host{})",
                            t.hosts.len(),
                            if t.hosts.len() == 1 { "" } else { "s" }
                        ),
                    )
                    .at_key()
                    .expected(format!("`{tier}: [ … ]` with {} address{}", t.hosts.len(), if t.hosts.len() == 1 { "" } else { "es" }))
                    .hint("the standby region is a whole copy: each tier that lists its hosts has its standby machines"),
                );
            }
        }
        for (name, store) in &self.bp.datastores {
            let Datastore::Postgres(pg) = store else {
                continue;
            };
            if pg.managed.is_some() {
                continue;
            }
            let sptr = Pointer::build(["datastores", name.as_str()]);
            if pg.ha == Ha::Auto {
                self.push(
                    Diagnostic::error(
                        Code::ConflictingFields,
                        sptr.child("ha"),
                        format!("`{name}` fails over automatically (`ha: auto`): tierform does not yet render a standby region for Patroni"),
                    )
                    .hint("keep `ha: manual` in the phases with a standby region, or drop `standby` in the phases with `ha: auto`"),
                );
            }
            if pg.backup.is_some() {
                self.push(
                    Diagnostic::error(
                        Code::ConflictingFields,
                        sptr.child("backup"),
                        format!("`{name}`'s backups run on its primary's machine: tierform does not yet render them for a standby region, whose server becomes a primary when promoted"),
                    )
                    .hint("drop `backup` in the phases with a standby region, or `standby` in the phases with backups"),
                );
            }
        }
    }
}
