//! Services and the balancer as compose services.

use super::*;

pub(in crate::render) fn healthcheck(s: &ServicePlan) -> Option<Value> {
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
pub(in crate::render) fn connection_env(
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

pub(in crate::render) fn platform_of(layout: Layout) -> Platform {
    match layout {
        Layout::Single => Platform::Compose,
        Layout::Hosts => Platform::Hosts,
    }
}

/// The balancer's container. On `hosts` it uses the machine's network and listens on
/// the machine's address, so client addresses reach it unchanged.
pub(in crate::render) fn balancer_container(
    plan: &Plan,
    layout: Layout,
    machine: &str,
) -> (String, Value) {
    let lb = plan.balancer.as_ref().expect("a balancer");
    let nginx = lb.engine == crate::model::BalancerEngine::Nginx;
    let (dir, target) = if nginx {
        ("./nginx/nginx.conf", "/etc/nginx/nginx.conf")
    } else {
        (
            "./haproxy/haproxy.cfg",
            "/usr/local/etc/haproxy/haproxy.cfg",
        )
    };
    let mut c = Map::new();
    c.insert("image".into(), json!(lb.image));
    c.insert("restart".into(), json!("unless-stopped"));
    c.insert("read_only".into(), json!(true));
    c.insert("tmpfs".into(), json!(["/tmp"]));
    c.insert("cap_drop".into(), json!(["ALL"]));
    match layout {
        // Port 8080 in its own network: no privilege at all. nginx runs as its image's
        // nginx user; HAProxy's image already runs as `haproxy`.
        Layout::Single => {
            if nginx {
                let uid = lb.run_as_user;
                c.insert("user".into(), json!(format!("{uid}:{uid}")));
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
pub(in crate::render) fn app_containers(
    plan: &Plan,
    s: &ServicePlan,
    layout: Layout,
    machine: Option<&str>,
) -> Vec<(String, Value)> {
    let platform = platform_of(layout);
    let endpoints = s.endpoints.get(&platform);
    let mut out = Vec::new();
    for (i, name) in s.containers.iter().enumerate() {
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
        if let Some(ms) = s.stop_grace_ms.get(&platform) {
            c.insert("stop_grace_period".into(), json!(format!("{}s", ms / 1000)));
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
