//! Jobs (`kind: job`): a `Job` named for its content, and what makes the pods of the
//! services that wait for it (`after`) start only once it is complete: an init
//! container that waits for the Job, run by a service account that may only read Jobs.

use super::*;
use crate::plan::{JobPlan, JobWaitPlan, JOB_WAITER};

/// The Job of a job: its pod (`pod`, built as a Deployment's is) run to completion.
/// Named `<name>-<hash>` by the plan: the template of a Job cannot change, so new
/// content is a new Job and unchanged content keeps the one that ran.
///
/// No `ttlSecondsAfterFinished`: the pods that wait for a Job ask for it whenever one
/// starts (a scale-up, a drained node, a restart), so a Job deleted after a time would
/// hold every later pod of its dependents in `Init`; replaced Jobs are removed with
/// `kubectl apply -k . --prune -l app.kubernetes.io/part-of=<blueprint>` or by hand.
pub(super) fn job(
    plan: &Plan,
    s: &ServicePlan,
    job: &JobPlan,
    mut pod: Map<String, Value>,
) -> Value {
    pod.insert("restartPolicy".into(), json!("Never"));
    object! {
        "apiVersion" => "batch/v1",
        "kind" => "Job",
        "metadata" => object! {
            "name" => job.kubernetes_name.as_str(),
            "labels" => labels(plan, &s.name, "job"),
        },
        "spec" => object! {
            "backoffLimit" => job.retries,
            "activeDeadlineSeconds" => job.timeout_ms.div_ceil(1000),
            "template" => object! {
                "metadata" => object! { "labels" => labels(plan, &s.name, "job") },
                "spec" => pod,
            },
        },
    }
}

/// The init container that holds a pod until every Job of `wait` is complete, and the
/// service account that lets it ask.
pub(super) fn wait_for_jobs(wait: &JobWaitPlan, pod: &mut Map<String, Value>) {
    let mut args = vec![
        "wait".to_string(),
        "--for=condition=complete".to_string(),
        format!("--timeout={}s", wait.timeout_s),
    ];
    args.extend(wait.jobs.iter().map(|j| format!("job/{j}")));
    pod.insert("serviceAccountName".into(), json!(wait.service_account));
    // The token is the init container's, to read Jobs; the Role allows nothing else.
    pod.insert("automountServiceAccountToken".into(), json!(true));
    pod.insert(
        "initContainers".into(),
        json!([{
            "name": "wait-for-jobs",
            "image": wait.image,
            "args": args,
            // kubectl keeps its discovery cache under $HOME.
            "env": [{ "name": "HOME", "value": "/tmp" }],
            "resources": resource_requirements(&wait.resources),
            "securityContext": secure_container(),
            "volumeMounts": [{ "name": "writable-0", "mountPath": "/tmp" }],
        }]),
    );
}

/// The ServiceAccount that pods waiting for jobs run as, a Role that may only read
/// Jobs, and their RoleBinding: when some service of the phase waits for a job.
pub(super) fn job_waiter_docs(plan: &Plan) -> Vec<Value> {
    if !plan.services.values().any(|s| s.wait.is_some()) {
        return Vec::new();
    }
    let meta = || metadata(plan, JOB_WAITER, "job");
    vec![
        object! {
            "apiVersion" => "v1",
            "kind" => "ServiceAccount",
            "metadata" => meta(),
            // Mounted only where a pod asks (the waiting pods).
            "automountServiceAccountToken" => false,
        },
        object! {
            "apiVersion" => "rbac.authorization.k8s.io/v1",
            "kind" => "Role",
            "metadata" => meta(),
            "rules" => json!([{ "apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"] }]),
        },
        object! {
            "apiVersion" => "rbac.authorization.k8s.io/v1",
            "kind" => "RoleBinding",
            "metadata" => meta(),
            "roleRef" => json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": JOB_WAITER }),
            "subjects" => json!([{ "kind": "ServiceAccount", "name": JOB_WAITER, "namespace": plan.namespace }]),
        },
    ]
}
