//! Live: the `hosts` bundle of `tests/fixtures/render/lab.yaml`, whose machines are
//! loopback addresses, started for real — nginx, then HAProxy — in front of stub
//! backends at the addresses the plan gives each instance. Checks that requests spread,
//! survive a dead instance, stop at the rate limit with 429 (which HAProxy's exporter
//! counts, and Debian 13's Prometheus reads from the bundle's own prometheus.yml),
//! stick by header, follow path prefixes, split 90/10, carry the forwarding headers and
//! upgrade WebSockets.
//! On each supported server set: Debian 12's nginx 1.22 and HAProxy 2.6 (the machine's),
//! Debian 13's nginx 1.26 and HAProxy 3.0 (the trixie root), and nginx 1.30, the
//! line tierform renders, from Debian testing (the forky root; see [`lab::ServerSet`]).

use crate::common;
use tierform_lab as lab;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use lab::{http_get, Lab, ServerSet, StartOptions, StubBackend};
use tierform::balancer;
use tierform::Plan;
use tierform::{plans, Selection};
use tierform::{BalancerEngine, Platform};

const LAB: &str = "tests/fixtures/render/lab.yaml";

/// The loopback blueprint whose balancer passes `/health` through to its API.
const HEALTH_PASS_THROUGH: &str = "tests/fixtures/render/health-pass-through.yaml";

/// The live tests share the lab's addresses (127.0.0.20–24) and HAProxy's stats port:
/// one at a time.
pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

/// A balancer from the lab blueprint, running in front of one stub per instance.
pub(crate) struct Running {
    // Declared first so the balancer stops before the backends go.
    pub(crate) lab: Lab,
    pub(crate) stubs: BTreeMap<String, StubBackend>,
    pub(crate) front: SocketAddr,
}

impl Running {
    pub(crate) fn get(&self, path: &str, headers: &[(&str, &str)]) -> lab::Response {
        http_get(self.front, path, headers)
            .unwrap_or_else(|e| panic!("GET {path} through the balancer: {e}\n{}", self.logs()))
    }

    /// `method path` through the balancer from the local address `source` (another
    /// loopback address than 127.0.0.1, the lab's trusted proxy).
    pub(crate) fn request_from(
        &self,
        source: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> lab::Response {
        lab::http_request_from(
            source.parse().unwrap(),
            self.front,
            method,
            path,
            headers,
            "",
        )
        .unwrap_or_else(|e| {
            panic!(
                "{method} {path} from {source} through the balancer: {e}\n{}",
                self.logs()
            )
        })
    }

    /// `GET path` from `source` after a PROXY protocol v1 header naming `client`;
    /// `None` when the connection closed or failed without an answer.
    pub(crate) fn get_proxied(
        &self,
        source: &str,
        client: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Option<lab::Response> {
        let preamble = format!(
            "PROXY TCP4 {client} {} 40000 {}\r\n",
            self.front.ip(),
            self.front.port()
        );
        lab::http_request_after(
            source.parse().unwrap(),
            self.front,
            preamble.as_bytes(),
            "GET",
            path,
            headers,
        )
        .ok()
    }

    pub(crate) fn logs(&self) -> String {
        self.lab.logs("balancer")
    }

    /// Which backend answered each of `n` requests.
    fn backends(&self, n: usize, path: &str, headers: &[(&str, &str)]) -> BTreeMap<String, usize> {
        let mut seen = BTreeMap::new();
        for _ in 0..n {
            let r = self.get(path, headers);
            assert_eq!(
                r.status,
                200,
                "GET {path}: {} {}\n{}",
                r.status,
                r.body,
                self.logs()
            );
            *seen
                .entry(r.header("X-Backend").unwrap_or("?").to_string())
                .or_default() += 1;
        }
        seen
    }
}

fn lab_plan(phase: &str) -> (Plan, String) {
    plan_of(LAB, phase)
}

/// The plan of `phase` of the loopback blueprint `blueprint` on `hosts`, and its first
/// balancer node's config.
fn plan_of(blueprint: &str, phase: &str) -> (Plan, String) {
    let path = std::path::Path::new(blueprint);
    let set = common::render_all(path);
    let v = tierform::validate_bytes(&std::fs::read(path).unwrap());
    let plan = plans(
        &v.phases,
        &Selection {
            phases: vec![phase.into()],
            platforms: vec![Platform::Hosts],
        },
    )
    .unwrap()
    .remove(0);
    let lb = plan.balancer.as_ref().unwrap();
    let node = &lb.nodes[&Platform::Hosts][0];
    let rel = format!(
        "{phase}/hosts/{}/{}",
        node.host,
        balancer::file_name(lb.engine)
    );
    let text = set
        .get(&rel)
        .unwrap_or_else(|| panic!("{rel} not rendered"))
        .to_string();
    (plan, text)
}

/// Starts the stubs and the balancer of `phase` from `set`, after checking that it is
/// `version` (e.g. "1.30"); `None` (outside CI) without the tools or the set.
pub(crate) fn start(phase: &str, set: Option<ServerSet>, version: &str) -> Option<Running> {
    start_prepared(phase, set, version, |_, config| config.to_string())
}

/// [`start`], with the config as `prepare` makes it from the rendered one in the lab's
/// folder (e.g. pointing it at a certificate the test made there).
pub(crate) fn start_prepared(
    phase: &str,
    set: Option<ServerSet>,
    version: &str,
    prepare: impl FnOnce(&std::path::Path, &str) -> String,
) -> Option<Running> {
    start_with_env(phase, set, version, prepare, Vec::new())
}

/// [`start_prepared`], with extra environment for the balancer (e.g. a faked clock).
pub(crate) fn start_with_env(
    phase: &str,
    set: Option<ServerSet>,
    version: &str,
    prepare: impl FnOnce(&std::path::Path, &str) -> String,
    env: Vec<(String, String)>,
) -> Option<Running> {
    start_from(LAB, phase, set, version, prepare, env)
}

/// [`start_with_env`] for `phase` of another loopback blueprint than the lab's.
fn start_from(
    blueprint: &str,
    phase: &str,
    set: Option<ServerSet>,
    version: &str,
    prepare: impl FnOnce(&std::path::Path, &str) -> String,
    env: Vec<(String, String)>,
) -> Option<Running> {
    let set = set?;
    let (plan, config) = plan_of(blueprint, phase);
    let lb = plan.balancer.as_ref().unwrap();
    let tool = match lb.engine {
        BalancerEngine::Nginx => "nginx",
        BalancerEngine::Haproxy => "haproxy",
    };
    let binary = set.require(tool)?;
    if !lab::private_network() {
        return None;
    }
    let (flag, expect) = match lb.engine {
        BalancerEngine::Nginx => ("-v", format!("nginx/{version}.")),
        BalancerEngine::Haproxy => ("-v", format!("HAProxy version {version}.")),
    };
    // Every instance of every service, where the plan says it listens.
    let mut stubs = BTreeMap::new();
    for s in plan.services.values() {
        for e in s.endpoints.get(&Platform::Hosts).into_iter().flatten() {
            let addr: SocketAddr = format!("{}:{}", e.host, e.port).parse().unwrap();
            assert!(
                addr.ip().is_loopback(),
                "the lab listens on loopback only: {addr}"
            );
            stubs.insert(e.id.clone(), StubBackend::start(addr, &e.id));
        }
    }
    let mut lab = Lab::new();
    let out = lab.command(set.root(), &[&binary, flag]).output().unwrap();
    let booted = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let booted = booted.lines().next().unwrap_or_default();
    eprintln!("{}: {booted}", set.name());
    assert!(
        booted.contains(&expect),
        "{} boots {booted:?}, not {expect}",
        set.name()
    );
    let conf = lab.dir().join("balancer.conf");
    std::fs::write(&conf, prepare(lab.dir(), &config)).unwrap();
    let dir = lab.dir().to_str().unwrap().to_string();
    let conf = conf.to_str().unwrap();
    let mut argv = vec![binary.as_str()];
    match lb.engine {
        // In the foreground, as a container runs it.
        BalancerEngine::Nginx => argv.extend(["-p", &dir, "-c", conf, "-g", "daemon off;"]),
        // Master–worker, in the foreground.
        BalancerEngine::Haproxy => argv.extend(["-W", "-db", "-f", conf]),
    }
    let pid = lab.start_with(
        "balancer",
        &argv,
        &[],
        StartOptions {
            root: set.root().map(std::path::Path::to_path_buf),
            env,
            ..Default::default()
        },
    );
    let node = &lb.nodes[&Platform::Hosts][0];
    let front: SocketAddr = format!("{}:{}", node.address, node.port).parse().unwrap();
    assert!(front.ip().is_loopback());
    let running = Running { lab, stubs, front };
    assert!(
        lab::wait_listening(front, Duration::from_secs(10)),
        "the balancer never listened on {front}:\n{}",
        running.logs()
    );
    running.lab.assert_loopback_only(pid);
    Some(running)
}

pub(crate) fn hits(r: &Running, prefix: &str) -> BTreeMap<String, usize> {
    r.stubs
        .iter()
        .filter(|(id, _)| id.starts_with(prefix))
        .map(|(id, s)| (id.clone(), s.hits()))
        .collect()
}

fn the_balancer_behaves(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut r) = start(phase, set, version) else {
        return;
    };

    // Its own health answer, without touching a backend.
    let health = r.get("/health", &[]);
    assert_eq!(health.status, 200, "{}", r.logs());

    // Each path prefix reaches its own pool; the longest prefix wins.
    for (path, pool) in [
        ("/api/users/7", "api-"),
        ("/api", "api-"),
        ("/hub/socket", "hub-"),
        ("/", "web-"),
        ("/about", "web-"),
        ("/apis-are-not-api", "api-"),
    ] {
        let resp = r.get(path, &[]);
        assert_eq!(resp.status, 200, "{path}: {}", r.logs());
        let backend = resp.header("X-Backend").unwrap_or_default();
        assert!(
            backend.starts_with(pool),
            "{path} reached {backend}, not {pool}*"
        );
        assert_eq!(resp.header("X-Path"), Some(path));
    }

    // The forwarding headers reach the backend.
    r.get("/about", &[]);
    let web = &r.stubs["web-1"];
    assert_eq!(web.last_header("X-Real-IP").as_deref(), Some("127.0.0.1"));
    assert!(
        web.last_header("X-Forwarded-For")
            .is_some_and(|v| v.contains("127.0.0.1")),
        "{:?}",
        web.last_headers()
    );
    assert_eq!(
        web.last_header("X-Forwarded-Proto").as_deref(),
        Some("http")
    );

    // Round robin spreads requests over the three api instances.
    let before = hits(&r, "api-");
    r.backends(300, "/api/spread", &[]);
    let after = hits(&r, "api-");
    for (id, n) in &after {
        let got = n - before[id];
        assert!(
            (70..=130).contains(&got),
            "{id} got {got} of 300: {after:?}"
        );
    }

    // The same header value always reaches the same hub instance.
    let mut instances = std::collections::BTreeSet::new();
    for device in 0..30 {
        let id = format!("device-{device}");
        let seen = r.backends(8, "/hub/poll", &[("X-Device-Id", &id)]);
        assert_eq!(seen.len(), 1, "{id} reached {seen:?}");
        instances.extend(seen.into_keys());
    }
    assert!(instances.len() >= 2, "30 devices all on {instances:?}");

    // A WebSocket upgrade passes through, and the tunnel carries bytes both ways.
    let (resp, mut stream) = lab::websocket_connect(r.front, "/hub/ws").expect("upgrade");
    assert_eq!(resp.status, 101, "{}", r.logs());
    assert!(resp
        .header("X-Backend")
        .unwrap_or_default()
        .starts_with("hub-"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    drop(stream);

    // A 90/10 split lands within ±5 points over 1,000 requests.
    let seen = r.backends(1000, "/checkout", &[]);
    let canary = seen.get("canary-1").copied().unwrap_or(0);
    assert!(
        (50..=150).contains(&canary),
        "canary got {canary} of 1000: {seen:?}"
    );
    assert_eq!(seen.values().sum::<usize>(), 1000);

    // With one api instance dead, every request still succeeds, on the other two.
    r.stubs.get_mut("api-2").unwrap().stop();
    let seen = r.backends(200, "/api/after-failure", &[]);
    assert!(!seen.contains_key("api-2"), "{seen:?}");
    assert_eq!(seen.values().sum::<usize>(), 200);
    assert!(seen.len() == 2, "{seen:?}");

    // The balancer was started by PID and stops by PID.
    drop(r);
}

fn the_rate_limit_answers_429(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    let mut statuses = BTreeMap::new();
    for _ in 0..60 {
        *statuses
            .entry(r.get("/api/limited", &[]).status)
            .or_insert(0) += 1;
    }
    let ok = statuses.get(&200).copied().unwrap_or(0);
    let limited = statuses.get(&429).copied().unwrap_or(0);
    assert_eq!(ok + limited, 60, "{statuses:?}\n{}", r.logs());
    // 5 requests/s with a burst of 5: a handful pass, the rest are refused.
    assert!((5..=20).contains(&ok), "{statuses:?}");
    assert!(limited >= 40, "{statuses:?}");
    // The balancer's own health is never limited.
    assert_eq!(r.get("/health", &[]).status, 200);
    // HAProxy's exporter counts each 429 as a 4xx of the backend `rate_limited`, the
    // series its TooManyRequestsRefused alert reads, and every request at the front.
    let (plan, _) = lab_plan(phase);
    let lb = plan.balancer.as_ref().unwrap();
    if lb.engine == BalancerEngine::Haproxy {
        let node = &lb.nodes[&Platform::Hosts][0];
        let at: SocketAddr = format!("{}:{}", node.metrics_address, node.metrics_port.unwrap())
            .parse()
            .unwrap();
        let metrics = lab::http_get(at, "/metrics", &[]).expect("HAProxy's metrics");
        assert_eq!(metrics.status, 200, "{}", metrics.body);
        let value = |series: &str| -> f64 {
            metrics
                .body
                .lines()
                .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {series} in HAProxy's metrics"))
        };
        let refused =
            value("haproxy_backend_http_responses_total{proxy=\"rate_limited\",code=\"4xx\"}");
        assert_eq!(refused, limited as f64, "{statuses:?}");
        let requests = value("haproxy_frontend_http_requests_total{proxy=\"http\"}");
        assert!(requests >= 61.0, "{requests} requests counted at the front");
        prometheus_reads_the_429s(phase, limited);
    }
}

/// A team's nginx passed `/health` through to its API. With the balancer's own health
/// moved (`health_path: /lb-health`, in [`HEALTH_PASS_THROUGH`]), GET /health reaches
/// an API instance, and GET /lb-health is answered by the balancer itself, touching no
/// backend; the balancer logs neither, but logs the requests around them.
fn health_passes_through(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start_from(
        HEALTH_PASS_THROUGH,
        phase,
        set,
        version,
        |_, config| config.to_string(),
        Vec::new(),
    ) else {
        return;
    };
    let before: usize = r.stubs.values().map(StubBackend::health_hits).sum();
    let resp = r.get("/api/before", &[]);
    assert_eq!(resp.status, 200, "{phase}\n{}", r.logs());

    let health = r.get("/health", &[]);
    assert_eq!(health.status, 200, "{phase}: GET /health\n{}", r.logs());
    let backend = health.header("X-Backend").unwrap_or_default();
    assert!(
        backend.starts_with("api-"),
        "{phase}: GET /health reached {backend:?}, not an API instance\n{}",
        r.logs()
    );
    assert_eq!(health.header("X-Path"), Some("/health"), "{phase}");
    assert_eq!(health.body, "ok", "{phase}");
    let after: usize = r.stubs.values().map(StubBackend::health_hits).sum();
    assert!(after > before, "{phase}: no backend saw /health");

    let own = r.get("/lb-health", &[]);
    assert_eq!(own.status, 200, "{phase}: GET /lb-health\n{}", r.logs());
    assert_eq!(
        own.header("X-Backend"),
        None,
        "{phase}: GET /lb-health reached a backend: {:?}",
        own.body
    );

    // The requests before and after are logged, the two health checks not.
    r.get("/api/after", &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !r.logs().contains("GET /api/after ") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs = r.logs();
    assert!(
        logs.contains("GET /api/before ") && logs.contains("GET /api/after "),
        "{phase}: the balancer logs no request:\n{logs}"
    );
    for quiet in ["GET /health ", "GET /lb-health "] {
        assert!(!logs.contains(quiet), "{phase}: `{quiet}` logged:\n{logs}");
    }
}

/// Debian 13's Prometheus, from the phase's hosts bundle (its command in the
/// monitoring machine's compose file, its prometheus.yml and rules), scrapes the
/// running HAProxy's metrics and reads `limited` refused requests: the series
/// TooManyRequestsRefused reads. Skipped where Debian 13's set is not installed.
fn prometheus_reads_the_429s(phase: &str, limited: usize) {
    let Some(set) = ServerSet::trixie() else {
        return;
    };
    let Some(binary) = set.require("prometheus") else {
        return;
    };
    let rendered = common::render_all(std::path::Path::new(LAB));
    let prefix = format!("{phase}/hosts/");
    let config = rendered
        .iter()
        .map(|(p, _)| p.to_string())
        .find(|p| p.starts_with(&prefix) && p.ends_with("/monitoring/prometheus.yml"))
        .expect("the monitoring machine's prometheus.yml");
    let home = config.strip_suffix("/monitoring/prometheus.yml").unwrap();
    let mut lab = Lab::new();
    let monitoring = lab.dir().join("monitoring");
    std::fs::create_dir_all(&monitoring).unwrap();
    for file in ["prometheus.yml", "rules.yml"] {
        let text = rendered.get(&format!("{home}/monitoring/{file}")).unwrap();
        std::fs::write(monitoring.join(file), text).unwrap();
    }
    let compose = tierform::load_yaml(rendered.get(&format!("{home}/docker-compose.yml")).unwrap())
        .unwrap()
        .to_json();
    let (args, _) = crate::live_monitoring::container(&compose, "prometheus", &BTreeMap::new());
    let listen: SocketAddr = args
        .iter()
        .find_map(|a| a.strip_prefix("--web.listen-address="))
        .unwrap()
        .parse()
        .unwrap();
    let tsdb = lab.dir().join("tsdb");
    std::fs::create_dir_all(&tsdb).unwrap();
    let mut argv = vec![binary];
    argv.extend(args);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    lab.start_with(
        "prometheus",
        &argv,
        &[],
        StartOptions {
            binds: vec![
                (monitoring, "/etc/prometheus".into()),
                (tsdb, "/prometheus".into()),
            ],
            root: set.root().map(std::path::Path::to_path_buf),
            ..Default::default()
        },
    );
    assert!(
        lab::wait_listening(listen, Duration::from_secs(30)),
        "Prometheus never listened on {listen}:\n{}",
        lab.logs("prometheus")
    );
    let q = crate::live_monitoring::urlencode(
        "haproxy_backend_http_responses_total{job=\"balancer\",proxy=\"rate_limited\",code=\"4xx\"}",
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = http_get(listen, &format!("/api/v1/query?query={q}"), &[])
            .ok()
            .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
            .and_then(|v| {
                v["data"]["result"][0]["value"][1]
                    .as_str()
                    .map(String::from)
            });
        if got.as_deref() == Some(limited.to_string().as_str()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus read {got:?}, not the {limited} refused requests:\n{}",
            lab.logs("prometheus")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn nginx_1_22_on_debian12_in_front_of_live_backends() {
    the_balancer_behaves("nginx", Some(ServerSet::host()), "1.22");
}

#[test]
fn nginx_1_26_on_debian13_in_front_of_live_backends() {
    the_balancer_behaves("nginx", ServerSet::trixie(), "1.26");
}

#[test]
fn nginx_1_30_on_debian_testing_in_front_of_live_backends() {
    the_balancer_behaves("nginx", ServerSet::forky(), "1.30");
}

#[test]
fn nginx_1_22_on_debian12_rate_limit() {
    the_rate_limit_answers_429("nginx-limited", Some(ServerSet::host()), "1.22");
}

#[test]
fn nginx_1_26_on_debian13_rate_limit() {
    the_rate_limit_answers_429("nginx-limited", ServerSet::trixie(), "1.26");
}

#[test]
fn nginx_1_30_on_debian_testing_rate_limit() {
    the_rate_limit_answers_429("nginx-limited", ServerSet::forky(), "1.30");
}

#[test]
fn haproxy_2_6_on_debian12_in_front_of_live_backends() {
    the_balancer_behaves("haproxy", Some(ServerSet::host()), "2.6");
}

#[test]
fn haproxy_3_0_on_debian13_in_front_of_live_backends() {
    the_balancer_behaves("haproxy", ServerSet::trixie(), "3.0");
}

#[test]
fn haproxy_2_6_on_debian12_rate_limit() {
    the_rate_limit_answers_429("haproxy-limited", Some(ServerSet::host()), "2.6");
}

#[test]
fn haproxy_3_0_on_debian13_rate_limit() {
    the_rate_limit_answers_429("haproxy-limited", ServerSet::trixie(), "3.0");
}

#[test]
fn nginx_1_22_on_debian12_passes_health_through() {
    health_passes_through("nginx", Some(ServerSet::host()), "1.22");
}

#[test]
fn nginx_1_26_on_debian13_passes_health_through() {
    health_passes_through("nginx", ServerSet::trixie(), "1.26");
}

#[test]
fn nginx_1_30_on_debian_testing_passes_health_through() {
    health_passes_through("nginx", ServerSet::forky(), "1.30");
}

#[test]
fn haproxy_2_6_on_debian12_passes_health_through() {
    health_passes_through("haproxy", Some(ServerSet::host()), "2.6");
}

#[test]
fn haproxy_3_0_on_debian13_passes_health_through() {
    health_passes_through("haproxy", ServerSet::trixie(), "3.0");
}
