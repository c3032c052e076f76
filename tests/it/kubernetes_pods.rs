//! Kubernetes: the balancer reaches each service's pods, not one virtual IP that
//! kube-proxy spreads behind. The plan gives each balanced service a headless Service
//! (its DNS name lists every ready pod) and HAProxy one slot per pod it may have,
//! filled from that name at run time.
//!
//! Rendered: the Kubernetes bundle has the headless Service beside the ClusterIP one,
//! and HAProxy a `server-template` with a slot for each pod the service may run at once
//! (the autoscaler's maximum and a rollout's surge).
//!
//! Live: the rendered Kubernetes `haproxy.cfg`, its resolver pointed at the lab's
//! [`lab::DnsServer`] (the one change), in front of "pods" at several loopback addresses
//! behind one name: requests spread over every pod, a sticky header keeps each client
//! on one pod, and a pod added to the DNS answer gets traffic without a reload. On
//! HAProxy 2.6 (Debian 12) and 3.0 (Debian 13). The same for nginx 1.30 (Debian testing)
//! without the sticky header: nginx resolves the pods of a pool it does not hash
//! (`server … resolve`), and keeps a hashed one on the Service's address.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tierform::{Platform, Selection};
use tierform_lab::{self as lab, DnsServer, Lab, ServerSet, StartOptions, StubBackend};

use crate::live::SERIAL;

/// One service behind HAProxy on Kubernetes, sticky by a header, 2 to 4 pods (5 in a
/// rollout).
const BLUEPRINT: &str = r#"
version: 1
name: pods
targets: [kubernetes]
balancer:
  engine: haproxy
  listen: 8080
  timeouts: { connect: 1s, send: 10s, read: 10s }
  routes:
    - { path: /, service: api }
services:
  api:
    kind: http
    image: lab/api:1
    port: 8000
    health: { path: /health, interval: 1s }
    resources: { cpu: 250m, memory: 256Mi }
    balance: { sticky: "header:X-Device-Id" }
    scaling: { min: 2, max: 4, target: { cpu: 70 } }
"#;

/// The headless Service's name in the cluster's DNS.
const PODS_NAME: &str = "api-pods.pods.svc.cluster.local";

/// Every rendered file of the blueprint on Kubernetes, by path.
fn rendered() -> BTreeMap<String, String> {
    rendered_with(BLUEPRINT)
}

fn rendered_with(blueprint: &str) -> BTreeMap<String, String> {
    let v = tierform::validate_str(blueprint);
    assert_eq!(v.errors(), 0, "the blueprint is valid");
    let templates = tierform::Templates::embedded().unwrap();
    let selection = Selection {
        phases: Vec::new(),
        platforms: vec![Platform::Kubernetes],
    };
    let (set, _) = tierform::render(&v.phases, &selection, &templates).unwrap();
    set.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(files: &BTreeMap<String, String>, suffix: &str) -> String {
    files
        .iter()
        .find(|(k, _)| k.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {suffix} in {:?}", files.keys()))
        .1
        .clone()
}

/// The balancer is given every pod: a headless Service with the workload's selector,
/// and one HAProxy slot per pod that may be ready at once, resolved at run time.
#[test]
fn kubernetes_balancer_addresses_every_pod() {
    let files = rendered();
    let config = file(&files, "haproxy/haproxy.cfg");
    assert!(
        config.contains(&format!(
            "server-template api 5 {PODS_NAME}:8000 init-addr none resolve-prefer ipv4"
        )),
        "HAProxy does not address api's 5 pods (4, and 1 more in a rollout):\n{config}"
    );
    assert!(config.contains("resolvers system\n    parse-resolv-conf"));
    assert!(!config.contains("api.pods.svc.cluster.local"), "{config}");
    let services: Vec<serde_json::Value> = files
        .iter()
        .filter(|(k, _)| k.ends_with(".yaml"))
        .flat_map(|(_, text)| {
            text.split("\n---\n")
                .filter_map(|doc| tierform::load_yaml(doc).ok())
                .map(|doc| doc.to_json())
                .collect::<Vec<_>>()
        })
        .filter(|d| d["kind"] == "Service")
        .collect();
    let named = |n: &str| {
        services
            .iter()
            .find(|s| s["metadata"]["name"] == n)
            .unwrap_or_else(|| panic!("no Service {n}: {services:?}"))
    };
    let headless = named("api-pods");
    assert_eq!(headless["spec"]["clusterIP"], "None", "{headless}");
    assert_eq!(
        headless["spec"]["selector"],
        named("api")["spec"]["selector"]
    );
    assert_eq!(headless["spec"]["ports"][0]["port"], 8000);
    // HAProxy keeps clients on a pod; the Service's own affinity would be for nothing.
    let client_ip = rendered_with(&BLUEPRINT.replace("\"header:X-Device-Id\"", "client_ip"));
    let config = file(&client_ip, "haproxy/haproxy.cfg");
    assert!(
        config.contains("balance source\n    hash-type consistent"),
        "{config}"
    );
    let manifests: String = client_ip.values().cloned().collect();
    assert!(!manifests.contains("sessionAffinity"), "{manifests}");
}

/// nginx resolves the pods of a pool it does not hash, and retries a GET on another pod
/// (3 tries, as elsewhere), not only on the one name it was given.
#[test]
fn nginx_addresses_every_pod_and_retries_on_another() {
    let config = file(&rendered_with(&nginx_blueprint()), "nginx/nginx.conf");
    assert!(
        config.contains(&format!("server {PODS_NAME}:8000 resolve max_fails=0;")),
        "{config}"
    );
    assert!(
        config.contains(&format!(
            "resolver {} valid=5s ipv6=off;",
            tierform::balancer::CLUSTER_DNS
        )),
        "{config}"
    );
    assert!(config.contains("proxy_next_upstream_tries 3;"), "{config}");
    assert!(!config.contains("proxy_next_upstream_tries 1;"), "{config}");
}

/// The `no-effect-on-kubernetes` warnings of the blueprint with `engine` and `sticky`.
fn kubernetes_warnings(engine: &str, sticky: &str) -> Vec<String> {
    let text = BLUEPRINT
        .replace("engine: haproxy", &format!("engine: {engine}"))
        .replace("\"header:X-Device-Id\"", sticky);
    let v = tierform::validate_str(&text);
    assert_eq!(v.errors(), 0, "{text}");
    v.diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "no-effect-on-kubernetes")
        .map(|d| format!("{} ({})", d.message, d.hint.as_deref().unwrap_or_default()))
        .collect()
}

/// Stickiness holds on Kubernetes with HAProxy, which hashes over the pods: no warning.
/// With nginx, through the Service, no stickiness holds: `client_ip` (the Service's
/// session affinity) pins each balancer pod's clients to one pod, so the hint is
/// HAProxy, not `client_ip`.
#[test]
fn sticky_on_kubernetes_is_flagged_only_where_the_balancer_misses_the_pods() {
    for sticky in ["\"header:X-Device-Id\"", "cookie", "client_ip"] {
        assert_eq!(kubernetes_warnings("haproxy", sticky), Vec::<String>::new());
        let nginx = kubernetes_warnings("nginx", sticky);
        assert_eq!(nginx.len(), 1, "{sticky}: {nginx:?}");
        assert!(nginx[0].contains("engine: haproxy"), "{nginx:?}");
        assert!(!nginx[0].contains("use `sticky: client_ip`"), "{nginx:?}");
    }
}

/// `api-pods` is taken by the balancer on Kubernetes: a service of that name would make
/// two Services `api-pods` in one namespace. Elsewhere, or with nginx, the name is free.
#[test]
fn a_service_may_not_take_the_name_of_a_pod_service() {
    let extra = "  api-pods:\n    kind: http\n    image: lab/other:1\n    port: 8001\n";
    let taken = format!("{BLUEPRINT}{extra}");
    let v = tierform::validate_str(&taken);
    let dup: Vec<&String> = v
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "duplicate-name")
        .map(|d| &d.message)
        .collect();
    assert_eq!(dup.len(), 1, "{:?}", v.diagnostics);
    assert!(dup[0].contains("`api-pods`"), "{dup:?}");
    for free in [
        taken.replace("targets: [kubernetes]", "targets: [compose]"),
        taken.replace("engine: haproxy", "engine: nginx"),
    ] {
        assert_eq!(tierform::validate_str(&free).errors(), 0, "{free}");
    }
}

/// The pods' addresses: 127.0.1.1, 127.0.1.2, …
fn pod(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 1, i)
}

struct Pods {
    // Declared first so HAProxy stops before the pods and the DNS server go.
    lab: Lab,
    dns: DnsServer,
    pods: BTreeMap<String, StubBackend>,
    front: SocketAddr,
    pid: u32,
}

impl Pods {
    fn add_pod(&mut self, i: u8) {
        let id = format!("pod-{i}");
        let stub = StubBackend::start(SocketAddr::from((pod(i), 8000)), &id);
        self.pods.insert(id, stub);
        let mut addrs: Vec<Ipv4Addr> = (1..=i).map(pod).collect();
        addrs.sort();
        self.dns.set(PODS_NAME, &addrs);
    }

    /// A rollout's step: pod `new` becomes ready and pod `gone` leaves the DNS answer
    /// (it still answers, as a pod does while it drains).
    fn replace_pod(&mut self, gone: u8, new: u8) {
        let id = format!("pod-{new}");
        let stub = StubBackend::start(SocketAddr::from((pod(new), 8000)), &id);
        self.pods.insert(id, stub);
        let mut addrs: Vec<Ipv4Addr> = self
            .pods
            .keys()
            .filter_map(|k| k.strip_prefix("pod-")?.parse().ok())
            .filter(|i| *i != gone)
            .map(pod)
            .collect();
        addrs.sort();
        self.dns.set(PODS_NAME, &addrs);
    }

    /// Which pod answered each of `n` requests.
    fn backends(&self, n: usize, headers: &[(&str, &str)]) -> BTreeMap<String, usize> {
        let mut seen = BTreeMap::new();
        for _ in 0..n {
            let r = lab::http_get(self.front, "/api/spread", headers)
                .unwrap_or_else(|e| panic!("GET: {e}\n{}", self.lab.logs("balancer")));
            assert_eq!(r.status, 200, "{}\n{}", r.body, self.lab.logs("balancer"));
            *seen
                .entry(r.header("X-Backend").unwrap_or("?").to_string())
                .or_default() += 1;
        }
        seen
    }

    /// Polls until every pod in `want` has answered a round of requests, for up to 20 s.
    fn wait_for(&self, want: usize) -> BTreeMap<String, usize> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.backends(4 * want, &[]);
            if seen.len() >= want || Instant::now() > until {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The blueprint for nginx: the same service, not hashed, so nginx resolves its pods.
fn nginx_blueprint() -> String {
    let text = BLUEPRINT
        .replace("engine: haproxy", "engine: nginx")
        .replace("    balance: { sticky: \"header:X-Device-Id\" }\n", "");
    assert_ne!(text, BLUEPRINT);
    text
}

fn start(engine: &str, set: Option<ServerSet>, version: &str) -> Option<Pods> {
    let set = set?;
    let binary = set.require(engine)?;
    if !lab::private_network() {
        return None;
    }
    let dns = DnsServer::start("127.0.0.53:5300".parse().unwrap());
    let mut lab = Lab::new();
    let out = lab.command(set.root(), &[&binary, "-v"]).output().unwrap();
    let booted = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{}: {}",
        set.name(),
        booted.lines().next().unwrap_or_default()
    );
    let (expect, config, conf_name) = if engine == "nginx" {
        let config = file(&rendered_with(&nginx_blueprint()), "nginx/nginx.conf");
        // The cluster's DNS is the lab's; the pod's any-address port, on loopback.
        let prepared = config
            .replace(
                &format!("resolver {} ", tierform::balancer::CLUSTER_DNS),
                &format!("resolver {} ", dns.addr()),
            )
            .replace("listen 8080 reuseport;", "listen 127.0.0.20:8080;");
        (format!("nginx/{version}."), prepared, "nginx.conf")
    } else {
        let config = file(&rendered(), "haproxy/haproxy.cfg");
        // The pod's resolv.conf names the cluster's DNS; here, the lab's. And the pod's
        // any-address port, on loopback.
        let prepared = config
            .replace(
                "    parse-resolv-conf\n",
                &format!("    nameserver lab {}\n", dns.addr()),
            )
            .replace("    bind :8080\n", "    bind 127.0.0.20:8080\n");
        (
            format!("HAProxy version {version}."),
            prepared,
            "haproxy.cfg",
        )
    };
    assert!(
        booted.contains(&expect),
        "{} boots {booted:?}, not {version}",
        set.name()
    );
    assert!(config.contains(&dns.addr().to_string()), "{config}");
    assert!(config.contains("127.0.0.20:8080"), "{config}");
    let conf = lab.dir().join(conf_name);
    std::fs::write(&conf, config).unwrap();
    let conf = conf.to_str().unwrap().to_string();
    let dir = lab.dir().to_str().unwrap().to_string();
    let argv: Vec<&str> = if engine == "nginx" {
        vec![&binary, "-p", &dir, "-c", &conf, "-g", "daemon off;"]
    } else {
        vec![&binary, "-W", "-db", "-f", &conf]
    };
    let pid = lab.start_with(
        "balancer",
        &argv,
        &[],
        StartOptions {
            root: set.root().map(std::path::Path::to_path_buf),
            ..Default::default()
        },
    );
    let front: SocketAddr = "127.0.0.20:8080".parse().unwrap();
    let mut pods = Pods {
        lab,
        dns,
        pods: BTreeMap::new(),
        front,
        pid,
    };
    for i in 1..=3 {
        pods.add_pod(i);
    }
    assert!(
        lab::wait_listening(front, Duration::from_secs(10)),
        "the balancer never listened on {front}:\n{}",
        pods.lab.logs("balancer")
    );
    pods.lab.assert_loopback_only(pid);
    Some(pods)
}

fn balances_over_pods(engine: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut p) = start(engine, set, version) else {
        return;
    };
    // Spread: without the sticky header, requests go round the three pods.
    let first = p.wait_for(3);
    let before: BTreeMap<String, usize> =
        p.pods.iter().map(|(k, s)| (k.clone(), s.hits())).collect();
    p.backends(90, &[]);
    let spread: BTreeMap<&String, usize> = p
        .pods
        .iter()
        .map(|(k, s)| (k, s.hits() - before[k]))
        .collect();
    eprintln!("3 pods behind {PODS_NAME}: {first:?}, then 90 requests: {spread:?}");
    for (id, n) in &spread {
        assert!(
            (20..=40).contains(n),
            "{id} got {n} of 90: {spread:?} (DNS queries: {})\n{}",
            p.dns.queries(),
            p.lab.logs("balancer")
        );
    }

    // Stickiness (HAProxy): each device stays on one pod, and the devices use more
    // than one.
    let mut used = BTreeSet::new();
    for device in (0..20).filter(|_| engine == "haproxy") {
        let id = format!("device-{device}");
        let seen = p.backends(6, &[("X-Device-Id", &id)]);
        assert_eq!(seen.len(), 1, "{id} reached {seen:?}");
        used.extend(seen.into_keys());
    }
    if engine == "haproxy" {
        eprintln!("20 sticky devices on {used:?}");
        assert!(used.len() >= 2, "20 devices all on {used:?}");
    }

    // Scale-up: a fourth pod in the DNS answer gets traffic, the balancer never reloaded.
    let queries = p.dns.queries();
    let started = Instant::now();
    p.add_pod(4);
    let seen = p.wait_for(4);
    eprintln!(
        "pod-4 added: after {:?} {seen:?} ({} DNS queries before)",
        started.elapsed(),
        queries
    );
    assert!(
        seen.contains_key("pod-4"),
        "pod-4 never got a request: {seen:?}\n{}",
        p.lab.logs("balancer")
    );

    // A rollout with every slot taken (4 pods and the surge's 5th): pod-1 leaves the
    // DNS answer as pod-6 becomes ready. The new pod gets traffic within seconds, not
    // after the old one's slot is held for half a minute.
    p.add_pod(5);
    let five = p.wait_for(5);
    assert_eq!(five.len(), 5, "{five:?}\n{}", p.lab.logs("balancer"));
    let started = Instant::now();
    p.replace_pod(1, 6);
    let served = loop {
        let seen = p.backends(10, &[]);
        if seen.contains_key("pod-6") || started.elapsed() > Duration::from_secs(20) {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "pod-6 replaced pod-1: after {:?} {served:?}",
        started.elapsed()
    );
    assert!(
        served.contains_key("pod-6") && started.elapsed() < Duration::from_secs(10),
        "pod-6 got no request for {:?}: {served:?}\n{}",
        started.elapsed(),
        p.lab.logs("balancer")
    );
    assert!(p.lab.is_running(p.pid), "the balancer is the one started");
}

#[test]
fn haproxy_2_6_on_debian12_balances_over_pods() {
    balances_over_pods("haproxy", Some(ServerSet::host()), "2.6");
}

#[test]
fn haproxy_3_0_on_debian13_balances_over_pods() {
    balances_over_pods("haproxy", ServerSet::trixie(), "3.0");
}

#[test]
fn nginx_1_30_on_debian_testing_balances_over_pods() {
    balances_over_pods("nginx", ServerSet::forky(), "1.30");
}
