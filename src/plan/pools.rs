//! Node pools on Kubernetes: the pods a tier's pool runs and the nodes of its size
//! their requests fill, which `plan` shows and validation compares with the tier's
//! `count`.

use super::{Plan, ResourcesPlan};

/// One pod a node pool runs: what it requests (millicores, bytes, GPUs) and the
/// datastore whose pods must each be on a node of their own (its StatefulSet's
/// anti-affinity), if any.
type Pod<'a> = (u64, u64, u32, Option<&'a str>);

/// The pods a tier's node pool runs on Kubernetes at the fewest or the most
/// instances: its services' (its jobs' too, at the most), its datastores' servers and
/// poolers, the balancer's.
pub fn pool_pods<'a>(plan: &'a Plan, tier: &str, most: bool) -> Vec<Pod<'a>> {
    let on = |t: &Option<String>| t.as_deref() == Some(tier);
    let pod = |r: &ResourcesPlan, apart: Option<&'a str>| {
        (
            r.cpu_millis,
            r.memory_bytes,
            r.gpu.map_or(0, |g| g.count),
            apart,
        )
    };
    let mut pods = Vec::new();
    for s in plan
        .services
        .values()
        .filter(|s| on(&s.tier) && s.job.is_none())
    {
        let n = match (s.scaling.autoscaled, most) {
            (true, true) => s.scaling.max,
            (true, false) => s.scaling.min,
            (false, _) => s.instances,
        };
        pods.extend(std::iter::repeat_n(pod(&s.reserved, None), n as usize));
    }
    // A job holds its pod while it runs, beside what is already there (a release's
    // migration next to the old pods): counted at the most.
    if most {
        for s in plan
            .services
            .values()
            .filter(|s| on(&s.tier) && s.job.is_some())
        {
            pods.push(pod(&s.reserved, None));
        }
    }
    for d in plan.datastores.values().filter(|d| on(&d.tier)) {
        let servers = d
            .nodes
            .get(&crate::model::Platform::Kubernetes)
            .map_or(0, |n| n.iter().filter(|n| n.role.is_server()).count());
        // A spread of skew 1 fits any number of nodes; anti-affinity needs one each.
        let apart =
            (d.kubernetes.spread == crate::plan::Spread::OwnNode).then_some(d.name.as_str());
        pods.extend(std::iter::repeat_n(
            pod(&d.server_resources, apart),
            servers,
        ));
        if let crate::plan::EnginePlan::Postgres(pg) = &d.engine {
            if let Some(pooler) = &pg.pooler {
                pods.extend(std::iter::repeat_n(
                    pod(&pooler.resources, None),
                    pooler.kubernetes_replicas as usize,
                ));
            }
        }
    }
    if let Some(lb) = plan.balancer.as_ref().filter(|lb| on(&lb.tier)) {
        pods.extend(std::iter::repeat_n(
            pod(&lb.resources, None),
            lb.replicas as usize,
        ));
    }
    pods
}

/// The nodes of a tier's size its pods need, packed first-fit from the largest (by
/// GPUs, then CPU, then memory), a datastore's servers on nodes of their own; `None`
/// when one is larger than a node.
pub fn nodes_needed(plan: &Plan, tier: &str, t: &crate::plan::TierPlan, most: bool) -> Option<u32> {
    let size = (t.cpu_millis, t.memory_bytes, t.gpu.map_or(0, |g| g.count));
    let mut pods = pool_pods(plan, tier, most);
    pods.sort_by_key(|p| std::cmp::Reverse((p.2, p.0, p.1)));
    // Each node's free CPU, memory and GPUs, and the datastores it holds a server of.
    type Node<'a> = ((u64, u64, u32), Vec<&'a str>);
    let mut nodes: Vec<Node> = Vec::new();
    for (cpu, mem, gpu, apart) in pods {
        if cpu > size.0 || mem > size.1 || gpu > size.2 {
            return None;
        }
        let fits = |(free, held): &&mut Node| {
            free.0 >= cpu
                && free.1 >= mem
                && free.2 >= gpu
                && apart.is_none_or(|a| !held.contains(&a))
        };
        let node = match nodes.iter_mut().find(|n| fits(n)) {
            Some(n) => n,
            None => {
                nodes.push((size, Vec::new()));
                nodes.last_mut().expect("just pushed")
            }
        };
        node.0 = (node.0 .0 - cpu, node.0 .1 - mem, node.0 .2 - gpu);
        node.1.extend(apart);
    }
    Some(nodes.len() as u32)
}

/// Warnings for the node pools, each with its tier, of a phase rendered for Kubernetes whose `count` cannot
/// hold their pods: at their fewest instances (some stay Pending), or at their most
/// (the autoscalers stop short, unless a cluster autoscaler adds nodes).
pub fn findings(
    bp: &crate::model::Blueprint,
    targets: &[crate::model::Platform],
) -> Vec<(String, crate::check::diagnostic::Diagnostic)> {
    use crate::check::code::Code;
    use crate::check::diagnostic::Diagnostic;
    use crate::source::pointer::Pointer;
    if !targets.contains(&crate::model::Platform::Kubernetes)
        || bp.tiers.values().all(|t| t.pool.is_none())
    {
        return Vec::new();
    }
    let phase = crate::check::validate::ResolvedPhase {
        name: String::new(),
        description: None,
        enter_when: Vec::new(),
        leave_when: Vec::new(),
        objectives: Vec::new(),
        previous: None,
        next: None,
        targets: targets.to_vec(),
        blueprint: bp.clone(),
        name_at: None,
    };
    // A phase the plan cannot resolve has its errors reported elsewhere.
    let Ok(plan) = super::resolve(&bp.name, &phase) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, t) in plan.tiers.iter().filter(|(_, t)| t.pool.is_some()) {
        let [fewest, most] = [false, true].map(|m| nodes_needed(&plan, name, t, m));
        let most_nodes = t.pool.as_ref().and_then(|p| p.max_nodes).unwrap_or(t.count);
        let at = Pointer::build(["tiers", name.as_str(), "count"]);
        let nodes = |n: u32| format!("{n} node{}", if n == 1 { "" } else { "s" });
        let finding = match (fewest, most) {
            (None, _) => Some(
                Diagnostic::warning(
                    Code::OverCapacity,
                    Pointer::build(["tiers", name.as_str(), "machine"]),
                    format!("a pod on tier `{name}` asks for more CPU, memory or GPUs than one of its nodes has: it stays Pending"),
                )
                .hint("give the tier bigger machines, or lower the pod's requests"),
            ),
            (Some(n), _) if n > t.count => Some(
                Diagnostic::warning(
                    Code::OverCapacity,
                    at,
                    format!("tier `{name}`'s node pool has {} but its pods fill {} at their fewest instances (requests packed, a PostgreSQL's servers apart): the rest stay Pending", nodes(t.count), nodes(n)),
                )
                .hint(format!("count at least {n}, or give the tier bigger machines")),
            ),
            (_, Some(n)) if n > most_nodes => {
                let (has, at, hint) = if most_nodes > t.count {
                    (
                        format!("grows to {}", nodes(most_nodes)),
                        Pointer::build(["tiers", name.as_str(), "pool", "max_nodes"]),
                        format!("`max_nodes: {n}`"),
                    )
                } else {
                    (
                        format!("has {}", nodes(t.count)),
                        at,
                        format!("`pool: {{ max_nodes: {n} }}` for a cluster autoscaler to grow it to, or `count: {n}`"),
                    )
                };
                Some(
                    Diagnostic::warning(
                        Code::MaxOverCapacity,
                        at,
                        format!("tier `{name}`'s node pool {has} but its pods fill {} at their most (autoscalers at their maxima, jobs running): the rest wait for a node that never comes", nodes(n)),
                    )
                    .hint(hint),
                )
            }
            _ => None,
        };
        out.extend(finding.map(|d| (name.clone(), d)));
    }
    out
}
