//! Datastores as StatefulSets with their Services, volumes and ConfigMaps.

use super::*;

pub(super) fn env_secret(plan: &Plan, name: &str, key: &str) -> Value {
    json!({ "name": name, "valueFrom": { "secretKeyRef": { "name": secret_name(plan), "key": key } } })
}

pub(super) fn claim(name: &str, bytes: u64) -> Value {
    json!({
        "metadata": { "name": name },
        "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": quantity_memory(bytes) } } },
    })
}

pub(super) fn data_pod_security(uid: u64) -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": { "type": "RuntimeDefault" },
    })
}

/// A StatefulSet (or a Deployment) of a datastore, its Services and the ConfigMaps its
/// files go into.
pub(super) fn datastore_docs(
    plan: &Plan,
    store: &crate::plan::DatastorePlan,
    files: &[String],
) -> (Vec<Value>, Vec<Value>) {
    let name = &store.name;
    let config = format!("{name}-config");
    let dir = crate::render::datastores::bundle_dir(store);
    let own: Vec<&String> = files
        .iter()
        .filter(|f| f.starts_with(&format!("{dir}/")))
        .collect();
    let mut maps = vec![json!({ "name": config, "files": own })];
    let mut docs = Vec::new();
    let mount = crate::render::datastores::mount_dir(store);
    let resources = container_resources(&store.server_resources);
    let service = |svc: &str, selector_name: &str, port: u16, headless: bool| {
        let mut spec = json!({
            "selector": selector(plan, selector_name),
            "ports": [{ "name": "tcp", "port": port, "targetPort": port }],
        });
        if headless {
            spec["clusterIP"] = json!("None");
            spec["publishNotReadyAddresses"] = json!(true);
        }
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": svc, "labels": labels(plan, selector_name, "datastore") }, "spec": spec })
    };
    if let Some(r) = store.redis() {
        let nodes = r.masters * (1 + r.replicas_per_master);
        let mut env = vec![
            env_secret(plan, "REDIS_PASSWORD", &r.password_secret),
            json!({ "name": "REDIS_DATA_DIR", "value": "/data" }),
        ];
        if r.cluster {
            env.push(json!({ "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } }));
            env.push(json!({ "name": "POD_IP", "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" } } }));
            env.push(json!({ "name": "REDIS_ANNOUNCE_HOSTNAME", "value": format!("$(POD_NAME).{name}-headless.{}.svc.cluster.local", plan.namespace) }));
        }
        let mut ports = vec![json!({ "name": "redis", "containerPort": 6379 })];
        if r.cluster {
            ports.push(json!({ "name": "bus", "containerPort": 16379 }));
        }
        let container = json!({
            "name": "redis",
            "image": store.image,
            "command": ["sh", format!("{mount}/start.sh"), format!("{mount}/redis.conf")],
            "env": env,
            "ports": ports,
            "resources": resources,
            "readinessProbe": { "exec": { "command": ["sh", "-c", "REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli ping | grep -q PONG"] }, "periodSeconds": 5 },
            "livenessProbe": { "exec": { "command": ["sh", "-c", "REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli ping | grep -q PONG"] }, "periodSeconds": 10, "failureThreshold": 6 },
            "securityContext": secure_container(),
            "volumeMounts": [
                { "name": "config", "mountPath": mount, "readOnly": true },
                { "name": "data", "mountPath": "/data" },
                { "name": "tmp", "mountPath": "/tmp" },
            ],
        });
        let persistent = r.cluster || r.appendonly;
        let mut volumes = vec![
            json!({ "name": "config", "configMap": { "name": config } }),
            json!({ "name": "tmp", "emptyDir": { "medium": "Memory" } }),
        ];
        if !persistent {
            // A cache refills itself: no disk to keep.
            volumes.push(json!({ "name": "data", "emptyDir": {} }));
        }
        let headless = format!("{name}-headless");
        let mut spec = json!({
            "serviceName": headless.clone(),
            "replicas": if r.cluster { nodes } else { 1 },
            "podManagementPolicy": if r.cluster { "Parallel" } else { "OrderedReady" },
            "selector": { "matchLabels": selector(plan, name) },
            "template": {
                "metadata": { "labels": labels(plan, name, "datastore") },
                "spec": { "securityContext": data_pod_security(999), "containers": [container], "volumes": volumes },
            },
        });
        if persistent {
            spec["volumeClaimTemplates"] = json!([claim("data", store.volume_bytes)]);
        }
        docs.push(json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": { "name": name, "labels": labels(plan, name, "datastore") }, "spec": spec }));
        if r.cluster {
            let init_script = format!("{:?}{:?}", r, store.nodes.get(&Platform::Kubernetes));
            let mut h = service(&headless, name, 6379, true);
            h["spec"]["ports"] = json!([{ "name": "redis", "port": 6379, "targetPort": 6379 }, { "name": "bus", "port": 16379, "targetPort": 16379 }]);
            docs.push(h);
            docs.push(json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                // A Job's pod template cannot change: a new bootstrap gets a new name.
                "metadata": { "name": format!("{name}-cluster-init-{}", short_hash(&init_script)), "labels": labels(plan, &format!("{name}-cluster-init"), "datastore") },
                "spec": {
                    "backoffLimit": 10,
                    "template": {
                        "metadata": { "labels": labels(plan, &format!("{name}-cluster-init"), "datastore") },
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "securityContext": data_pod_security(999),
                            "containers": [{
                                "name": "cluster-init",
                                "image": store.image,
                                "command": ["sh", format!("{mount}/cluster-init.sh")],
                                "env": [env_secret(plan, "REDISCLI_AUTH", &r.password_secret)],
                                "resources": container_resources(&crate::plan::ResourcesPlan::default()),
                                "securityContext": secure_container(),
                                "volumeMounts": [{ "name": "config", "mountPath": mount, "readOnly": true }],
                            }],
                            "volumes": [{ "name": "config", "configMap": { "name": config } }],
                        },
                    },
                },
            }));
        } else {
            docs.push(service(name, name, 6379, false));
            docs.push(service(&headless, name, 6379, true));
        }
    }
    if let Some(pg) = store.postgres() {
        let init = format!("{name}-init");
        maps = vec![
            json!({ "name": config, "files": own.iter().filter(|f| !f.ends_with("init-primary.sh")).collect::<Vec<_>>() }),
            json!({ "name": init, "files": [format!("{dir}/init-primary.sh")] }),
        ];
        let pgdata = json!({ "name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata" });
        let shm = quantity_memory(pg.shm_bytes);
        let probe = json!({ "exec": { "command": ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres"] }, "periodSeconds": 5 });
        // Liveness and startup run the readiness command with their own patience; a
        // replica's first start (a base backup) gets longer than the primary's.
        let liveness = json!({ "exec": probe["exec"], "periodSeconds": 10, "failureThreshold": 6 });
        let startup = |failures: u32| json!({ "exec": probe["exec"], "periodSeconds": 5, "failureThreshold": failures });
        let mounts = json!([
            { "name": "config", "mountPath": mount, "readOnly": true },
            { "name": "data", "mountPath": "/var/lib/postgresql/data" },
            { "name": "tmp", "mountPath": "/tmp" },
            { "name": "run", "mountPath": "/var/run/postgresql" },
            { "name": "shm", "mountPath": "/dev/shm" },
        ]);
        let volumes = |extra: Option<Value>| {
            let mut v = vec![
                json!({ "name": "config", "configMap": { "name": config } }),
                json!({ "name": "tmp", "emptyDir": { "medium": "Memory" } }),
                json!({ "name": "run", "emptyDir": {} }),
                // Parallel queries share memory here; the runtime's 64Mi is too little.
                json!({ "name": "shm", "emptyDir": { "medium": "Memory", "sizeLimit": shm.clone() } }),
            ];
            v.extend(extra);
            v
        };
        let mut primary_mounts = mounts.as_array().cloned().unwrap_or_default();
        primary_mounts.push(
            json!({ "name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": true }),
        );
        let primary = json!({
            "name": "postgres",
            "image": store.image,
            "args": ["postgres", "-c", format!("config_file={mount}/postgresql.conf"), "-c", format!("hba_file={mount}/pg_hba.conf")],
            "env": [
                env_secret(plan, "POSTGRES_PASSWORD", &pg.superuser_secret),
                env_secret(plan, "APP_PASSWORD", &pg.password_secret),
                env_secret(plan, "REPLICATION_PASSWORD", &pg.replication_secret),
                pgdata,
            ],
            "ports": [{ "name": "postgres", "containerPort": 5432 }],
            "resources": resources,
            "readinessProbe": probe,
            "livenessProbe": liveness,
            "startupProbe": startup(60),
            "securityContext": secure_container(),
            "volumeMounts": primary_mounts,
        });
        let statefulset = |set: &str, replicas: u32, container: Value, extra: Option<Value>| {
            json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": { "name": set, "labels": labels(plan, set, "datastore") },
                "spec": {
                    "serviceName": format!("{set}-headless"),
                    "replicas": replicas,
                    "selector": { "matchLabels": selector(plan, set) },
                    "template": {
                        "metadata": { "labels": labels(plan, set, "datastore") },
                        "spec": {
                            "securityContext": data_pod_security(999),
                            "terminationGracePeriodSeconds": 60,
                            "containers": [container],
                            "volumes": volumes(extra),
                        },
                    },
                    "volumeClaimTemplates": [claim("data", store.volume_bytes)],
                },
            })
        };
        docs.push(statefulset(
            name,
            1,
            primary,
            Some(json!({ "name": "init", "configMap": { "name": init } })),
        ));
        docs.push(service(name, name, 5432, false));
        docs.push(service(&format!("{name}-headless"), name, 5432, true));
        if pg.replicas > 0 {
            let set = format!("{name}-replica");
            let replica = json!({
                "name": "postgres",
                "image": store.image,
                "command": ["sh", format!("{mount}/start-replica.sh")],
                "env": [
                    env_secret(plan, "REPLICATION_PASSWORD", &pg.replication_secret),
                    pgdata,
                    json!({ "name": "TIERFORM_CONF", "value": mount }),
                    json!({ "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } }),
                ],
                "ports": [{ "name": "postgres", "containerPort": 5432 }],
                "resources": resources,
                "readinessProbe": probe,
                "livenessProbe": liveness,
                "startupProbe": startup(120),
                "securityContext": secure_container(),
                "volumeMounts": mounts,
            });
            docs.push(statefulset(&set, pg.replicas, replica, None));
            docs.push(service(&format!("{name}-ro"), &set, 5432, false));
            docs.push(service(&format!("{set}-headless"), &set, 5432, true));
        }
        if let Some(pooler) = &pg.pooler {
            let pool = format!("{name}-pgbouncer");
            let pdir = crate::render::datastores::pooler_dir(store);
            let pmap = format!("{pool}-config");
            maps.push(json!({ "name": pmap, "files": files.iter().filter(|f| f.starts_with(&format!("{pdir}/"))).collect::<Vec<_>>() }));
            let mut pod_security = secure_pod();
            pod_security["runAsUser"] = json!(70);
            pod_security["runAsGroup"] = json!(70);
            docs.push(json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": { "name": pool, "labels": labels(plan, &pool, "datastore") },
                "spec": {
                    "replicas": pooler.kubernetes_replicas,
                    "selector": { "matchLabels": selector(plan, &pool) },
                    "template": {
                        "metadata": { "labels": labels(plan, &pool, "datastore") },
                        "spec": {
                            "securityContext": pod_security,
                            "containers": [{
                                "name": "pgbouncer",
                                "image": pooler.image,
                                "command": ["sh", "/etc/tierform/pgbouncer/start.sh", "/etc/tierform/pgbouncer/pgbouncer.ini"],
                                "env": [env_secret(plan, "APP_PASSWORD", &pg.password_secret)],
                                "ports": [{ "name": "pgbouncer", "containerPort": 6432 }],
                                "resources": container_resources(&pooler.resources),
                                "readinessProbe": { "tcpSocket": { "port": 6432 }, "periodSeconds": 5 },
                                "livenessProbe": { "tcpSocket": { "port": 6432 }, "periodSeconds": 10 },
                                "securityContext": secure_container(),
                                "volumeMounts": [
                                    { "name": "config", "mountPath": "/etc/tierform/pgbouncer", "readOnly": true },
                                    { "name": "tmp", "mountPath": "/tmp" },
                                ],
                            }],
                            "volumes": [
                                { "name": "config", "configMap": { "name": pmap } },
                                { "name": "tmp", "emptyDir": { "medium": "Memory" } },
                            ],
                        },
                    },
                },
            }));
            docs.push(service(&pool, &pool, 6432, false));
        }
    }
    if let Some(r) = store.rabbitmq() {
        let container = json!({
            "name": "rabbitmq",
            "image": store.image,
            "env": [
                json!({ "name": "RABBITMQ_DEFAULT_USER", "value": r.user }),
                env_secret(plan, "RABBITMQ_DEFAULT_PASS", &r.password_secret),
                json!({ "name": "RABBITMQ_CONFIG_FILE", "value": format!("{mount}/rabbitmq.conf") }),
                json!({ "name": "RABBITMQ_ENABLED_PLUGINS_FILE", "value": format!("{mount}/enabled_plugins") }),
            ],
            "ports": [{ "name": "amqp", "containerPort": 5672 }, { "name": "management", "containerPort": 15672 }],
            "resources": resources,
            "readinessProbe": { "exec": { "command": ["rabbitmq-diagnostics", "-q", "ping"] }, "periodSeconds": 10, "timeoutSeconds": 5 },
            "livenessProbe": { "exec": { "command": ["rabbitmq-diagnostics", "-q", "ping"] }, "periodSeconds": 30, "timeoutSeconds": 10 },
            "securityContext": secure_container(),
            "volumeMounts": [
                { "name": "config", "mountPath": mount, "readOnly": true },
                { "name": "data", "mountPath": "/var/lib/rabbitmq" },
                { "name": "tmp", "mountPath": "/tmp" },
            ],
        });
        docs.push(json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": { "name": name, "labels": labels(plan, name, "datastore") },
            "spec": {
                "serviceName": format!("{name}-headless"),
                "replicas": 1,
                "selector": { "matchLabels": selector(plan, name) },
                "template": {
                    "metadata": { "labels": labels(plan, name, "datastore") },
                    "spec": {
                        "securityContext": data_pod_security(999),
                        "containers": [container],
                        "volumes": [
                            { "name": "config", "configMap": { "name": config } },
                            { "name": "tmp", "emptyDir": {} },
                        ],
                    },
                },
                "volumeClaimTemplates": [claim("data", store.volume_bytes)],
            },
        }));
        docs.push(service(&format!("{name}-headless"), name, 5672, true));
        let mut svc = service(name, name, 5672, false);
        svc["spec"]["ports"] = json!([{ "name": "amqp", "port": 5672, "targetPort": 5672 }, { "name": "management", "port": 15672, "targetPort": 15672 }]);
        docs.push(svc);
    }
    (docs, maps)
}

/// Eight hex digits of FNV-1a: a stable, short name suffix for content.
pub(super) fn short_hash(text: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}
