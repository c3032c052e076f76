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

/// `balance.retry_on`: nginx retries a split route on what all its services list (one
/// location serves them all), HAProxy each backend on its own service's list, with
/// `empty-response` always; a service without it keeps the defaults, and requests
/// sent once stay sent once.
#[test]
fn retry_on_is_per_route_on_nginx_and_per_backend_on_haproxy() {
    let bp = r#"
version: 1
name: retries
targets: [compose]
balancer:
  engine: nginx
  routes:
    - path: /
      split: [{ service: api, weight: 9 }, { service: next, weight: 1 }]
    - { path: /files/, service: files }
services:
  api:
    kind: http
    image: demo/api:1
    port: 8000
    balance: { retry_on: [http_503, error, timeout, http_502] }
  next:
    kind: http
    image: demo/api:2
    port: 8001
    balance: { retry_on: [error, timeout, http_503] }
  files: { kind: http, image: demo/files:1, port: 8002 }
phases:
  - name: nginx
  - name: haproxy
    patch: { balancer: { engine: haproxy } }
"#;
    let v = tierform::validate_str(bp);
    assert_eq!(v.errors(), 0, "{:?}", v.diagnostics);
    let templates = tierform::Templates::embedded().unwrap();
    let (set, _) = tierform::render(&v.phases, &Selection::default(), &templates).unwrap();
    let nginx = set.get("nginx/compose/nginx/nginx.conf").unwrap();
    let location = |path: &str| {
        // The last: the metrics server has a `location /` of its own.
        let start = nginx.rfind(&format!("location {path} {{")).unwrap();
        nginx[start..start + nginx[start..].find("\n        }").unwrap()].to_string()
    };
    let next_upstream = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("proxy_next_upstream "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        next_upstream(&location("/")),
        ["proxy_next_upstream error timeout http_503;"]
    );
    assert_eq!(
        next_upstream(&location("/files/")),
        ["proxy_next_upstream error timeout;"]
    );
    assert_eq!(
        next_upstream(&location("@route1_once")),
        ["proxy_next_upstream off;"]
    );
    let haproxy = set.get("haproxy/compose/haproxy/haproxy.cfg").unwrap();
    let retry_on = |backend: &str| -> Vec<String> {
        let start = haproxy.find(&format!("\nbackend {backend}\n")).unwrap() + 1;
        let end = haproxy[start..]
            .find("\n\n")
            .map_or(haproxy.len(), |e| start + e);
        haproxy[start..end]
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("retry-on "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        retry_on("api"),
        ["retry-on conn-failure empty-response response-timeout 502 503"]
    );
    assert_eq!(
        retry_on("next"),
        ["retry-on conn-failure empty-response response-timeout 503"]
    );
    assert!(retry_on("files").is_empty());
    assert!(haproxy.contains("\n    retry-on conn-failure empty-response\n"));
}

/// `balancer.health_path` moves the balancer's own health (a team's nginx passed
/// `/health` through to its API): the route `/health` then reaches the API, and that
/// exact path is not logged; everything that checks the balancer asks the new path (its
/// compose healthcheck, its Kubernetes probes, the plain listener beside the PROXY
/// protocol, the exception to the HTTPS redirect). Without it the balancer answers
/// `/health` itself, and a route to it is shadowed, with a hint that names the field.
#[test]
fn health_path_moves_the_balancers_own_and_health_reaches_the_api() {
    let path = std::path::Path::new("tests/fixtures/render/health-pass-through.yaml");
    let v = tierform::validate_bytes(&std::fs::read(path).unwrap());
    assert!(
        !v.diagnostics.iter().any(|d| d.code == "shadowed-route"),
        "{:?}",
        v.diagnostics
    );
    let (plans, set) = common::plans_and_render(path);
    for plan in &plans {
        let lb = plan.balancer.as_ref().unwrap();
        assert_eq!(lb.health_path, "/lb-health", "{}", plan.phase);
        let route = lb.routes.iter().find(|r| r.path == "/health").unwrap();
        assert_eq!(route.backends.len(), 1);
        assert_eq!(route.backends[0].pool, "api");
        // Only the route to the API's own health check is quiet, not `/` (the web
        // service's health path, and its home page).
        let quiet: Vec<&str> = lb
            .routes
            .iter()
            .filter(|r| r.quiet)
            .map(|r| r.path.as_str())
            .collect();
        assert_eq!(quiet, ["/health"], "{}", plan.phase);
    }
    let file = |name: &str| {
        set.get(name)
            .unwrap_or_else(|| panic!("{name} not rendered"))
            .to_string()
    };

    for platform in ["compose", "hosts/127.0.0.20", "kubernetes"] {
        let nginx = file(&format!("nginx/{platform}/nginx/nginx.conf"));
        assert!(
            nginx.contains("\n        location = /lb-health {\n"),
            "{nginx}"
        );
        assert!(!nginx.contains("location = /health"), "{nginx}");
        let start = nginx.find("\n        location /health {\n").unwrap();
        let block = &nginx[start..start + nginx[start..].find("\n        }").unwrap()];
        assert!(block.contains("proxy_pass http://api;"), "{block}");
        assert!(
            nginx.contains(
                "    map $uri $loggable {\n        /health 0;\n        default 1;\n    }\n    access_log /dev/stdout upstream_timing if=$loggable;\n"
            ),
            "{nginx}"
        );

        let haproxy = file(&format!("haproxy/{platform}/haproxy/haproxy.cfg"));
        assert!(
            haproxy.contains("\n    monitor-uri /lb-health\n"),
            "{haproxy}"
        );
        assert!(!haproxy.contains("monitor-uri /health"), "{haproxy}");
        let acl = haproxy
            .lines()
            .find_map(|l| l.trim().strip_suffix(" var(txn.route_path) -m beg /health"))
            .and_then(|l| l.strip_prefix("acl "))
            .expect("an acl for the route /health")
            .to_string();
        assert!(
            haproxy.contains(&format!("\n    use_backend api if {acl}\n")),
            "{haproxy}"
        );
        assert!(
            haproxy.contains(
                "\n    http-request set-log-level silent if { var(txn.route_path) -m str /health }\n"
            ),
            "{haproxy}"
        );
    }

    // With TLS and the PROXY protocol: the plain listener and the main one answer
    // `/lb-health`, which plain HTTP gets without the redirect.
    let nginx = file("nginx-tls/compose/nginx/nginx.conf");
    assert_eq!(
        nginx.matches("location = /lb-health {").count(),
        2,
        "{nginx}"
    );
    assert!(
        nginx.contains("\n        \"http:/lb-health\" 0;\n"),
        "{nginx}"
    );
    let haproxy = file("haproxy-tls/compose/haproxy/haproxy.cfg");
    assert_eq!(haproxy.matches("monitor-uri /lb-health\n").count(), 2);
    assert!(haproxy.contains(" || { path /lb-health }\n"), "{haproxy}");

    // Everything that checks the balancer asks `/lb-health`.
    for (name, url) in [
        (
            "nginx/compose/docker-compose.yml",
            "http://127.0.0.1:8080/lb-health",
        ),
        (
            "haproxy/compose/docker-compose.yml",
            "http://127.0.0.1:8080/lb-health",
        ),
        (
            "nginx-tls/compose/docker-compose.yml",
            "http://127.0.0.1:8081/lb-health",
        ),
        (
            "nginx/hosts/127.0.0.20/docker-compose.yml",
            "http://127.0.0.20:8080/lb-health",
        ),
    ] {
        let text = file(name);
        assert!(text.contains(&format!("- {url}\n")), "{name}:\n{text}");
    }
    for phase in ["nginx", "haproxy-tls"] {
        let k8s = file(&format!("{phase}/kubernetes/balancer.yaml"));
        assert_eq!(k8s.matches("path: /lb-health\n").count(), 2, "{k8s}");
        assert!(!k8s.contains("path: /health\n"), "{k8s}");
    }

    // Without `health_path`: the balancer answers `/health` itself, the route is
    // shadowed, and the warning names the way out.
    let text = std::fs::read_to_string(path).unwrap();
    let default = text.replace("  health_path: /lb-health\n", "");
    assert_ne!(default, text);
    let v = tierform::validate_str(&default);
    assert_eq!(v.errors(), 0, "{:?}", v.diagnostics);
    let shadowed: Vec<_> = v
        .diagnostics
        .iter()
        .filter(|d| d.code == "shadowed-route")
        .collect();
    assert_eq!(shadowed.len(), 1, "{:?}", v.diagnostics);
    assert!(
        shadowed[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("`balancer.health_path`")),
        "{:?}",
        shadowed[0]
    );
    let templates = tierform::Templates::embedded().unwrap();
    let (set, _) = tierform::render(&v.phases, &Selection::default(), &templates).unwrap();
    let nginx = set.get("nginx/compose/nginx/nginx.conf").unwrap();
    assert!(
        nginx.contains("\n        location = /health {\n"),
        "{nginx}"
    );
    let haproxy = set.get("haproxy/compose/haproxy/haproxy.cfg").unwrap();
    assert!(haproxy.contains("\n    monitor-uri /health\n"), "{haproxy}");
}
