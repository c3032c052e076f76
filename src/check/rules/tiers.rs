//! Tiers: their machines' sizes, their host lists, and the `hosts` platform's need for them.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::Checker;
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::units::Measure;
use crate::model::Platform;
use crate::source::pointer::Pointer;

impl Checker<'_> {
    pub(super) fn tiers(&mut self, targets: &[Platform]) {
        for (name, tier) in &self.bp.tiers {
            let ptr = Pointer::build(["tiers", name.as_str()]);
            self.quantity(
                &ptr.child("machine").child("cpu"),
                &tier.machine.cpu,
                Measure::Cpu,
            );
            self.quantity(
                &ptr.child("machine").child("memory"),
                &tier.machine.memory,
                Measure::Memory,
            );
            if let Some(disk) = &tier.machine.disk {
                self.quantity(&ptr.child("machine").child("disk"), disk, Measure::Disk);
            }
            if let (Some(count), false) = (tier.count, tier.hosts.is_empty()) {
                if count as usize != tier.hosts.len() {
                    self.push(
                        Diagnostic::error(
                            Code::CountMismatch,
                            ptr.child("count"),
                            format!(
                                "tier `{name}` has count {count} but lists {} host{}",
                                tier.hosts.len(),
                                if tier.hosts.len() == 1 { "" } else { "s" }
                            ),
                        )
                        .hint("list one host per machine, or drop `count` (it defaults to the number of hosts)"),
                    );
                }
            }
            let mut seen = BTreeSet::new();
            for (i, host) in tier.hosts.iter().enumerate() {
                let hptr = ptr.child("hosts").child(i);
                self.host(host, &hptr);
                // The same machine however it is spelt: `FD00::1` is `fd00:0::1`.
                if !seen.insert(canonical_host(host)) {
                    self.push(Diagnostic::error(
                        Code::DuplicateItem,
                        hptr,
                        format!("host `{host}` is listed twice in tier `{name}`"),
                    ));
                }
            }
        }
        // Machines listed for nothing: no bundle places anything on them, yet `plan`
        // would count and cost them.
        if !crate::model::capabilities::any_has_machines(targets) {
            if let Some((name, _)) = self.bp.tiers.iter().find(|(_, t)| !t.hosts.is_empty()) {
                let listing: Vec<&str> = self
                    .bp
                    .tiers
                    .iter()
                    .filter(|(_, t)| !t.hosts.is_empty())
                    .map(|(n, _)| n.as_str())
                    .collect();
                self.push(
                    Diagnostic::warning(
                        Code::HostsNotRendered,
                        Pointer::build(["tiers", name.as_str(), "hosts"]),
                        format!(
                            "tier{} {} list{} hosts, but no phase renders a `hosts` bundle (this one renders {}): nothing is placed on those machines, though `plan` counts them",
                            if listing.len() == 1 { "" } else { "s" },
                            listing.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                            if listing.len() == 1 { "s its" } else { " their" },
                            targets.iter().map(|t| format!("`{}`", t.as_str())).collect::<Vec<_>>().join(" and "),
                        ),
                    )
                    .at_key()
                    .hint("add `hosts` to this phase's `targets` (one bundle per machine), or drop the tiers' `hosts` here"),
                );
            }
        }
        if crate::model::capabilities::any_has_machines(targets)
            && self.bp.tiers.values().all(|t| t.hosts.is_empty())
        {
            self.push(
                Diagnostic::error(
                    Code::HostsWithoutHosts,
                    "/targets",
                    "the `hosts` platform needs at least one tier that lists its `hosts`",
                )
                .hint("add `hosts: [10.0.1.11, …]` to the tiers of this phase, or drop the `hosts` target"),
            );
        }
    }
}

impl Checker<'_> {
    /// A machine's address: an IP address (not IPv6 link-local) or a DNS name.
    pub(super) fn host(&mut self, host: &str, hptr: &Pointer) {
        if !is_host(host) {
            self.push(
                Diagnostic::error(
                    Code::InvalidHost,
                    hptr.clone(),
                    format!("`{host}` is neither an IP address nor a DNS name"),
                )
                .expected("an address like `10.0.1.11` or a name like `app-1.internal`"),
            );
        } else if is_link_local_v6(host) {
            self.push(
                Diagnostic::error(
                    Code::InvalidHost,
                    hptr.clone(),
                    format!("`{host}` is an IPv6 link-local address (fe80::/10), which names a machine only together with a network interface: nginx and HAProxy cannot listen on it as written, nor other machines reach it"),
                )
                .hint("give the machine's global or unique local address (`fd00::/8`), or its DNS name"),
            );
        }
    }
}

/// The same machine however it is spelt: `FD00::1` is `fd00:0::1`.
pub(super) fn canonical_host(host: &str) -> String {
    host.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|_| host.to_ascii_lowercase())
}

/// An address in fe80::/10, meaningful only with a zone (`fe80::1%eth0`).
fn is_link_local_v6(host: &str) -> bool {
    matches!(host.parse::<IpAddr>(), Ok(IpAddr::V6(ip)) if ip.segments()[0] & 0xffc0 == 0xfe80)
}

fn is_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    // Something shaped like an IPv4 address that does not parse is a typo, not a name.
    if host
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::is_host;

    #[test]
    fn hosts() {
        assert!(is_host("10.0.1.11"));
        assert!(is_host("::1"));
        assert!(is_host("app-1.internal"));
        assert!(!is_host("10.0.1.300"));
        assert!(!is_host("-bad.example"));
        assert!(!is_host("a..b"));
    }
}
