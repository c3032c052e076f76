//! NetworkPolicies.

use super::*;
use crate::plan::EnginePlan;

/// Ingress is denied to every pod of the namespace unless a policy below lets it in:
/// anyone to the balancer, the balancer to the services it routes to, a datastore to
/// the services that use it and to its own peers (cluster nodes, replicas, the pool,
/// KEDA reading a queue), and the monitoring namespace to the ports services serve
/// metrics on.
pub(super) fn network_policies(plan: &Plan) -> Vec<Value> {
    let policy = |name: &str, spec: Value| {
        object! {
            "apiVersion" => "networking.k8s.io/v1",
            "kind" => "NetworkPolicy",
            "metadata" => object! {
                "name" => name,
                "labels" => json!({ "app.kubernetes.io/part-of": plan.blueprint, "app.kubernetes.io/managed-by": "tierform" }),
            },
            "spec" => spec,
        }
    };
    let mut out = vec![policy(
        "default-deny-ingress",
        json!({ "podSelector": {}, "policyTypes": ["Ingress"] }),
    )];
    if let Some(lb) = &plan.balancer {
        out.push(policy(
            "balancer-from-anywhere",
            object! {
                "podSelector" => object! { "matchLabels" => selector(plan, "balancer") },
                "policyTypes" => json!(["Ingress"]),
                "ingress" => json!([{ "ports": std::iter::once(CONTAINER_LISTEN_PORT)
                    .chain(lb.tls.as_ref().map(|_| CONTAINER_TLS_PORT))
                    .chain(lb.health_port(crate::model::Platform::Kubernetes))
                    .map(|port| json!({ "protocol": "TCP", "port": port }))
                    .collect::<Vec<_>>() }]),
            },
        ));
        for pool in lb.pools.keys() {
            let Some(port) = plan.services.get(pool).and_then(|s| s.port) else {
                continue;
            };
            out.push(policy(
                &format!("{pool}-from-balancer"),
                ingress_to(
                    selector(plan, pool),
                    Value::from(vec![object! {
                        "from" => vec![object! { "podSelector" => object! { "matchLabels" => selector(plan, "balancer") } }],
                        "ports" => json!([{ "protocol": "TCP", "port": port }]),
                    }]),
                ),
            ));
        }
    }
    // A Prometheus in the monitoring namespace (its pods labelled as the operator labels
    // them) scrapes the services that serve metrics (their own, or the per-pod rates
    // an autoscaler reads through it); nothing else there gets in.
    let from_prometheus = |pods: &str, port: u16| {
        ingress_to(
            selector(plan, pods),
            Value::from(vec![object! {
                "from" => vec![json!({
                    "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": crate::plan::MONITORING_NAMESPACE } },
                    "podSelector": { "matchLabels": { "app.kubernetes.io/name": "prometheus" } },
                })],
                "ports" => json!([{ "protocol": "TCP", "port": port }]),
            }]),
        )
    };
    for s in plan.services.values() {
        let Some(port) = s.scrape_port else {
            continue;
        };
        out.push(policy(
            &format!("{}-metrics-from-monitoring", s.name),
            from_prometheus(&s.name, port),
        ));
    }
    // And the balancer's and each datastore's metrics port: an exporter sidecar's,
    // HAProxy's or RabbitMQ's own.
    if let Some(scrape) = plan.scrape.get(&crate::model::Platform::Kubernetes) {
        if scrape.jobs.contains_key("balancer") {
            let port = match scrape.exporters.get("balancer") {
                Some(e) => e.port,
                None => crate::plan::scrape::BALANCER_METRICS_PORT,
            };
            out.push(policy(
                "balancer-metrics-from-monitoring",
                from_prometheus("balancer", port),
            ));
        }
        for d in plan.datastores.values() {
            if !scrape.jobs.contains_key(&d.name) {
                continue;
            }
            let port = match scrape.exporters.get(&d.name) {
                Some(e) => e.port,
                None => crate::plan::scrape::RABBITMQ_METRICS_PORT,
            };
            let k8s = &d.kubernetes;
            for set in
                std::iter::once(&k8s.workload).chain(k8s.replicas.as_ref().map(|r| &r.workload))
            {
                out.push(policy(
                    &format!("{set}-metrics-from-monitoring"),
                    from_prometheus(set, port),
                ));
            }
        }
    }
    // Each datastore: from the services that declare they use it, and its own peers.
    let from = |names: &[String]| -> Vec<Value> {
        names
            .iter()
            .map(|n| object! { "podSelector" => object! { "matchLabels" => selector(plan, n) } })
            .collect()
    };
    // Who uses each datastore, and whether a queue on it scales a service: one pass
    // over the services, not one per datastore.
    let mut users_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut queued_on: BTreeSet<&str> = BTreeSet::new();
    for s in plan.services.values() {
        let broker = s.queue.as_ref().map(|q| q.broker.as_str());
        let mut stores: BTreeSet<&str> = s.uses.iter().map(String::as_str).collect();
        stores.extend(broker);
        for store in stores {
            users_of.entry(store).or_default().push(s.name.clone());
        }
        if let (Some(b), Some(_)) = (broker, s.scaling.queue_depth) {
            queued_on.insert(b);
        }
    }
    for (key, d) in &plan.datastores {
        let users: Vec<String> = users_of.get(key.as_str()).cloned().unwrap_or_default();
        let k8s = &d.kubernetes;
        let name = &k8s.workload;
        let allow = |pods: &[String], ports: &[u16], extra: Vec<Value>| {
            let mut peers = from(pods);
            peers.extend(extra);
            Value::from(vec![object! {
                "from" => peers,
                "ports" => ports.iter().map(|p| json!({ "protocol": "TCP", "port": p })).collect::<Vec<_>>(),
            }])
        };
        // KEDA's operator reads queue lengths from its own namespace.
        let keda = || json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "keda" } } });
        let queued = queued_on.contains(name.as_str());
        match &d.engine {
            EnginePlan::Redis(_) => {
                let mut peers = users.clone();
                if let Some(init) = &k8s.cluster_init {
                    peers.push(name.clone());
                    peers.push(init.clone());
                }
                let ports: Vec<u16> = std::iter::once(k8s.port).chain(k8s.bus_port).collect();
                let extra = if queued { vec![keda()] } else { vec![] };
                out.push(policy(
                    &k8s.network_policy,
                    ingress_to(selector(plan, name), allow(&peers, &ports, extra)),
                ));
            }
            EnginePlan::Postgres(_) => {
                let pooler = k8s.pooler.as_ref();
                let replicas = k8s.replicas.as_ref();
                let mut to_primary = users.clone();
                to_primary.extend(pooler.map(|p| p.workload.clone()));
                to_primary.extend(replicas.map(|r| r.workload.clone()));
                let mut rules = allow(&to_primary, &[k8s.port], vec![]);
                if k8s.patroni.is_some() {
                    // Patroni's servers among themselves: streaming and rewinding, and
                    // each other's REST API (the leader race, switchovers).
                    let api = crate::plan::placement::PATRONI_API_PORT;
                    let servers =
                        json!([{ "podSelector": { "matchLabels": selector(plan, name) } }]);
                    if let Some(list) = rules.as_array_mut() {
                        list.push(json!({ "from": servers, "ports": [
                            { "protocol": "TCP", "port": k8s.port },
                            { "protocol": "TCP", "port": api },
                        ] }));
                    }
                }
                out.push(policy(
                    &k8s.network_policy,
                    ingress_to(selector(plan, name), rules),
                ));
                if let Some(replicas) = replicas {
                    let mut readers = users.clone();
                    readers.extend(pooler.map(|p| p.workload.clone()));
                    let set = &replicas.workload;
                    out.push(policy(
                        &replicas.network_policy,
                        ingress_to(selector(plan, set), allow(&readers, &[k8s.port], vec![])),
                    ));
                }
                if let Some(pooler) = pooler {
                    let pool = &pooler.workload;
                    out.push(policy(
                        &pooler.network_policy,
                        ingress_to(selector(plan, pool), allow(&users, &[pooler.port], vec![])),
                    ));
                }
            }
            EnginePlan::Rabbitmq(r) => {
                let extra = if queued { vec![keda()] } else { vec![] };
                let mut rules = allow(
                    &users,
                    &std::iter::once(k8s.port)
                        .chain(k8s.management_port)
                        .collect::<Vec<_>>(),
                    extra,
                );
                if r.nodes > 1 {
                    // The brokers among themselves: Erlang's port mapper and
                    // distribution, and AMQP (a queue's leader on another node).
                    use crate::plan::placement::{RABBITMQ_DIST_PORT, RABBITMQ_EPMD_PORT};
                    let ports: Vec<Value> = [RABBITMQ_EPMD_PORT, RABBITMQ_DIST_PORT, k8s.port]
                        .iter()
                        .map(|p| json!({ "protocol": "TCP", "port": p }))
                        .collect();
                    let brokers =
                        json!([{ "podSelector": { "matchLabels": selector(plan, name) } }]);
                    if let Some(list) = rules.as_array_mut() {
                        list.push(json!({ "from": brokers, "ports": ports }));
                    }
                }
                out.push(policy(
                    &k8s.network_policy,
                    ingress_to(selector(plan, name), rules),
                ));
            }
        }
    }
    out
}

/// A NetworkPolicy spec: ingress to the pods `selector` matches, only as `rules` allow.
pub(super) fn ingress_to(selector: Value, rules: Value) -> Value {
    object! {
        "podSelector" => object! { "matchLabels" => selector },
        "policyTypes" => json!(["Ingress"]),
        "ingress" => rules,
    }
}
