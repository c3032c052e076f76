//! Path-like values: an image reference or a health-check path with a `..` segment
//! walks somewhere the blueprint's reader does not expect (`/health/../../etc/passwd`),
//! and an IPv6 link-local host (fe80::/10) means nothing without a zone, so nginx
//! refuses the `listen` it would become. Each is refused at its value.

use tierform::Severity;

fn blueprint(image: &str, health: &str, host: &str) -> String {
    format!(
        r#"
version: 1
name: demo
targets: [hosts]
tiers:
  app: {{ machine: {{ cpu: 4, memory: 8Gi }}, hosts: ["{host}"] }}
balancer:
  engine: nginx
  tier: app
  routes:
    - {{ path: /, service: api }}
services:
  api:
    kind: http
    tier: app
    image: "{image}"
    port: 8000
    health: {{ path: "{health}" }}
"#
    )
}

fn errors_at(text: &str, pointer: &str) -> Vec<String> {
    let v = tierform::validate_str(text);
    v.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error && d.pointer == pointer && d.line.is_some())
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect()
}

const IMAGE: &str = "demo/api:1.4.2";
const HEALTH: &str = "/health";
const HOST: &str = "10.0.1.11";

#[test]
fn dot_dot_in_an_image_or_a_health_path_is_refused() {
    let mut failures = Vec::new();
    for image in [
        "demo/../x:1",
        "registry.example.com/../../etc/passwd",
        "demo/a..b:1",
        "demo/api:1..2",
        "demo/..",
    ] {
        if errors_at(&blueprint(image, HEALTH, HOST), "/services/api/image").is_empty() {
            failures.push(format!("image {image:?} is accepted"));
        }
    }
    for health in [
        "/health/../../etc/passwd",
        "/..",
        "/a/..",
        "/a/../b?x=1",
        "/a..b",
    ] {
        if errors_at(&blueprint(IMAGE, health, HOST), "/services/api/health/path").is_empty() {
            failures.push(format!("health path {health:?} is accepted"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ordinary_images_and_paths_stay_valid() {
    for image in [
        "demo/api:1.4.2",
        "registry.example.com:5000/team/api:v1.2.3-rc.1",
        "ghcr.io/a_b/c-d@sha256:0123abcd",
        "nginx",
    ] {
        let v = tierform::validate_str(&blueprint(image, HEALTH, HOST));
        assert_eq!(v.errors(), 0, "{image}: {:#?}", v.diagnostics);
    }
    for health in [
        "/health",
        "/v1.2/ready",
        "/.well-known/ready",
        "/ready?full=1.0",
    ] {
        let v = tierform::validate_str(&blueprint(IMAGE, health, HOST));
        assert_eq!(v.errors(), 0, "{health}: {:#?}", v.diagnostics);
    }
}

#[test]
fn ipv6_link_local_hosts_are_refused() {
    let mut failures = Vec::new();
    for host in ["fe80::1", "FE80::abcd:1", "febf::1", "fe80:0:0:0:0:0:0:1"] {
        let found = errors_at(&blueprint(IMAGE, HEALTH, host), "/tiers/app/hosts/0");
        if !found.iter().any(|f| f.starts_with("invalid-host")) {
            failures.push(format!("{host} is accepted: {found:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for host in ["fd00::1", "2001:db8::1", "fec0::1", "::1", "10.0.1.11"] {
        let v = tierform::validate_str(&blueprint(IMAGE, HEALTH, host));
        assert_eq!(v.errors(), 0, "{host}: {:#?}", v.diagnostics);
    }
}
