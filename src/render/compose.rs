//! The compose platform: the whole stack on one Docker host, in one
//! `docker-compose.yml`, with the balancer and datastore configs beside it (the file's
//! containers come from [`super::compose_file`], which the hosts platform shares).

use std::collections::BTreeSet;

use serde_json::Map;

use crate::model::Platform;
use crate::plan::Plan;
use crate::render::templates::{TemplateError, Templates};

use super::compose_file::{
    app_containers, balancer_container, compose_document, datadog_agent, datastore_containers,
    emit, env_example, interpolated, monitoring_containers, Layout,
};
use super::{balancer, datastores};

/// The files of the compose bundle, by path inside it.
pub fn render(plan: &Plan, templates: &Templates) -> Result<Vec<(String, String)>, TemplateError> {
    let mut files = Vec::new();
    let mut services = Map::new();
    let mut volumes = BTreeSet::new();
    if let Some(lb) = &plan.balancer {
        for node in lb.nodes.get(&Platform::Compose).into_iter().flatten() {
            let text = balancer::render(plan, lb, Platform::Compose, node, templates)?;
            files.push((balancer::file_name(lb.engine).to_string(), text));
        }
        if let Some(text) = balancer::tls_readme(plan, lb, Platform::Compose) {
            files.push(("README.md".to_string(), text));
        }
        let (name, svc) = balancer_container(plan, Layout::Single, "");
        services.insert(name, svc);
    }
    for s in plan.services.values() {
        for (name, svc) in app_containers(plan, s, Layout::Single, None) {
            services.insert(name, svc);
        }
    }
    for store in plan.datastores.values() {
        for f in datastores::render(plan, store, Platform::Compose, templates)? {
            files.push((f.path, f.text));
        }
        for (name, svc, volume) in datastore_containers(store, Layout::Single, None) {
            services.insert(name, svc);
            volumes.extend(volume);
        }
    }
    if let Some((name, c)) = datadog_agent(plan, None) {
        services.insert(name, c);
    }
    let scrape = plan.scrape.get(&Platform::Compose);
    if let Some(scrape) = scrape {
        let (containers, monitoring_volumes) = monitoring_containers(plan, scrape, None);
        services.extend(containers);
        volumes.extend(monitoring_volumes);
    }
    let mut doc = compose_document(plan, services, volumes, true);
    if let Some(scrape) = scrape {
        // The monitoring's own network: no application container joins it.
        doc["networks"]["monitoring"] = serde_json::json!({ "driver": "bridge" });
        // Each receiver's URL, from the .env, as a file only Alertmanager reads.
        if !scrape.notify.is_empty() {
            doc["secrets"] = super::compose_file::notify_secrets(&scrape.notify);
        }
    }
    files.push((
        "docker-compose.yml".into(),
        emit(plan, &doc, "docker compose up -d")?,
    ));
    files.push((
        ".env.example".into(),
        env_example(plan, None, &interpolated(&doc)),
    ));
    files.push((
        ".gitignore".into(),
        super::bundle::secrets_gitignore(plan, ".env"),
    ));
    files.extend(super::monitoring::files(plan, Platform::Compose)?);
    // APM in the bundle's README (beside the balancer's certificate, where it has one).
    if let Some(section) = super::apm::section(plan, Platform::Compose) {
        match files.iter_mut().find(|(path, _)| path == "README.md") {
            Some((_, text)) => text.push_str(&section),
            None => files.push((
                "README.md".to_string(),
                format!(
                    "<!-- {} -->\n\n# {}: phase `{}` on compose\n{section}",
                    super::bundle::generated_header(plan),
                    plan.blueprint,
                    plan.phase
                ),
            )),
        }
    }
    Ok(files)
}
