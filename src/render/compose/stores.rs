//! Datastores as compose services.

use super::*;

/// What a service using `store` waits for on one Docker host.
pub(in crate::render) fn datastore_dependencies(
    store: &DatastorePlan,
) -> Vec<(String, &'static str)> {
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
    if store.redis().is_some_and(|r| r.cluster) {
        deps.push((
            format!("{}-cluster-init", store.name),
            "service_completed_successfully",
        ));
    }
    deps
}

/// The containers of a datastore, with the named volumes they use. `machine` limits
/// them to the nodes placed there (`hosts`).
pub(in crate::render) fn datastore_containers(
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

    if let Some(redis) = store.redis() {
        for n in nodes.iter().filter(|n| here(n)) {
            let volume = format!("{}-data", n.id);
            let mut c = Map::new();
            c.insert("image".into(), json!(store.image));
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
            c.insert("image".into(), json!(store.image));
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
    if let Some(pg) = store.postgres() {
        let primary = nodes.iter().find(|n| n.role == "primary").cloned();
        for n in nodes.iter().filter(|n| here(n)) {
            let mut c = Map::new();
            match n.role.as_str() {
                "primary" => {
                    let volume = format!("{}-data", n.id);
                    c.insert("image".into(), json!(store.image));
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
                    c.insert("image".into(), json!(store.image));
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
                    let Some(pool) = &pg.pooler else { continue };
                    let pdir = datastores::pooler_dir(store);
                    c.insert("image".into(), json!(pool.image));
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
                        // The pool's own footprint; the datastore's resources are the
                        // server's.
                        let r = &pool.resources;
                        *d = json!({ "resources": { "limits": { "cpus": millicores(r.cpu_limit_millis), "memory": memory(r.memory_limit_bytes) } } });
                    }
                    out.push((n.id.clone(), Value::Object(c), None));
                }
            }
        }
    }
    if let Some(rabbit) = store.rabbitmq() {
        for n in nodes.iter().filter(|n| here(n)) {
            let volume = format!("{}-data", n.id);
            let mut c = Map::new();
            c.insert("image".into(), json!(store.image));
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
