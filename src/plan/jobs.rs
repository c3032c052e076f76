//! Jobs (`kind: job`): a run to completion before the services that wait for it
//! (`after`). The plan decides each job's retries, time limit and the hash of its
//! content, the name its Kubernetes Job takes from that hash, and how a dependent's
//! pods wait for it there.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{DatastorePlan, ResourcesPlan, ServicePlan};
use crate::model::{Platform, Service, ServiceKind};

/// Retries of a failed run when the blueprint gives none.
pub const DEFAULT_JOB_RETRIES: u32 = 2;
/// The time a job may run, retries included, when the blueprint gives none: 30 minutes.
pub const DEFAULT_JOB_TIMEOUT_MS: u64 = 30 * 60 * 1000;
/// Hex digits of the content hash in a Job's name.
const HASH_DIGITS: usize = 10;

/// A job's settings with their defaults applied.
#[derive(Debug, Clone, Serialize)]
pub struct JobPlan {
    /// Runs after the first failed one, before the job counts as failed.
    pub retries: u32,
    /// The longest the job may run, retries included.
    pub timeout_ms: u64,
    /// The first hex digits of the hash of everything its run depends on (image, command, variables, the
    /// addresses of what it uses, resources, retries, time limit, the jobs it waits
    /// for): what changes it is a new job to run.
    pub hash: String,
    /// Its Kubernetes Job's name: its own and the hash's first digits. A Job's pod
    /// template cannot change, so new content is a new Job, and the same content keeps
    /// the Job that already ran (nothing runs again for nothing).
    pub kubernetes_name: String,
}

/// How a service's pods wait on Kubernetes for the jobs of its `after`: an init
/// container that asks the API for each Job's `Complete` condition, with a service
/// account allowed only to read Jobs.
#[derive(Debug, Clone, Serialize)]
pub struct JobWaitPlan {
    /// The Jobs' names ([`JobPlan::kubernetes_name`]).
    pub jobs: Vec<String>,
    /// How long one wait lasts (the longest of the jobs' time limits); when it runs
    /// out the init container fails and the kubelet starts it again, so the pod never
    /// starts before the Jobs complete.
    pub timeout_s: u64,
    /// The image with `kubectl` (`model::versions::KUBECTL_IMAGE`, pinned by digest).
    pub image: String,
    /// The init container's requests and limits.
    pub resources: ResourcesPlan,
    /// The ServiceAccount (with its Role and RoleBinding) the pods run as.
    pub service_account: String,
}

/// The ServiceAccount, Role and RoleBinding that let pods read Jobs (to wait for them).
pub const JOB_WAITER: &str = "job-waiter";

/// The job settings of `s`, before its hash is known.
pub(super) fn job_settings(s: &Service) -> Result<Option<(u32, u64)>, String> {
    if s.kind != ServiceKind::Job {
        return Ok(None);
    }
    let timeout_ms = super::ms(s.timeout.as_ref(), DEFAULT_JOB_TIMEOUT_MS)?;
    Ok(Some((s.retries.unwrap_or(DEFAULT_JOB_RETRIES), timeout_ms)))
}

/// Fills in every job's hash and Kubernetes name (a job after the jobs it waits for,
/// whose names are part of its content), then every dependent's wait.
pub(super) fn resolve_jobs(
    services: &mut BTreeMap<String, ServicePlan>,
    datastores: &BTreeMap<String, DatastorePlan>,
) {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    // Validation refuses circles, so each pass names at least one job until all are.
    loop {
        let ready: Vec<String> = services
            .values()
            .filter(|s| s.job.is_some() && !names.contains_key(&s.name))
            .filter(|s| s.after.iter().all(|d| names.contains_key(d)))
            .map(|s| s.name.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for name in ready {
            let s = &services[&name];
            let hash = content_hash(s, datastores, &names);
            let kubernetes_name = format!("{name}-{hash}");
            names.insert(name.clone(), kubernetes_name.clone());
            let job = services
                .get_mut(&name)
                .and_then(|s| s.job.as_mut())
                .expect("a job");
            job.hash = hash;
            job.kubernetes_name = kubernetes_name;
        }
    }
    let timeouts: BTreeMap<String, u64> = services
        .values()
        .filter_map(|s| Some((s.name.clone(), s.job.as_ref()?.timeout_ms)))
        .collect();
    for s in services.values_mut() {
        let jobs: Vec<String> = s
            .after
            .iter()
            .filter_map(|d| names.get(d).cloned())
            .collect();
        if jobs.is_empty() {
            continue;
        }
        let longest = s
            .after
            .iter()
            .filter_map(|d| timeouts.get(d))
            .max()
            .copied();
        s.wait = Some(JobWaitPlan {
            jobs,
            timeout_s: longest.unwrap_or(DEFAULT_JOB_TIMEOUT_MS).div_ceil(1000),
            image: crate::model::versions::KUBECTL_IMAGE.to_string(),
            resources: ResourcesPlan {
                cpu_millis: 10,
                memory_bytes: 32 * 1024 * 1024,
                cpu_limit_millis: 100,
                memory_limit_bytes: 64 * 1024 * 1024,
                gpu: None,
            },
            service_account: JOB_WAITER.to_string(),
        });
    }
}

/// The hash of what a job's run depends on: its first hex digits.
fn content_hash(
    s: &ServicePlan,
    datastores: &BTreeMap<String, DatastorePlan>,
    job_names: &BTreeMap<String, String>,
) -> String {
    let job = s.job.as_ref().expect("a job");
    // The connection variables and URLs it gets on Kubernetes, where the Job's
    // template cannot change: another address is another run.
    let connection: BTreeMap<&str, _> = s
        .uses
        .iter()
        .filter_map(|u| datastores.get(u))
        .map(|d| {
            (
                d.name.as_str(),
                (
                    d.connection.get(&Platform::Kubernetes),
                    d.url.get(&Platform::Kubernetes),
                ),
            )
        })
        .collect();
    let waits: Vec<&String> = s.after.iter().filter_map(|d| job_names.get(d)).collect();
    let content = serde_json::json!({
        "image": s.image,
        "command": s.command,
        "env": s.env,
        "secrets": s.secrets,
        "uses": s.uses,
        "urls": s.urls,
        "connection": connection,
        "resources": s.reserved,
        "user": s.run_as_user,
        "retries": job.retries,
        "timeout_ms": job.timeout_ms,
        "after": waits,
    });
    let digest = Sha256::digest(content.to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..HASH_DIGITS].to_string()
}
