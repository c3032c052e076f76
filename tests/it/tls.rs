//! TLS at the balancer: what validation asks of `balancer.tls`, what each platform's
//! bundle mounts and publishes, and every rendered TLS config judged by the real tools
//! with a throwaway certificate (`nginx -t` on the nginx line the plan renders for, 1.30,
//! `haproxy -dW -c` on both HAProxy lines).

use crate::common;
use tierform_lab as lab;

use std::path::Path;

use tierform::balancer::TLS_DIR;
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
    let (Some(trixie), Some(forky)) = (lab::ServerSet::trixie(), lab::ServerSet::forky()) else {
        return;
    };
    let (Some(nginx), Some(haproxy_3), Some(haproxy_2)) = (
        forky.require("nginx"),
        trixie.require("haproxy"),
        lab::require("haproxy"),
    ) else {
        return;
    };
    if !lab::require_isolation() {
        return;
    }
    let lab = lab::Lab::new();
    let in_trixie = Some((trixie.root().expect("a root"), lab.dir()));
    let in_forky = Some((forky.root().expect("a root"), lab.dir()));
    let certs = lab.dir().join("tls");
    if make_certificate(&certs).is_none() {
        return;
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for c in common::balancer_configs(true, NAMES_RESOLVE_TO.parse().unwrap()) {
        let file = lab.dir().join(format!("{}-{checked}.conf", c.stem));
        std::fs::write(&file, certificate_from(&c.text, &certs)).unwrap();
        let file = file.to_str().unwrap();
        let dir = lab.dir().to_str().unwrap();
        let runs = match c.engine {
            // The nginx line the plan renders for (1.30), not the machine's
            // 1.22, which predates `http2 on;` (1.25.1).
            BalancerEngine::Nginx => vec![(
                "nginx 1.30",
                lab::check_isolated_from(
                    in_forky,
                    &[&nginx, "-t", "-c", file, "-p", dir],
                    &c.addresses,
                    &c.names,
                ),
            )],
            BalancerEngine::Haproxy => vec![
                (
                    "HAProxy 2.6",
                    lab::check_isolated(
                        &[haproxy_2.to_str().unwrap(), "-dW", "-c", "-f", file],
                        &c.addresses,
                        &c.names,
                    ),
                ),
                (
                    "HAProxy 3.0",
                    lab::check_isolated_from(
                        in_trixie,
                        &[&haproxy_3, "-dW", "-c", "-f", file],
                        &c.addresses,
                        &c.names,
                    ),
                ),
            ],
        };
        for (checker, out) in runs {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() || stderr.contains("[warn]") || stderr.contains("[emerg]") {
                let stdout = String::from_utf8_lossy(&out.stdout);
                failures.push(format!(
                    "{}: {} ({checker}):\n{stdout}{stderr}",
                    c.stem, c.rel
                ));
            }
            checked += 1;
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

/// A blueprint with TLS on `targets`, `tls` being the body of `balancer.tls`.
fn blueprint(targets: &str, tls: &str) -> String {
    format!(
        r#"
version: 1
name: demo
targets: [{targets}]
tiers:
  edge: {{ machine: {{ cpu: 2, memory: 4Gi }}, hosts: [10.0.9.1] }}
balancer:
  engine: haproxy
  tier: edge
  tls: {tls}
  routes:
    - {{ path: /, service: api }}
services:
  api: {{ kind: http, tier: edge, image: demo/api:1, port: 8000, host_port: 8443 }}
"#
    )
}

const FILES: &str = "file: /etc/ssl/demo/fullchain.pem, key_file: /etc/ssl/demo/privkey.pem";

/// The errors of a blueprint: (code, pointer, line, hint).
fn errors(text: &str) -> Vec<(String, String, Option<u32>, Option<String>)> {
    tierform::validate_str(text)
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == tierform::Severity::Error)
        .map(|d| (d.code.as_str().to_string(), d.pointer, d.line, d.hint))
        .collect()
}

fn has(
    errors: &[(String, String, Option<u32>, Option<String>)],
    code: &str,
    pointer: &str,
) -> bool {
    errors
        .iter()
        .any(|(c, p, line, hint)| c == code && p == pointer && line.is_some() && hint.is_some())
}

#[test]
fn each_platform_needs_its_own_certificate_reference() {
    // compose and hosts read files; Kubernetes a Secret.
    let e = errors(&blueprint(
        "compose",
        "{ certificate: { secret: demo-tls } }",
    ));
    assert!(
        has(&e, "missing-field", "/balancer/tls/certificate"),
        "{e:?}"
    );
    assert_eq!(e.len(), 2, "file and key_file: {e:?}");
    let e = errors(&blueprint(
        "kubernetes",
        &format!("{{ certificate: {{ {FILES} }} }}"),
    ));
    assert!(
        has(&e, "missing-field", "/balancer/tls/certificate"),
        "{e:?}"
    );
    assert_eq!(e.len(), 1, "{e:?}");
    let ok = blueprint(
        "compose, kubernetes",
        &format!("{{ certificate: {{ {FILES}, secret: demo-tls }} }}"),
    );
    assert_eq!(errors(&ok), vec![]);
}

#[test]
fn a_certificate_path_must_be_absolute_normal_and_plain() {
    for (path, code) in [
        ("/etc/ssl/../shadow", "invalid-path"),
        ("/etc/ssl/./x.pem", "invalid-path"),
        ("etc/ssl/x.pem", "invalid-path"),
        ("/etc/ssl/x.pem;\n}", "invalid-path"),
        ("/etc/ssl/my cert.pem", "invalid-path"),
        ("/etc/ssl/x.pem#", "invalid-path"),
    ] {
        let tls = format!(
            "{{ certificate: {{ file: {}, key_file: /etc/ssl/k.pem }} }}",
            serde_json::to_string(path).unwrap()
        );
        let e = errors(&blueprint("hosts", &tls));
        assert!(
            e.iter().any(|(c, p, l, _)| c == code
                && p == "/balancer/tls/certificate/file"
                && l.is_some()),
            "{path:?}: {e:?}"
        );
    }
    let e = errors(&blueprint(
        "hosts",
        "{ certificate: { file: /etc/ssl/x.pem, key_file: /etc/ssl/x.pem } }",
    ));
    assert!(
        has(
            &e,
            "conflicting-fields",
            "/balancer/tls/certificate/key_file"
        ),
        "{e:?}"
    );
    let e = errors(&blueprint(
        "kubernetes",
        "{ certificate: { secret: Demo_TLS } }",
    ));
    assert!(
        has(&e, "invalid-name", "/balancer/tls/certificate/secret"),
        "{e:?}"
    );
}

#[test]
fn https_needs_a_port_of_its_own() {
    let e = errors(&blueprint(
        "hosts",
        &format!("{{ certificate: {{ {FILES} }}, listen: 80 }}"),
    ));
    assert!(has(&e, "port-conflict", "/balancer/tls/listen"), "{e:?}");
    // The service publishes 8443 on the balancer's machine.
    let e = errors(&blueprint(
        "hosts",
        &format!("{{ certificate: {{ {FILES} }}, listen: 8443 }}"),
    ));
    assert!(
        e.iter()
            .any(|(c, p, _, _)| c == "port-conflict" && p.starts_with("/services/api")),
        "{e:?}"
    );
}

#[test]
fn hsts_max_age_is_between_a_second_and_two_years() {
    for (age, ok) in [
        ("0s", false),
        ("365d", true),
        ("730d", true),
        ("731d", false),
    ] {
        let tls = format!("{{ certificate: {{ {FILES} }}, hsts: {{ max_age: {age} }} }}");
        let e = errors(&blueprint("hosts", &tls));
        assert_eq!(e.is_empty(), ok, "{age}: {e:?}");
        if !ok {
            assert!(
                e.iter()
                    .any(|(c, p, _, _)| c == "out-of-range" && p == "/balancer/tls/hsts/max_age"),
                "{age}: {e:?}"
            );
        }
    }
}

/// The documents of a YAML file, as JSON.
fn yaml(text: &str) -> Vec<serde_json::Value> {
    text.split("\n---\n")
        .map(|d| tierform::load_yaml(d).expect("parses").to_json())
        .collect()
}

/// The rendered files of a valid blueprint, by path.
fn files(text: &str) -> tierform::OutputSet {
    let v = tierform::validate_str(text);
    assert_eq!(v.errors(), 0, "{:#?}", v.diagnostics);
    let templates = tierform::Templates::embedded().unwrap();
    tierform::render(&v.phases, &Selection::default(), &templates)
        .unwrap()
        .0
}

#[test]
fn compose_mounts_the_files_read_only_and_publishes_https() {
    let set = files(&blueprint(
        "compose",
        &format!("{{ certificate: {{ {FILES} }} }}"),
    ));
    let compose = yaml(set.get("default/compose/docker-compose.yml").unwrap())
        .pop()
        .unwrap();
    let lb = &compose["services"]["haproxy"];
    assert_eq!(lb["ports"], serde_json::json!(["80:8080", "443:8443"]));
    let volumes = lb["volumes"].as_array().unwrap();
    for (source, target) in [
        ("/etc/ssl/demo/fullchain.pem", format!("{TLS_DIR}/tls.crt")),
        (
            "/etc/ssl/demo/privkey.pem",
            format!("{TLS_DIR}/tls.crt.key"),
        ),
    ] {
        assert!(
            volumes.contains(&serde_json::json!({ "type": "bind", "source": source, "target": target, "read_only": true })),
            "{volumes:?}"
        );
    }
    let readme = set.get("default/compose/README.md").unwrap();
    assert!(readme.contains("/etc/ssl/demo/privkey.pem"), "{readme}");
    // A single-file bind mount keeps the file the container started with: a renewal
    // that writes new files (certbot) needs the container recreated, not a reload.
    assert!(
        readme.contains("docker compose up -d --force-recreate haproxy"),
        "{readme}"
    );
    let cfg = set.get("default/compose/haproxy/haproxy.cfg").unwrap();
    assert!(
        cfg.contains(&format!(
            "bind :8443 ssl crt {TLS_DIR}/tls.crt alpn h2,http/1.1"
        )),
        "{cfg}"
    );
}

#[test]
fn kubernetes_mounts_the_secret_and_serves_443() {
    let set = files(&blueprint(
        "kubernetes",
        "{ certificate: { secret: demo-tls } }",
    ));
    let text = set.get("default/kubernetes/balancer.yaml").unwrap();
    let docs = yaml(text);
    let pod = &docs[0]["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "tls")
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], "demo-tls");
    // HAProxy loads the key from `<certificate>.key`.
    assert_eq!(
        volume["secret"]["items"],
        serde_json::json!([{ "key": "tls.crt", "path": "tls.crt" }, { "key": "tls.key", "path": "tls.crt.key" }])
    );
    let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    assert!(mounts
        .contains(&serde_json::json!({ "name": "tls", "mountPath": TLS_DIR, "readOnly": true })));
    // Probes stay on plain HTTP's /health.
    assert_eq!(
        pod["containers"][0]["readinessProbe"]["httpGet"]["port"],
        "http"
    );
    let service = docs.iter().find(|d| d["kind"] == "Service").unwrap();
    assert!(service["spec"]["ports"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!({ "name": "https", "port": 443, "targetPort": "https" })));
    let policies = set.get("default/kubernetes/network-policies.yaml").unwrap();
    assert!(policies.contains("port: 8443"), "{policies}");
    assert!(set
        .get("default/kubernetes/README.md")
        .unwrap()
        .contains("create secret tls demo-tls"));
}

#[test]
fn redirect_and_hsts_follow_the_blueprint() {
    let on = files(&blueprint(
        "hosts",
        &format!("{{ certificate: {{ {FILES} }} }}"),
    ));
    let cfg = on
        .get("default/hosts/10.0.9.1/haproxy/haproxy.cfg")
        .unwrap();
    assert!(
        cfg.contains(
            "code 308 unless { req.hdr(X-Forwarded-Proto) -m str https } || { path /health }"
        ),
        "{cfg}"
    );
    assert!(
        cfg.contains(
            "Strict-Transport-Security \"max-age=31536000\" if { var(txn.https) -m bool }"
        ),
        "{cfg}"
    );
    let off = files(&blueprint(
        "hosts",
        &format!("{{ certificate: {{ {FILES} }}, redirect_http: false, hsts: false }}"),
    ));
    let cfg = off
        .get("default/hosts/10.0.9.1/haproxy/haproxy.cfg")
        .unwrap();
    assert!(
        !cfg.contains("code 308") && !cfg.contains("Strict-Transport-Security"),
        "{cfg}"
    );
    let sub = files(&blueprint(
        "hosts",
        &format!(
            "{{ certificate: {{ {FILES} }}, hsts: {{ max_age: 730d, include_subdomains: true }} }}"
        ),
    ));
    let cfg = sub
        .get("default/hosts/10.0.9.1/haproxy/haproxy.cfg")
        .unwrap();
    assert!(
        cfg.contains("\"max-age=63072000; includeSubDomains\""),
        "{cfg}"
    );
    assert!(sub
        .get("default/hosts/10.0.9.1/README.md")
        .unwrap()
        .contains("as root"));
}

/// The plans of `phases` of the TLS fixture, in that order.
fn fixture_plans(phases: &[&str]) -> Vec<tierform::Plan> {
    let bytes = std::fs::read("tests/fixtures/render/tls.yaml").unwrap();
    let v = tierform::validate_bytes(&bytes);
    let all = plans(&v.phases, &Selection::default()).unwrap();
    phases
        .iter()
        .map(|name| all.iter().find(|p| p.phase == *name).unwrap().clone())
        .collect()
}

#[test]
fn the_phase_diff_tells_what_https_changes() {
    let [nginx, both, no_hsts] =
        <[tierform::Plan; 3]>::try_from(fixture_plans(&["nginx", "both-ports", "nginx-no-hsts"]))
            .ok()
            .unwrap();
    let lines = |a: &tierform::Plan, b: &tierform::Plan| -> Vec<String> {
        tierform::diff::summarize(a, b)
            .into_iter()
            .map(|c| format!("{}: {}", c.subject, c.text))
            .collect()
    };
    assert!(
        lines(&nginx, &both).contains(
            &"balancer: HTTPS on port 443 (plain HTTP redirects), HSTS max-age=31536000 → on port 8443, HSTS max-age=63072000; includeSubDomains".to_string()
        ),
        "{:?}",
        lines(&nginx, &both)
    );
    // Dropping HSTS does not make browsers forget it.
    let notes = tierform::diff::notes(&both, &no_hsts);
    assert!(
        notes.iter().any(|n| n
            .contains("browsers keep the previous phase's (max-age=63072000; includeSubDomains)")),
        "{notes:?}"
    );
    // Turning HTTPS on: the certificate must be there first, on each platform.
    let mut plain = nginx.clone();
    plain.balancer.as_mut().unwrap().tls = None;
    let notes = tierform::diff::notes(&plain, &nginx);
    let note = notes
        .iter()
        .find(|n| n.contains("certificate"))
        .expect("a certificate note");
    assert!(
        note.contains("`/etc/ssl/example.com/fullchain.pem`")
            && note.contains("Secret `example-com-tls`"),
        "{note}"
    );
    assert!(lines(&plain, &nginx)
        .iter()
        .any(|l| l.starts_with("balancer: HTTPS none → on port 443")));
    // And turning it off after HSTS strands the browsers that saw it.
    let notes = tierform::diff::notes(&nginx, &plain);
    assert!(
        notes.iter().any(|n| n.starts_with("HTTPS goes away")),
        "{notes:?}"
    );
}
