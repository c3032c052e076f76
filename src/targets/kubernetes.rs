//! The kubernetes platform: manifests for a cluster.

use crate::model::Platform;
use crate::plan::Plan;
use crate::templates::{TemplateError, Templates};

use super::balancer;

/// The files of the kubernetes bundle, by path inside it.
pub fn render(plan: &Plan, templates: &Templates) -> Result<Vec<(String, String)>, TemplateError> {
    let mut files = Vec::new();
    if let Some(lb) = &plan.balancer {
        for node in lb.nodes.get(&Platform::Kubernetes).into_iter().flatten() {
            let text = balancer::render(plan, lb, Platform::Kubernetes, node, templates)?;
            files.push((balancer::file_name(lb.engine).to_string(), text));
        }
    }
    Ok(files)
}
