//! `<phase>/ARCHITECTURE.md`: a Mermaid flowchart of the phase (balancer → pools →
//! services → datastores, with instance counts and queues) and its capacity table, so
//! a reader on GitHub sees the architecture instead of reading YAML.

use crate::model::BalancerEngine;
use crate::plan::Plan;
use crate::report::capacity;
use crate::report::diff::{instances_text, shape_text};

use super::bundle::generated_header;

/// A Mermaid node id: names are `[a-z0-9-]`, ids get `_` for `-`.
fn id(prefix: &str, name: &str) -> String {
    format!("{prefix}_{}", name.replace('-', "_"))
}

/// A quoted Mermaid label. Names, paths and numbers only reach it, but quotes and the
/// characters Mermaid reads as markup are written as entities all the same.
fn label(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' => out.push_str("<br/>"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The Mermaid flowchart of a phase.
pub fn flowchart(plan: &Plan) -> String {
    let mut out = String::from("flowchart LR\n");
    out.push_str("  clients([\"clients\"])\n");
    // Tiers as subgraphs holding what runs on them.
    let mut placed: Vec<(String, String)> = Vec::new(); // (tier, node id)
    if let Some(lb) = &plan.balancer {
        let engine = match lb.engine {
            BalancerEngine::Nginx => "nginx",
            BalancerEngine::Haproxy => "HAProxy",
        };
        let mut text = format!("{engine} :{}", lb.listen);
        if let Some(t) = &lb.tls {
            text.push_str(&format!(", HTTPS :{}", t.listen));
        }
        if let Some(r) = &lb.rate_limit {
            let per = if r.per_minute { "min" } else { "s" };
            text.push_str(&format!("\n{} req/{per} per client", r.rate));
        }
        out.push_str(&format!("  lb[{}]\n", label(&text)));
        out.push_str("  clients --> lb\n");
        if let Some(t) = &lb.tier {
            placed.push((t.clone(), "lb".into()));
        }
    }
    for s in plan.services.values() {
        let autoscales =
            s.scaling.autoscaled && crate::model::capabilities::any_autoscales(&plan.platforms);
        let count = if autoscales {
            instances_text(s)
        } else {
            s.instances.to_string()
        };
        let mut text = match &s.job {
            Some(job) => format!("{}\njob: runs once\ncontent {}", s.name, job.hash),
            None => format!("{} ×{}\n{}", s.name, count, s.kind.as_str()),
        };
        if let Some(p) = s.port {
            text.push_str(&format!(" :{p}"));
        }
        if autoscales {
            text.push_str("\nautoscaled");
        }
        // A job's node has the shape of a one-off step.
        let (open, close) = if s.job.is_some() {
            ("[/", "/]")
        } else {
            ("[", "]")
        };
        out.push_str(&format!(
            "  {}{open}{}{close}\n",
            id("svc", &s.name),
            label(&text)
        ));
        if let Some(t) = &s.tier {
            placed.push((t.clone(), id("svc", &s.name)));
        }
    }
    for d in plan.datastores.values() {
        let text = format!("{}\n{} {}\n{}", d.name, d.engine, d.version, shape_text(d));
        out.push_str(&format!("  {}[({})]\n", id("ds", &d.name), label(&text)));
        if let Some(t) = &d.tier {
            placed.push((t.clone(), id("ds", &d.name)));
        }
    }
    for (name, t) in &plan.tiers {
        let members: Vec<&String> = placed
            .iter()
            .filter(|(tier, _)| tier == name)
            .map(|(_, n)| n)
            .collect();
        if members.is_empty() {
            continue;
        }
        let text = format!(
            "tier {name}: {} × {} CPU, {}",
            t.count,
            crate::model::units::format_millicores(t.cpu_millis),
            crate::model::units::format_bytes(t.memory_bytes)
        );
        out.push_str(&format!(
            "  subgraph {}[{}]\n",
            id("tier", name),
            label(&text)
        ));
        for m in members {
            out.push_str(&format!("    {m}\n"));
        }
        out.push_str("  end\n");
    }
    if let Some(lb) = &plan.balancer {
        for r in &lb.routes {
            for b in &r.backends {
                let text = if r.backends.len() > 1 {
                    format!("{} {}%", r.path, b.basis_points / 100)
                } else {
                    r.path.clone()
                };
                out.push_str(&format!(
                    "  lb -->|{}| {}\n",
                    label(&text),
                    id("svc", &b.pool)
                ));
            }
        }
    }
    // What waits for a job: a dotted arrow from the job, "before".
    for s in plan.services.values() {
        for job in s.after.iter().filter(|j| plan.services.contains_key(*j)) {
            out.push_str(&format!(
                "  {} -. before .-> {}\n",
                id("svc", job),
                id("svc", &s.name)
            ));
        }
    }
    for s in plan.services.values() {
        for u in &s.uses {
            if !plan.datastores.contains_key(u) {
                continue;
            }
            match &s.queue {
                Some(q) if &q.broker == u => out.push_str(&format!(
                    "  {} -. {} .-> {}\n",
                    id("svc", &s.name),
                    label(&format!("queue {}", q.name)),
                    id("ds", u)
                )),
                _ => out.push_str(&format!("  {} --> {}\n", id("svc", &s.name), id("ds", u))),
            }
        }
        if let Some(q) = &s.queue {
            if !s.uses.contains(&q.broker) && plan.datastores.contains_key(&q.broker) {
                out.push_str(&format!(
                    "  {} -. {} .-> {}\n",
                    id("svc", &s.name),
                    label(&format!("queue {}", q.name)),
                    id("ds", &q.broker)
                ));
            }
        }
    }
    out
}

/// The whole ARCHITECTURE.md of a phase.
pub fn render(plan: &Plan) -> String {
    let mut out = format!("<!-- {} -->\n\n", generated_header(plan));
    out.push_str(&format!("# {}: phase `{}`\n\n", plan.blueprint, plan.phase));
    out.push_str("```mermaid\n");
    out.push_str(&flowchart(plan));
    out.push_str("```\n\n");
    out.push_str(&capacity::markdown(
        &capacity::capacity(plan),
        "## Capacity of",
    ));
    out
}
