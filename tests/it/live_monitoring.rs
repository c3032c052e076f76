//! Live: the monitoring of `tests/fixtures/render/lab-monitoring.yaml`'s compose bundle,
//! booted from Debian 13's packages (the versions the images pin): its nginx (with the
//! rendered `stub_status`), Redis and PostgreSQL from the rendered configs, and beside
//! them the rendered exporters (each with its compose `command` and `environment`) and
//! Prometheus 2.53 with the rendered `prometheus.yml` and `rules.yml`. Each container
//! name resolves to a loopback address of the test's own network namespace, as compose's
//! DNS would; cAdvisor alone is absent (Debian does not package it).
//!
//! Prometheus must scrape every other job, and the phase's `TimeForNextPhase` alert
//! (queue depth above 100 for 30s) goes pending, then firing, once 150 jobs are pushed
//! onto the worker's queue, and says which phase to move to; Alertmanager 0.28, with
//! the rendered configuration and the receivers' URLs as the secret files compose
//! mounts, then POSTs it to the webhook and to the Slack receiver.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tierform_lab as lab;

use lab::{Lab, ServerSet, StartOptions, StubBackend};

use crate::common;
use crate::live_data::{ok, wait_for, SERIAL};
use crate::live_postgres::{start_primary, MONITOR_PASSWORD};

const LAB: &str = "tests/fixtures/render/lab-monitoring.yaml";
const JOBS_PASSWORD: &str = "jobs pass: \"quoted\" $1";

/// The loopback address each compose container name resolves to.
const ADDRESSES: [(&str, &str); 11] = [
    ("nginx", "127.0.0.61"),
    ("api", "127.0.0.62"),
    ("jobs", "127.0.0.63"),
    ("db", "127.0.0.64"),
    ("jobs-exporter", "127.0.0.65"),
    ("db-exporter", "127.0.0.66"),
    ("nginx-exporter", "127.0.0.67"),
    ("prometheus", "127.0.0.68"),
    ("alertmanager", "127.0.0.69"),
    // Where the receivers' URLs point: a webhook and a stand-in for Slack.
    ("receiver", "127.0.0.70"),
    ("node-exporter", "127.0.0.60"),
];

fn hosts() -> Vec<(String, IpAddr)> {
    ADDRESSES
        .iter()
        .map(|(name, a)| (name.to_string(), a.parse().unwrap()))
        .collect()
}

fn addr(name: &str, port: u16) -> SocketAddr {
    let a = ADDRESSES.iter().find(|(n, _)| *n == name).unwrap().1;
    format!("{a}:{port}").parse().unwrap()
}

/// The phase's compose bundle, written into the lab folder.
fn bundle(lab: &Lab) -> (PathBuf, Value) {
    let set = common::render_all(Path::new(LAB));
    let dir = lab.dir().join("compose");
    for (path, text) in set.iter() {
        let Some(rel) = path.strip_prefix("small/compose/") else {
            continue;
        };
        let dest = dir.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, text).unwrap();
    }
    let compose = tierform::load_yaml(set.get("small/compose/docker-compose.yml").unwrap())
        .unwrap()
        .to_json();
    (dir, compose)
}

/// A container's `command` and `environment` as compose would give them, with each
/// `${NAME:?…}` filled from `secrets`.
pub(crate) fn container(
    compose: &Value,
    name: &str,
    secrets: &BTreeMap<&str, &str>,
) -> (Vec<String>, Vec<(String, String)>) {
    let c = &compose["services"][name];
    assert!(c.is_object(), "the compose file has no {name}");
    let args = c["command"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let mut env = Vec::new();
    for (k, v) in c["environment"].as_object().into_iter().flatten() {
        let v = v.as_str().unwrap();
        let value = match v.strip_prefix("${") {
            Some(rest) => {
                let var = rest.split(":?").next().unwrap();
                secrets
                    .get(var)
                    .unwrap_or_else(|| panic!("no secret {var} for {name}"))
                    .to_string()
            }
            None => v.to_string(),
        };
        env.push((k.clone(), value));
    }
    (args, env)
}

/// An HTTP server on a thread that answers every request 200 and keeps each one's
/// path and body.
struct Receiver {
    got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    fn start(addr: SocketAddr) -> Receiver {
        let listener = TcpListener::bind(addr).unwrap();
        let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let keep = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = header.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                keep.lock()
                    .unwrap()
                    .push((path, String::from_utf8_lossy(&body).into_owned()));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        Receiver { got }
    }

    /// The body of the first request to `path`.
    fn body(&self, path: &str) -> Option<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
    }
}

/// What starting one of the compose file's containers from the set's packages needs.
struct Started<'a> {
    compose: &'a Value,
    secrets: &'a BTreeMap<&'a str, &'a str>,
    root: Option<PathBuf>,
}

impl Started<'_> {
    /// Starts the container `name` as the set's `binary`, with its rendered command and
    /// environment and `binds` where the compose file mounts them, at the address its
    /// name resolves to; waits up to `seconds` until it listens on `port`.
    fn start(
        &self,
        lab: &mut Lab,
        name: &str,
        binary: &str,
        binds: Vec<(PathBuf, String)>,
        port: u16,
        seconds: u64,
    ) {
        let (args, env) = container(self.compose, name, self.secrets);
        let mut argv = vec![binary.to_string()];
        argv.extend(args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        lab.start_with(
            name,
            &argv,
            &hosts(),
            StartOptions {
                env,
                binds,
                root: self.root.clone(),
                ..Default::default()
            },
        );
        assert!(
            lab::wait_listening(addr(name, port), Duration::from_secs(seconds)),
            "{name} never listened:\n{}",
            lab.logs(name)
        );
    }
}

fn prometheus_get(path: &str) -> Value {
    let r = lab::http_get(addr("prometheus", 9090), path, &[]).expect("Prometheus answers");
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

/// The `jobs` Redis from its rendered start script and config in `conf`, with the
/// password and a data folder of the lab's, as its compose container runs.
fn start_jobs(lab: &mut Lab, conf: &Path, hosts: &[(String, IpAddr)], root: Option<PathBuf>) {
    let data = lab.dir().join("jobs-data");
    std::fs::create_dir_all(&data).unwrap();
    lab.start_with(
        "jobs",
        &[
            "/bin/sh",
            conf.join("start.sh").to_str().unwrap(),
            conf.join("jobs.conf").to_str().unwrap(),
        ],
        hosts,
        StartOptions {
            env: vec![
                ("REDIS_PASSWORD".into(), JOBS_PASSWORD.into()),
                ("REDIS_DATA_DIR".into(), data.to_str().unwrap().into()),
            ],
            root,
            ..Default::default()
        },
    );
}

/// The programs of Debian 13's set the tests run.
const TOOLS: [&str; 9] = [
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-redis-exporter",
    "prometheus-postgres-exporter",
    "prometheus-nginx-exporter",
    "prometheus-node-exporter",
    "nginx",
    "redis-server",
    "redis-cli",
];

/// Debian 13's server set with each of [`TOOLS`] and PostgreSQL's programs, where the
/// lab can run them in a network of its own; `None` (outside CI) without them.
fn debian13() -> Option<(ServerSet, BTreeMap<&'static str, String>, String)> {
    let set = ServerSet::trixie()?;
    let mut bin = BTreeMap::new();
    for tool in TOOLS {
        bin.insert(tool, set.require(tool)?);
    }
    let pg_bin = set.postgres_bin()?;
    lab::private_network().then_some((set, bin, pg_bin))
}

#[test]
fn prometheus_and_alertmanager_on_debian13_scrape_the_lab_and_send_the_next_phase_alert() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((set, bin, pg_bin)) = debian13() else {
        return;
    };
    let mut lab = Lab::new();
    let booted = ok(
        &lab.command(set.root(), &[&bin["prometheus"], "--version"])
            .output()
            .unwrap(),
        "prometheus --version",
    );
    eprintln!("{}: {}", set.name(), booted.lines().next().unwrap_or(""));
    assert!(
        booted.contains(tierform::versions::PROMETHEUS.version),
        "{} boots {booted}, not the Prometheus the image pins",
        set.name()
    );
    // Alertmanager and the exporters are the releases the images pin.
    for (tool, pinned) in [
        (
            "prometheus-redis-exporter",
            tierform::versions::REDIS_EXPORTER,
        ),
        (
            "prometheus-postgres-exporter",
            tierform::versions::POSTGRES_EXPORTER,
        ),
        (
            "prometheus-nginx-exporter",
            tierform::versions::NGINX_EXPORTER,
        ),
        (
            "prometheus-node-exporter",
            tierform::versions::NODE_EXPORTER,
        ),
    ] {
        let out = lab
            .command(set.root(), &[&bin[tool], "--version"])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(pinned.version),
            "{tool} is not {} ({}):\n{text}",
            pinned.version,
            pinned.image
        );
    }
    let (dir, compose) = bundle(&lab);
    let secrets: BTreeMap<&str, &str> = [
        ("JOBS_PASSWORD", JOBS_PASSWORD),
        ("DB_MONITOR_PASSWORD", MONITOR_PASSWORD),
    ]
    .into();
    let root = || set.root().map(Path::to_path_buf);

    // The API behind nginx: a stub backend on the address `api` resolves to.
    let _api = StubBackend::start(addr("api", 8000), "api");
    // nginx from the rendered config.
    let conf = dir.join("nginx/nginx.conf");
    lab.start_with(
        "nginx",
        &[
            &bin["nginx"],
            "-g",
            "daemon off;",
            "-c",
            conf.to_str().unwrap(),
        ],
        &hosts(),
        StartOptions {
            root: root(),
            ..Default::default()
        },
    );
    // Redis from the rendered config and start script.
    start_jobs(&mut lab, &dir.join("redis/jobs"), &hosts(), root());
    // PostgreSQL from the rendered config, hba and first-start script (which creates
    // the monitoring role).
    let pg_data = lab.dir().join("pgdata");
    let (_pg, _run) = start_primary(&mut lab, &set, &pg_bin, &dir.join("postgres/db"), &pg_data);
    for (name, port) in [("nginx", 8405), ("jobs", 6379)] {
        assert!(
            lab::wait_listening(addr(name, port), Duration::from_secs(15)),
            "{name} never listened:\n{}",
            lab.logs(name)
        );
    }

    // The exporters, each with its rendered command and environment.
    let started = Started {
        compose: &compose,
        secrets: &secrets,
        root: root(),
    };
    for (name, tool, port) in [
        ("jobs-exporter", "prometheus-redis-exporter", 9121),
        ("db-exporter", "prometheus-postgres-exporter", 9187),
        ("nginx-exporter", "prometheus-nginx-exporter", 9113),
    ] {
        started.start(&mut lab, name, &bin[tool], Vec::new(), port, 15);
    }
    // node_exporter with the host's root where the compose file mounts it.
    started.start(
        &mut lab,
        "node-exporter",
        &bin["prometheus-node-exporter"],
        vec![("/".into(), "/host".into())],
        9100,
        15,
    );

    // Alertmanager with the rendered command, its configuration, and each receiver's
    // URL as the file compose's `secrets` mounts under /run/secrets.
    let receiver = Receiver::start(addr("receiver", 8099));
    let secrets_dir = lab.dir().join("run-secrets");
    std::fs::create_dir_all(&secrets_dir).unwrap();
    for (file, path) in [
        ("alert_webhook_url", "/alerts"),
        ("slack_webhook_url", "/slack"),
    ] {
        std::fs::write(
            secrets_dir.join(file),
            format!("http://receiver:8099{path}\n"),
        )
        .unwrap();
    }
    let mounted: Vec<String> = compose["services"]["alertmanager"]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(mounted, ["alert_webhook_url", "slack_webhook_url"]);
    let am_data = lab.dir().join("alertmanager-data");
    std::fs::create_dir_all(&am_data).unwrap();
    started.start(
        &mut lab,
        "alertmanager",
        &bin["prometheus-alertmanager"],
        vec![
            (dir.join("monitoring"), "/etc/alertmanager".into()),
            (secrets_dir, "/run/secrets".into()),
            (am_data, "/alertmanager".into()),
        ],
        9093,
        30,
    );

    // Prometheus with the rendered command, its config folder and a data folder where
    // the compose file mounts them.
    let tsdb = lab.dir().join("prometheus-data");
    std::fs::create_dir_all(&tsdb).unwrap();
    started.start(
        &mut lab,
        "prometheus",
        &bin["prometheus"],
        vec![
            (dir.join("monitoring"), "/etc/prometheus".into()),
            (tsdb, "/prometheus".into()),
        ],
        9090,
        30,
    );

    // Ready once its storage is open: what the compose healthcheck waits for.
    wait_for("Prometheus to be ready", Duration::from_secs(30), || {
        lab::http_get(addr("prometheus", 9090), "/-/ready", &[]).is_ok_and(|r| r.status == 200)
    });

    // Every job but cAdvisor's is scraped and up.
    let mut health = BTreeMap::new();
    wait_for(
        "Prometheus to scrape every job",
        Duration::from_secs(60),
        || {
            let targets = prometheus_get("/api/v1/targets");
            health.clear();
            for t in targets["data"]["activeTargets"].as_array().unwrap() {
                let job = t["labels"]["job"].as_str().unwrap().to_string();
                let up = t["health"] == "up";
                health.insert(job, (up, t["lastError"].as_str().unwrap_or("").to_string()));
            }
            [
                "prometheus",
                "alertmanager",
                "balancer",
                "jobs",
                "db",
                "node-exporter",
            ]
            .iter()
            .all(|j| health.get(*j).is_some_and(|h| h.0))
        },
    );
    assert_eq!(
        health.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "alertmanager",
            "balancer",
            "cadvisor",
            "db",
            "jobs",
            "node-exporter",
            "prometheus"
        ],
        "the jobs of the rendered prometheus.yml: {health:?}"
    );
    // Each exporter reads its server, not only itself.
    let query = |q: &str| -> Vec<Value> {
        let path = format!("/api/v1/query?query={}", urlencode(q));
        prometheus_get(&path)["data"]["result"]
            .as_array()
            .unwrap()
            .clone()
    };
    for (q, what) in [
        (
            "redis_up{job=\"jobs\"} == 1",
            "redis_exporter reaches Redis",
        ),
        (
            "pg_up{job=\"db\"} == 1",
            "postgres_exporter logs in as the monitoring role",
        ),
        (
            "nginx_up{job=\"balancer\"} == 1",
            "the exporter reads nginx's stub_status",
        ),
        (
            "pg_settings_max_connections{job=\"db\"}",
            "postgres_exporter reads the settings the rule divides by",
        ),
        (
            "node_filesystem_avail_bytes{job=\"node-exporter\",mountpoint=\"/\"} > 0",
            "node_exporter reads the host's root filesystem through /host",
        ),
    ] {
        until_found(
            &lab,
            &query,
            q,
            what,
            &["db-exporter", "jobs-exporter", "nginx-exporter", "db"],
        );
    }

    // Nothing fires yet.
    let alert = || -> Option<Value> {
        prometheus_get("/api/v1/alerts")["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == "TimeForNextPhase")
            .cloned()
    };
    assert!(
        alert().is_none(),
        "fires with an empty queue: {:?}",
        alert()
    );
    // The queue's depth reads 0 while the list does not exist (Redis deletes an empty
    // list): a drained queue is a value, not a gap.
    let rules =
        tierform::load_yaml(&std::fs::read_to_string(dir.join("monitoring/rules.yml")).unwrap())
            .unwrap()
            .to_json();
    let expr = rules["groups"][0]["rules"][0]["expr"]
        .as_str()
        .unwrap()
        .to_string();
    let (depth, threshold) = expr.rsplit_once(" > ").unwrap();
    assert_eq!(threshold, "100", "{expr}");
    let now = query(depth);
    assert_eq!(now.len(), 1, "{depth}: {now:?}");
    assert_eq!(now[0]["value"][1], "0", "{depth}: {now:?}");

    // 150 jobs on the worker's queue: over the next phase's 100.
    let mut argv = vec![
        bin["redis-cli"].as_str(),
        "-h",
        "127.0.0.63",
        "LPUSH",
        "reports",
    ];
    let jobs: Vec<String> = (0..150).map(|i| format!("job-{i}")).collect();
    argv.extend(jobs.iter().map(String::as_str));
    ok(
        &lab.command(set.root(), &argv)
            .env("REDISCLI_AUTH", JOBS_PASSWORD)
            .output()
            .unwrap(),
        "redis-cli LPUSH",
    );
    let pushed = Instant::now();
    let mut pending_seen = false;
    wait_for(
        "TimeForNextPhase to go pending",
        Duration::from_secs(60),
        || {
            let a = alert();
            pending_seen |= a.as_ref().is_some_and(|a| a["state"] == "pending");
            a.is_some()
        },
    );
    let mut fired = None;
    wait_for("TimeForNextPhase to fire", Duration::from_secs(90), || {
        let a = alert();
        pending_seen |= a.as_ref().is_some_and(|a| a["state"] == "pending");
        fired = a.filter(|a| a["state"] == "firing");
        fired.is_some()
    });
    let fired = fired.unwrap();
    assert!(pending_seen, "the alert never was pending before firing");
    // Firing no sooner than its `for` (30s) after the queue grew.
    assert!(
        pushed.elapsed() >= Duration::from_secs(30),
        "fired {:?} after the push, before its for",
        pushed.elapsed()
    );
    assert_eq!(fired["labels"]["to_phase"], "more-workers");
    assert_eq!(fired["labels"]["signal"], "queue_depth");
    let description = fired["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains("Now: 150 messages") && description.contains("tierform diff"),
        "{description}"
    );
    eprintln!(
        "TimeForNextPhase fired {:.0?} after 150 jobs were queued: {description}",
        pushed.elapsed()
    );

    // Alertmanager sends it on, after its group_wait (30s), to both receivers.
    let deadline = Instant::now() + Duration::from_secs(90);
    while receiver.body("/alerts").is_none() || receiver.body("/slack").is_none() {
        assert!(
            Instant::now() < deadline,
            "the receivers got {:?}\n--- alertmanager\n{}",
            receiver.got.lock().unwrap(),
            lab.logs("alertmanager")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let webhook: Value = serde_json::from_str(&receiver.body("/alerts").unwrap()).unwrap();
    assert_eq!(webhook["status"], "firing", "{webhook}");
    let sent = &webhook["alerts"][0];
    assert_eq!(sent["labels"]["alertname"], "TimeForNextPhase", "{webhook}");
    assert_eq!(sent["labels"]["to_phase"], "more-workers", "{webhook}");
    assert_eq!(
        sent["annotations"]["tierform_diff"],
        "tierform diff BLUEPRINT small more-workers"
    );
    let slack: Value = serde_json::from_str(&receiver.body("/slack").unwrap()).unwrap();
    assert_eq!(slack["channel"], "#ops", "{slack}");
    let text = serde_json::to_string(&slack).unwrap();
    assert!(
        text.contains("[FIRING] TimeForNextPhase (1 firing)") && text.contains("Now: 150 messages"),
        "{slack}"
    );
    eprintln!(
        "Alertmanager posted it {:.0?} after the push, to the webhook and to Slack",
        pushed.elapsed()
    );
}

/// Waits up to 45 s until the PromQL query `q` has a result (`what` it proves);
/// fails with the logs of the lab's processes `logs`.
fn until_found(lab: &Lab, query: &dyn Fn(&str) -> Vec<Value>, q: &str, what: &str, logs: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(45);
    while query(q).is_empty() {
        if Instant::now() >= deadline {
            let logs: String = logs
                .iter()
                .map(|name| format!("\n--- {name}\n{}", lab.logs(name)))
                .collect();
            panic!("{what}: no {q}{logs}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Percent-encodes a PromQL query for a URL.
pub(crate) fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The same lab's hosts bundle on three loopback "machines": nginx and the API on
/// 127.0.0.71, Redis and PostgreSQL on 127.0.0.72, the monitoring on 127.0.0.73 (the
/// tier `monitoring.tier` names). Each machine's exporters run with its compose file's
/// command and environment, in the machine's network; Prometheus and Alertmanager on
/// the monitoring machine with theirs. Prometheus scrapes every exporter across the
/// machines, on the addresses the README's ports table lists, and each exporter reads
/// its server (postgres_exporter logging in as the monitoring role, which pg_hba.conf
/// admits from the server's own machine).
#[test]
fn hosts_bundle_on_debian13_prometheus_scrapes_every_machines_exporters() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((set, bin, pg_bin)) = debian13() else {
        return;
    };
    let (web, data, ops) = ("127.0.0.71", "127.0.0.72", "127.0.0.73");
    let mut lab = Lab::new();
    let rendered = common::render_all(Path::new(LAB));
    let dir = lab.dir().join("hosts");
    for (path, text) in rendered.iter() {
        let Some(rel) = path.strip_prefix("small/hosts/") else {
            continue;
        };
        let dest = dir.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, text).unwrap();
    }
    let compose_of = |machine: &str| {
        tierform::load_yaml(
            &std::fs::read_to_string(dir.join(machine).join("docker-compose.yml")).unwrap(),
        )
        .unwrap()
        .to_json()
    };
    let secrets: BTreeMap<&str, &str> = [
        ("JOBS_PASSWORD", JOBS_PASSWORD),
        ("DB_MONITOR_PASSWORD", MONITOR_PASSWORD),
    ]
    .into();
    let root = || set.root().map(Path::to_path_buf);

    // The servers, from each machine's rendered configs.
    let _api = StubBackend::start(format!("{web}:8000").parse().unwrap(), "api");
    let conf = dir.join(web).join("nginx/nginx.conf");
    lab.start_with(
        "nginx",
        &[
            &bin["nginx"],
            "-g",
            "daemon off;",
            "-c",
            conf.to_str().unwrap(),
        ],
        &[],
        StartOptions {
            root: root(),
            ..Default::default()
        },
    );
    start_jobs(&mut lab, &dir.join(data).join("redis/jobs"), &[], root());
    let pg_data = lab.dir().join("pgdata");
    let (_pg, _run) = start_primary(
        &mut lab,
        &set,
        &pg_bin,
        &dir.join(data).join("postgres/db"),
        &pg_data,
    );
    for (name, at) in [
        ("nginx", format!("{web}:80")),
        ("jobs", format!("{data}:6379")),
    ] {
        assert!(
            lab::wait_listening(at.parse().unwrap(), Duration::from_secs(15)),
            "{name} never listened on {at}:\n{}",
            lab.logs(name)
        );
    }

    // Each container as its machine's compose file runs it, as the lab's process
    // `name`; it listens where its `--web.listen-address` says.
    let start = |lab: &mut Lab,
                 machine: &str,
                 container_name: &str,
                 name: &str,
                 tool: &str,
                 binds: Vec<(PathBuf, String)>| {
        let compose = compose_of(machine);
        let c = container_name;
        assert_eq!(compose["services"][c]["network_mode"], "host", "{c}");
        let (args, env) = container(&compose, c, &secrets);
        let listen: SocketAddr = args
            .iter()
            .find_map(|a| a.strip_prefix("--web.listen-address="))
            .unwrap_or_else(|| panic!("{c} has no --web.listen-address: {args:?}"))
            .parse()
            .unwrap();
        let mut argv = vec![bin[tool].clone()];
        argv.extend(args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        lab.start_with(
            name,
            &argv,
            &[],
            StartOptions {
                env,
                binds,
                root: root(),
                ..Default::default()
            },
        );
        assert!(
            lab::wait_listening(listen, Duration::from_secs(30)),
            "{name} never listened on {listen}:\n{}",
            lab.logs(name)
        );
        listen
    };
    for (machine, name, tool) in [
        (data, "jobs-exporter", "prometheus-redis-exporter"),
        (data, "db-exporter", "prometheus-postgres-exporter"),
        (web, "nginx-exporter", "prometheus-nginx-exporter"),
    ] {
        start(&mut lab, machine, name, name, tool, Vec::new());
    }
    // node_exporter on each machine, the host's root where the compose file mounts it.
    for machine in [web, data, ops] {
        start(
            &mut lab,
            machine,
            "node-exporter",
            &format!("node-exporter-{machine}"),
            "prometheus-node-exporter",
            vec![("/".into(), "/host".into())],
        );
    }

    let monitoring = dir.join(ops).join("monitoring");
    let secrets_dir = lab.dir().join("run-secrets");
    std::fs::create_dir_all(&secrets_dir).unwrap();
    for file in ["alert_webhook_url", "slack_webhook_url"] {
        std::fs::write(secrets_dir.join(file), "http://127.0.0.70:8099/\n").unwrap();
    }
    let am_data = lab.dir().join("alertmanager-data");
    std::fs::create_dir_all(&am_data).unwrap();
    let alertmanager = start(
        &mut lab,
        ops,
        "alertmanager",
        "alertmanager",
        "prometheus-alertmanager",
        vec![
            (monitoring.clone(), "/etc/alertmanager".into()),
            (secrets_dir, "/run/secrets".into()),
            (am_data, "/alertmanager".into()),
        ],
    );
    let tsdb = lab.dir().join("prometheus-data");
    std::fs::create_dir_all(&tsdb).unwrap();
    let prometheus = start(
        &mut lab,
        ops,
        "prometheus",
        "prometheus",
        "prometheus",
        vec![
            (monitoring, "/etc/prometheus".into()),
            (tsdb, "/prometheus".into()),
        ],
    );
    assert_eq!(
        prometheus.ip().to_string(),
        ops,
        "Prometheus on the monitoring machine"
    );
    assert_eq!(alertmanager.ip().to_string(), ops);
    let get = |path: &str| -> Value {
        let r = lab::http_get(prometheus, path, &[]).expect("Prometheus answers");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    };
    wait_for("Prometheus to be ready", Duration::from_secs(30), || {
        lab::http_get(prometheus, "/-/ready", &[]).is_ok_and(|r| r.status == 200)
    });

    // Every job but cAdvisor's is up, each target on its machine's address.
    let mut health: BTreeMap<String, (bool, String)> = BTreeMap::new();
    wait_for(
        "Prometheus to scrape every machine",
        Duration::from_secs(60),
        || {
            health.clear();
            for t in get("/api/v1/targets")["data"]["activeTargets"]
                .as_array()
                .unwrap()
            {
                let job = t["labels"]["job"].as_str().unwrap();
                let instance = t["labels"]["instance"].as_str().unwrap();
                health.insert(
                    format!("{job} {instance}"),
                    (
                        t["health"] == "up",
                        t["lastError"].as_str().unwrap_or("").to_string(),
                    ),
                );
            }
            health
                .iter()
                .filter(|(k, _)| !k.starts_with("cadvisor "))
                .all(|(_, (up, _))| *up)
                && !health.is_empty()
        },
    );
    let targets: Vec<&str> = health.keys().map(String::as_str).collect();
    assert_eq!(
        targets,
        [
            "alertmanager 127.0.0.73:9093",
            "balancer 127.0.0.71:9113",
            "cadvisor 127.0.0.71:8080",
            "cadvisor 127.0.0.72:8080",
            "cadvisor 127.0.0.73:8080",
            "db 127.0.0.72:9187",
            "jobs 127.0.0.72:9121",
            "node-exporter 127.0.0.71:9100",
            "node-exporter 127.0.0.72:9100",
            "node-exporter 127.0.0.73:9100",
            "prometheus 127.0.0.73:9090",
        ],
        "{health:?}"
    );
    let query = |q: &str| -> Vec<Value> {
        get(&format!("/api/v1/query?query={}", urlencode(q)))["data"]["result"]
            .as_array()
            .unwrap()
            .clone()
    };
    for (q, what) in [
        (
            "redis_up{job=\"jobs\"} == 1",
            "redis_exporter reaches Redis on its machine",
        ),
        (
            "pg_up{job=\"db\"} == 1",
            "postgres_exporter logs in as the monitoring role",
        ),
        (
            "nginx_up{job=\"balancer\"} == 1",
            "the exporter reads nginx's stub_status",
        ),
        (
            "count(node_filesystem_avail_bytes{job=\"node-exporter\",mountpoint=\"/\"}) == 3",
            "node_exporter on each machine reads its root filesystem",
        ),
    ] {
        until_found(
            &lab,
            &query,
            q,
            what,
            &["db-exporter", "jobs-exporter", "nginx-exporter"],
        );
    }
    // Prometheus found its Alertmanager on the monitoring machine's loopback address.
    wait_for(
        "Prometheus to find its Alertmanager",
        Duration::from_secs(30),
        || {
            get("/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
                .as_array()
                .is_some_and(|a| {
                    a.iter().any(|m| {
                        m["url"]
                            .as_str()
                            .unwrap_or("")
                            .contains(&alertmanager.to_string())
                    })
                })
        },
    );
    eprintln!(
        "Prometheus on {ops} scrapes {} targets across the three machines",
        targets.len()
    );
}
