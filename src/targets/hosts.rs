//! The hosts platform: one bundle per machine, `<host>/…`, for phases whose tiers list
//! their hosts.

use crate::model::Platform;
use crate::plan::Plan;
use crate::templates::{TemplateError, Templates};

use super::balancer;

/// The files of the hosts bundle, by path inside it (`<host>/…`).
pub fn render(plan: &Plan, templates: &Templates) -> Result<Vec<(String, String)>, TemplateError> {
    let mut files = Vec::new();
    if let Some(lb) = &plan.balancer {
        for node in lb.nodes.get(&Platform::Hosts).into_iter().flatten() {
            let text = balancer::render(plan, lb, Platform::Hosts, node, templates)?;
            files.push((
                format!("{}/{}", node.host, balancer::file_name(lb.engine)),
                text,
            ));
        }
    }
    Ok(files)
}
