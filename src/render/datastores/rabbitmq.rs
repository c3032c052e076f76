//! RabbitMQ's files: `rabbitmq.conf` and `enabled_plugins`, beside each node.

use minijinja::context;

use super::Files;
use crate::plan::{DatastoreNode, RabbitmqPlan};
use crate::render::templates::TemplateError;

pub(super) fn render(
    files: &mut Files,
    nodes: &[DatastoreNode],
    rabbit: &RabbitmqPlan,
    dir: &str,
) -> Result<(), TemplateError> {
    for node in nodes {
        let ctx = context! { rabbit => rabbit, port => node.port, node => node };
        files.push(
            &node.machine,
            format!("{dir}/rabbitmq.conf"),
            "rabbitmq/rabbitmq.conf.j2",
            ctx.clone(),
        )?;
        files.push(
            &node.machine,
            format!("{dir}/enabled_plugins"),
            "rabbitmq/enabled_plugins.j2",
            ctx,
        )?;
    }
    Ok(())
}
