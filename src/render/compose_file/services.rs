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
/// (`DB_HOST`, `DB_PORT`, …), and the connection URLs it asks for (`urls`), as the
/// plan gives them for `platform`.
pub(in crate::render) fn connection_env(
    plan: &Plan,
    s: &ServicePlan,
    platform: Platform,
    env: &mut Map<String, Value>,
) {
    for u in &s.uses {
        for var in plan.connection(u, platform) {
            env.insert(var.name.clone(), env_value(&var.value));
        }
    }
    // The connection URLs it asks for, by its own names.
    for (name, store) in &s.urls {
        if let Some(url) = plan.url(store, platform) {
            env.insert(name.clone(), env_value(url));
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
    let mut volumes =
        vec![json!({ "type": "bind", "source": dir, "target": target, "read_only": true })];
    // The certificate and its key, from the machine (validation made sure both are given).
    if let Some(tls) = &lb.tls {
        for (source, target) in [
            (&tls.certificate_file, &tls.certificate_path),
            (&tls.key_file, &tls.key_path),
        ] {
            if let Some(source) = source {
                volumes.push(json!({ "type": "bind", "source": source, "target": target, "read_only": true }));
            }
        }
    }
    c.insert("volumes".into(), Value::Array(volumes));
    // The balancer's own health (busybox wget is in both alpine images).
    let node = lb.nodes.get(&platform_of(layout)).and_then(|nodes| {
        nodes
            .iter()
            .find(|n| layout == Layout::Single || n.host == machine)
    });
    let (addr, port) = node.map_or(("127.0.0.1".to_string(), CONTAINER_LISTEN_PORT), |n| {
        let a = if n.address.is_empty() {
            "127.0.0.1".to_string()
        } else {
            crate::render::url_host(&n.address)
        };
        (a, n.health_port.unwrap_or(n.port))
    });
    c.insert(
        "healthcheck".into(),
        json!({
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", format!("http://{addr}:{port}{}", lb.health_path)],
            "interval": "10s", "timeout": "3s", "retries": 3,
        }),
    );
    match layout {
        Layout::Single => {
            let mut ports = vec![format!("{}:{}", lb.listen, CONTAINER_LISTEN_PORT)];
            if let Some(tls) = &lb.tls {
                ports.push(format!("{}:{}", tls.listen, CONTAINER_TLS_PORT));
            }
            // The plain health listener beside PROXY protocol listeners, for the load
            // balancer in front to check.
            if let Some(port) = lb.health_port(Platform::Compose) {
                ports.push(format!("{port}:{port}"));
            }
            c.insert("ports".into(), json!(ports));
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
    (lb.engine.as_str().to_string(), Value::Object(c))
}

/// The jobs `s` waits for, as compose `depends_on` entries: each must exit 0 before
/// `s` starts. On `hosts` (`machine` given), only the jobs on that machine.
fn job_dependencies(plan: &Plan, s: &ServicePlan, machine: Option<&str>) -> Map<String, Value> {
    let mut deps = Map::new();
    for job in s.after.iter().filter_map(|j| plan.services.get(j)) {
        let on = job.machines.first().map(String::as_str);
        if machine.is_some() && on != machine {
            continue;
        }
        for container in &job.containers {
            deps.insert(
                container.clone(),
                json!({ "condition": "service_completed_successfully" }),
            );
        }
    }
    deps
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
        // A job runs once to completion: compose never restarts it.
        let restart = if s.job.is_some() {
            "no"
        } else {
            "unless-stopped"
        };
        c.insert("restart".into(), json!(restart));
        let mut env = Map::new();
        for (k, v) in &s.env {
            env.insert(k.clone(), json!(literal(v)));
        }
        for secret in &s.secrets {
            env.insert(secret.clone(), secret_ref(secret));
        }
        connection_env(plan, s, platform, &mut env);
        // The vendor's APM variables (`monitoring.apm`).
        for var in plan.apm.iter().flat_map(|a| a.env(&s.name, platform)) {
            env.insert(var.name.clone(), env_value(&var.value));
        }
        // AMD's and Intel's GPUs come as device files that show every GPU: the
        // runtime's variable names this instance's own.
        if let (Some(gpu), Some(ids)) = (
            s.resources.gpu,
            s.gpu_devices.get(&platform).and_then(|ids| ids.get(i)),
        ) {
            if let Some(var) = gpu.vendor.visible_devices_var() {
                let list: Vec<String> = ids.iter().map(u32::to_string).collect();
                env.insert(var.into(), json!(list.join(",")));
            }
        }
        if !env.is_empty() {
            c.insert("environment".into(), Value::Object(env));
        }
        if let Some(h) = healthcheck(s) {
            c.insert("healthcheck".into(), h);
        }
        let gpu_ids = s
            .gpu_devices
            .get(&platform)
            .and_then(|ids| ids.get(i))
            .map(Vec::as_slice);
        if let Some(r) = resources(&s.resources, gpu_ids) {
            c.insert("deploy".into(), r);
        }
        if let Some(devices) = gpu_devices(&s.resources) {
            c.insert("devices".into(), devices);
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
                    for (dep, condition) in datastore_dependencies(store, None) {
                        deps.insert(dep, json!({ "condition": condition }));
                    }
                }
                deps.extend(job_dependencies(plan, s, None));
                if !deps.is_empty() {
                    c.insert("depends_on".into(), Value::Object(deps));
                }
            }
            Layout::Hosts => {
                let mut ports = Vec::new();
                if let (Some(e), Some(p)) = (endpoints.and_then(|e| e.get(i)), s.port) {
                    let host = crate::render::url_host(&e.host);
                    ports.push(format!("{host}:{}:{p}", e.port));
                }
                // Its metrics, where they are not on its port, for the monitoring
                // machine's Prometheus.
                let published = plan
                    .scrape
                    .get(&Platform::Hosts)
                    .and_then(|sc| sc.published.get(name));
                if let Some((host, outside, inside)) = published {
                    let host = crate::render::url_host(host);
                    ports.push(format!("{host}:{outside}:{inside}"));
                }
                if !ports.is_empty() {
                    c.insert("ports".into(), json!(ports));
                }
                // A job starts once the datastores it uses on its machine are up
                // (those elsewhere started earlier in the bundle's start order).
                let mut deps = Map::new();
                if s.job.is_some() {
                    for store in s.uses.iter().filter_map(|u| plan.datastores.get(u)) {
                        for (dep, condition) in datastore_dependencies(store, machine) {
                            deps.insert(dep, json!({ "condition": condition }));
                        }
                    }
                }
                // The jobs on the same machine; one on another machine ran before
                // (the bundle's start order).
                deps.extend(job_dependencies(plan, s, machine));
                if !deps.is_empty() {
                    c.insert("depends_on".into(), Value::Object(deps));
                }
            }
        }
        out.push((name.clone(), Value::Object(c)));
    }
    out
}
