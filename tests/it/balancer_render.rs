//! What the rendered balancer configs tell the backends and how many workers they run,
//! per platform: the forwarding port is the one clients use, and where the platform
//! limits the balancer's CPU, the workers fit the limit.

use crate::common;

use tierform::{plans, Platform, Selection};

/// The ports clients use: `balancer.listen`, and `balancer.tls.listen` with TLS.
type Ports = (u16, Option<u16>);

/// Each balancer config of every render blueprint, with its plan's client ports and
/// the platform it is for.
fn configs() -> Vec<(String, Platform, Ports, String)> {
    let mut out = Vec::new();
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        let v = tierform::validate_bytes(&std::fs::read(&path).unwrap());
        for plan in plans(&v.phases, &Selection::default()).unwrap() {
            let Some(lb) = &plan.balancer else { continue };
            let file = tierform::balancer::file_name(lb.engine);
            for (name, text) in set.iter() {
                if !name.starts_with(&format!("{}/", plan.phase)) || !name.ends_with(file) {
                    continue;
                }
                let platform = [Platform::Compose, Platform::Hosts, Platform::Kubernetes]
                    .into_iter()
                    .find(|p| name.starts_with(&format!("{}/{}/", plan.phase, p.as_str())))
                    .unwrap();
                let ports = (lb.listen, lb.tls.as_ref().map(|t| t.listen));
                out.push((name.to_string(), platform, ports, text.to_string()));
            }
        }
    }
    assert!(out.len() > 20, "{}", out.len());
    out
}

/// `X-Forwarded-Port` is the port the client connected to (`balancer.listen`), not the
/// port the balancer's container listens on inside (8080 on compose and Kubernetes);
/// with TLS, `balancer.tls.listen` on HTTPS.
#[test]
fn forwarded_port_is_the_clients_port() {
    let mut wrong = Vec::new();
    for (name, _, (listen, tls), text) in configs() {
        let mut want = vec![
            format!("proxy_set_header X-Forwarded-Port {listen};"),
            format!("http-request set-header X-Forwarded-Port {listen}"),
        ];
        // nginx: the port by scheme with TLS; behind trusted proxies, theirs or that.
        let own = match tls {
            Some(https) => {
                let map = format!(
                    "map $scheme $tls_port {{\n        https   {https};\n        default {listen};\n    }}"
                );
                if text.contains(&map) {
                    want.push("proxy_set_header X-Forwarded-Port $tls_port;".into());
                }
                // HAProxy: the HTTPS port over the plain one.
                want.push(format!(
                    "http-request set-header X-Forwarded-Port {https} if {{ ssl_fc }}"
                ));
                want.push(format!(
                    "http-request set-header X-Forwarded-Port {listen} if !{{ ssl_fc }}"
                ));
                "$tls_port".to_string()
            }
            None => listen.to_string(),
        };
        let trusted = format!("\"1::http\"  80;\n        default {own};");
        if text.contains(&trusted) {
            want.push("proxy_set_header X-Forwarded-Port $forwarded_port;".into());
        }
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| {
                l.contains("set-header X-Forwarded-Port")
                    || l.contains("proxy_set_header X-Forwarded-Port")
            })
            // A trusted proxy's scheme gives its port (443 or 80).
            .filter(|l| !l.contains("if from_trusted_proxy"))
            .collect();
        // HAProxy may add a condition: a trusted proxy's own port is kept.
        let kept = " !{ var(txn.port_kept) -m bool }";
        if lines.is_empty()
            || lines.iter().any(|l| {
                let l = l.strip_suffix(kept).unwrap_or(l);
                let l = l.strip_suffix(" if").unwrap_or(l);
                !want.iter().any(|w| w == l)
            })
        {
            wrong.push(format!("{name}: {lines:?}, want port {listen}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// On Kubernetes the balancer's container has a CPU limit of 1: nginx runs one worker
/// and HAProxy one thread, not one per core of the node (`auto`).
#[test]
fn workers_fit_the_cpu_limit_on_kubernetes() {
    let mut wrong = Vec::new();
    for (name, platform, _, text) in configs() {
        let nginx = text.lines().find(|l| l.starts_with("worker_processes"));
        let haproxy = text.lines().find(|l| l.trim().starts_with("nbthread"));
        let ok = match (platform, nginx, haproxy) {
            (Platform::Kubernetes, Some(l), None) => l == "worker_processes 1;",
            (Platform::Kubernetes, None, Some(l)) => l.trim() == "nbthread 1",
            // No CPU limit there: one worker per core of the machine.
            (_, Some(l), None) => l == "worker_processes auto;",
            (_, None, None) => true,
            _ => false,
        };
        if !ok {
            wrong.push(format!("{name}: {nginx:?} {haproxy:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
