//! Docker Compose files, shared by the two platforms that run containers with Docker
//! Compose: `compose` (the whole stack on one host, [`Layout::Single`]) and `hosts`
//! (one file per machine, [`Layout::Hosts`]). The containers are built here as data
//! from the plan and written with the checked YAML emitter, so no blueprint value can
//! break the file's structure.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::model::units::format_millicores;
use crate::model::{GpuVendor, Platform};
use crate::plan::{
    DatastoreNode, DatastorePlan, EnvPart, EnvValue, Plan, ServicePlan, CONTAINER_LISTEN_PORT,
    CONTAINER_TLS_PORT,
};
use crate::render::templates::TemplateError;

use super::bundle::generated_header;
use super::datastores;

mod monitoring;
mod services;
mod stores;

pub use monitoring::GRAFANA_DASHBOARDS;
pub(super) use monitoring::{datadog_agent, monitoring_containers};
use services::platform_of;
pub(super) use services::{app_containers, balancer_container};
pub(super) use stores::datastore_containers;
use stores::datastore_dependencies;

/// How the stack is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One Docker host: a front network (balancer ↔ routable services) and a back
    /// network (services ↔ datastores); names resolve through Docker's DNS.
    Single,
    /// One Docker host per machine: the balancer and the datastores use the host's
    /// network and listen on its address; services publish their ports on it.
    Hosts,
}

pub(super) fn emit(plan: &Plan, doc: &Value, run: &str) -> Result<String, TemplateError> {
    let header = generated_header(plan);
    let secrets =
        "Secrets come from a .env file beside this one: copy .env.example to .env and fill it in.";
    let run = format!("Run from this folder: {run}");
    crate::render::yaml_emit::emit_checked(&[&header, "", secrets, &run], doc).map_err(|e| {
        TemplateError::Template {
            name: "docker-compose.yml".into(),
            message: e.to_string(),
        }
    })
}

pub(super) fn compose_document(
    plan: &Plan,
    mut services: Map<String, Value>,
    volumes: BTreeSet<String>,
    networks: bool,
) -> Value {
    // Every container names its blueprint, which the CPU and memory rules select
    // (cAdvisor sees every container of the Docker host).
    for c in services.values_mut() {
        if let Value::Object(c) = c {
            c.insert(
                "labels".into(),
                json!({ crate::plan::watch::BLUEPRINT_LABEL: plan.blueprint }),
            );
        }
    }
    let mut doc = Map::new();
    doc.insert("services".into(), Value::Object(services));
    if networks {
        doc.insert(
            "networks".into(),
            json!({
                "front": { "driver": "bridge" },
                // Datastores sit on the back network only: the balancer cannot reach them.
                "back": { "driver": "bridge" },
            }),
        );
    }
    if !volumes.is_empty() {
        let mut v = Map::new();
        for name in volumes {
            v.insert(name, json!({}));
        }
        doc.insert("volumes".into(), Value::Object(v));
    }
    Value::Object(doc)
}

/// The top-level `secrets` of a compose file that runs Alertmanager: each receiver's
/// URL, from the `.env`, as a file only Alertmanager reads.
pub(super) fn notify_secrets(notify: &[crate::plan::scrape::NotifyPlan]) -> Value {
    let mut secrets = Map::new();
    for n in notify {
        secrets.insert(
            n.secret().to_ascii_lowercase(),
            json!({ "environment": n.secret() }),
        );
    }
    Value::Object(secrets)
}

/// The variables a compose document takes from the `.env` (`${NAME:?…}`): the secrets
/// its containers read.
pub(super) fn interpolated(doc: &Value) -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::String(s) => {
                let mut rest = s.as_str();
                while let Some(i) = rest.find("${") {
                    rest = &rest[i + 2..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && rest[name.len()..].starts_with(":?") {
                        out.insert(name);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(doc, &mut out);
    // Top-level secrets read from the environment (`environment: NAME`).
    for s in doc["secrets"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        if let Some(name) = s["environment"].as_str() {
            out.insert(name.to_string());
        }
    }
    out
}

/// `.env.example`: every secret the bundle's compose document reads (`reads`, from
/// [`interpolated`]), without a value, each with who uses it.
pub(super) fn env_example(plan: &Plan, machine: Option<&str>, reads: &BTreeSet<String>) -> String {
    let mut by_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in plan.services.values() {
        if machine.is_some_and(|m| !s.machines.iter().any(|x| x == m)) {
            continue;
        }
        for secret in &s.secrets {
            by_name
                .entry(secret.clone())
                .or_default()
                .insert(s.name.clone());
        }
        for u in &s.uses {
            if let Some(secret) = plan.app_secret(u) {
                by_name
                    .entry(secret.to_string())
                    .or_default()
                    .insert(s.name.clone());
            }
        }
    }
    // The monitoring's exporters here, and Alertmanager and Grafana where they run.
    let platform = if machine.is_some() {
        Platform::Hosts
    } else {
        Platform::Compose
    };
    if let Some(scrape) = plan.scrape.get(&platform) {
        if scrape
            .home
            .as_ref()
            .is_some_and(|h| h.machine.as_deref() == machine)
        {
            for n in &scrape.notify {
                by_name
                    .entry(n.secret().to_string())
                    .or_default()
                    .insert("alertmanager".into());
            }
            by_name
                .entry(crate::plan::scrape::GRAFANA_ADMIN_SECRET.to_string())
                .or_default()
                .insert("grafana".into());
        }
        for (key, e) in &scrape.exporters {
            if e.machine.as_deref() != machine {
                continue;
            }
            let name = key.rsplit_once('/').map_or(key.as_str(), |(_, n)| n);
            for (_, v) in &e.env {
                if let EnvValue::Secret(secret) = v {
                    by_name
                        .entry(secret.clone())
                        .or_default()
                        .insert(name.to_string());
                }
            }
        }
    }
    // The APM key: the Datadog Agent's here, or each traced service's (New Relic).
    if let Some(apm) = &plan.apm {
        let users = by_name.entry(apm.key.clone()).or_default();
        match apm.agent_on(machine) {
            Some(agent) => {
                users.insert(agent.container.clone());
            }
            None => {
                for s in plan.services.values() {
                    let here = machine.is_none_or(|m| s.machines.iter().any(|x| x == m));
                    if here && !apm.env(&s.name, platform).is_empty() {
                        users.insert(s.name.clone());
                    }
                }
            }
        }
    }
    for store in plan.datastores.values() {
        let runs_here = machine.is_none_or(|m| {
            store
                .nodes
                .get(&Platform::Hosts)
                .is_some_and(|nodes| nodes.iter().any(|n| n.machine == m))
        });
        if runs_here {
            for secret in &store.secrets {
                by_name
                    .entry(secret.clone())
                    .or_default()
                    .insert(store.name.clone());
            }
        }
    }
    let mut text = format!(
        "# {}\n#\n# Every secret this bundle reads, without its value. Copy this file to .env (beside\n# docker-compose.yml, never committed) and fill in each value.\n",
        generated_header(plan)
    );
    // Only what this bundle's containers read: a machine is not asked for a password
    // it does not use (a pooler's machine for the superuser's, say).
    by_name.retain(|name, _| reads.contains(name));
    for name in reads {
        by_name.entry(name.clone()).or_default();
    }
    let in_urls = plan.url_passwords();
    for (name, users) in by_name {
        text.push_str(&format!(
            "\n# used by {}\n",
            users.into_iter().collect::<Vec<_>>().join(", ")
        ));
        if let Some(vars) = in_urls.get(&name) {
            text.push_str(&format!("# {}\n", crate::plan::url_safe_note(vars)));
        }
        text.push_str(&format!("{name}=\n"));
    }
    text
}

/// A blueprint's text as compose reads it literally: compose expands `$NAME` and
/// `${NAME}` from the deployer's environment, so every `$` is written `$$`.
fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// A `${NAME:?…}` reference: compose refuses to start without the value.
/// A variable's value as compose writes it: a secret as a `${NAME:?…}` reference.
/// A composed value (a connection URL) is its text with each secret as that reference,
/// which compose fills from the `.env`.
pub(super) fn env_value(value: &EnvValue) -> Value {
    match value {
        EnvValue::Literal(text) => Value::String(text.clone()),
        EnvValue::Secret(name) => secret_ref(name),
        EnvValue::Composed(parts) => Value::String(
            parts
                .iter()
                .map(|part| match part {
                    EnvPart::Text(text) => literal(text),
                    EnvPart::Secret { key, .. } => secret_ref_text(key),
                })
                .collect(),
        ),
        // The plan gives a pod's field only to the Kubernetes platform's variables.
        EnvValue::Field(path) => unreachable!("`{path}` is a field of a Kubernetes pod"),
    }
}

fn secret_ref(name: &str) -> Value {
    Value::String(secret_ref_text(name))
}

pub(super) fn secret_ref_text(name: &str) -> String {
    format!("${{{name}:?{name} is not set: copy .env.example to .env and fill it in}}")
}

fn millicores(m: u64) -> String {
    // Compose reads cpus as a decimal number of cores.
    let s = format!("{}.{:03}", m / 1000, m % 1000);
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    if s.is_empty() {
        format_millicores(m)
    } else {
        s
    }
}

fn memory(bytes: u64) -> String {
    const MI: u64 = 1024 * 1024;
    if bytes % (1024 * MI) == 0 {
        format!("{}g", bytes / (1024 * MI))
    } else if bytes % MI == 0 {
        format!("{}m", bytes / MI)
    } else {
        format!("{bytes}b")
    }
}

/// The device files a container is given for another vendor's GPUs than NVIDIA's,
/// which Docker cannot reserve by count: AMD's ROCm needs `/dev/kfd` and `/dev/dri`,
/// Intel's `/dev/dri`. The container sees every such GPU on the machine.
fn gpu_devices(r: &crate::plan::ResourcesPlan) -> Option<Value> {
    match r.gpu?.vendor {
        GpuVendor::Nvidia => None,
        GpuVendor::Amd => Some(json!(["/dev/kfd:/dev/kfd", "/dev/dri:/dev/dri"])),
        GpuVendor::Intel => Some(json!(["/dev/dri:/dev/dri"])),
    }
}

/// A container's `deploy.resources`; `gpu_ids`: the NVIDIA GPUs it is given by index.
fn resources(r: &crate::plan::ResourcesPlan, gpu_ids: Option<&[u32]>) -> Option<Value> {
    let mut limits = Map::new();
    let mut reservations = Map::new();
    if r.cpu_limit_millis > 0 {
        limits.insert("cpus".into(), json!(millicores(r.cpu_limit_millis)));
    }
    if r.memory_limit_bytes > 0 {
        limits.insert("memory".into(), json!(memory(r.memory_limit_bytes)));
    }
    if r.cpu_millis > 0 {
        reservations.insert("cpus".into(), json!(millicores(r.cpu_millis)));
    }
    if r.memory_bytes > 0 {
        reservations.insert("memory".into(), json!(memory(r.memory_bytes)));
    }
    // NVIDIA's GPUs by count, through the NVIDIA Container Toolkit (Docker's
    // `--gpus`); other vendors' are device files (see `gpu_devices`).
    // By index where the plan gives the instance its own; a count takes the first.
    if let Some(gpu) = r.gpu.filter(|g| g.vendor == GpuVendor::Nvidia) {
        let device = match gpu_ids {
            Some(ids) => json!({
                "driver": "nvidia",
                "device_ids": ids.iter().map(u32::to_string).collect::<Vec<_>>(),
                "capabilities": ["gpu"],
            }),
            None => json!({ "driver": "nvidia", "count": gpu.count, "capabilities": ["gpu"] }),
        };
        reservations.insert("devices".into(), json!([device]));
    }
    if limits.is_empty() && reservations.is_empty() {
        return None;
    }
    let mut res = Map::new();
    if !limits.is_empty() {
        res.insert("limits".into(), Value::Object(limits));
    }
    if !reservations.is_empty() {
        res.insert("reservations".into(), Value::Object(reservations));
    }
    Some(json!({ "resources": res }))
}

fn seconds(ms: u64) -> String {
    crate::render::templates::format_duration(ms)
}

/// The HTTP health check of a service, run inside its container. The image must have
/// curl, wget or python3; give `health.command` to use anything else.
fn http_probe(port: u16, path: &str) -> Value {
    let url = format!("http://127.0.0.1:{port}{path}");
    json!([
        "CMD-SHELL",
        format!(
            "curl -fsS -o /dev/null '{url}' || wget -q -O /dev/null '{url}' || python3 -c \"import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)\" '{url}'"
        )
    ])
}
