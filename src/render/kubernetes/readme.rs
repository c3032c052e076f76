//! The bundle's README (the steps to deploy it, the Secret's keys, what the cluster
//! needs) and `secrets.env.example`.

use super::*;

/// Every key of the Secret the workloads read, with who reads it (sorted, once each).
fn secret_keys(plan: &Plan) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut keys: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for s in plan.services.values() {
        for k in &s.secrets {
            keys.entry(k.clone()).or_default().push(s.name.clone());
        }
        // Of a datastore's secrets, a service reads only the application password.
        for u in &s.uses {
            if let Some(k) = plan.app_secret(u) {
                keys.entry(k.to_string()).or_default().push(s.name.clone());
            }
        }
        // KEDA reads a managed RabbitMQ's queue over its management API too.
        if let Some(m) = s
            .queue
            .as_ref()
            .filter(|_| super::workloads::scales_on_queue(s))
            .and_then(|q| plan.managed.get(&q.broker))
            .filter(|m| m.engine == "rabbitmq")
        {
            keys.entry(format!("{}_MANAGEMENT_URL", m.env_prefix))
                .or_default()
                .push("KEDA (https://user:password@host/, the provider's management API)".into());
        }
    }
    // The APM key: New Relic's agent in each traced service reads it; Datadog's Agent,
    // from a Secret of its own made from the same file (the README's step).
    if let Some(apm) = plan.apm.as_ref().filter(|a| !a.services.is_empty()) {
        let users = keys.entry(apm.key.clone()).or_default();
        match apm.vendor {
            crate::model::ApmVendor::Newrelic => users.extend(apm.services.keys().cloned()),
            crate::model::ApmVendor::Datadog => users.push(format!(
                "the Datadog Agent (its own Secret `{}` in `{}`, made from this key: see the steps)",
                crate::plan::apm::DATADOG_HELM_SECRET,
                crate::plan::apm::DATADOG_HELM_NAMESPACE
            )),
        }
    }
    for d in plan.datastores.values() {
        for k in &d.secrets {
            keys.entry(k.clone()).or_default().push(d.name.clone());
        }
        if let Some(port) = d.kubernetes.management_port {
            keys.entry(format!("{}_MANAGEMENT_URL", d.env_prefix))
                .or_default()
                .push(format!("KEDA (http://user:password@host:{port}/)"));
        }
    }
    for users in keys.values_mut() {
        users.sort();
        users.dedup();
    }
    keys
}

/// `secrets.env.example`: every key of the Secret, empty, each under who reads it, for
/// `kubectl create secret generic --from-env-file` once filled in.
pub(super) fn secrets_example(plan: &Plan) -> String {
    let in_urls = plan.url_passwords();
    let mut out = format!(
        "# {}\n#\n# Every key of the Secret `{}`, without its value. Copy this file to secrets.env\n# (never committed), fill in each value, and create the Secret as README.md says.\n",
        generated_header(plan),
        secret_name(plan)
    );
    for (k, users) in secret_keys(plan) {
        out.push_str(&format!("\n# read by {}\n", users.join(", ")));
        if let Some(vars) = in_urls.get(&k) {
            out.push_str(&format!("# {}\n", crate::plan::url_safe_note(vars)));
        }
        out.push_str(&format!("{k}=\n"));
    }
    out
}

pub(super) fn readme(plan: &Plan) -> String {
    let keys = secret_keys(plan);
    let ns = &plan.namespace;
    let secret = secret_name(plan);
    let tls = plan.balancer.as_ref().and_then(|lb| lb.tls.as_ref());
    let mut out = format!(
        "<!-- {} -->\n\n# {}: phase `{}` on Kubernetes\n\nEverything runs in the namespace `{ns}`. tierform never writes a secret's value: you create the Secret `{secret}` before the workloads that read it.\n\n## Deploy, in this order\n\n",
        generated_header(plan),
        plan.blueprint,
        plan.phase,
    );
    let mut steps = vec![
        "Create the namespace: `kubectl apply -f namespace.yaml`.".to_string(),
        format!("Create the Secret: `cp secrets.env.example secrets.env`, fill in every key of the table below (`secrets.env` holds real values: never commit it), then `kubectl -n {ns} create secret generic {secret} --from-env-file=secrets.env`."),
    ];
    if let Some(tls) = tls {
        steps.push(format!(
            "Create the balancer's certificate Secret `{}` (below).",
            tls.secret.as_deref().unwrap_or_default()
        ));
    }
    if plan.services.values().any(|s| s.scrape_port.is_some())
        || plan
            .watch
            .alerts
            .iter()
            .any(|a| a.exprs.contains_key(&Platform::Kubernetes))
    {
        steps.push(format!(
            "Check that prometheus-operator's CRDs are installed (`kubectl get crd podmonitors.monitoring.coreos.com prometheusrules.monitoring.coreos.com`): without them `kubectl apply` refuses `{}`.",
            crate::render::monitoring::KUBERNETES_FILE
        ));
    }
    for store in plan.datastores.values() {
        if let Some(pat) = store.postgres().and_then(|pg| pg.patroni.as_ref()) {
            steps.push(format!(
                "Build `{}`'s image with Patroni and push it where the cluster pulls from: `docker build -t {image} images/{} && docker push {image}`.",
                store.name,
                store.name,
                image = pat.kubernetes_image.as_deref().unwrap_or(&pat.image),
            ));
        }
        if let Some(b) = store.backup() {
            steps.push(format!(
                "Build `{}`'s image with pgBackRest and push it where the cluster pulls from: `docker build -t {image} images/{} && docker push {image}`.",
                store.name,
                store.name,
                image = b.kubernetes_image.as_deref().unwrap_or(&b.image),
            ));
        }
    }
    steps.extend(crate::render::apm::kubernetes_step(plan));
    steps.push(format!(
        "Apply the bundle: `kubectl apply -k .`, then watch it come up: `kubectl -n {ns} get pods -w`."
    ));
    for (i, step) in steps.iter().enumerate() {
        out.push_str(&format!("{}. {step}\n", i + 1));
    }
    out.push_str("\n## The Secret's keys\n\n| key | read by |\n|---|---|\n");
    // The rows right under the table's header, before any other section.
    let in_urls = plan.url_passwords();
    for (k, users) in keys {
        let note = in_urls
            .get(&k)
            .map(|vars| format!("; {}", crate::plan::url_safe_note(vars)))
            .unwrap_or_default();
        out.push_str(&format!("| `{k}` | {}{note} |\n", users.join(", ")));
    }
    if let Some(tls) = tls {
        let secret = tls.secret.as_deref().unwrap_or_default();
        out.push_str(&format!(
            "\n## The balancer's certificate\n\nThe balancer serves HTTPS on port {} with the Secret `{secret}` (type `kubernetes.io/tls`, keys `tls.crt` with the full chain and `tls.key`) in namespace `{ns}`; tierform never writes it. Create it before the balancer, e.g. `kubectl -n {ns} create secret tls {secret} --cert=fullchain.pem --key=privkey.pem`, or have cert-manager keep it. The balancer reads a renewed certificate when its pods restart: `kubectl -n {ns} rollout restart deployment/balancer`.\n",
            tls.listen,
            ns = plan.namespace,
        ));
    }
    out.push_str(&crate::render::apm::section(plan, Platform::Kubernetes).unwrap_or_default());
    let jobs: Vec<&ServicePlan> = plan.services.values().filter(|s| s.job.is_some()).collect();
    if !jobs.is_empty() {
        out.push_str(&format!(
            "\n## Jobs\n\nEach job is a Job named for its content (`kubectl -n {ns} get jobs`): a new image, command or setting is a new Job, which `kubectl apply -k .` starts, and the pods of the services that wait for it (`after`) stay in `Init` until it is complete (`kubectl wait` as the service account `{waiter}`, which may only read Jobs). A failed Job holds them there: see `kubectl -n {ns} logs job/<name>`, fix, render and apply again. Finished Jobs are kept, since a dependent's new pod asks for its Job whenever it starts; remove replaced ones with `kubectl apply -k . --prune -l app.kubernetes.io/part-of={bp}`, or by hand.\n\n",
            ns = plan.namespace,
            waiter = crate::plan::JOB_WAITER,
            bp = plan.blueprint,
        ));
        for s in jobs {
            if let Some(j) = &s.job {
                out.push_str(&format!(
                    "- `{}`: Job `{}`, {} retries, {} s at most\n",
                    s.name,
                    j.kubernetes_name,
                    j.retries,
                    j.timeout_ms.div_ceil(1000)
                ));
            }
        }
    }
    // What the autoscalers read: a KEDA ScaledObject for a queue, else an HPA.
    let autoscalers: Vec<_> = plan
        .services
        .values()
        .filter(|s| s.scaling.autoscaled)
        .collect();
    let hpas: Vec<_> = autoscalers.iter().filter(|s| !scales_on_queue(s)).collect();
    let mut needs = String::new();
    if plan.balancer.is_some() {
        needs.push_str("- A LoadBalancer provider for the balancer's Service (type LoadBalancer): your cloud's, or MetalLB on bare metal. Without one its EXTERNAL-IP stays `<pending>` and nothing reaches the balancer from outside.\n");
    }
    // A ScaledObject's CPU and memory triggers read the same API as an HPA's.
    if autoscalers
        .iter()
        .any(|s| s.scaling.cpu_percent.is_some() || s.scaling.memory_percent.is_some())
    {
        needs.push_str("- metrics-server (the resource metrics API, `metrics.k8s.io`) for the autoscalers that scale on CPU or memory: without it they report `<unknown>` and never scale. Most managed clusters run it; check with `kubectl top nodes`.\n");
    }
    if autoscalers.iter().any(|s| scales_on_queue(s)) {
        needs
            .push_str("- KEDA (2.x, in the `keda` namespace) for the queue-depth ScaledObjects.\n");
    }
    let mut custom = Vec::new();
    if hpas.iter().any(|s| s.scaling.requests_per_second.is_some()) {
        custom.push("`http_requests_per_second`");
    }
    if hpas.iter().any(|s| s.scaling.connections.is_some()) {
        custom.push("`active_connections`");
    }
    if !custom.is_empty() {
        needs.push_str(&format!("- A custom-metrics adapter (e.g. prometheus-adapter) serving {} per pod: without it those HPA metrics fail, and an HPA with a failing metric never scales down.\n", custom.join(" and ")));
    }
    if crate::render::monitoring::prometheus_rule(plan).is_some() {
        needs.push_str(&format!(
            "- A Prometheus that selects the PrometheusRule `{}` in `{}`, the alerts that say when this phase has outgrown its shape or is more than the load needs, and when what it runs is down (kube-prometheus-stack selects only rules labelled with its release: `monitoring.labels` labels the rule too), and that scrapes the kubelets' cAdvisor (kube-prometheus-stack does) for the CPU and memory signals.\n",
            crate::render::monitoring::PROMETHEUS_RULE,
            crate::render::monitoring::KUBERNETES_FILE
        ));
    }
    let mut scraped: Vec<String> = plan
        .services
        .values()
        .filter_map(|s| s.scrape_port.map(|p| format!("`{}` on port {p}", s.name)))
        .collect();
    if let Some(scrape) = plan.scrape.get(&Platform::Kubernetes) {
        if scrape.jobs.contains_key("balancer") {
            scraped.push(match scrape.exporters.get("balancer") {
                Some(e) => format!("`balancer` (its exporter sidecar) on port {}", e.port),
                None => format!(
                    "`balancer` on port {}",
                    crate::plan::scrape::BALANCER_METRICS_PORT
                ),
            });
        }
        for d in plan.datastores.values() {
            if !scrape.jobs.contains_key(&d.name) {
                continue;
            }
            scraped.push(match scrape.exporters.get(&d.name) {
                Some(e) => format!("`{}` (its exporter sidecar) on port {}", d.name, e.port),
                None => format!(
                    "`{}` on port {}",
                    d.name,
                    crate::plan::scrape::RABBITMQ_METRICS_PORT
                ),
            });
        }
    }
    if !scraped.is_empty() {
        // What the bundle's PodMonitors carry for the Prometheus to select them.
        let labels: Vec<String> = plan
            .scrape
            .get(&Platform::Kubernetes)
            .into_iter()
            .flat_map(|s| &s.labels)
            .map(|(k, v)| format!("`{k}: {v}`"))
            .collect();
        let selection = if labels.is_empty() {
            "kube-prometheus-stack only takes those labelled with its release: set `monitoring.labels` in the blueprint, or `podMonitorSelectorNilUsesHelmValues: false`".to_string()
        } else {
            format!("labelled {} from `monitoring.labels`", labels.join(", "))
        };
        needs.push_str(&format!(
            "- A Prometheus in the `{}` namespace (its pods labelled `app.kubernetes.io/name: prometheus`, as prometheus-operator labels them) that takes the PodMonitors of `{}` ({selection}): they point it at {}, and the NetworkPolicies let those pods, and nothing else, in to those ports.\n",
            crate::plan::MONITORING_NAMESPACE,
            crate::render::monitoring::KUBERNETES_FILE,
            scraped.join(", ")
        ));
    }
    for d in plan.datastores.values() {
        if let (crate::plan::Spread::OwnNode, Some(pg)) = (d.kubernetes.spread, d.postgres()) {
            let pods = 1 + pg.replicas;
            needs.push_str(&format!("- At least {pods} schedulable nodes for `{}`: its primary and each replica run on a node of their own (a pod with no free node stays Pending).\n", d.name));
        }
    }
    node_pools(plan, &mut needs);
    if !plan.managed.is_empty() {
        let list: Vec<String> = plan
            .managed
            .values()
            .map(|m| {
                format!(
                    "`{}` ({}) at {}:{} {}",
                    m.name,
                    m.engine,
                    m.host,
                    m.port,
                    m.tls_text()
                )
            })
            .collect();
        needs.push_str(&format!(
            "- A route from the cluster's nodes to the datastores a provider runs, which this bundle renders no server for: {}. Let the nodes' addresses in at the provider (a security group, authorized networks); the NetworkPolicies here limit only what comes into the pods.\n",
            list.join(", ")
        ));
    }
    for store in plan.datastores.values() {
        if let Some(b) = store.backup() {
            out.push_str(&super::datastores::backup::readme(plan, store, b));
        }
        if let (Some(pat), Some(objects)) = (
            store.postgres().and_then(|pg| pg.patroni.as_ref()),
            &store.kubernetes.patroni,
        ) {
            let name = &store.kubernetes.workload;
            out.push_str(&format!(
                "\n## `{name}`: automatic failover (Patroni)\n\nEvery server of `{name}` runs Patroni (StatefulSet `{name}`, {} pods), which keeps the primary's lease in the Endpoints of Service `{name}`: that Service has no selector, and always leads to the primary. `{read}` selects the pods Patroni labels `{role}=replica`. When the primary's pod or node is lost, its lease runs out within {ttl} s and the most advanced replica{sync} is promoted.\n\n- The cluster: `kubectl -n {ns} exec {name}-0 -c postgres -- patronictl -c /etc/tierform/postgres/patroni.yml list`.\n- Move the primary on purpose (before draining its node): `… patronictl -c /etc/tierform/postgres/patroni.yml switchover --candidate <pod> --force`.\n- Patroni's account `{account}` may change only its Endpoints ({endpoints}) and its own pods ({pods}), and create Endpoints and Services; its token is mounted in the `postgres` container alone.\n- Starting the cluster anew: deleting the StatefulSet leaves Patroni's Endpoints, the Service `{config}` (Patroni's state) and each pod's data claim behind. Delete them too (`kubectl -n {ns} delete endpoints,service -l cluster-name={name}`, then `kubectl -n {ns} delete pvc -l app.kubernetes.io/name={name}`: this destroys the data), then apply the bundle again.\n- While the Kubernetes API does not answer, the primary keeps its role as long as every other server still answers it over Patroni's REST API (`failsafe_mode`): an upgrade of the control plane does not stop writes.\n",
                pat_pods(store),
                read = objects.read_service,
                role = objects.role_label,
                ttl = pat.ttl_s,
                sync = if pat.synchronous_mode { " (the synchronous standby: no acknowledged commit is lost)" } else { "" },
                ns = plan.namespace,
                account = objects.account,
                config = objects.config_endpoints,
                endpoints = objects.endpoints.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", "),
                pods = objects.pods.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "),
            ));
        }
    }
    if !needs.is_empty() {
        out.push_str(&format!("\n## The cluster needs\n\n{needs}"));
    }
    out
}

/// The node pools the tiers name and the GPU device plugins the services need.
fn node_pools(plan: &Plan, needs: &mut String) {
    let capacity = crate::report::capacity::capacity(plan);
    for row in &capacity.tiers {
        let Some(pool) = &row.pool else {
            continue;
        };
        let mut text = format!(
            "- A node pool for tier `{}`: nodes labelled {}",
            row.name,
            pool.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        );
        if !pool.taints.is_empty() {
            text.push_str(&format!(
                ", tainted {} (only this tier's pods tolerate {})",
                pool.taints
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(" and "),
                if pool.taints.len() == 1 { "it" } else { "them" }
            ));
        }
        let mut size = format!(
            "{} CPU, {}",
            crate::model::units::format_millicores(row.cpu),
            crate::model::units::format_bytes(row.memory)
        );
        if let Some(d) = row.disk {
            size.push_str(&format!(", {} disk", crate::model::units::format_disk(d)));
        }
        if let Some(n) = row.network {
            size.push_str(&format!(
                ", {} network",
                crate::model::units::format_bandwidth(n)
            ));
        }
        if let Some(g) = row.gpu {
            size.push_str(&format!(", {g}"));
        }
        match (pool.nodes_needed_min, pool.nodes_needed_max) {
            (Some(min), Some(max)) => {
                let reserve = "not counting each node's system reserve and DaemonSets";
                let fill = if min == max {
                    format!("Its pods' requests fill {} of {size}, {reserve}", nodes(min))
                } else {
                    format!(
                        "Its pods' requests fill {} of {size} at their fewest and {max} at their most, {reserve}",
                        nodes(min)
                    )
                };
                let advice = match row.max_machines {
                    // The blueprint's range, for the pool's cluster autoscaler.
                    Some(most) => format!(
                        "run the pool's cluster autoscaler from {} to {most} nodes (`count` to `pool.max_nodes`){}",
                        row.machines,
                        if max > most { ", fewer than they need at their most" } else { "" }
                    ),
                    None if min == max => format!(
                        "give the pool at least {min}{}",
                        if max > row.machines {
                            format!(" (the blueprint counts {})", row.machines)
                        } else {
                            String::new()
                        }
                    ),
                    None => format!(
                        "let a cluster autoscaler run the pool from {min} to at least {max} nodes{}",
                        if max > row.machines {
                            format!(" (the blueprint counts {}; `pool.max_nodes` gives the range)", row.machines)
                        } else {
                            String::new()
                        }
                    ),
                };
                text.push_str(&format!(". {fill}: {advice}.\n"));
            }
            _ => text.push_str(&format!(
                " of {size}: a pod of this tier asks for more than one such node has, so it stays Pending.\n"
            )),
        }
        needs.push_str(&text);
    }
    let mut vendors: std::collections::BTreeMap<crate::model::GpuVendor, Vec<&str>> =
        std::collections::BTreeMap::new();
    for s in plan.services.values() {
        if let Some(g) = s.resources.gpu {
            vendors.entry(g.vendor).or_default().push(&s.name);
        }
    }
    // The taints of the pools each vendor's GPU services run on: the device plugin's
    // DaemonSet must tolerate them to advertise the GPUs there.
    let mut taints: std::collections::BTreeMap<crate::model::GpuVendor, Vec<String>> =
        std::collections::BTreeMap::new();
    for s in plan.services.values() {
        let (Some(g), Some(pool)) = (s.resources.gpu, plan.node_pool(s.tier.as_deref())) else {
            continue;
        };
        for t in &pool.tolerations {
            let text = format!("`{t}`");
            let list = taints.entry(g.vendor).or_default();
            if !list.contains(&text) {
                list.push(text);
            }
        }
    }
    for (vendor, services) in vendors {
        let plugin = match vendor {
            crate::model::GpuVendor::Nvidia => "NVIDIA's device plugin (the NVIDIA GPU Operator, or the managed GPU node images of GKE, EKS and AKS)",
            crate::model::GpuVendor::Amd => "AMD's ROCm device plugin (or the AMD GPU Operator)",
            crate::model::GpuVendor::Intel => "Intel's GPU device plugin (or the Intel Device Plugins Operator)",
        };
        let tolerate = match taints.get(&vendor) {
            Some(t) => format!(
                " Its DaemonSet must tolerate {} ({}a stock device-plugin manifest may not), and so must the node agents those nodes need (log shippers, node exporters).",
                t.join(" and "),
                if vendor == crate::model::GpuVendor::Nvidia {
                    "the GPU Operator's tolerates `nvidia.com/gpu`; "
                } else {
                    ""
                }
            ),
            None => String::new(),
        };
        needs.push_str(&format!(
            "- {plugin} on the GPU nodes, advertising `{}`: without it the pods of {} stay Pending.{tolerate}\n",
            vendor.kubernetes_resource(),
            services
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

fn nodes(n: u32) -> String {
    format!("{n} node{}", if n == 1 { "" } else { "s" })
}

/// The servers of a PostgreSQL datastore under Patroni: its primary and replicas.
fn pat_pods(store: &crate::plan::DatastorePlan) -> u32 {
    store.postgres().map_or(0, |pg| pg.replicas + 1)
}
