//! The bundle's README: what the cluster needs and the Secret keys to provide.

use super::*;

pub(super) fn readme(plan: &Plan) -> String {
    let mut keys: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for s in plan.services.values() {
        for k in &s.secrets {
            keys.entry(k.clone()).or_default().push(s.name.clone());
        }
        // Of a datastore's secrets, a service reads only the application password.
        for u in &s.uses {
            if let Some(k) = plan.datastores.get(u).and_then(|d| d.secrets.first()) {
                keys.entry(k.clone()).or_default().push(s.name.clone());
            }
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
    let mut out = format!(
        "<!-- {} -->\n\n# {}: phase `{}` on Kubernetes\n\nApply with `kubectl apply -k .` (namespace `{}`).\n\n",
        generated_header(plan),
        plan.blueprint,
        plan.phase,
        plan.namespace
    );
    out.push_str(&format!(
        "## The Secret to create first\n\nThe workloads read their secrets from the Secret `{}` in namespace `{}`; tierform never writes a value. Create the namespace, then the Secret with every key below, e.g. `kubectl apply -f namespace.yaml` and `kubectl -n {} create secret generic {} --from-env-file=secrets.env`.\n\n| key | read by |\n|---|---|\n",
        secret_name(plan),
        plan.namespace,
        plan.namespace,
        secret_name(plan)
    ));
    // The rows right under the table's header, before any other section.
    for (k, users) in keys {
        let mut users = users;
        users.sort();
        users.dedup();
        out.push_str(&format!("| `{k}` | {} |\n", users.join(", ")));
    }
    if let Some(tls) = plan.balancer.as_ref().and_then(|lb| lb.tls.as_ref()) {
        let secret = tls.secret.as_deref().unwrap_or_default();
        out.push_str(&format!(
            "\n## The balancer's certificate\n\nThe balancer serves HTTPS on port {} with the Secret `{secret}` (type `kubernetes.io/tls`, keys `tls.crt` with the full chain and `tls.key`) in namespace `{ns}`; tierform never writes it. Create it before the balancer, e.g. `kubectl -n {ns} create secret tls {secret} --cert=fullchain.pem --key=privkey.pem`, or have cert-manager keep it. The balancer reads a renewed certificate when its pods restart: `kubectl -n {ns} rollout restart deployment/balancer`.\n",
            tls.listen,
            ns = plan.namespace,
        ));
    }
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
    let custom = plan.services.values().any(|s| {
        s.scaling.autoscaled
            && (s.scaling.requests_per_second.is_some() || s.scaling.connections.is_some())
    });
    let keda = plan
        .services
        .values()
        .any(|s| s.scaling.autoscaled && s.scaling.queue_depth.is_some());
    let mut needs = String::new();
    if keda {
        needs
            .push_str("- KEDA (2.x, in the `keda` namespace) for the queue-depth ScaledObjects.\n");
    }
    if custom {
        needs.push_str("- A custom-metrics adapter (e.g. prometheus-adapter) serving `http_requests_per_second` and `active_connections` per pod: without it those HPA metrics fail, and an HPA with a failing metric never scales down.\n");
    }
    for d in plan.datastores.values() {
        if let (crate::plan::Spread::OwnNode, Some(pg)) = (d.kubernetes.spread, d.postgres()) {
            let pods = 1 + pg.replicas;
            needs.push_str(&format!("- At least {pods} schedulable nodes for `{}`: its primary and each replica run on a node of their own (a pod with no free node stays Pending).\n", d.name));
        }
    }
    if !needs.is_empty() {
        out.push_str(&format!("\n## The cluster needs\n\n{needs}"));
    }
    out
}
