//! The capacity plan of a phase: instances, CPU and memory, machines and their monthly
//! cost, the throughput ceiling, and when to move on. Shown by `tierform plan` and in
//! each phase's ARCHITECTURE.md.

use serde::Serialize;

use crate::model::units::{format_bandwidth, format_bytes, format_disk, format_millicores};
use crate::model::Condition;
use crate::plan::{DatastorePlan, Plan, ResourcesPlan};
use crate::report::diff::{instances_text, shape_text};

/// One phase's capacity.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseCapacity {
    pub phase: String,
    pub description: Option<String>,
    pub platforms: Vec<String>,
    pub services: Vec<Row>,
    pub datastores: Vec<Row>,
    /// Prometheus, where `monitoring.resources` budgets it and the phase runs it
    /// (compose, hosts); counted in `totals`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<Row>,
    pub tiers: Vec<TierRow>,
    /// Totals over services, datastores and a budgeted Prometheus, at their fewest
    /// instances.
    pub totals: Totals,
    /// Monthly cost of the machines, when every tier names its cost.
    pub monthly_cost: Option<f64>,
    /// The same with every node pool a cluster autoscaler grows at its most nodes,
    /// where one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_cost_max: Option<f64>,
    /// Requests per second the routed services can take at their most instances, when
    /// a requests-per-second target is known.
    #[serde(rename = "throughput_ceiling_requests_per_second")]
    pub throughput_ceiling: Option<u64>,
    /// The conditions for entering this phase (watched in the one before), as text.
    pub enter_when: Vec<String>,
    /// The conditions for moving back to the phase before (watched in this one).
    pub leave_when: Vec<String>,
    /// The phase before, where `leave_when` points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// What this phase should hold to (each an alert when missed), as text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<String>,
}

/// A service or a datastore.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    /// `http`, `worker`…, or the engine and its shape for a datastore.
    pub kind: String,
    /// `3`, or `3–20` when autoscaled: the text of `min_instances` and `max_instances`.
    #[serde(rename = "instances_text")]
    pub instances: String,
    pub min_instances: u32,
    pub max_instances: u32,
    /// Per instance, in millicores and bytes (`null` in JSON when not set).
    #[serde(rename = "cpu_request_millicores", serialize_with = "zero_as_null")]
    pub cpu_request: u64,
    #[serde(rename = "cpu_limit_millicores", serialize_with = "zero_as_null")]
    pub cpu_limit: u64,
    #[serde(rename = "memory_request_bytes", serialize_with = "zero_as_null")]
    pub memory_request: u64,
    #[serde(rename = "memory_limit_bytes", serialize_with = "zero_as_null")]
    pub memory_limit: u64,
    /// requests_per_second target × the most instances.
    #[serde(rename = "throughput_requests_per_second")]
    pub throughput: Option<u64>,
    /// A managed datastore's monthly cost (the provider's), when the blueprint gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_cost: Option<f64>,
    /// The GPUs each instance takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<crate::model::Gpu>,
}

fn zero_as_null<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    if *v == 0 {
        s.serialize_none()
    } else {
        s.serialize_u64(*v)
    }
}

/// A tier's machines.
#[derive(Debug, Clone, Serialize)]
pub struct TierRow {
    pub name: String,
    /// The standby region whose copy of the tier this is (`standby`), else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub machines: u32,
    /// Each machine's, in millicores and bytes.
    #[serde(rename = "cpu_millicores")]
    pub cpu: u64,
    #[serde(rename = "memory_bytes")]
    pub memory: u64,
    /// Each machine's disk, where the blueprint states it.
    #[serde(rename = "disk_bytes", skip_serializing_if = "Option::is_none")]
    pub disk: Option<u64>,
    /// Each machine's network bandwidth, where the blueprint states it.
    #[serde(
        rename = "network_bits_per_second",
        skip_serializing_if = "Option::is_none"
    )]
    pub network: Option<u64>,
    pub cost_per_machine: Option<f64>,
    pub monthly_cost: Option<f64>,
    /// The most machines, where a cluster autoscaler grows the tier's node pool
    /// (`pool.max_nodes`), and what they cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_machines: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_cost_max: Option<f64>,
    /// Each machine's GPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<crate::model::Gpu>,
    /// Its Kubernetes node pool: the labels its pods select and the taints they
    /// tolerate, as `key=value` and `key=value:Effect`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolRow>,
}

/// A tier's node pool on Kubernetes.
#[derive(Debug, Clone, Serialize)]
pub struct PoolRow {
    pub labels: Vec<String>,
    pub taints: Vec<String>,
    /// The nodes its pods need, by their requests packed first-fit on nodes of the
    /// tier's size, at their fewest and their most instances (a node's reserve for
    /// the system and its DaemonSets not counted); `None` where a pod is larger than a
    /// node, or the phase is not rendered for Kubernetes.
    pub nodes_needed_min: Option<u32>,
    /// Whether the phase is rendered for Kubernetes, where the pool means something.
    pub kubernetes: bool,
    pub nodes_needed_max: Option<u32>,
}

/// Sums at the fewest and the most instances, in millicores and bytes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    #[serde(rename = "cpu_request_millicores_min")]
    pub cpu_request_min: u64,
    #[serde(rename = "cpu_request_millicores_max")]
    pub cpu_request_max: u64,
    #[serde(rename = "cpu_limit_millicores_max")]
    pub cpu_limit_max: u64,
    #[serde(rename = "memory_request_bytes_min")]
    pub memory_request_min: u64,
    #[serde(rename = "memory_request_bytes_max")]
    pub memory_request_max: u64,
    #[serde(rename = "memory_limit_bytes_max")]
    pub memory_limit_max: u64,
    /// GPUs taken, at the fewest and the most instances.
    #[serde(skip_serializing_if = "is_zero")]
    pub gpus_min: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub gpus_max: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn row(
    name: &str,
    kind: String,
    instances: String,
    min: u32,
    max: u32,
    r: &ResourcesPlan,
    throughput: Option<u64>,
) -> Row {
    Row {
        name: name.to_string(),
        kind,
        instances,
        min_instances: min,
        max_instances: max,
        cpu_request: r.cpu_millis,
        cpu_limit: r.cpu_limit_millis,
        memory_request: r.memory_bytes,
        memory_limit: r.memory_limit_bytes,
        throughput,
        gpu: r.gpu,
        monthly_cost: None,
    }
}

/// How many servers a datastore runs (its poolers, router and etcd aside): a Redis cluster's masters and
/// replicas, PostgreSQL's primary and replicas.
pub fn server_nodes(d: &DatastorePlan) -> u32 {
    d.nodes.values().next().map_or(1, |n| {
        n.iter().filter(|n| n.role.is_server()).count() as u32
    })
}

/// The capacity of one resolved phase.
pub fn capacity(plan: &Plan) -> PhaseCapacity {
    let mut services = Vec::new();
    for s in plan.services.values() {
        // A job runs once, before what waits for it: no steady capacity.
        if s.job.is_some() {
            services.push(row(
                &s.name,
                s.kind.as_str().to_string(),
                "0 (runs once to completion: no steady capacity)".to_string(),
                0,
                0,
                &s.resources,
                None,
            ));
            continue;
        }
        let (min, max) = if s.scaling.autoscaled {
            (s.scaling.min, s.scaling.max)
        } else {
            (s.instances, s.instances)
        };
        let throughput = s
            .scaling
            .requests_per_second
            .filter(|_| s.kind.is_routable())
            .map(|r| u64::from(r) * u64::from(max));
        // Platforms without an autoscaler run the fewest instances.
        let autoscales = crate::model::capabilities::any_autoscales(&plan.platforms);
        let (instances, max) = if s.scaling.autoscaled && !autoscales {
            (
                format!(
                    "{} (no autoscaler here; {} on kubernetes)",
                    s.instances,
                    instances_text(s)
                ),
                s.instances,
            )
        } else {
            (instances_text(s), max)
        };
        let throughput = throughput
            .map(|_| u64::from(s.scaling.requests_per_second.unwrap_or(0)) * u64::from(max));
        services.push(row(
            &s.name,
            s.kind.as_str().to_string(),
            instances,
            min,
            max,
            &s.resources,
            throughput,
        ));
    }
    let mut datastores = Vec::new();
    for d in plan.datastores.values() {
        let nodes = server_nodes(d);
        datastores.push(row(
            &d.name,
            format!("{} {}, {}", d.engine, d.version, shape_text(d)),
            nodes.to_string(),
            nodes,
            nodes,
            &d.resources,
            None,
        ));
    }
    // A provider's datastore: no server here, its cost from the blueprint.
    for m in plan.managed.values() {
        let mut r = row(
            &m.name,
            format!("{}, managed at {}", m.engine, m.host),
            "– (the provider's)".to_string(),
            0,
            0,
            &ResourcesPlan::default(),
            None,
        );
        r.monthly_cost = m.cost_per_month;
        datastores.push(r);
    }
    datastores.sort_by(|a, b| a.name.cmp(&b.name));
    // One Prometheus for the phase (each bundle, compose or hosts, runs its own copy of
    // the phase), where the blueprint budgets it.
    let homes: Vec<(crate::model::Platform, &crate::plan::scrape::MonitoringHome)> = plan
        .scrape
        .iter()
        .filter_map(|(p, s)| Some((*p, s.home.as_ref().filter(|h| h.budgeted)?)))
        .collect();
    let monitoring = homes.first().map(|(_, home)| {
        let on: Vec<&str> = homes.iter().map(|(p, _)| p.as_str()).collect();
        row(
            "prometheus",
            format!("monitoring, on {}", and_list(&on)),
            "1".to_string(),
            1,
            1,
            &home.prometheus_resources,
            None,
        )
    });
    let mut totals = Totals::default();
    for r in services.iter().chain(&datastores).chain(&monitoring) {
        let (min, max) = (u64::from(r.min_instances), u64::from(r.max_instances));
        totals.cpu_request_min += r.cpu_request * min;
        totals.cpu_request_max += r.cpu_request * max;
        totals.cpu_limit_max += r.cpu_limit * max;
        totals.memory_request_min += r.memory_request * min;
        totals.memory_request_max += r.memory_request * max;
        totals.memory_limit_max += r.memory_limit * max;
        let gpus = u64::from(r.gpu.map_or(0, |g| g.count));
        totals.gpus_min += gpus * min;
        totals.gpus_max += gpus * max;
    }
    let on_kubernetes = plan.platforms.contains(&crate::model::Platform::Kubernetes);
    let tiers: Vec<TierRow> = plan
        .tiers
        .iter()
        .map(|(name, t)| {
            // The most nodes a cluster autoscaler grows the pool to, on Kubernetes.
            let max_machines = t
                .pool
                .as_ref()
                .and_then(|p| p.max_nodes)
                .filter(|_| on_kubernetes);
            TierRow {
                name: name.clone(),
                region: None,
                machines: t.count,
                cpu: t.cpu_millis,
                memory: t.memory_bytes,
                disk: t.disk_bytes,
                network: t.network_bps,
                cost_per_machine: t.cost_per_month,
                monthly_cost: t.cost_per_month.map(|c| c * f64::from(t.count)),
                max_machines,
                monthly_cost_max: max_machines
                    .and_then(|m| t.cost_per_month.map(|c| c * f64::from(m))),
                gpu: t.gpu,
                pool: t.pool.as_ref().map(|p| {
                    let (min, max) = if on_kubernetes {
                        let [min, max] = [false, true]
                            .map(|most| crate::plan::pools::nodes_needed(plan, name, t, most));
                        (min, max)
                    } else {
                        (None, None)
                    };
                    PoolRow {
                        labels: p.labels_text(),
                        taints: p.tolerations.iter().map(|t| t.to_string()).collect(),
                        nodes_needed_min: min,
                        nodes_needed_max: max,
                        kubernetes: on_kubernetes,
                    }
                }),
            }
        })
        .collect();
    // A standby region's machines: each tier that lists its hosts, again.
    let mut tiers = tiers;
    if let Some(region) = &plan.standby {
        for (name, t) in region
            .plan
            .tiers
            .iter()
            .filter(|(_, t)| !t.hosts.is_empty())
        {
            tiers.push(TierRow {
                name: name.clone(),
                region: Some(region.name.clone()),
                machines: t.count,
                cpu: t.cpu_millis,
                memory: t.memory_bytes,
                disk: t.disk_bytes,
                network: t.network_bps,
                cost_per_machine: t.cost_per_month,
                monthly_cost: t.cost_per_month.map(|c| c * f64::from(t.count)),
                max_machines: None,
                monthly_cost_max: None,
                gpu: t.gpu,
                pool: None,
            });
        }
    }
    // The machines' and the providers' costs, when every one is known.
    let costs: Vec<Option<f64>> = tiers
        .iter()
        .map(|t| t.monthly_cost)
        .chain(plan.managed.values().map(|m| m.cost_per_month))
        .collect();
    let monthly_cost: Option<f64> = if !costs.is_empty() && costs.iter().all(Option::is_some) {
        Some(costs.iter().flatten().sum())
    } else {
        None
    };
    let monthly_cost_max = monthly_cost
        .filter(|_| tiers.iter().any(|t| t.monthly_cost_max.is_some()))
        .map(|fewest| {
            fewest
                + tiers
                    .iter()
                    .filter_map(|t| Some(t.monthly_cost_max? - t.monthly_cost?))
                    .sum::<f64>()
        });
    let ceilings: Vec<u64> = services.iter().filter_map(|r| r.throughput).collect();
    PhaseCapacity {
        phase: plan.phase.clone(),
        description: plan.description.clone(),
        platforms: plan
            .platforms
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        services,
        datastores,
        monitoring,
        tiers,
        totals,
        monthly_cost,
        monthly_cost_max,
        throughput_ceiling: (!ceilings.is_empty()).then(|| ceilings.iter().sum()),
        enter_when: plan
            .enter_when
            .iter()
            .map(|c| condition_line(c, plan.watch.previous.is_some()))
            .collect(),
        leave_when: plan
            .watch
            .leave_when
            .iter()
            .map(|c| condition_line(c, true))
            .collect(),
        previous: plan.watch.previous.clone(),
        objectives: plan
            .watch
            .objectives
            .iter()
            .map(|o| o.objective_line())
            .collect(),
    }
}

/// A tier's node pool cells: `a=b, c=d; gpu=x:NoSchedule`, and the nodes its pods
/// need (`2–5`).
fn pool_cells(pool: Option<&PoolRow>, machines: u32) -> [String; 2] {
    let Some(p) = pool else {
        return ["–".into(), "–".into()];
    };
    let mut selects = p.labels.join(", ");
    if !p.taints.is_empty() {
        selects.push_str(&format!("; {}", p.taints.join(", ")));
    }
    let needed = match (p.nodes_needed_min, p.nodes_needed_max) {
        (Some(a), Some(b)) => {
            let mut text = if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            };
            if b > machines {
                text.push_str(&format!(" (more than its {machines})"));
            }
            text
        }
        (Some(a), None) => format!("{a}–? (a pod at the most is larger than a node)"),
        _ if !p.kubernetes => "– (not on Kubernetes in this phase)".into(),
        (None, _) => "? (a pod is larger than a node)".into(),
    };
    [selects, needed]
}

/// A condition as `plan` shows it: a signal is an alert where a phase watches it;
/// text is for people.
fn condition_line(c: &Condition, watched: bool) -> String {
    match c {
        Condition::Signal(s) if watched => format!("{s} (alert)"),
        Condition::Signal(s) => {
            format!("{s} (not watched: no rules rendered where it is measured)")
        }
        Condition::Text(t) => format!("{t} (not measured)"),
    }
}

fn cpu(m: u64) -> String {
    if m == 0 {
        "–".into()
    } else {
        format_millicores(m)
    }
}

fn mem(b: u64) -> String {
    if b == 0 {
        "–".into()
    } else {
        format_bytes(b)
    }
}

/// Millicores as cores, to a tenth: `14.5`.
fn cores(m: u64) -> String {
    let s = format!("{:.1}", m as f64 / 1000.0);
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// Bytes in GiB to a tenth, or MiB under 1 GiB: `53.5Gi`, `640Mi`.
fn gib(b: u64) -> String {
    const MI: f64 = 1024.0 * 1024.0;
    if (b as f64) < 1024.0 * MI {
        format!("{}Mi", (b as f64 / MI).round())
    } else {
        let s = format!("{:.1}", b as f64 / (1024.0 * MI));
        format!("{}Gi", s.strip_suffix(".0").unwrap_or(&s))
    }
}

fn money(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// A row's first cells, the same in both tables: name, kind, count, CPU, memory.
fn cells(r: &Row) -> Vec<String> {
    let [cpu, memory] = sizes(r);
    vec![
        r.name.clone(),
        r.kind.clone(),
        r.instances.clone(),
        cpu,
        memory,
    ]
}

/// The request / limit cells of a row: `200m / 500m` and `256Mi / 512Mi`.
fn sizes(r: &Row) -> [String; 2] {
    [
        format!("{} / {}", cpu(r.cpu_request), cpu(r.cpu_limit)),
        format!("{} / {}", mem(r.memory_request), mem(r.memory_limit)),
    ]
}

/// Text from the blueprint as Markdown prose: a line that would open a code block (or
/// a chart) has its fence escaped, so the text cannot turn what follows into code.
fn prose(text: &str) -> String {
    text.lines()
        .map(|line| {
            let body = line.trim_start();
            if body.starts_with("```") || body.starts_with("~~~") {
                format!("{}\\{body}", &line[..line.len() - body.len()])
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A part of one phase's report: lines as they are, or a table.
enum Block {
    /// Whole lines, each ending in a newline.
    Lines(String),
    Table {
        head: Vec<&'static str>,
        rows: Vec<Vec<String>>,
    },
}

/// One phase's report, in order, for [`markdown`] and [`text`] to lay out.
fn blocks(c: &PhaseCapacity, heading: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = format!("{heading} {}\n\n", c.phase);
    if let Some(d) = &c.description {
        lines.push_str(&format!("{}\n\n", prose(d.trim())));
    }
    lines.push_str(&format!("Platforms: {}.\n\n", c.platforms.join(", ")));
    out.push(Block::Lines(lines));
    // GPUs get a column where something takes one.
    let gpus = c.services.iter().any(|r| r.gpu.is_some());
    let mut head = vec![
        "service",
        "kind",
        "instances",
        "cpu request / limit",
        "memory request / limit",
    ];
    if gpus {
        head.push("gpus each");
    }
    head.push("throughput ceiling");
    out.push(Block::Table {
        head,
        rows: c
            .services
            .iter()
            .map(|r| {
                let mut cells = cells(r);
                if gpus {
                    cells.push(r.gpu.map_or("–".into(), |g| g.to_string()));
                }
                cells.push(r.throughput.map_or("–".into(), |t| format!("{t} req/s")));
                cells
            })
            .collect(),
    });
    if !c.datastores.is_empty() {
        out.push(Block::Lines("\n".into()));
        out.push(Block::Table {
            head: vec![
                "datastore",
                "engine",
                "nodes",
                "cpu request / limit",
                "memory request / limit",
            ],
            rows: c.datastores.iter().map(cells).collect(),
        });
    }
    if let Some(m) = &c.monitoring {
        out.push(Block::Lines("\n".into()));
        out.push(Block::Table {
            head: vec![
                "monitoring",
                "kind",
                "instances",
                "cpu request / limit",
                "memory request / limit",
            ],
            rows: vec![cells(m)],
        });
    }
    let t = &c.totals;
    let range = |a: String, b: String| if a == b { a } else { format!("{a}–{b}") };
    let mut lines = format!(
        "\nTotal requests: {} CPU, {} memory",
        range(cores(t.cpu_request_min), cores(t.cpu_request_max)),
        range(gib(t.memory_request_min), gib(t.memory_request_max)),
    );
    if t.gpus_max > 0 {
        lines.push_str(&format!(
            ", {} GPU{}",
            range(t.gpus_min.to_string(), t.gpus_max.to_string()),
            if t.gpus_max == 1 { "" } else { "s" }
        ));
    }
    // Only what something sets: no `0 CPU` where no CPU limit is set.
    let mut limits = Vec::new();
    if t.cpu_limit_max > 0 {
        limits.push(format!("{} CPU", cores(t.cpu_limit_max)));
    }
    if t.memory_limit_max > 0 {
        limits.push(gib(t.memory_limit_max));
    }
    if !limits.is_empty() {
        // What sets no limit at all is bounded by nothing: name it, rather than give
        // a total of limits that reads as the phase's ceiling.
        let unbounded: Vec<&str> = c
            .services
            .iter()
            .chain(&c.datastores)
            .chain(&c.monitoring)
            // A datastore a provider runs (no instances here) takes nothing of the
            // phase's machines.
            .filter(|r| r.max_instances > 0 && r.cpu_limit == 0 && r.memory_limit == 0)
            .map(|r| r.name.as_str())
            .collect();
        match unbounded.as_slice() {
            [] => lines.push_str(&format!(" (limits up to {})", limits.join(", "))),
            names => lines.push_str(&format!(
                " (limits up to {} where set; {} set{} none)",
                limits.join(", "),
                and_list(names),
                if names.len() == 1 { "s" } else { "" }
            )),
        }
    }
    lines.push_str(", counting what sets them.\n");
    if !c.tiers.is_empty() {
        lines.push('\n');
    }
    out.push(Block::Lines(lines));
    if !c.tiers.is_empty() {
        // Node pools get their columns where a tier has one.
        let pools = c.tiers.iter().any(|r| r.pool.is_some());
        let mut head = vec!["tier", "machines", "each", "cost per machine", "per month"];
        if pools {
            head.extend(["node pool (labels; taints)", "nodes its pods need"]);
        }
        out.push(Block::Table {
            head,
            rows: c
                .tiers
                .iter()
                .map(|r| {
                    let mut each = format!("{} CPU, {}", cpu(r.cpu), mem(r.memory));
                    if let Some(d) = r.disk {
                        each.push_str(&format!(", {} disk", format_disk(d)));
                    }
                    if let Some(n) = r.network {
                        each.push_str(&format!(", {} network", format_bandwidth(n)));
                    }
                    if let Some(g) = r.gpu {
                        each.push_str(&format!(", {g}"));
                    }
                    let machines = match r.max_machines {
                        Some(m) => format!("{}–{m}", r.machines),
                        None => r.machines.to_string(),
                    };
                    let monthly = match (r.monthly_cost, r.monthly_cost_max) {
                        (Some(a), Some(b)) => format!("{}–{}", money(a), money(b)),
                        (Some(a), None) => money(a),
                        _ => "–".into(),
                    };
                    let name = match &r.region {
                        Some(region) => format!("{} (standby {region})", r.name),
                        None => r.name.clone(),
                    };
                    let mut row = vec![
                        name,
                        machines,
                        each,
                        r.cost_per_machine.map_or("–".into(), money),
                        monthly,
                    ];
                    if pools {
                        row.extend(pool_cells(
                            r.pool.as_ref(),
                            r.max_machines.unwrap_or(r.machines),
                        ));
                    }
                    row
                })
                .collect(),
        });
    }
    let mut lines = String::from("\n");
    if c.tiers
        .iter()
        .any(|t| t.pool.as_ref().is_some_and(|p| p.kubernetes))
    {
        lines.push_str("Nodes its pods need: their requests (defaults where unset, a job's at the most) packed first-fit on nodes of the tier's size, a PostgreSQL's servers on nodes of their own; each node's system reserve, DaemonSets and a rollout's extra pods are not counted.\n");
    }
    let providers: Vec<String> = c
        .datastores
        .iter()
        .filter(|r| r.kind.contains(", managed at "))
        .map(|r| {
            format!(
                "{} {}",
                r.name,
                r.monthly_cost.map_or("unknown".into(), money)
            )
        })
        .collect();
    let with = if providers.is_empty() {
        String::new()
    } else {
        format!(" (with the providers': {})", providers.join(", "))
    };
    match c.monthly_cost {
        Some(m) => lines.push_str(&format!(
            "Monthly cost: {}{with}.\n",
            match c.monthly_cost_max {
                Some(most) => format!(
                    "{}–{} (the node pools from their fewest to their most nodes)",
                    money(m),
                    money(most)
                ),
                None => money(m),
            }
        )),
        None if !c.tiers.is_empty() || !providers.is_empty() => {
            let tier = c.tiers.iter().any(|t| t.monthly_cost.is_none());
            let why = if tier {
                "a tier has no `cost_per_month`"
            } else {
                "a managed datastore has no `cost_per_month`"
            };
            lines.push_str(&format!("Monthly cost: unknown ({why}){with}.\n"))
        }
        None => {}
    }
    if let Some(t) = c.throughput_ceiling {
        lines.push_str(&format!(
            "Throughput ceiling: {t} requests/s (target × most instances).\n"
        ));
    }
    if !c.enter_when.is_empty() {
        lines.push_str("\nMove to this phase when:\n");
        for w in &c.enter_when {
            lines.push_str(&format!("- {w}\n"));
        }
    }
    if let (Some(previous), false) = (&c.previous, c.leave_when.is_empty()) {
        lines.push_str(&format!(
            "\nMove back to {previous} when all of these hold:\n"
        ));
        for w in &c.leave_when {
            lines.push_str(&format!("- {w}\n"));
        }
    }
    if !c.objectives.is_empty() {
        lines.push_str("\nObjectives (an alert when one is missed):\n");
        for o in &c.objectives {
            lines.push_str(&format!("- {o}\n"));
        }
    }
    out.push(Block::Lines(lines));
    out
}

/// The tables of one phase, as Markdown (also readable as plain text).
pub fn markdown(c: &PhaseCapacity, heading: &str) -> String {
    let mut out = String::new();
    for block in blocks(c, heading) {
        match block {
            Block::Lines(lines) => out.push_str(&lines),
            Block::Table { head, rows } => {
                out.push_str(&format!("| {} |\n", head.join(" | ")));
                out.push('|');
                out.push_str(&"---|".repeat(head.len()));
                out.push('\n');
                for row in rows {
                    out.push_str(&format!("| {} |\n", row.join(" | ")));
                }
            }
        }
    }
    out
}

/// The tables of one phase for a terminal: each table's columns aligned, two spaces
/// apart, indented by two.
pub fn text(c: &PhaseCapacity, heading: &str) -> String {
    let mut out = String::new();
    for block in blocks(c, heading) {
        match block {
            Block::Lines(lines) => out.push_str(&lines),
            Block::Table { head, rows } => {
                let rows: Vec<Vec<&str>> = std::iter::once(head.to_vec())
                    .chain(rows.iter().map(|r| r.iter().map(|c| c.trim()).collect()))
                    .collect();
                let widths: Vec<usize> = (0..head.len())
                    .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
                    .collect();
                for row in rows {
                    let cells: Vec<String> = row
                        .iter()
                        .zip(&widths)
                        .map(|(cell, w)| format!("{cell:<w$}"))
                        .collect();
                    out.push_str("  ");
                    out.push_str(cells.join("  ").trim_end());
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
