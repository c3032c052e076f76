//! pgBackRest on Kubernetes: a CronJob per kind of backup that runs pgBackRest in the
//! primary's pod (`kubectl exec`, as a service account allowed nothing else), and the
//! restore, a Job with its own ConfigMap applied by hand (`restore/<name>.yaml`, not in
//! the kustomization), which fills the primary's emptied volume from the repository.

use super::*;
use crate::plan::BackupPlan;
use crate::render::datastores::postgres::REPLICA_DATA_DIR;

/// The primary's pod: the only pod of its StatefulSet.
fn primary_pod(store: &DatastorePlan) -> String {
    format!("{}-0", store.kubernetes.workload)
}

/// The name of the backups' service account, Role and RoleBinding.
pub(super) fn account(store: &DatastorePlan) -> String {
    format!("{}-backup", store.name)
}

/// The restore's file in the bundle.
pub fn restore_file(store: &DatastorePlan) -> String {
    format!("restore/{}.yaml", store.name)
}

/// The service account, Role, RoleBinding and CronJobs of `store`'s backups.
pub(super) fn docs(ctx: &Ctx, b: &BackupPlan) -> Vec<Value> {
    let (plan, store) = (ctx.plan, ctx.store);
    let sa = account(store);
    let pod = primary_pod(store);
    let meta = |name: &str| metadata(plan, name, "datastore");
    let mut docs = vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(&sa),
            "automountServiceAccountToken": false,
        }),
        // Only the primary's pod, only to run a command in it.
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(&sa),
            "rules": [
                { "apiGroups": [""], "resources": ["pods"], "resourceNames": [pod], "verbs": ["get"] },
                { "apiGroups": [""], "resources": ["pods/exec"], "resourceNames": [pod], "verbs": ["create"] },
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(&sa),
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa },
            "subjects": [{ "kind": "ServiceAccount", "name": sa, "namespace": plan.namespace }],
        }),
    ];
    for kind in b.kinds() {
        let schedule = kind.schedule;
        let name = format!("{}-backup-{}", store.name, kind.name);
        let mut args = vec![
            "exec".to_string(),
            pod.clone(),
            "--container=postgres".to_string(),
            "--".to_string(),
        ];
        args.extend(b.backup_command(&kind).split(' ').map(str::to_string));
        docs.push(json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": meta(&name),
            "spec": {
                "schedule": schedule.cron,
                "timeZone": "Etc/UTC",
                // One backup at a time; a run missed by more than an hour waits for
                // the next.
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": { "labels": labels(plan, &name, "datastore") },
                    "spec": {
                        "backoffLimit": 1,
                        "template": {
                            "metadata": { "labels": labels(plan, &name, "datastore") },
                            "spec": {
                                "serviceAccountName": sa,
                                "automountServiceAccountToken": true,
                                "restartPolicy": "Never",
                                // kubectl's image runs as root unless told.
                                "securityContext": {
                                    "runAsNonRoot": true,
                                    "runAsUser": 65532,
                                    "runAsGroup": 65532,
                                    "seccompProfile": { "type": "RuntimeDefault" },
                                },
                                "containers": [{
                                    "name": "backup",
                                    "image": crate::model::versions::KUBECTL_IMAGE,
                                    "args": args,
                                    // kubectl keeps its discovery cache under $HOME.
                                    "env": [{ "name": "HOME", "value": "/tmp" }],
                                    "resources": resource_requirements(&small()),
                                    "securityContext": secure_container(),
                                    "volumeMounts": [{ "name": "tmp", "mountPath": "/tmp" }],
                                }],
                                "volumes": [{ "name": "tmp", "emptyDir": { "medium": "Memory" } }],
                            },
                        },
                    },
                },
            },
        }));
    }
    docs
}

/// kubectl's footprint.
fn small() -> crate::plan::ResourcesPlan {
    crate::plan::ResourcesPlan {
        cpu_millis: 50,
        memory_bytes: 64 << 20,
        cpu_limit_millis: 200,
        memory_limit_bytes: 128 << 20,
        gpu: None,
    }
}

/// The restore: a ConfigMap with `pgbackrest.conf` (the kustomization's ConfigMaps
/// carry a hash in their names) and a Job that empties the primary's volume and
/// restores into it, with the primary scaled to none (README).
pub(super) fn restore_docs(ctx: &Ctx, b: &BackupPlan, config_text: &str) -> Vec<Value> {
    let (plan, store) = (ctx.plan, ctx.store);
    let name = format!("{}-restore", store.name);
    let claim = format!("data-{}", primary_pod(store));
    let mut env = environment(plan, &b.env);
    env.push(json!({ "name": "PGBACKREST_CONFIG", "value": b.config }));
    let script = format!(
        "mkdir -p {REPLICA_DATA_DIR} && chmod 700 {REPLICA_DATA_DIR} && find {REPLICA_DATA_DIR} -mindepth 1 -delete && {}",
        b.command("restore")
    );
    let mut pod = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "securityContext": data_pod_security(store.uid),
        "containers": [{
            "name": "restore",
            "image": b.kubernetes_image.as_deref().unwrap_or(&b.image),
            "command": ["sh", "-c", script],
            "env": env,
            "resources": ctx.resources,
            "securityContext": secure_container(),
            "volumeMounts": [
                { "name": "config", "mountPath": ctx.mount, "readOnly": true },
                { "name": "data", "mountPath": crate::render::datastores::postgres::DATA_DIR },
                { "name": "tmp", "mountPath": "/tmp" },
            ],
        }],
        "volumes": [
            { "name": "config", "configMap": { "name": name } },
            { "name": "data", "persistentVolumeClaim": { "claimName": claim } },
            { "name": "tmp", "emptyDir": { "medium": "Memory" } },
        ],
    });
    on_node_pool(plan.node_pool(store.tier.as_deref()), pod.as_object_mut());
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": plan.namespace, "labels": labels(plan, &name, "datastore") },
            "data": { "pgbackrest.conf": config_text },
        }),
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": { "name": name, "namespace": plan.namespace, "labels": labels(plan, &name, "datastore") },
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": { "labels": labels(plan, &name, "datastore") },
                    "spec": pod,
                },
            },
        }),
    ]
}

/// The README's section on `store`'s backups: what runs them, how to check them, and
/// the restore.
pub(in crate::render::kubernetes) fn readme(
    plan: &Plan,
    store: &DatastorePlan,
    b: &BackupPlan,
) -> String {
    let ns = &plan.namespace;
    let name = &store.name;
    let pod = primary_pod(store);
    let set = &store.kubernetes.workload;
    let exec = |what: &str| {
        format!(
            "kubectl -n {ns} exec {pod} -c postgres -- {}",
            b.command(what)
        )
    };
    let mut out = format!(
        "\n## Backups of `{name}`\n\nThe primary archives each write-ahead log segment to `{}` (encrypted) as it fills, and after {} s of writes at the latest. The CronJobs `{name}-backup-full` (`{}`) and `{name}-backup-differential` (`{}`, UTC) run pgBackRest in `{pod}` as the service account `{}`, which may only do that; the last {} full backups are kept. The Secret's keys `{}` give the bucket and the passphrase every backup is encrypted with: keep a copy of the passphrase outside the cluster.\n\nThe first backup, and a check that archiving works:\n\n```sh\nkubectl -n {ns} create job --from=cronjob/{name}-backup-full {name}-backup-first\n{}\n{}\n```\n\n",
        b.repo.text(),
        b.archive_timeout_s,
        b.full.cron,
        b.differential.cron,
        account(store),
        b.retention_full,
        b.secrets().join("`, `"),
        exec("check"),
        exec("info"),
    );
    let writers: Vec<&crate::plan::ServicePlan> = plan
        .services
        .values()
        .filter(|s| s.uses.contains(name) && s.job.is_none())
        .collect();
    out.push_str("### Restore\n\nThe latest backup and the archive after it bring back every transaction archived before the loss.\n\n```sh\n");
    let suspend = |on: bool| {
        b.kinds()
            .iter()
            .map(|kind| {
                format!(
                    "kubectl -n {ns} patch cronjob {name}-backup-{} -p '{{\"spec\":{{\"suspend\":{on}}}}}'\n",
                    kind.name
                )
            })
            .collect::<String>()
    };
    out.push_str(&suspend(true));
    for s in &writers {
        out.push_str(&format!(
            "kubectl -n {ns} scale deployment/{} --replicas=0\n",
            s.name
        ));
    }
    let replicas = store.kubernetes.replicas.as_ref();
    if let Some(r) = replicas {
        out.push_str(&format!(
            "kubectl -n {ns} scale statefulset/{} --replicas=0\n",
            r.workload
        ));
    }
    out.push_str(&format!(
        "kubectl -n {ns} scale statefulset/{set} --replicas=0\nkubectl -n {ns} wait --for=delete pod/{pod} --timeout=300s\n# Empties the primary's volume and restores into it. To stop at a moment instead,\n# add --type=time \"--target=2026-12-01 09:59:00+00\" --target-action=promote to its command.\nkubectl -n {ns} apply -f {file}\n# Follows pgBackRest to its end; the Job must have succeeded.\nkubectl -n {ns} logs -f --pod-running-timeout=10m job/{name}-restore\ntest \"$(kubectl -n {ns} get job {name}-restore -o jsonpath='{{.status.succeeded}}')\" = 1\nkubectl -n {ns} delete -f {file}\n# Replays the archive, then opens for writes on a new timeline.\nkubectl -n {ns} scale statefulset/{set} --replicas=1\nkubectl -n {ns} wait --for=condition=ready pod/{pod} --timeout=3600s\n",
        file = restore_file(store),
    ));
    if let (Some(r), EnginePlan::Postgres(pg)) = (replicas, &store.engine) {
        let claims: Vec<String> = (0..pg.replicas)
            .map(|i| format!("data-{}-{i}", r.workload))
            .collect();
        out.push_str(&format!(
            "# The replicas copy the restored primary anew, from empty volumes (each creates its slot).\nkubectl -n {ns} delete pvc {}\nkubectl -n {ns} scale statefulset/{} --replicas={}\n",
            claims.join(" "),
            r.workload,
            pg.replicas,
        ));
    }
    for s in &writers {
        out.push_str(&format!(
            "kubectl -n {ns} scale deployment/{} --replicas={}\n",
            s.name, s.instances
        ));
    }
    out.push_str(&format!(
        "# A full backup of the new timeline, and the schedules again.\nkubectl -n {ns} create job --from=cronjob/{name}-backup-full {name}-backup-restored\n"
    ));
    out.push_str(&suspend(false));
    out.push_str("```\n");
    out
}
