//! What a blueprint may ask for ([`crate::model::limits`]), counted on the located tree
//! before any costly check: a document over a limit is refused without being converted,
//! checked against the schema or typed, and the phases after the one that passes a
//! limit over all phases are not resolved at all.

use crate::check::diagnostic::{Code, Diagnostic};
use crate::model::limits::{
    MAX_COPIED_BYTES, MAX_DATASTORES, MAX_DATASTORE_NODES, MAX_HOSTS, MAX_HOSTS_PER_TIER,
    MAX_INSTANCES, MAX_PHASE_BYTES, MAX_PHASE_INSTANCES, MAX_PHASE_UNITS, MAX_PHASE_VALUES,
    MAX_ROUTES, MAX_ROUTE_COPIES, MAX_SERVICES,
};
use crate::source::pointer::Pointer;
use crate::source::yaml::{Kind, Node};

/// A count as people read it: `12,345`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn entries(node: Option<&Node>) -> usize {
    match node.map(|n| &n.kind) {
        Some(Kind::Map(e)) => e.len(),
        Some(Kind::Seq(e)) => e.len(),
        _ => 0,
    }
}

fn int(node: Option<&Node>) -> usize {
    match node.map(|n| &n.kind) {
        Some(Kind::Int(i)) => usize::try_from(*i).unwrap_or(0),
        _ => 0,
    }
}

/// The instances of a service as written: its replicas, or its autoscaler's maximum.
fn instances(service: &Node) -> usize {
    let scaling = service.get("scaling");
    let get = |k| int(scaling.and_then(|s| s.get(k)));
    get("replicas").max(get("max")).max(get("min")).max(1)
}

/// The nodes of a datastore as written: a Redis Cluster's masters and their replicas,
/// a primary and its replicas, or one.
fn nodes(store: &Node) -> usize {
    if let Some(c) = store.get("cluster") {
        return int(c.get("masters")).max(1) * (1 + int(c.get("replicas_per_master")));
    }
    1 + int(store.get("replicas"))
}

/// Services, instances and datastore nodes of one document.
fn counts(doc: &Node) -> (usize, usize, usize) {
    let mut services = 0;
    let mut all_instances = 0;
    if let Some(Kind::Map(items)) = doc.get("services").map(|n| &n.kind) {
        services = items.len();
        all_instances = items.iter().map(|(_, s)| instances(s)).sum();
    }
    let store_nodes = match doc.get("datastores").map(|n| &n.kind) {
        Some(Kind::Map(items)) => items.iter().map(|(_, d)| nodes(d)).sum(),
        _ => 0,
    };
    (services, all_instances, store_nodes)
}

fn too_many(pointer: Pointer, message: String, limit: usize, what: &str, hint: &str) -> Diagnostic {
    Diagnostic::error(Code::TooMany, pointer, message)
        .expected(format!("at most {} {what}", thousands(limit)))
        .hint(hint)
}

/// Findings for one document (the blueprint as written, or one phase's) that asks for
/// more than one phase may hold; pointers are into `doc`.
pub fn phase_limits(doc: &Node) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let split = "split the system into several blueprints, one per part that scales on its own";
    for (key, limit, what) in [
        ("services", MAX_SERVICES, "services"),
        ("datastores", MAX_DATASTORES, "datastores"),
    ] {
        let n = entries(doc.get(key));
        if n > limit {
            out.push(too_many(
                Pointer::root().child(key),
                format!(
                    "{} {what}; a phase may have {}",
                    thousands(n),
                    thousands(limit)
                ),
                limit,
                what,
                split,
            ));
        }
    }
    let (_, all_instances, store_nodes) = counts(doc);
    for (key, n, limit, what, message) in [
        ("datastores", store_nodes, MAX_DATASTORE_NODES, "datastore nodes", "datastore nodes (each Redis Cluster master and replica, each Postgres primary and replica)"),
        ("services", all_instances, MAX_INSTANCES, "service instances", "service instances (each service's replicas, or its autoscaler's maximum)"),
    ] {
        if n > limit && out.is_empty() {
            out.push(too_many(
                Pointer::root().child(key),
                format!("{} {message}; a phase may have {}", thousands(n), thousands(limit)),
                limit,
                what,
                split,
            ));
        }
    }
    let routes = doc.get("balancer").and_then(|b| b.get("routes"));
    let n = entries(routes);
    if matches!(routes.map(|r| &r.kind), Some(Kind::Seq(_))) && n > MAX_ROUTES {
        out.push(too_many(
            Pointer::from("/balancer/routes").child(MAX_ROUTES),
            format!(
                "{} routes; a balancer may have {} (this is the first one over)",
                thousands(n),
                thousands(MAX_ROUTES)
            ),
            MAX_ROUTES,
            "routes",
            "route by prefix: one route for `/api` covers every path under it",
        ));
    }
    if let Some(Kind::Map(tiers)) = doc.get("tiers").map(|t| &t.kind) {
        let mut all = 0;
        for (tier, body) in tiers.iter() {
            let n = entries(body.get("hosts"));
            all += n;
            if n > MAX_HOSTS_PER_TIER {
                out.push(too_many(
                    Pointer::root()
                        .child("tiers")
                        .child(&tier.name)
                        .child("hosts")
                        .child(MAX_HOSTS_PER_TIER),
                    format!(
                        "tier `{}` lists {} hosts; a tier may list {} (this is the first one over)",
                        tier.name,
                        thousands(n),
                        thousands(MAX_HOSTS_PER_TIER)
                    ),
                    MAX_HOSTS_PER_TIER,
                    "hosts in a tier",
                    "list the machines a bundle is rendered for; a larger fleet is a `count`, or Kubernetes",
                ));
            }
        }
        if all > MAX_HOSTS {
            out.push(too_many(
                Pointer::root().child("tiers"),
                format!(
                    "the tiers list {} hosts in all; a phase may have {}",
                    thousands(all),
                    thousands(MAX_HOSTS)
                ),
                MAX_HOSTS,
                "hosts",
                split,
            ));
        }
    }
    // What a phase copies is counted only when what it holds is within the limits.
    if out.is_empty() {
        copies(doc, &mut out);
    }
    out
}

/// The machines of the tier a part of the blueprint (a service, a datastore, the
/// balancer) names: the hosts its tier lists, at least one.
fn machines(doc: &Node, part: &Node) -> usize {
    let tier = match part.get("tier").map(|t| &t.kind) {
        Some(Kind::Str(t)) => t.as_str(),
        _ => return 1,
    };
    entries(
        doc.get("tiers")
            .and_then(|t| t.get(tier))
            .and_then(|t| t.get("hosts")),
    )
    .max(1)
}

/// The instances of every service a route sends to (each counted once).
fn routed_instances(doc: &Node, lb: &Node) -> usize {
    let mut routed = std::collections::BTreeSet::new();
    if let Some(Kind::Seq(routes)) = lb.get("routes").map(|r| &r.kind) {
        for r in routes.iter() {
            if let Some(Kind::Str(s)) = r.get("service").map(|n| &n.kind) {
                routed.insert(s.as_str());
            }
            if let Some(Kind::Seq(split)) = r.get("split").map(|n| &n.kind) {
                for w in split.iter() {
                    if let Some(Kind::Str(s)) = w.get("service").map(|n| &n.kind) {
                        routed.insert(s.as_str());
                    }
                }
            }
        }
    }
    let services = doc.get("services");
    routed
        .into_iter()
        .filter_map(|name| services.and_then(|s| s.get(name)))
        .map(instances)
        .sum()
}

/// The bytes of text in a tree: every scalar as written, and a few for its place.
fn text_bytes(node: &Node) -> usize {
    8 + match &node.kind {
        Kind::Str(s) => s.len(),
        Kind::Map(e) => e.iter().map(|(k, v)| k.name.len() + text_bytes(v)).sum(),
        Kind::Seq(e) => e.iter().map(text_bytes).sum(),
        _ => 0,
    }
}

/// What one phase copies into its machines' bundles: every route into each balancer
/// machine's config, every service's and datastore's text into each machine of its tier.
fn copies(doc: &Node, out: &mut Vec<Diagnostic>) {
    let mut parts: Vec<(Pointer, String, usize, usize)> = Vec::new();
    if let Some(lb) = doc.get("balancer") {
        let on = machines(doc, lb);
        let routes = entries(lb.get("routes"));
        let lines = routes + routed_instances(doc, lb);
        if lines.saturating_mul(on) > MAX_ROUTE_COPIES {
            out.push(too_many(
                Pointer::from("/balancer/routes"),
                format!(
                    "the balancer's {} routes and {} server lines (one for each instance of a routed service) are written into the config of each of its {} machines: {} lines; a phase may have {}",
                    thousands(routes),
                    thousands(lines - routes),
                    thousands(on),
                    thousands(lines.saturating_mul(on)),
                    thousands(MAX_ROUTE_COPIES)
                ),
                MAX_ROUTE_COPIES,
                "balancer lines × balancer machines",
                "fewer routes (one prefix covers every path under it), fewer instances behind the balancer, or fewer hosts in the balancer's tier",
            ));
        }
        parts.push((
            "/balancer".into(),
            "the balancer".into(),
            text_bytes(lb),
            on,
        ));
    }
    for (key, what) in [("services", "service"), ("datastores", "datastore")] {
        if let Some(Kind::Map(items)) = doc.get(key).map(|n| &n.kind) {
            for (name, body) in items.iter() {
                parts.push((
                    Pointer::root().child(key).child(&name.name),
                    format!("{what} `{}`", name.name),
                    text_bytes(body),
                    machines(doc, body),
                ));
            }
        }
    }
    let total: usize = parts.iter().map(|(_, _, b, m)| b.saturating_mul(*m)).sum();
    if total <= MAX_COPIED_BYTES {
        return;
    }
    let Some((at, what, bytes, on)) = parts.into_iter().max_by_key(|(_, _, b, m)| b * m) else {
        return;
    };
    out.push(too_many(
        at,
        format!(
            "the phase copies {} bytes of blueprint text into its machines' bundles (each part once for every host of its tier); the most is {what}: {} bytes on each of {} machines; the limit is {}",
            thousands(total),
            thousands(bytes),
            thousands(on),
            thousands(MAX_COPIED_BYTES)
        ),
        MAX_COPIED_BYTES,
        "bytes copied into one phase's bundles",
        "shorten the largest values (a long value belongs in a file the image ships, or a secret), or place the service on a tier with fewer hosts",
    ));
}

/// The YAML values (mappings, lists and scalars) of a tree, itself included.
fn values(node: &Node) -> usize {
    1 + match &node.kind {
        Kind::Map(e) => e.iter().map(|(_, v)| values(v)).sum(),
        Kind::Seq(e) => e.iter().map(values).sum(),
        _ => 0,
    }
}

/// What the phases resolved so far hold together.
#[derive(Debug, Default)]
pub struct Spent {
    units: usize,
    instances: usize,
    values: usize,
    bytes: usize,
}

impl Spent {
    /// Counts the `index`th phase's document; a finding (with a pointer into the file)
    /// when the phases up to it pass a limit over every phase.
    pub fn add(&mut self, doc: &Node, index: usize, name: &str) -> Option<Diagnostic> {
        let (services, all_instances, store_nodes) = counts(doc);
        self.units += services + store_nodes;
        self.instances += all_instances;
        self.values += values(doc);
        self.bytes += text_bytes(doc);
        let fewer = "fewer phases (each is a full copy of the blueprint), or split the system into several blueprints";
        let shorter = "shorten the largest values (a long value belongs in a file the image ships), or use fewer phases";
        let copies = "each phase is a full copy of the blueprint";
        let counts = "each phase counts its own";
        // (held, limit, what the message counts, why it adds up, expected, hint)
        let limits = [
            (
                self.units,
                MAX_PHASE_UNITS,
                "services and datastore nodes",
                counts,
                "services and datastore nodes over all phases",
                fewer,
            ),
            (
                self.instances,
                MAX_PHASE_INSTANCES,
                "service instances",
                counts,
                "service instances over all phases",
                fewer,
            ),
            (
                self.values,
                MAX_PHASE_VALUES,
                "values",
                copies,
                "values over all phases",
                fewer,
            ),
            (
                self.bytes,
                MAX_PHASE_BYTES,
                "bytes of text",
                copies,
                "bytes of text over all phases",
                shorter,
            ),
        ];
        let (held, limit, what, why, expected, hint) =
            limits.into_iter().find(|(held, limit, ..)| held > limit)?;
        Some(too_many(
            Pointer::root().child("phases").child(index).child("name"),
            format!(
                "up to phase `{name}`, the phases hold {} {what} in all ({why}); the limit is {}; later phases were not checked",
                thousands(held),
                thousands(limit)
            ),
            limit,
            expected,
            hint,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(50_001), "50,001");
        assert_eq!(thousands(4_000_000), "4,000,000");
    }
}
