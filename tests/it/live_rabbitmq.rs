//! Live: RabbitMQ 4.0 (Debian 13's, from the trixie root) started from the rendered
//! `hosts` bundle of a blueprint with a queue-driven worker (broker on 127.0.0.71): the
//! server boots from the rendered `rabbitmq.conf` and `enabled_plugins`, mounted where
//! the rendered compose file mounts them and with its environment; it listens on
//! loopback only; the worker's queue is declared and messages go through (AMQP 0-9-1,
//! the few frames needed written here); and the management API answers with the queue
//! depth that the rendered KEDA trigger reads (`GET /api/queues/<vhost>/<queue>`,
//! field `messages`).

use tierform_lab as lab;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use lab::{Lab, ServerSet, StartOptions};

use crate::live_data::wait_for;

pub(crate) const PASSWORD: &str = "rabbit pass: with \"quotes\" and $";
const QUEUE: &str = "mail";

const BLUEPRINT: &str = r#"version: 1
name: labbroker
targets: [hosts, kubernetes]
tiers:
  app: { machine: { cpu: 1, memory: 1Gi }, hosts: [127.0.0.70] }
  data: { machine: { cpu: 2, memory: 4Gi }, hosts: [127.0.0.71] }
services:
  mailer:
    kind: worker
    tier: app
    image: lab/worker:1
    command: [worker]
    queue: { broker: events, name: mail }
    uses: [events]
    scaling: { min: 1, max: 4, target: { queue_depth: 20 } }
datastores:
  events:
    engine: rabbitmq
    version: "4.0"
    tier: data
    resources: { cpu: "1", memory: 512Mi, memory_limit: 512Mi }
phases:
  - name: broker
"#;

// ---- AMQP 0-9-1: just the frames this test needs -----------------------------------

const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_END: u8 = 0xCE;

fn short_str(out: &mut Vec<u8>, s: &str) {
    out.push(u8::try_from(s.len()).unwrap());
    out.extend(s.as_bytes());
}

fn long_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(u32::try_from(s.len()).unwrap().to_be_bytes());
    out.extend(s);
}

/// A method's payload: class, method, then the arguments `args` appends.
fn method(class: u16, id: u16, args: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend(class.to_be_bytes());
    payload.extend(id.to_be_bytes());
    args(&mut payload);
    payload
}

pub(crate) struct Amqp {
    stream: TcpStream,
}

/// One frame read: its type, channel and payload.
struct Frame {
    kind: u8,
    payload: Vec<u8>,
}

impl Frame {
    fn class_method(&self) -> (u16, u16) {
        assert_eq!(self.kind, FRAME_METHOD, "expected a method frame");
        let p = &self.payload;
        (
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        )
    }
}

impl Amqp {
    fn send(&mut self, kind: u8, channel: u16, payload: &[u8]) {
        let mut frame = vec![kind];
        frame.extend(channel.to_be_bytes());
        frame.extend(u32::try_from(payload.len()).unwrap().to_be_bytes());
        frame.extend(payload);
        frame.push(FRAME_END);
        self.stream.write_all(&frame).unwrap();
    }

    fn read(&mut self) -> Frame {
        let mut head = [0u8; 7];
        self.stream.read_exact(&mut head).unwrap();
        let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
        let mut payload = vec![0u8; size + 1];
        self.stream.read_exact(&mut payload).unwrap();
        assert_eq!(payload.pop(), Some(FRAME_END), "a frame without its end");
        Frame {
            kind: head[0],
            payload,
        }
    }

    /// Reads the next method frame and checks it is `want`; a Close from the server
    /// fails with its reply text.
    fn expect(&mut self, want: (u16, u16), what: &str) -> Frame {
        loop {
            let frame = self.read();
            if frame.kind != FRAME_METHOD {
                continue; // heartbeats
            }
            let got = frame.class_method();
            if got == (10, 50) || got == (20, 40) {
                let p = &frame.payload;
                let code = u16::from_be_bytes([p[4], p[5]]);
                let text = String::from_utf8_lossy(&p[7..7 + p[6] as usize]).into_owned();
                panic!("{what}: the server closed with {code} {text}");
            }
            assert_eq!(got, want, "{what}: unexpected method");
            return frame;
        }
    }

    /// Connects, logs in with PLAIN, opens `vhost` and channel 1.
    pub(crate) fn connect(addr: SocketAddr, user: &str, password: &str, vhost: &str) -> Amqp {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let mut c = Amqp { stream };
        c.stream.write_all(b"AMQP\x00\x00\x09\x01").unwrap();
        c.expect((10, 10), "Connection.Start");
        let mut response = vec![0];
        response.extend(user.as_bytes());
        response.push(0);
        response.extend(password.as_bytes());
        let start_ok = method(10, 11, |a| {
            a.extend(0u32.to_be_bytes()); // client properties: an empty table
            short_str(a, "PLAIN");
            long_str(a, &response);
            short_str(a, "en_US");
        });
        c.send(FRAME_METHOD, 0, &start_ok);
        let tune = c.expect((10, 30), "Connection.Tune (after the login)");
        let channel_max = &tune.payload[4..6];
        let frame_max = &tune.payload[6..10];
        let tune_ok = method(10, 31, |a| {
            a.extend(channel_max);
            a.extend(frame_max);
            a.extend(0u16.to_be_bytes()); // no heartbeats
        });
        c.send(FRAME_METHOD, 0, &tune_ok);
        let open = method(10, 40, |a| {
            short_str(a, vhost);
            short_str(a, "");
            a.push(0);
        });
        c.send(FRAME_METHOD, 0, &open);
        c.expect((10, 41), "Connection.OpenOk");
        c.send(FRAME_METHOD, 1, &method(20, 10, |a| short_str(a, "")));
        c.expect((20, 11), "Channel.OpenOk");
        c
    }

    /// Declares a durable queue, as the worker does; returns its message count.
    pub(crate) fn declare_durable(&mut self, queue: &str) -> u32 {
        let declare = method(50, 10, |a| {
            a.extend(0u16.to_be_bytes());
            short_str(a, queue);
            a.push(0b0000_0010); // durable
            a.extend(0u32.to_be_bytes()); // no arguments
        });
        self.send(FRAME_METHOD, 1, &declare);
        let ok = self.expect((50, 11), "Queue.DeclareOk");
        let p = &ok.payload[4..];
        let name_len = p[0] as usize;
        let count = &p[1 + name_len..5 + name_len];
        u32::from_be_bytes(count.try_into().unwrap())
    }

    /// Publishes a persistent message to `queue` through the default exchange.
    pub(crate) fn publish(&mut self, queue: &str, body: &[u8]) {
        let publish = method(60, 40, |a| {
            a.extend(0u16.to_be_bytes());
            short_str(a, "");
            short_str(a, queue);
            a.push(0);
        });
        self.send(FRAME_METHOD, 1, &publish);
        let mut header = Vec::new();
        header.extend(60u16.to_be_bytes());
        header.extend(0u16.to_be_bytes());
        header.extend((body.len() as u64).to_be_bytes());
        header.extend(0x1000u16.to_be_bytes()); // delivery-mode present
        header.push(2); // persistent
        self.send(FRAME_HEADER, 1, &header);
        self.send(FRAME_BODY, 1, body);
    }

    /// Puts the channel in confirm mode: the broker acknowledges each publish once
    /// it has it (a quorum queue: once a majority of its replicas has it).
    pub(crate) fn confirm_select(&mut self) {
        self.send(FRAME_METHOD, 1, &method(85, 10, |a| a.push(0)));
        self.expect((85, 11), "Confirm.SelectOk");
    }

    /// Waits until the broker has acknowledged the first `n` publishes (Basic.Ack,
    /// one by one or `multiple`); a Basic.Nack fails.
    pub(crate) fn wait_confirms(&mut self, n: u64) {
        // Confirms may come in any order: each tag, or every tag up to one.
        let mut acked = vec![false; n as usize];
        while acked.iter().any(|a| !a) {
            let frame = self.read();
            if frame.kind != FRAME_METHOD {
                continue;
            }
            match frame.class_method() {
                (60, 80) => {
                    let p = &frame.payload;
                    let tag = u64::from_be_bytes(p[4..12].try_into().unwrap()) as usize;
                    let multiple = p[12] & 1 == 1;
                    let from = if multiple { 1 } else { tag };
                    for t in from..=tag.min(acked.len()) {
                        acked[t - 1] = true;
                    }
                }
                (60, 120) => panic!("the broker refused (nacked) a publish"),
                other => panic!("unexpected method {other:?} while waiting for confirms"),
            }
        }
    }

    /// Takes one message off `queue` (Basic.Get, auto-ack); its body.
    pub(crate) fn get(&mut self, queue: &str) -> Vec<u8> {
        let get = method(60, 70, |a| {
            a.extend(0u16.to_be_bytes());
            short_str(a, queue);
            a.push(1); // no-ack
        });
        self.send(FRAME_METHOD, 1, &get);
        self.expect((60, 71), "Basic.GetOk");
        let header = self.read();
        assert_eq!(header.kind, FRAME_HEADER);
        let size = u64::from_be_bytes(header.payload[4..12].try_into().unwrap()) as usize;
        let mut body = Vec::new();
        while body.len() < size {
            let frame = self.read();
            assert_eq!(frame.kind, FRAME_BODY);
            body.extend(frame.payload);
        }
        body
    }

    pub(crate) fn close(mut self) {
        let close = method(10, 50, |a| {
            a.extend(200u16.to_be_bytes());
            short_str(a, "bye");
            a.extend(0u32.to_be_bytes());
        });
        self.send(FRAME_METHOD, 0, &close);
        self.expect((10, 51), "Connection.CloseOk");
    }
}

// ---- the test -----------------------------------------------------------------------

/// A value of the rendered compose file's service environment (`KEY: value`).
pub(crate) fn compose_env(compose: &str, key: &str) -> String {
    compose
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("{key} not in the compose file:\n{compose}"))
        .trim_matches('"')
        .to_string()
}

/// The queue depth the management API reports (what KEDA's rabbitmq trigger reads).
pub(crate) fn queue_depth(api: SocketAddr, user: &str, vhost: &str, queue: &str) -> Option<u64> {
    let auth = format!(
        "Basic {}",
        lab::base64(format!("{user}:{PASSWORD}").as_bytes())
    );
    let vhost = vhost.replace('/', "%2F");
    let r = lab::http_get(
        api,
        &format!("/api/queues/{vhost}/{queue}"),
        &[("Authorization", &auth)],
    )
    .ok()?;
    if r.status != 200 {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    json.get("messages")?.as_u64()
}

/// The broker's output, then its log files and the reason of a crash dump, from the
/// overlay over the root.
fn broker_logs(lab: &Lab) -> String {
    let mut logs = format!("RabbitMQ's output:\n{}", lab.logs("events"));
    let upper = lab.dir().join("events.root/upper");
    for f in crate::common::files_under(&upper.join("var/log/rabbitmq")) {
        logs.push_str(&format!("\n--- {}\n", f.display()));
        logs.push_str(&String::from_utf8_lossy(
            &std::fs::read(&f).unwrap_or_default(),
        ));
    }
    let dump = upper.join("var/lib/rabbitmq/erl_crash.dump");
    if let Ok(text) = std::fs::read(&dump) {
        let text = String::from_utf8_lossy(&text);
        let slogan = text
            .lines()
            .find(|l| l.starts_with("Slogan:"))
            .unwrap_or("");
        logs.push_str(&format!("\n--- {}\n{slogan}", dump.display()));
    }
    logs
}

/// The trixie root with its `rabbitmq-server` and `epmd`, where the lab can run them;
/// `None` (the test skips) where it cannot.
pub(crate) fn rabbitmq_set() -> Option<(ServerSet, String, String)> {
    let set = ServerSet::trixie()?;
    let (Some(server), Some(epmd)) = (set.require("rabbitmq-server"), set.require("epmd")) else {
        return None;
    };
    lab::private_network().then_some((set, server, epmd))
}

/// `blueprint` rendered, and written into the lab folder's `bundle/`.
pub(crate) fn bundle_in(lab: &Lab, blueprint: &str) -> tierform::OutputSet {
    let path = lab.dir().join("blueprint.yaml");
    std::fs::write(&path, blueprint).unwrap();
    let rendered = crate::common::render_all(&path);
    for (file, text) in rendered.iter() {
        let dest = lab.dir().join("bundle").join(file);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, text).unwrap();
    }
    rendered
}

#[test]
fn rabbitmq_4_0_on_debian13_boots_from_the_rendered_config_and_reports_queue_depth() {
    let Some((set, server, epmd)) = rabbitmq_set() else {
        return;
    };
    let mut lab = Lab::new();
    let version = std::fs::read_dir(set.file("/usr/lib/rabbitmq/lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("rabbitmq_server-"))
        .expect("the root has rabbitmq_server-<version>");
    eprintln!("{}: {version}", set.name());
    assert!(version.starts_with("rabbitmq_server-4.0."), "{version}");

    // The rendered bundle, written into the lab folder.
    let rendered = bundle_in(&lab, BLUEPRINT);
    let machine = lab.dir().join("bundle/broker/hosts/127.0.0.71");
    let compose = std::fs::read_to_string(machine.join("docker-compose.yml")).unwrap();
    assert!(compose.contains("image: rabbitmq:4.0-"), "{compose}");
    assert!(
        compose.contains("source: ./rabbitmq/events\n      target: /etc/tierform/rabbitmq\n"),
        "{compose}"
    );
    let user = compose_env(&compose, "RABBITMQ_DEFAULT_USER");
    assert!(compose_env(&compose, "RABBITMQ_DEFAULT_PASS").starts_with("${EVENTS_PASSWORD:?"));
    // KEDA reads the depth of the worker's queue from the management API.
    let keda = rendered.get("broker/kubernetes/mailer.yaml").unwrap();
    for line in [
        "type: rabbitmq",
        "mode: QueueLength",
        "queueName: mail",
        "protocol: http",
    ] {
        assert!(
            keda.contains(line),
            "{line} not in the ScaledObject:\n{keda}"
        );
    }

    // epmd (Erlang's name server) in the foreground, on loopback, stopped by PID; the
    // broker finds it there instead of starting a daemon of its own.
    let epmd_port = "14369";
    let epmd_pid = lab.start_with(
        "epmd",
        &[&epmd, "-address", "127.0.0.1", "-port", epmd_port],
        &[],
        StartOptions {
            root: set.root().map(Path::to_path_buf),
            user: Some("rabbitmq".into()),
            ..Default::default()
        },
    );
    let epmd_addr: SocketAddr = format!("127.0.0.1:{epmd_port}").parse().unwrap();
    assert!(
        lab::wait_listening(epmd_addr, Duration::from_secs(10)),
        "{}",
        lab.logs("epmd")
    );

    // The broker: the rendered folder where the compose file mounts it, the compose
    // file's environment, the password from the deployer's secret.
    let env = |key: &str| (key.to_string(), compose_env(&compose, key));
    let pid = lab.start_with(
        "events",
        &[&server],
        &[],
        StartOptions {
            binds: vec![(
                machine.join("rabbitmq/events"),
                "/etc/tierform/rabbitmq".into(),
            )],
            env: vec![
                env("RABBITMQ_DEFAULT_USER"),
                ("RABBITMQ_DEFAULT_PASS".into(), PASSWORD.into()),
                env("RABBITMQ_CONFIG_FILE"),
                env("RABBITMQ_ENABLED_PLUGINS_FILE"),
                // The lab's parts, not the rendered ones: the node's name and its
                // distribution listener on loopback, epmd above.
                ("HOME".into(), "/var/lib/rabbitmq".into()),
                ("RABBITMQ_NODENAME".into(), "rabbit@localhost".into()),
                ("ERL_EPMD_PORT".into(), epmd_port.into()),
                // Should it ever start an epmd itself (its monitor does when epmd goes
                // away), on loopback.
                ("ERL_EPMD_ADDRESS".into(), "127.0.0.1".into()),
                // Below the ephemeral port range (32768-60999): a port in it may be
                // taken by any client connection of a test running alongside.
                ("RABBITMQ_DIST_PORT".into(), "25672".into()),
                (
                    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS".into(),
                    "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}".into(),
                ),
            ],
            user: Some("rabbitmq".into()),
            root: set.root().map(Path::to_path_buf),
        },
    );
    let amqp: SocketAddr = "127.0.0.71:5672".parse().unwrap();
    let api: SocketAddr = "127.0.0.71:15672".parse().unwrap();
    for addr in [amqp, api] {
        assert!(
            lab::wait_listening(addr, Duration::from_secs(180)),
            "RabbitMQ never listened on {addr} (running: {}):\n{}",
            lab.is_running(pid),
            broker_logs(&lab)
        );
    }
    lab.assert_loopback_only(pid);
    lab.assert_loopback_only(epmd_pid);

    // The worker's queue, and messages through it. A failure shows the broker's log.
    let vhost = "/";
    let through = std::panic::catch_unwind(|| {
        let mut client = Amqp::connect(amqp, &user, PASSWORD, vhost);
        assert_eq!(client.declare_durable(QUEUE), 0);
        for i in 0..3 {
            client.publish(QUEUE, format!("mail {i}").as_bytes());
        }
        wait_for(
            "the management API's depth of 3",
            Duration::from_secs(30),
            || queue_depth(api, &user, vhost, QUEUE) == Some(3),
        );
        assert_eq!(client.get(QUEUE), b"mail 0");
        wait_for(
            "the management API's depth of 2",
            Duration::from_secs(30),
            || queue_depth(api, &user, vhost, QUEUE) == Some(2),
        );
        client.close();
    });
    if let Err(e) = through {
        let why = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("{why}\n{}", broker_logs(&lab));
    }

    // A wrong password is refused.
    let wrong = lab::http_get(
        api,
        "/api/queues/%2F/mail",
        &[(
            "Authorization",
            &format!("Basic {}", lab::base64(b"app:not the password")),
        )],
    )
    .unwrap();
    assert_eq!(wrong.status, 401);

    lab.stop(pid);
    lab.stop(epmd_pid);
}

/// Without the trixie root too: on a machine, every listener the rendered RabbitMQ
/// config opens (AMQP, management, and the Prometheus endpoint its enabled plugins
/// start) is bound to the machine's address, never to every interface.
#[test]
fn rabbitmq_on_a_machine_binds_every_listener_to_its_address() {
    let dir = lab::scratch_dir();
    let blueprint = dir.path().join("blueprint.yaml");
    std::fs::write(&blueprint, BLUEPRINT).unwrap();
    let rendered = crate::common::render_all(&blueprint);
    let conf = rendered
        .get("broker/hosts/127.0.0.71/rabbitmq/events/rabbitmq.conf")
        .unwrap();
    let plugins = rendered
        .get("broker/hosts/127.0.0.71/rabbitmq/events/enabled_plugins")
        .unwrap();
    assert!(plugins.contains("rabbitmq_management"), "{plugins}");
    assert!(plugins.contains("rabbitmq_prometheus"), "{plugins}");
    for line in [
        "listeners.tcp.1 = 127.0.0.71:5672",
        "management.tcp.ip = 127.0.0.71",
        "prometheus.tcp.ip = 127.0.0.71",
    ] {
        assert!(conf.lines().any(|l| l == line), "{line} not in:\n{conf}");
    }
}
