//! The real tools judge every rendered balancer config: `nginx -t` and
//! `haproxy -dW -c` (warnings are errors) for every blueprint × phase × platform, run in
//! a private network and mount namespace where the listen addresses exist and the
//! upstream names resolve, as they would on the machine or in the container. nginx is
//! the line tierform renders for (1.30, from the Debian testing root: its pools of
//! Kubernetes pods use `server … resolve`, which nginx has since 1.27.3); HAProxy is
//! Debian 12's 2.6, the older of the two lines it renders for.

use crate::common;
use tierform_lab as lab;

use tierform::BalancerEngine;

/// The address upstream names resolve to inside the check (any loopback address).
const NAMES_RESOLVE_TO: &str = "127.0.0.2";

#[test]
fn every_balancer_config_passes_its_real_checker() {
    let Some(forky) = lab::ServerSet::forky() else {
        return;
    };
    let (Some(nginx), Some(haproxy)) = (forky.require("nginx"), lab::require("haproxy")) else {
        return;
    };
    if !lab::require_isolation() {
        return;
    }
    let scratch = lab::scratch_dir();
    let mut checked = 0;
    let mut failures = Vec::new();
    // A TLS config reads a certificate and needs nginx 1.25.1 (`http2 on;`):
    // `tls::every_tls_config_passes_its_real_checker` checks it with both.
    for c in common::balancer_configs(false, NAMES_RESOLVE_TO.parse().unwrap()) {
        let file = scratch.path().join(format!("{}-{checked}.conf", c.stem));
        std::fs::write(&file, &c.text).unwrap();
        let file = file.to_str().unwrap().to_string();
        let out = match c.engine {
            BalancerEngine::Nginx => lab::check_isolated_from(
                Some((forky.root().expect("a root"), scratch.path())),
                &[
                    &nginx,
                    "-t",
                    "-c",
                    &file,
                    "-p",
                    scratch.path().to_str().unwrap(),
                ],
                &c.addresses,
                &c.names,
            ),
            BalancerEngine::Haproxy => lab::check_isolated(
                &[haproxy.to_str().unwrap(), "-dW", "-c", "-f", &file],
                &c.addresses,
                &c.names,
            ),
        };
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        // nginx reports warnings without failing: they count as failures here.
        if !out.status.success() || stderr.contains("[warn]") || stderr.contains("[emerg]") {
            failures.push(format!("{}: {}:\n{stdout}{stderr}", c.stem, c.rel));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} configs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 20, "only {checked} configs were checked");
}

#[test]
fn an_injected_route_cannot_reach_nginx() {
    // The schema refuses such a path; and if a template were handed one, its quoting
    // filter refuses it rather than emit it.
    let bp = r#"
version: 1
name: demo
balancer:
  engine: nginx
  routes:
    - { path: "/x;\n}server{listen 9999;", service: api }
services:
  api: { kind: http, image: demo:1, port: 8000 }
"#;
    let v = tierform::validate_str(bp);
    assert!(v.errors() > 0);
    assert!(v.phases.is_empty());
}

/// The routers of automatic failover (`ha: auto`): `haproxy -dW -c` on every rendered
/// `router.cfg`, its bind addresses present and its servers' names resolving.
#[test]
fn every_failover_router_passes_haproxy_check() {
    let Some(haproxy) = lab::require("haproxy") else {
        return;
    };
    if !lab::require_isolation() {
        return;
    }
    let scratch = lab::scratch_dir();
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in common::render_blueprints() {
        for (rel, text) in common::render_all(&path).iter() {
            if !rel.ends_with("/router.cfg") {
                continue;
            }
            let words = |line: &str| {
                line.split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            };
            let mut addresses = Vec::new();
            let mut names = Vec::new();
            for line in text.lines().map(str::trim) {
                let w = words(line);
                let host = match w.first().map(String::as_str) {
                    Some("bind") => w[1].rsplit_once(':').map(|(h, _)| h.to_string()),
                    Some("server") => w[2].rsplit_once(':').map(|(h, _)| h.to_string()),
                    _ => None,
                };
                match host.as_deref().map(|h| h.parse::<std::net::IpAddr>()) {
                    Some(Ok(ip)) if w[0] == "bind" => addresses.push(ip),
                    Some(Err(_)) if !host.as_deref().unwrap().is_empty() => {
                        names.push((host.unwrap(), NAMES_RESOLVE_TO.parse().unwrap()))
                    }
                    _ => {}
                }
            }
            let file = scratch.path().join(format!("router-{checked}.cfg"));
            std::fs::write(&file, text).unwrap();
            let out = lab::check_isolated(
                &[
                    haproxy.to_str().unwrap(),
                    "-dW",
                    "-c",
                    "-f",
                    file.to_str().unwrap(),
                ],
                &addresses,
                &names,
            );
            if !out.status.success() {
                failures.push(format!(
                    "{rel}:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 2, "only {checked} routers were checked");
}
