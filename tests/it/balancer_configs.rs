//! The real tools judge every rendered balancer config: `nginx -t` and
//! `haproxy -dW -c` (warnings are errors) for every blueprint × phase × platform, run in
//! a private network and mount namespace where the listen addresses exist and the
//! upstream names resolve, as they would on the machine or in the container.

use crate::common;
use tierform_lab as lab;

use std::net::IpAddr;

use tierform::balancer;
use tierform::BalancerEngine;
use tierform::{plans, Selection};

/// The address upstream names resolve to inside the check (any loopback address).
const NAMES_RESOLVE_TO: &str = "127.0.0.2";

#[test]
fn every_balancer_config_passes_its_real_checker() {
    let (Some(nginx), Some(haproxy)) = (lab::require("nginx"), lab::require("haproxy")) else {
        return;
    };
    if !lab::require_isolation() {
        return;
    }
    let scratch = lab::scratch_dir();
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in common::render_blueprints() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let set = common::render_all(&path);
        let v = tierform::validate_bytes(&std::fs::read(&path).unwrap());
        for plan in plans(&v.phases, &Selection::default()).unwrap() {
            let Some(lb) = &plan.balancer else { continue };
            // A TLS config reads a certificate and needs nginx 1.25.1 (`http2 on;`):
            // `tls::every_tls_config_passes_its_real_checker` checks it with both.
            if lb.tls.is_some() {
                continue;
            }
            for platform in &plan.platforms {
                // Upstream names (compose services, Kubernetes Service DNS names).
                let mut names: Vec<(String, IpAddr)> = Vec::new();
                for pool in lb.pools.values() {
                    for server in pool.servers.get(platform).into_iter().flatten() {
                        if server.is_name() {
                            names.push((server.host.clone(), NAMES_RESOLVE_TO.parse().unwrap()));
                        }
                    }
                }
                for node in &lb.nodes[platform] {
                    let bundle = if node.host.is_empty() {
                        format!("{}/{}", plan.phase, platform.as_str())
                    } else {
                        format!("{}/{}/{}", plan.phase, platform.as_str(), node.host)
                    };
                    let rel = format!("{bundle}/{}", balancer::file_name(lb.engine));
                    let text = set
                        .get(&rel)
                        .unwrap_or_else(|| panic!("{stem}: {rel} was not rendered"));
                    let file = scratch.path().join(format!("{stem}-{checked}.conf"));
                    std::fs::write(&file, text).unwrap();
                    let file = file.to_str().unwrap().to_string();
                    let addresses: Vec<IpAddr> = node.address.parse().into_iter().collect();
                    let out = match lb.engine {
                        BalancerEngine::Nginx => lab::check_isolated(
                            &[
                                nginx.to_str().unwrap(),
                                "-t",
                                "-c",
                                &file,
                                "-p",
                                scratch.path().to_str().unwrap(),
                            ],
                            &addresses,
                            &names,
                        ),
                        BalancerEngine::Haproxy => lab::check_isolated(
                            &[haproxy.to_str().unwrap(), "-dW", "-c", "-f", &file],
                            &addresses,
                            &names,
                        ),
                    };
                    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
                    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
                    // nginx reports warnings without failing: they count as failures here.
                    if !out.status.success()
                        || stderr.contains("[warn]")
                        || stderr.contains("[emerg]")
                    {
                        failures.push(format!("{stem}: {rel}:\n{stdout}{stderr}"));
                    }
                    checked += 1;
                }
            }
        }
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
