//! The compose platform: the whole stack on one Docker host.

use crate::model::Platform;
use crate::plan::Plan;
use crate::templates::{TemplateError, Templates};

use super::balancer;

/// The files of the compose bundle, by path inside it.
pub fn render(plan: &Plan, templates: &Templates) -> Result<Vec<(String, String)>, TemplateError> {
    let mut files = Vec::new();
    if let Some(lb) = &plan.balancer {
        for node in lb.nodes.get(&Platform::Compose).into_iter().flatten() {
            let text = balancer::render(plan, lb, Platform::Compose, node, templates)?;
            files.push((balancer::file_name(lb.engine).to_string(), text));
        }
    }
    Ok(files)
}
