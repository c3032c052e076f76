//! The monitoring containers of a compose file: Prometheus, which scrapes what the
//! plan's scrape jobs name and evaluates the rules; Alertmanager, where the blueprint
//! names receivers; Grafana with the phase's dashboard; cAdvisor, the containers' CPU
//! and memory; and one exporter per server that has no metrics of its own.
//!
//! They sit on a `monitoring` network of their own, and join the network of what they
//! read: Prometheus the back network (services, datastore exporters) and the front one
//! where a balancer runs (its metrics). Nothing is published but the web pages of
//! Prometheus, Alertmanager and Grafana, on the Docker host's loopback address only.

use serde_json::{json, Map, Value};

use crate::model::versions;
use crate::plan::scrape::{
    address, ExporterKind, ExporterPlan, MonitoringHome, ScrapePlan, GRAFANA_ADMIN_SECRET,
    RETENTION,
};
use crate::plan::Plan;

use super::env_value;

/// The volume Prometheus keeps its data in.
const DATA_VOLUME: &str = "prometheus-data";
/// The volume Grafana keeps its own database in (users, preferences).
const GRAFANA_VOLUME: &str = "grafana-data";
/// Where Grafana's dashboard provider reads the phase's dashboard.
pub const GRAFANA_DASHBOARDS: &str = "/etc/grafana/dashboards";
/// The volume Alertmanager keeps its silences and notification log in.
const ALERTMANAGER_VOLUME: &str = "alertmanager-data";

/// Restarted unless stopped, no capability, no privilege gained; a read-only root
/// filesystem where the container writes only to its volumes.
fn hardened(c: &mut Map<String, Value>, read_only: bool) {
    c.insert("restart".into(), json!("unless-stopped"));
    if read_only {
        c.insert("read_only".into(), json!(true));
    }
    c.insert("cap_drop".into(), json!(["ALL"]));
    c.insert("security_opt".into(), json!(["no-new-privileges:true"]));
}

/// The container's web page published on the Docker host's loopback address only
/// (reach it through an SSH tunnel), never on a public one.
fn loopback_port(port: u16) -> Value {
    json!([format!("127.0.0.1:{port}:{port}")])
}

/// A health check that asks the container's own web server for `path` (busybox
/// `wget` is in each of these images).
fn web_check(host: &str, port: u16, path: &str) -> Value {
    json!({
        "test": ["CMD", "wget", "-q", "-O", "/dev/null", format!("http://{}{path}", address(host, port))],
        "interval": "10s", "timeout": "3s", "retries": 3, "start_period": "30s",
    })
}

fn limits(cpus: &str, memory: &str) -> Value {
    json!({ "resources": { "limits": { "cpus": cpus, "memory": memory } } })
}

/// The monitoring containers, by name, and the volumes they need: on compose
/// (`machine` `None`) all of them; on hosts, those of `machine`: its cAdvisor and
/// exporters, and Prometheus, Alertmanager and Grafana on the monitoring machine.
pub(in crate::render) fn monitoring_containers(
    plan: &Plan,
    scrape: &ScrapePlan,
    machine: Option<&str>,
) -> (Vec<(String, Value)>, Vec<String>) {
    let mut out = Vec::new();
    let mut volumes = Vec::new();
    let home = scrape.home.as_ref();
    if home.is_some_and(|h| h.machine.as_deref() == machine) {
        let home = home.expect("checked");
        volumes = home_containers(plan, scrape, home, &mut out);
    }
    for (key, e) in &scrape.exporters {
        if e.machine.as_deref() != machine {
            continue;
        }
        // On hosts the key is `machine/container`.
        let name = key.rsplit_once('/').map_or(key.as_str(), |(_, n)| n);
        out.push((name.to_string(), exporter(e)));
    }
    (out, volumes)
}

/// Prometheus, Alertmanager (with receivers) and Grafana, into `out`; returns the
/// volumes they keep their data in. On compose they reach each other by name on the
/// monitoring network and publish their pages on the host's loopback address; on
/// hosts they use the machine's network and listen on its loopback address only.
fn home_containers(
    plan: &Plan,
    scrape: &ScrapePlan,
    home: &MonitoringHome,
    out: &mut Vec<(String, Value)>,
) -> Vec<String> {
    let mut volumes = vec![DATA_VOLUME.to_string()];
    let front = plan.balancer.is_some();
    let hosts = home.machine.is_some();
    // Where each listens inside its container, and how it is reached from outside.
    let publish = |c: &mut Map<String, Value>, port: u16| {
        if !hosts {
            c.insert("ports".into(), loopback_port(port));
        }
    };
    let join = |c: &mut Map<String, Value>, networks: Value| {
        if hosts {
            c.insert("network_mode".into(), json!("host"));
        } else {
            c.insert("networks".into(), networks);
        }
    };
    let local = home.listen_address();
    let check_host = if hosts {
        local.clone()
    } else {
        "127.0.0.1".to_string()
    };
    // Its page as the operator opens it: on the Docker host's (or the monitoring
    // machine's) loopback address, through an SSH tunnel that keeps the port.
    let external = |port: u16| format!("http://{}/", address(&check_host, port));
    let listen = |port: u16| {
        if hosts {
            address(&local, port)
        } else {
            format!(":{port}")
        }
    };

    let mut p = Map::new();
    p.insert("image".into(), json!(versions::PROMETHEUS.image));
    p.insert(
        "command".into(),
        json!([
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            format!("--storage.tsdb.retention.time={RETENTION}"),
            format!("--web.listen-address={}", listen(home.prometheus)),
            // The links of its alerts (Alertmanager's, Slack's) open through the SSH
            // tunnel to where it listens.
            format!("--web.external-url={}", external(home.prometheus)),
        ]),
    );
    hardened(&mut p, true);
    p.insert(
        "volumes".into(),
        json!([
            { "type": "bind", "source": "./monitoring", "target": "/etc/prometheus", "read_only": true },
            { "type": "volume", "source": DATA_VOLUME, "target": "/prometheus" },
        ]),
    );
    publish(&mut p, home.prometheus);
    p.insert(
        "healthcheck".into(),
        web_check(&check_host, home.prometheus, "/-/ready"),
    );
    if let Some(deploy) = super::resources(&home.prometheus_resources, None) {
        p.insert("deploy".into(), deploy);
    }
    let mut networks = vec!["monitoring", "back"];
    if front {
        networks.push("front");
    }
    join(&mut p, json!(networks));
    out.push(("prometheus".to_string(), Value::Object(p)));

    if !scrape.notify.is_empty() {
        let mut a = Map::new();
        a.insert("image".into(), json!(versions::ALERTMANAGER.image));
        a.insert(
            "command".into(),
            json!([
                "--config.file=/etc/alertmanager/alertmanager.yml",
                "--storage.path=/alertmanager",
                format!("--web.listen-address={}", listen(home.alertmanager)),
                format!("--web.external-url={}", external(home.alertmanager)),
                // One Alertmanager: no cluster to gossip with.
                "--cluster.listen-address=",
            ]),
        );
        // Not read-only: compose copies a secret taken from the environment into the
        // container, which it refuses for a read-only one (docker/compose,
        // pkg/compose/secrets.go).
        hardened(&mut a, false);
        a.insert(
            "volumes".into(),
            json!([
                { "type": "bind", "source": "./monitoring/alertmanager.yml", "target": "/etc/alertmanager/alertmanager.yml", "read_only": true },
                { "type": "volume", "source": ALERTMANAGER_VOLUME, "target": "/alertmanager" },
            ]),
        );
        let secrets: Vec<String> = scrape
            .notify
            .iter()
            .map(|n| n.secret().to_ascii_lowercase())
            .collect();
        a.insert("secrets".into(), json!(secrets));
        publish(&mut a, home.alertmanager);
        a.insert(
            "healthcheck".into(),
            web_check(&check_host, home.alertmanager, "/-/ready"),
        );
        a.insert("deploy".into(), limits("0.25", "128m"));
        join(&mut a, json!(["monitoring"]));
        out.push(("alertmanager".to_string(), Value::Object(a)));
        volumes.push(ALERTMANAGER_VOLUME.to_string());
    }

    // Grafana, with Prometheus as its data source and the phase's dashboard, both
    // provisioned read-only.
    let mut g = Map::new();
    g.insert("image".into(), json!(versions::GRAFANA.image));
    hardened(&mut g, false);
    let mut env = json!({
        "GF_SECURITY_ADMIN_PASSWORD": super::secret_ref_text(GRAFANA_ADMIN_SECRET),
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
    });
    if hosts {
        env["GF_SERVER_HTTP_ADDR"] = json!(local);
        env["GF_SERVER_HTTP_PORT"] = json!(home.grafana.to_string());
    }
    g.insert("environment".into(), env);
    g.insert(
        "volumes".into(),
        json!([
            { "type": "bind", "source": "./monitoring/grafana/datasources.yml", "target": "/etc/grafana/provisioning/datasources/tierform.yml", "read_only": true },
            { "type": "bind", "source": "./monitoring/grafana/dashboards.yml", "target": "/etc/grafana/provisioning/dashboards/tierform.yml", "read_only": true },
            { "type": "bind", "source": format!("./{}", crate::render::dashboard::COMPOSE_DIR), "target": GRAFANA_DASHBOARDS, "read_only": true },
            { "type": "volume", "source": GRAFANA_VOLUME, "target": "/var/lib/grafana" },
        ]),
    );
    publish(&mut g, home.grafana);
    g.insert(
        "healthcheck".into(),
        web_check(&check_host, home.grafana, "/api/health"),
    );
    g.insert("deploy".into(), limits("0.5", "256m"));
    join(&mut g, json!(["monitoring"]));
    out.push(("grafana".to_string(), Value::Object(g)));
    volumes.push(GRAFANA_VOLUME.to_string());
    volumes
}

/// The Datadog Agent (`monitoring.apm`, Datadog) of the compose file, or of `machine`'s
/// on hosts, as Datadog's Docker documentation runs it: the Docker socket, the host's
/// `/proc` and cgroups read-only, the host's PID and cgroup namespaces, APM on and open
/// to the other containers. The services reach it by name on their network; its trace
/// port is published nowhere.
pub(in crate::render) fn datadog_agent(
    plan: &Plan,
    machine: Option<&str>,
) -> Option<(String, Value)> {
    let agent = plan.apm.as_ref()?.agent_on(machine)?;
    let mut c = Map::new();
    c.insert("image".into(), json!(agent.image));
    c.insert("restart".into(), json!("unless-stopped"));
    let mut env = Map::new();
    for var in &agent.env {
        env.insert(var.name.clone(), env_value(&var.value));
    }
    c.insert("environment".into(), Value::Object(env));
    c.insert("pid".into(), json!("host"));
    c.insert("cgroup".into(), json!("host"));
    c.insert(
        "volumes".into(),
        json!([
            { "type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock", "read_only": true },
            { "type": "bind", "source": "/proc", "target": "/host/proc", "read_only": true },
            { "type": "bind", "source": "/sys/fs/cgroup", "target": "/host/sys/fs/cgroup", "read_only": true },
        ]),
    );
    if let Some(deploy) = super::resources(&agent.resources, None) {
        c.insert("deploy".into(), deploy);
    }
    // On compose, the networks the services are on (on hosts, each machine's compose
    // project has one network, the default, which the services are on too).
    if machine.is_none() {
        c.insert("networks".into(), json!(["front", "back"]));
    }
    Some((agent.container.clone(), Value::Object(c)))
}

fn exporter(e: &ExporterPlan) -> Value {
    let mut c = Map::new();
    c.insert("image".into(), json!(e.image));
    if !e.args.is_empty() {
        c.insert("command".into(), json!(e.args));
    }
    if !e.env.is_empty() {
        let mut env = Map::new();
        for (k, v) in &e.env {
            env.insert(k.clone(), env_value(v));
        }
        c.insert("environment".into(), Value::Object(env));
    }
    // On hosts: the machine's network, listening on its address (its loopback one on
    // the monitoring machine), for the monitoring machine's Prometheus.
    let on_machine = e.listen.as_deref().map(|at| (at, address(at, e.port)));
    if let Some((_, listen)) = &on_machine {
        if e.kind != ExporterKind::Cadvisor {
            let mut args = e.args.clone();
            args.push(format!("--web.listen-address={listen}"));
            c.insert("command".into(), json!(args));
        }
    }
    let networks = |c: &mut Map<String, Value>, network: &str| match &on_machine {
        Some(_) => {
            c.insert("network_mode".into(), json!("host"));
        }
        None => {
            c.insert("networks".into(), json!([network]));
        }
    };
    match e.kind {
        ExporterKind::Node => {
            // What node_exporter's own documentation runs it with: the host's process
            // table and its root filesystem read-only under /host; only its filesystem
            // collector, the free space the disk alerts read (the others read what
            // nothing here uses, and 1.9.0's cpu collector panics where a kernel hides
            // which CPUs are online).
            hardened(&mut c, true);
            let mut args = vec![
                "--path.rootfs=/host".to_string(),
                "--collector.disable-defaults".to_string(),
                "--collector.filesystem".to_string(),
            ];
            if let Some((_, listen)) = &on_machine {
                args.push(format!("--web.listen-address={listen}"));
            }
            c.insert("command".into(), json!(args));
            c.insert("pid".into(), json!("host"));
            c.insert(
                "volumes".into(),
                json!([
                    { "type": "bind", "source": "/", "target": "/host", "read_only": true, "bind": { "propagation": "rslave" } },
                ]),
            );
            c.insert("deploy".into(), limits("0.25", "64m"));
            networks(&mut c, "monitoring");
        }
        ExporterKind::Cadvisor => {
            // What cAdvisor's own documentation runs it with: the host's cgroups and
            // Docker's state, read only.
            c.insert("restart".into(), json!("unless-stopped"));
            c.insert("privileged".into(), json!(true));
            c.insert("devices".into(), json!(["/dev/kmsg"]));
            let mut args = vec![
                "--docker_only=true".to_string(),
                "--housekeeping_interval=15s".to_string(),
                "--store_container_labels=true".to_string(),
            ];
            if let Some((at, _)) = &on_machine {
                // cAdvisor joins `listen_ip:port` as it is: an IPv6 address in brackets.
                args.push(format!("--listen_ip={}", crate::render::url_host(at)));
                args.push(format!("--port={}", e.port));
                // The image's own health check asks localhost:8080, where it does not
                // listen here.
                c.insert("healthcheck".into(), web_check(at, e.port, "/healthz"));
            }
            c.insert("command".into(), json!(args));
            c.insert(
                "volumes".into(),
                json!([
                    { "type": "bind", "source": "/", "target": "/rootfs", "read_only": true },
                    { "type": "bind", "source": "/var/run", "target": "/var/run", "read_only": true },
                    { "type": "bind", "source": "/sys", "target": "/sys", "read_only": true },
                    { "type": "bind", "source": "/var/lib/docker", "target": "/var/lib/docker", "read_only": true },
                    { "type": "bind", "source": "/dev/disk", "target": "/dev/disk", "read_only": true },
                ]),
            );
            c.insert("deploy".into(), limits("0.5", "256m"));
            networks(&mut c, "monitoring");
        }
        ExporterKind::Nginx => {
            hardened(&mut c, true);
            c.insert("deploy".into(), limits("0.25", "64m"));
            networks(&mut c, "front");
        }
        ExporterKind::Redis | ExporterKind::Postgres => {
            hardened(&mut c, true);
            c.insert("deploy".into(), limits("0.25", "128m"));
            networks(&mut c, "back");
        }
    }
    Value::Object(c)
}
