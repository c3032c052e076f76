//! The compose platform: the whole stack on one Docker host, in one
//! `docker-compose.yml`, with the balancer and datastore configs beside it.
//!
//! The containers are built here as data and written with the checked YAML emitter,
//! so no blueprint value can break the file's structure. The `hosts` platform reuses
//! the same container definitions, one file per machine ([`Layout::Hosts`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::model::units::format_millicores;
use crate::model::{Platform, ServiceKind};
use crate::plan::{DatastoreNode, DatastorePlan, Plan, ServicePlan, CONTAINER_LISTEN_PORT};
use crate::render::templates::{TemplateError, Templates};

use super::bundle::generated_header;
use super::{balancer, datastores};

/// Images of the servers tierform configures, by engine; the version comes from the
/// blueprint where it has one.
const NGINX_IMAGE: &str = "nginx:1.27-alpine";
const HAPROXY_IMAGE: &str = "haproxy:2.9-alpine";
const PGBOUNCER_IMAGE: &str = "edoburu/pgbouncer:v1.24.1-p1";

/// How the stack is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One Docker host: a front network (balancer ↔ routable services) and a back
    /// network (services ↔ datastores); names resolve through Docker's DNS.
    Single,
    /// One Docker host per machine: the balancer and the datastores use the host's
    /// network and listen on its address; services publish their ports on it.
    Hosts,
}

/// The files of the compose bundle, by path inside it.
pub fn render(plan: &Plan, templates: &Templates) -> Result<Vec<(String, String)>, TemplateError> {
    let mut files = Vec::new();
    let mut services = Map::new();
    let mut volumes = BTreeSet::new();
    if let Some(lb) = &plan.balancer {
        for node in lb.nodes.get(&Platform::Compose).into_iter().flatten() {
            let text = balancer::render(plan, lb, Platform::Compose, node, templates)?;
            files.push((balancer::file_name(lb.engine).to_string(), text));
        }
        let (name, svc) = balancer_container(plan, Layout::Single, "");
        services.insert(name, svc);
    }
    for s in plan.services.values() {
        for (name, svc) in app_containers(plan, s, Layout::Single, None) {
            services.insert(name, svc);
        }
    }
    for store in plan.datastores.values() {
        for f in datastores::render(plan, store, Platform::Compose, templates)? {
            files.push((f.path, f.text));
        }
        for (name, svc, volume) in datastore_containers(store, Layout::Single, None) {
            services.insert(name, svc);
            volumes.extend(volume);
        }
    }
    let doc = compose_document(services, volumes, true);
    files.push((
        "docker-compose.yml".into(),
        emit(plan, &doc, "docker compose up -d")?,
    ));
    files.push((".env.example".into(), env_example(plan, None)));
    Ok(files)
}

pub(super) fn emit(plan: &Plan, doc: &Value, run: &str) -> Result<String, TemplateError> {
    let header = generated_header(plan);
    let secrets =
        "Secrets come from a .env file beside this one: copy .env.example to .env and fill it in.";
    let run = format!("Run from this folder: {run}");
    crate::render::yaml_emit::emit_checked(&[&header, "", secrets, &run], doc).map_err(|e| {
        TemplateError::Template {
            name: "docker-compose.yml".into(),
            message: e.to_string(),
        }
    })
}

pub(super) fn compose_document(
    services: Map<String, Value>,
    volumes: BTreeSet<String>,
    networks: bool,
) -> Value {
    let mut doc = Map::new();
    doc.insert("services".into(), Value::Object(services));
    if networks {
        doc.insert(
            "networks".into(),
            json!({
                "front": { "driver": "bridge" },
                // Datastores sit on the back network only: the balancer cannot reach them.
                "back": { "driver": "bridge" },
            }),
        );
    }
    if !volumes.is_empty() {
        let mut v = Map::new();
        for name in volumes {
            v.insert(name, json!({}));
        }
        doc.insert("volumes".into(), Value::Object(v));
    }
    Value::Object(doc)
}

/// `.env.example`: every secret the bundle reads, without a value.
pub(super) fn env_example(plan: &Plan, machine: Option<&str>) -> String {
    let mut by_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in plan.services.values() {
        if machine.is_some_and(|m| !s.machines.iter().any(|x| x == m)) {
            continue;
        }
        for secret in &s.secrets {
            by_name
                .entry(secret.clone())
                .or_default()
                .insert(s.name.clone());
        }
        for u in &s.uses {
            if let Some(store) = plan.datastores.get(u) {
                if let Some(secret) = app_secret(store) {
                    by_name.entry(secret).or_default().insert(s.name.clone());
                }
            }
        }
    }
    for store in plan.datastores.values() {
        let runs_here = machine.is_none_or(|m| {
            store
                .nodes
                .get(&Platform::Hosts)
                .is_some_and(|nodes| nodes.iter().any(|n| n.machine == m))
        });
        if runs_here {
            for secret in &store.secrets {
                by_name
                    .entry(secret.clone())
                    .or_default()
                    .insert(store.name.clone());
            }
        }
    }
    let mut text = format!(
        "# {}\n#\n# Every secret this bundle reads, without its value. Copy this file to .env (beside\n# docker-compose.yml, never committed) and fill in each value.\n",
        generated_header(plan)
    );
    for (name, users) in by_name {
        text.push_str(&format!(
            "\n# used by {}\n{name}=\n",
            users.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    text
}

/// A blueprint's text as compose reads it literally: compose expands `$NAME` and
/// `${NAME}` from the deployer's environment, so every `$` is written `$$`.
fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// A `${NAME:?…}` reference: compose refuses to start without the value.
fn secret_ref(name: &str) -> Value {
    Value::String(format!(
        "${{{name}:?{name} is not set: copy .env.example to .env and fill it in}}"
    ))
}

/// The password secret a service needs to use a datastore.
fn app_secret(store: &DatastorePlan) -> Option<String> {
    if let Some(pg) = &store.postgres {
        return Some(pg.password_secret.clone());
    }
    if let Some(r) = &store.redis {
        return Some(r.password_secret.clone());
    }
    store.rabbitmq.as_ref().map(|r| r.password_secret.clone())
}

fn millicores(m: u64) -> String {
    // Compose reads cpus as a decimal number of cores.
    let s = format!("{}.{:03}", m / 1000, m % 1000);
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    if s.is_empty() {
        format_millicores(m)
    } else {
        s
    }
}

fn memory(bytes: u64) -> String {
    const MI: u64 = 1024 * 1024;
    if bytes % (1024 * MI) == 0 {
        format!("{}g", bytes / (1024 * MI))
    } else if bytes % MI == 0 {
        format!("{}m", bytes / MI)
    } else {
        format!("{bytes}b")
    }
}

fn resources(r: &crate::plan::ResourcesPlan) -> Option<Value> {
    let mut limits = Map::new();
    let mut reservations = Map::new();
    if r.cpu_limit_millis > 0 {
        limits.insert("cpus".into(), json!(millicores(r.cpu_limit_millis)));
    }
    if r.memory_limit_bytes > 0 {
        limits.insert("memory".into(), json!(memory(r.memory_limit_bytes)));
    }
    if r.cpu_millis > 0 {
        reservations.insert("cpus".into(), json!(millicores(r.cpu_millis)));
    }
    if r.memory_bytes > 0 {
        reservations.insert("memory".into(), json!(memory(r.memory_bytes)));
    }
    if limits.is_empty() && reservations.is_empty() {
        return None;
    }
    let mut res = Map::new();
    if !limits.is_empty() {
        res.insert("limits".into(), Value::Object(limits));
    }
    if !reservations.is_empty() {
        res.insert("reservations".into(), Value::Object(reservations));
    }
    Some(json!({ "resources": res }))
}

fn seconds(ms: u64) -> String {
    crate::render::templates::format_duration(ms)
}

/// The HTTP health check of a service, run inside its container. The image must have
/// curl, wget or python3; give `health.command` to use anything else.
fn http_probe(port: u16, path: &str) -> Value {
    let url = format!("http://127.0.0.1:{port}{path}");
    json!([
        "CMD-SHELL",
        format!(
            "curl -fsS -o /dev/null '{url}' || wget -q -O /dev/null '{url}' || python3 -c \"import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)\" '{url}'"
        )
    ])
}

fn healthcheck(s: &ServicePlan) -> Option<Value> {
    let h = s.health.as_ref()?;
    let test = if !h.command.is_empty() {
        let mut cmd = vec![json!("CMD")];
        cmd.extend(h.command.iter().map(|c| json!(literal(c))));
        Value::Array(cmd)
    } else {
        http_probe(s.port?, &h.path)
    };
    Some(json!({
        "test": test,
        "interval": seconds(h.interval_ms),
        "timeout": seconds(h.timeout_ms),
        "retries": h.failure_threshold,
        "start_period": seconds(h.start_period_ms),
    }))
}

/// The connection settings of each datastore a service uses, as environment variables
/// (`DB_HOST`, `DB_PORT`, …), for the platform's addresses.
pub(super) fn connection_env(
    plan: &Plan,
    s: &ServicePlan,
    platform: Platform,
    secret_ref: &dyn Fn(&str) -> Value,
    env: &mut Map<String, Value>,
) {
    for u in &s.uses {
        let Some(store) = plan.datastores.get(u) else {
            continue;
        };
        let p = &store.env_prefix;
        let nodes = store.nodes.get(&platform).cloned().unwrap_or_default();
        let by_role = |role: &str| {
            nodes
                .iter()
                .filter(|n| n.role == role)
                .cloned()
                .collect::<Vec<_>>()
        };
        if let Some(pg) = &store.postgres {
            let primary = by_role("primary");
            let replicas = by_role("replica");
            let pooler = by_role("pooler");
            let (write, read, read_db) = match (pooler.first(), primary.first()) {
                (Some(pool), _) if !replicas.is_empty() => (
                    pool.clone(),
                    pool.clone(),
                    pg.pooler
                        .as_ref()
                        .map_or(pg.database.clone(), |x| x.readonly_database.clone()),
                ),
                (Some(pool), _) => (pool.clone(), pool.clone(), pg.database.clone()),
                (None, Some(prim)) => (
                    prim.clone(),
                    replicas.first().cloned().unwrap_or_else(|| prim.clone()),
                    pg.database.clone(),
                ),
                (None, None) => continue,
            };
            env.insert(format!("{p}_HOST"), json!(write.host));
            env.insert(format!("{p}_PORT"), json!(write.port.to_string()));
            env.insert(format!("{p}_NAME"), json!(pg.database));
            env.insert(format!("{p}_USER"), json!(pg.user));
            env.insert(format!("{p}_PASSWORD"), secret_ref(&pg.password_secret));
            env.insert(format!("{p}_READ_HOST"), json!(read.host));
            if replicas.len() > 1 && pooler.is_empty() {
                // Without a pooler, the application spreads reads itself.
                let all: Vec<String> = replicas
                    .iter()
                    .map(|n| format!("{}:{}", n.host, n.port))
                    .collect();
                env.insert(format!("{p}_READ_HOSTS"), json!(all.join(",")));
            }
            env.insert(format!("{p}_READ_PORT"), json!(read.port.to_string()));
            env.insert(format!("{p}_READ_NAME"), json!(read_db));
        } else if let Some(r) = &store.redis {
            let first = nodes.first();
            if let Some(n) = first {
                env.insert(format!("{p}_HOST"), json!(n.host));
                env.insert(format!("{p}_PORT"), json!(n.port.to_string()));
            }
            if r.cluster {
                let all: Vec<String> = nodes
                    .iter()
                    .map(|n| format!("{}:{}", n.host, n.port))
                    .collect();
                env.insert(format!("{p}_CLUSTER_NODES"), json!(all.join(",")));
            }
            env.insert(format!("{p}_PASSWORD"), secret_ref(&r.password_secret));
        } else if let Some(r) = &store.rabbitmq {
            if let Some(n) = nodes.first() {
                env.insert(format!("{p}_HOST"), json!(n.host));
                env.insert(format!("{p}_PORT"), json!(n.port.to_string()));
            }
            env.insert(format!("{p}_USER"), json!(r.user));
            env.insert(format!("{p}_PASSWORD"), secret_ref(&r.password_secret));
            env.insert(format!("{p}_VHOST"), json!(r.vhost));
        }
    }
}

fn platform_of(layout: Layout) -> Platform {
    match layout {
        Layout::Single => Platform::Compose,
        Layout::Hosts => Platform::Hosts,
    }
}

/// The balancer's container. On `hosts` it uses the machine's network and listens on
/// the machine's address, so client addresses reach it unchanged.
pub(super) fn balancer_container(plan: &Plan, layout: Layout, machine: &str) -> (String, Value) {
    let lb = plan.balancer.as_ref().expect("a balancer");
    let nginx = lb.engine == crate::model::BalancerEngine::Nginx;
    let (image, dir, target) = if nginx {
        (NGINX_IMAGE, "./nginx/nginx.conf", "/etc/nginx/nginx.conf")
    } else {
        (
            HAPROXY_IMAGE,
            "./haproxy/haproxy.cfg",
            "/usr/local/etc/haproxy/haproxy.cfg",
        )
    };
    let mut c = Map::new();
    c.insert("image".into(), json!(image));
    c.insert("restart".into(), json!("unless-stopped"));
    c.insert("read_only".into(), json!(true));
    c.insert("tmpfs".into(), json!(["/tmp"]));
    c.insert("cap_drop".into(), json!(["ALL"]));
    match layout {
        // Port 8080 in its own network: no privilege at all. nginx runs as its image's
        // nginx user (101); HAProxy's image already runs as `haproxy`.
        Layout::Single => {
            if nginx {
                c.insert("user".into(), json!("101:101"));
            }
        }
        // Port 80 on the machine's address: root with one capability to bind it (and,
        // for nginx, the two it needs to run its workers as `nobody`).
        Layout::Hosts => {
            c.insert("user".into(), json!("0:0"));
            let caps = if nginx {
                json!(["NET_BIND_SERVICE", "SETGID", "SETUID"])
            } else {
                json!(["NET_BIND_SERVICE"])
            };
            c.insert("cap_add".into(), caps);
        }
    }
    c.insert("security_opt".into(), json!(["no-new-privileges:true"]));
    c.insert(
        "volumes".into(),
        json!([{ "type": "bind", "source": dir, "target": target, "read_only": true }]),
    );
    // The balancer's own /health (busybox wget is in both alpine images).
    let node = lb.nodes.get(&platform_of(layout)).and_then(|nodes| {
        nodes
            .iter()
            .find(|n| layout == Layout::Single || n.host == machine)
    });
    let (addr, port) = node.map_or(("127.0.0.1".to_string(), CONTAINER_LISTEN_PORT), |n| {
        let a = if n.address.is_empty() {
            "127.0.0.1".to_string()
        } else if n.address.contains(':') {
            format!("[{}]", n.address)
        } else {
            n.address.clone()
        };
        (a, n.port)
    });
    c.insert(
        "healthcheck".into(),
        json!({
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", format!("http://{addr}:{port}/health")],
            "interval": "10s", "timeout": "3s", "retries": 3,
        }),
    );
    match layout {
        Layout::Single => {
            c.insert(
                "ports".into(),
                json!([format!("{}:{}", lb.listen, CONTAINER_LISTEN_PORT)]),
            );
            c.insert("networks".into(), json!(["front"]));
            let mut deps = Map::new();
            for pool in lb.pools.values() {
                for server in pool.servers.get(&Platform::Compose).into_iter().flatten() {
                    // nginx resolves each instance's name once, at start: when compose
                    // recreates an instance (a new address), it restarts the balancer.
                    deps.insert(
                        server.id.clone(),
                        json!({ "condition": "service_started", "restart": true }),
                    );
                }
            }
            if !deps.is_empty() {
                c.insert("depends_on".into(), Value::Object(deps));
            }
        }
        Layout::Hosts => {
            c.insert("network_mode".into(), json!("host"));
        }
    }
    let name = match lb.engine {
        crate::model::BalancerEngine::Nginx => "nginx",
        crate::model::BalancerEngine::Haproxy => "haproxy",
    };
    (name.to_string(), Value::Object(c))
}

/// The containers of one service: one per instance. `machine` limits them to the
/// instances placed on that machine (`hosts`).
pub(super) fn app_containers(
    plan: &Plan,
    s: &ServicePlan,
    layout: Layout,
    machine: Option<&str>,
) -> Vec<(String, Value)> {
    let platform = platform_of(layout);
    let names = crate::plan::placement::instance_names(&s.name, s.instances);
    let endpoints = s.endpoints.get(&platform);
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if let Some(m) = machine {
            if s.machines.get(i).map(String::as_str) != Some(m) {
                continue;
            }
        }
        let mut c = Map::new();
        c.insert("image".into(), json!(s.image));
        if !s.command.is_empty() {
            let command: Vec<String> = s.command.iter().map(|a| literal(a)).collect();
            c.insert("command".into(), json!(command));
        }
        c.insert("restart".into(), json!("unless-stopped"));
        let mut env = Map::new();
        for (k, v) in &s.env {
            env.insert(k.clone(), json!(literal(v)));
        }
        for secret in &s.secrets {
            env.insert(secret.clone(), secret_ref(secret));
        }
        connection_env(plan, s, platform, &secret_ref, &mut env);
        if !env.is_empty() {
            c.insert("environment".into(), Value::Object(env));
        }
        if let Some(h) = healthcheck(s) {
            c.insert("healthcheck".into(), h);
        }
        if let Some(r) = resources(&s.resources) {
            c.insert("deploy".into(), r);
        }
        if s.kind == ServiceKind::Worker || s.kind == ServiceKind::Scheduler {
            // Time to finish the task in hand before the container is killed.
            c.insert("stop_grace_period".into(), json!("60s"));
        }
        match layout {
            Layout::Single => {
                if let (Some(hp), Some(p)) = (s.host_port, s.port) {
                    c.insert("ports".into(), json!([format!("{hp}:{p}")]));
                }
                // The back network only for what uses a datastore (or has no other).
                let front = s.kind.is_routable() && plan.balancer.is_some();
                let mut nets = Vec::new();
                if front {
                    nets.push(json!("front"));
                }
                if !front || !s.uses.is_empty() {
                    nets.push(json!("back"));
                }
                c.insert("networks".into(), Value::Array(nets));
                let mut deps = Map::new();
                for u in &s.uses {
                    let Some(store) = plan.datastores.get(u) else {
                        continue;
                    };
                    for (dep, condition) in datastore_dependencies(store) {
                        deps.insert(dep, json!({ "condition": condition }));
                    }
                }
                if !deps.is_empty() {
                    c.insert("depends_on".into(), Value::Object(deps));
                }
            }
            Layout::Hosts => {
                if let (Some(e), Some(p)) = (endpoints.and_then(|e| e.get(i)), s.port) {
                    let host = if e.host.contains(':') {
                        format!("[{}]", e.host)
                    } else {
                        e.host.clone()
                    };
                    c.insert("ports".into(), json!([format!("{host}:{}:{p}", e.port)]));
                }
            }
        }
        out.push((name.clone(), Value::Object(c)));
    }
    out
}

/// What a service using `store` waits for on one Docker host.
fn datastore_dependencies(store: &DatastorePlan) -> Vec<(String, &'static str)> {
    let nodes = store
        .nodes
        .get(&Platform::Compose)
        .cloned()
        .unwrap_or_default();
    let mut deps = Vec::new();
    // Through a pooler, a service needs the pooler and the primary it fronts; a
    // replica that is slow to copy must not hold the application back.
    let pooled = nodes.iter().any(|n| n.role == "pooler");
    for n in &nodes {
        match n.role.as_str() {
            "pooler" => deps.push((n.id.clone(), "service_started")),
            "replica" if pooled => {}
            _ => deps.push((n.id.clone(), "service_healthy")),
        }
    }
    if store.redis.as_ref().is_some_and(|r| r.cluster) {
        deps.push((
            format!("{}-cluster-init", store.name),
            "service_completed_successfully",
        ));
    }
    deps
}

/// The containers of a datastore, with the named volumes they use. `machine` limits
/// them to the nodes placed there (`hosts`).
pub(super) fn datastore_containers(
    store: &DatastorePlan,
    layout: Layout,
    machine: Option<&str>,
) -> Vec<(String, Value, Option<String>)> {
    let platform = platform_of(layout);
    let nodes = store.nodes.get(&platform).cloned().unwrap_or_default();
    let here = |n: &DatastoreNode| machine.is_none_or(|m| n.machine == m);
    let mount = datastores::mount_dir(store);
    let files = json!({ "type": "bind", "source": format!("./{}", datastores::bundle_dir(store)), "target": mount, "read_only": true });
    let mut out = Vec::new();
    let common = |c: &mut Map<String, Value>| {
        c.insert("restart".into(), json!("unless-stopped"));
        if let Some(r) = resources(&store.resources) {
            c.insert("deploy".into(), r);
        }
        match layout {
            Layout::Single => {
                c.insert("networks".into(), json!(["back"]));
            }
            Layout::Hosts => {
                c.insert("network_mode".into(), json!("host"));
            }
        }
    };
    let addr = |n: &DatastoreNode| {
        if layout == Layout::Hosts {
            n.host.clone()
        } else {
            "127.0.0.1".into()
        }
    };

    if let Some(redis) = &store.redis {
        for n in nodes.iter().filter(|n| here(n)) {
            let volume = format!("{}-data", n.id);
            let mut c = Map::new();
            c.insert("image".into(), json!(format!("redis:{}", store.version)));
            // The image's redis user owns /data.
            c.insert("user".into(), json!("redis"));
            // The password file start.sh writes lives in memory only.
            c.insert("tmpfs".into(), json!(["/tmp"]));
            c.insert(
                "command".into(),
                json!([
                    "sh",
                    format!("{mount}/start.sh"),
                    format!("{mount}/{}.conf", n.id)
                ]),
            );
            c.insert(
                "environment".into(),
                json!({ "REDIS_PASSWORD": secret_ref(&redis.password_secret) }),
            );
            c.insert(
                "volumes".into(),
                json!([files.clone(), { "type": "volume", "source": volume, "target": "/data" }]),
            );
            c.insert(
                "healthcheck".into(),
                json!({
                    "test": ["CMD-SHELL", format!("REDISCLI_AUTH=\"$$REDIS_PASSWORD\" redis-cli -h {} -p {} ping | grep -q PONG", addr(n), n.port)],
                    "interval": "5s", "timeout": "3s", "retries": 10,
                }),
            );
            common(&mut c);
            out.push((n.id.clone(), Value::Object(c), Some(volume)));
        }
        if redis.cluster && nodes.first().is_some_and(&here) {
            let mut c = Map::new();
            c.insert("image".into(), json!(format!("redis:{}", store.version)));
            c.insert(
                "command".into(),
                json!(["sh", format!("{mount}/cluster-init.sh")]),
            );
            c.insert(
                "environment".into(),
                json!({ "REDISCLI_AUTH": secret_ref(&redis.password_secret) }),
            );
            c.insert("volumes".into(), json!([files.clone()]));
            c.insert("restart".into(), json!("no"));
            match layout {
                Layout::Single => {
                    c.insert("networks".into(), json!(["back"]));
                    let mut deps = Map::new();
                    for n in &nodes {
                        deps.insert(n.id.clone(), json!({ "condition": "service_healthy" }));
                    }
                    c.insert("depends_on".into(), Value::Object(deps));
                }
                Layout::Hosts => {
                    // The other nodes run on other machines: the script waits for them.
                    c.insert("network_mode".into(), json!("host"));
                }
            }
            out.push((
                format!("{}-cluster-init", store.name),
                Value::Object(c),
                None,
            ));
        }
    }
    if let Some(pg) = &store.postgres {
        let primary = nodes.iter().find(|n| n.role == "primary").cloned();
        for n in nodes.iter().filter(|n| here(n)) {
            let mut c = Map::new();
            match n.role.as_str() {
                "primary" => {
                    let volume = format!("{}-data", n.id);
                    c.insert("image".into(), json!(format!("postgres:{}", store.version)));
                    let mut cmd = vec![
                        json!("postgres"),
                        json!("-c"),
                        json!(format!("config_file={mount}/postgresql.conf")),
                        json!("-c"),
                        json!(format!("hba_file={mount}/pg_hba.conf")),
                    ];
                    if layout == Layout::Hosts {
                        cmd.extend([json!("-c"), json!(format!("port={}", n.port))]);
                    }
                    c.insert("command".into(), Value::Array(cmd));
                    c.insert(
                        "environment".into(),
                        json!({
                            "POSTGRES_PASSWORD": secret_ref(&pg.superuser_secret),
                            "APP_PASSWORD": secret_ref(&pg.password_secret),
                            "REPLICATION_PASSWORD": secret_ref(&pg.replication_secret),
                            "PGPORT": n.port.to_string(),
                        }),
                    );
                    c.insert(
                        "volumes".into(),
                        json!([
                            files.clone(),
                            { "type": "bind", "source": format!("./{}/init-primary.sh", datastores::bundle_dir(store)), "target": "/docker-entrypoint-initdb.d/10-tierform.sh", "read_only": true },
                            { "type": "volume", "source": volume, "target": "/var/lib/postgresql/data" },
                        ]),
                    );
                    c.insert("shm_size".into(), json!("256m"));
                    c.insert(
                        "healthcheck".into(),
                        json!({ "test": ["CMD", "pg_isready", "-q", "-h", addr(n), "-p", n.port.to_string(), "-U", "postgres"], "interval": "5s", "timeout": "3s", "retries": 10, "start_period": "30s" }),
                    );
                    c.insert("stop_grace_period".into(), json!("60s"));
                    common(&mut c);
                    out.push((n.id.clone(), Value::Object(c), Some(volume)));
                }
                "replica" => {
                    let volume = format!("{}-data", n.id);
                    c.insert("image".into(), json!(format!("postgres:{}", store.version)));
                    c.insert("user".into(), json!("postgres"));
                    c.insert(
                        "entrypoint".into(),
                        json!(["sh", format!("{mount}/start-{}.sh", n.id)]),
                    );
                    c.insert(
                        "environment".into(),
                        json!({ "REPLICATION_PASSWORD": secret_ref(&pg.replication_secret) }),
                    );
                    c.insert(
                        "volumes".into(),
                        json!([files.clone(), { "type": "volume", "source": volume, "target": "/var/lib/postgresql/data" }]),
                    );
                    c.insert("shm_size".into(), json!("256m"));
                    c.insert("tmpfs".into(), json!(["/tmp"]));
                    c.insert(
                        "healthcheck".into(),
                        json!({ "test": ["CMD", "pg_isready", "-q", "-h", addr(n), "-p", n.port.to_string(), "-U", "postgres"], "interval": "5s", "timeout": "3s", "retries": 10, "start_period": "120s" }),
                    );
                    c.insert("stop_grace_period".into(), json!("60s"));
                    if let (Layout::Single, Some(p)) = (layout, &primary) {
                        c.insert(
                            "depends_on".into(),
                            json!({ p.id.clone(): { "condition": "service_healthy" } }),
                        );
                    }
                    common(&mut c);
                    out.push((n.id.clone(), Value::Object(c), Some(volume)));
                }
                _ => {
                    let pdir = datastores::pooler_dir(store);
                    c.insert("image".into(), json!(PGBOUNCER_IMAGE));
                    // PgBouncer refuses root; 70 is the image's postgres user.
                    c.insert("user".into(), json!("70:70"));
                    c.insert(
                        "entrypoint".into(),
                        json!([
                            "sh",
                            "/etc/tierform/pgbouncer/start.sh",
                            "/etc/tierform/pgbouncer/pgbouncer.ini"
                        ]),
                    );
                    c.insert(
                        "environment".into(),
                        json!({ "APP_PASSWORD": secret_ref(&pg.password_secret) }),
                    );
                    c.insert(
                        "volumes".into(),
                        json!([{ "type": "bind", "source": format!("./{pdir}"), "target": "/etc/tierform/pgbouncer", "read_only": true }]),
                    );
                    c.insert("read_only".into(), json!(true));
                    c.insert("tmpfs".into(), json!(["/tmp"]));
                    if layout == Layout::Single {
                        let mut deps = Map::new();
                        for other in nodes.iter().filter(|o| o.role != "pooler") {
                            deps.insert(
                                other.id.clone(),
                                json!({ "condition": "service_healthy" }),
                            );
                        }
                        c.insert("depends_on".into(), Value::Object(deps));
                    }
                    common(&mut c);
                    if let Some(d) = c.get_mut("deploy") {
                        // The pool's own footprint is small; the datastore's resources
                        // are the server's.
                        *d = json!({ "resources": { "limits": { "cpus": "0.5", "memory": "128m" } } });
                    }
                    out.push((n.id.clone(), Value::Object(c), None));
                }
            }
        }
    }
    if let Some(rabbit) = &store.rabbitmq {
        for n in nodes.iter().filter(|n| here(n)) {
            let volume = format!("{}-data", n.id);
            let mut c = Map::new();
            c.insert(
                "image".into(),
                json!(format!("rabbitmq:{}-management", store.version)),
            );
            c.insert(
                "environment".into(),
                json!({
                    "RABBITMQ_DEFAULT_USER": rabbit.user,
                    "RABBITMQ_DEFAULT_PASS": secret_ref(&rabbit.password_secret),
                    "RABBITMQ_CONFIG_FILE": format!("{mount}/rabbitmq.conf"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": format!("{mount}/enabled_plugins"),
                }),
            );
            c.insert(
                "volumes".into(),
                json!([files.clone(), { "type": "volume", "source": volume, "target": "/var/lib/rabbitmq" }]),
            );
            c.insert(
                "healthcheck".into(),
                json!({ "test": ["CMD", "rabbitmq-diagnostics", "-q", "ping"], "interval": "10s", "timeout": "5s", "retries": 10, "start_period": "30s" }),
            );
            common(&mut c);
            out.push((n.id.clone(), Value::Object(c), Some(volume)));
        }
    }
    out
}
