//! TLS at the balancer: what validation asks of `balancer.tls`, what each platform's
//! bundle mounts and publishes, and every rendered TLS config judged by the real tools
//! with a throwaway certificate (`nginx -t` on the nginx line the plan renders for,
//! `haproxy -dW -c` on both HAProxy lines).

use crate::common;
use tierform_lab as lab;

use std::net::IpAddr;
use std::path::Path;

use tierform::balancer::{self, TLS_DIR};
use tierform::{plans, BalancerEngine, Selection};

/// The address upstream names resolve to inside the check (any loopback address).
const NAMES_RESOLVE_TO: &str = "127.0.0.2";

/// A self-signed certificate for `127.0.0.20` and `localhost`, valid two days, written
/// to `dir` as `tls.crt` and `tls.crt.key` (the names the balancer reads); `None`
/// without openssl (outside CI).
pub(crate) fn make_certificate(dir: &Path) -> Option<()> {
    let openssl = lab::require("openssl")?;
    std::fs::create_dir_all(dir).unwrap();
    let out = std::process::Command::new(openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=tierform lab"])
        .args(["-addext", "subjectAltName=IP:127.0.0.20,DNS:localhost"])
        .arg("-keyout")
        .arg(dir.join("tls.crt.key"))
        .arg("-out")
        .arg(dir.join("tls.crt"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(())
}

/// The config as the balancer reads it outside its container: the certificate and key
/// from `dir` instead of where the container has them mounted (`TLS_DIR`).
pub(crate) fn certificate_from(config: &str, dir: &Path) -> String {
    assert!(config.contains(TLS_DIR), "no certificate in:\n{config}");
    config.replace(TLS_DIR, dir.to_str().unwrap())
}

#[test]
fn every_tls_config_passes_its_real_checker() {
    let Some(trixie) = lab::ServerSet::trixie() else {
        return;
    };
    let (Some(nginx), Some(haproxy_3), Some(haproxy_2)) = (
        trixie.require("nginx"),
        trixie.require("haproxy"),
        lab::require("haproxy"),
    ) else {
        return;
    };
    if !lab::require_isolation() {
        return;
    }
    let lab = lab::Lab::new();
    let root = trixie.root().expect("the Debian 13 set is a root");
    let from_root = Some((root, lab.dir()));
    let certs = lab.dir().join("tls");
    if make_certificate(&certs).is_none() {
        return;
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in common::render_blueprints() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let v = tierform::validate_bytes(&std::fs::read(&path).unwrap());
        let all = plans(&v.phases, &Selection::default()).unwrap();
        if !all
            .iter()
            .any(|p| p.balancer.as_ref().is_some_and(|lb| lb.tls.is_some()))
        {
            continue;
        }
        let set = common::render_all(&path);
        for plan in all {
            let Some(lb) = plan.balancer.as_ref().filter(|lb| lb.tls.is_some()) else {
                continue;
            };
            for platform in &plan.platforms {
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
                    let text = set.get(&rel).unwrap_or_else(|| panic!("{stem}: {rel}"));
                    let file = lab.dir().join(format!("{stem}-{checked}.conf"));
                    std::fs::write(&file, certificate_from(text, &certs)).unwrap();
                    let file = file.to_str().unwrap();
                    let dir = lab.dir().to_str().unwrap();
                    let addresses: Vec<IpAddr> = node.address.parse().into_iter().collect();
                    let runs = match lb.engine {
                        // `http2 on;` needs nginx 1.25.1: the line the plan renders for
                        // (1.26), not the machine's 1.22.
                        BalancerEngine::Nginx => vec![(
                            "nginx 1.26",
                            lab::check_isolated_from(
                                from_root,
                                &[&nginx, "-t", "-c", file, "-p", dir],
                                &addresses,
                                &names,
                            ),
                        )],
                        BalancerEngine::Haproxy => vec![
                            (
                                "HAProxy 2.6",
                                lab::check_isolated(
                                    &[haproxy_2.to_str().unwrap(), "-dW", "-c", "-f", file],
                                    &addresses,
                                    &names,
                                ),
                            ),
                            (
                                "HAProxy 3.0",
                                lab::check_isolated_from(
                                    from_root,
                                    &[&haproxy_3, "-dW", "-c", "-f", file],
                                    &addresses,
                                    &names,
                                ),
                            ),
                        ],
                    };
                    for (checker, out) in runs {
                        let stderr = String::from_utf8_lossy(&out.stderr);
                        if !out.status.success()
                            || stderr.contains("[warn]")
                            || stderr.contains("[emerg]")
                        {
                            let stdout = String::from_utf8_lossy(&out.stdout);
                            failures.push(format!("{stem}: {rel} ({checker}):\n{stdout}{stderr}"));
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 20, "only {checked} checks ran");
}
