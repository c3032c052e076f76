//! Live: a RabbitMQ cluster of three brokers (Debian 13's RabbitMQ 4.0, from the
//! trixie root) started from the rendered `hosts` bundle, one broker per machine
//! (127.0.0.81–83): each runs the rendered `start.sh` (the shared Erlang cookie) with
//! the rendered compose file's environment (its Erlang name, long names, the address
//! its distribution listens on) and config (the peer list, quorum queues by default).
//! The cluster forms by itself; the worker's queue, declared without a type, is a
//! quorum queue on all three; 200 messages the brokers confirmed survive the loss of
//! the broker that led the queue (SIGKILL), and are read in order from another.
//!
//! The lab's one departure: the three machines share one loopback, so they share one
//! epmd (Erlang's port mapper, which a machine runs once), listening on the three
//! addresses; each broker's distribution listens on its own address, and on a port of
//! its own (RabbitMQ refuses a port epmd knows another node on).

use tierform_lab as lab;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use lab::{Lab, StartOptions};

use crate::live_data::wait_for;
use crate::live_rabbitmq::{bundle_in, compose_env, queue_depth, rabbitmq_set, Amqp, PASSWORD};

const COOKIE: &str = "lab-cluster-cookie-0123456789";
const QUEUE: &str = "mail";
const MESSAGES: u64 = 200;
const MACHINES: [&str; 3] = ["127.0.0.81", "127.0.0.82", "127.0.0.83"];

const BLUEPRINT: &str = r#"version: 1
name: labcluster
targets: [hosts]
tiers:
  app: { machine: { cpu: 1, memory: 1Gi }, hosts: [127.0.0.80] }
  data: { machine: { cpu: 2, memory: 4Gi }, hosts: [127.0.0.81, 127.0.0.82, 127.0.0.83] }
services:
  mailer:
    kind: worker
    tier: app
    image: lab/worker:1
    command: [worker]
    queue: { broker: events, name: mail }
    uses: [events]
datastores:
  events:
    engine: rabbitmq
    version: "4.0"
    tier: data
    nodes: 3
    resources: { cpu: "1", memory: 512Mi, memory_limit: 512Mi }
phases:
  - name: cluster
"#;

fn api_get(api: SocketAddr, user: &str, path: &str) -> Option<serde_json::Value> {
    let auth = format!(
        "Basic {}",
        lab::base64(format!("{user}:{PASSWORD}").as_bytes())
    );
    let r = lab::http_get(api, path, &[("Authorization", &auth)]).ok()?;
    (r.status == 200)
        .then(|| serde_json::from_str(&r.body).ok())
        .flatten()
}

/// Each broker's output and log files, for a failure's message.
fn logs(lab: &Lab) -> String {
    let mut out = String::new();
    for i in 1..=3 {
        out.push_str(&format!(
            "--- events-{i}:\n{}\n",
            lab.logs(&format!("events-{i}"))
        ));
        let upper = lab.dir().join(format!("events-{i}.root/upper"));
        for f in crate::common::files_under(&upper.join("var/log/rabbitmq")) {
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("--- {}\n", f.display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn rabbitmq_cluster_of_three_keeps_confirmed_messages_when_the_queues_leader_is_killed() {
    let Some((set, server, epmd)) = rabbitmq_set() else {
        return;
    };
    let mut lab = Lab::new();
    let rendered = bundle_in(&lab, BLUEPRINT);
    let conf = rendered
        .get("cluster/hosts/127.0.0.81/rabbitmq/events/rabbitmq.conf")
        .unwrap();
    for line in [
        "cluster_formation.classic_config.nodes.1 = events-1@127.0.0.81",
        "cluster_formation.classic_config.nodes.3 = events-3@127.0.0.83",
        "default_queue_type = quorum",
    ] {
        assert!(conf.lines().any(|l| l == line), "{line} not in:\n{conf}");
    }

    // The machines' epmd, shared (see the module's comment), stopped by PID.
    let epmd_pid = lab.start_with(
        "epmd",
        &[&epmd, "-address", &MACHINES.join(",")],
        &[],
        StartOptions {
            root: set.root().map(Path::to_path_buf),
            user: Some("rabbitmq".into()),
            ..Default::default()
        },
    );
    let epmd_addr: SocketAddr = "127.0.0.81:4369".parse().unwrap();
    assert!(
        lab::wait_listening(epmd_addr, Duration::from_secs(10)),
        "{}",
        lab.logs("epmd")
    );

    let mut pids = Vec::new();
    let mut user = String::new();
    for (i, machine) in MACHINES.iter().enumerate() {
        let n = i + 1;
        let dir = lab.dir().join(format!("bundle/cluster/hosts/{machine}"));
        let compose = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
        user = compose_env(&compose, "RABBITMQ_DEFAULT_USER");
        assert!(compose_env(&compose, "RABBITMQ_COOKIE").starts_with("${EVENTS_ERLANG_COOKIE:?"));
        let env = |key: &str| (key.to_string(), compose_env(&compose, key));
        let erl_args = format!(
            "{} -start_epmd false",
            compose_env(&compose, "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS")
        );
        let pid = lab.start_with(
            &format!("events-{n}"),
            &["/bin/sh", "/etc/tierform/rabbitmq/start.sh", &server],
            &[],
            StartOptions {
                binds: vec![(dir.join("rabbitmq/events"), "/etc/tierform/rabbitmq".into())],
                env: vec![
                    env("RABBITMQ_DEFAULT_USER"),
                    ("RABBITMQ_DEFAULT_PASS".into(), PASSWORD.into()),
                    ("RABBITMQ_COOKIE".into(), COOKIE.into()),
                    env("RABBITMQ_CONFIG_FILE"),
                    env("RABBITMQ_ENABLED_PLUGINS_FILE"),
                    env("RABBITMQ_NODENAME"),
                    env("RABBITMQ_USE_LONGNAME"),
                    env("ERL_EPMD_ADDRESS"),
                    ("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS".into(), erl_args),
                    // The shared epmd again: RabbitMQ refuses to start when epmd knows
                    // another node on its distribution port, wherever that listens.
                    ("RABBITMQ_DIST_PORT".into(), format!("{}", 25680 + n)),
                    ("HOME".into(), "/var/lib/rabbitmq".into()),
                ],
                user: Some("rabbitmq".into()),
                root: set.root().map(Path::to_path_buf),
            },
        );
        pids.push(pid);
    }
    let amqp = |i: usize| -> SocketAddr { format!("{}:5672", MACHINES[i]).parse().unwrap() };
    let api = |i: usize| -> SocketAddr { format!("{}:15672", MACHINES[i]).parse().unwrap() };
    for (i, pid) in pids.iter().enumerate() {
        for addr in [amqp(i), api(i)] {
            assert!(
                lab::wait_listening(addr, Duration::from_secs(240)),
                "RabbitMQ never listened on {addr}:\n{}",
                logs(&lab)
            );
        }
        lab.assert_loopback_only(*pid);
    }
    lab.assert_loopback_only(epmd_pid);

    // The cluster forms from the rendered peer list.
    let running = |i: usize| -> usize {
        api_get(api(i), &user, "/api/nodes")
            .and_then(|v| v.as_array().cloned())
            .map(|nodes| nodes.iter().filter(|n| n["running"] == true).count())
            .unwrap_or(0)
    };
    let formed = std::panic::catch_unwind(|| {
        wait_for("three running brokers", Duration::from_secs(180), || {
            running(0) == 3
        });
    });
    if formed.is_err() {
        panic!("the cluster did not form:\n{}", logs(&lab));
    }

    // The worker's queue, declared durable and untyped, and 200 confirmed messages.
    let mut client = Amqp::connect(amqp(0), &user, PASSWORD, "/");
    assert_eq!(client.declare_durable(QUEUE), 0);
    let queue = api_get(api(1), &user, "/api/queues/%2F/mail").expect("the queue");
    assert_eq!(queue["type"], "quorum", "{queue}");
    client.confirm_select();
    for i in 0..MESSAGES {
        client.publish(QUEUE, format!("mail {i:03}").as_bytes());
    }
    client.wait_confirms(MESSAGES);
    client.close();
    wait_for(
        "every replica of the queue",
        Duration::from_secs(60),
        || {
            api_get(api(2), &user, "/api/queues/%2F/mail")
                .is_some_and(|q| q["members"].as_array().map_or(0, Vec::len) == 3)
        },
    );

    // The broker that leads the queue is lost.
    let queue = api_get(api(1), &user, "/api/queues/%2F/mail").unwrap();
    let leader = queue["leader"]
        .as_str()
        .or(queue["node"].as_str())
        .unwrap()
        .to_string();
    let lost = (0..3)
        .find(|&i| leader.ends_with(&format!("@{}", MACHINES[i])))
        .unwrap_or_else(|| panic!("leader {leader} is none of the brokers"));
    eprintln!("killing events-{} ({leader}), the queue's leader", lost + 1);
    let pid = pids[lost];
    for p in lab::descendants(pid).into_iter().chain([pid]) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .status();
    }
    wait_for("the broker to die", Duration::from_secs(20), || {
        !lab.is_running(pid)
    });

    // Another leads it, with every confirmed message, in order.
    let other = (lost + 1) % 3;
    let moved = std::panic::catch_unwind(|| {
        wait_for("a new leader", Duration::from_secs(60), || {
            api_get(api(other), &user, "/api/queues/%2F/mail")
                .is_some_and(|q| q["leader"].as_str().is_some_and(|l| l != leader))
        });
        wait_for(
            "the depth on the new leader",
            Duration::from_secs(60),
            || queue_depth(api(other), &user, "/", QUEUE) == Some(MESSAGES),
        );
    });
    if moved.is_err() {
        panic!("the queue did not survive its leader:\n{}", logs(&lab));
    }
    let mut client = Amqp::connect(amqp(other), &user, PASSWORD, "/");
    for i in 0..MESSAGES {
        assert_eq!(
            String::from_utf8(client.get(QUEUE)).unwrap(),
            format!("mail {i:03}")
        );
    }
    client.close();
    for (i, pid) in pids.iter().enumerate() {
        if i != lost {
            lab.stop(*pid);
        }
    }
    lab.stop(epmd_pid);
}
