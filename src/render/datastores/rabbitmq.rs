//! RabbitMQ's files: `rabbitmq.conf` and `enabled_plugins`, beside each node.

use minijinja::context;

use super::Files;
use crate::plan::{DatastoreNode, EnvVar, RabbitmqPlan};
use crate::render::templates::TemplateError;

/// The data directory of the official image.
pub const DATA_DIR: &str = "/var/lib/rabbitmq";

/// What the image reads: the user it creates with its password, and the files mounted
/// at `mount`.
pub fn server_env(rabbit: &RabbitmqPlan, mount: &str) -> Vec<EnvVar> {
    vec![
        EnvVar::literal("RABBITMQ_DEFAULT_USER", &rabbit.user),
        EnvVar::secret("RABBITMQ_DEFAULT_PASS", &rabbit.password_secret),
        EnvVar::literal("RABBITMQ_CONFIG_FILE", format!("{mount}/rabbitmq.conf")),
        EnvVar::literal(
            "RABBITMQ_ENABLED_PLUGINS_FILE",
            format!("{mount}/enabled_plugins"),
        ),
    ]
}

/// The readiness check.
pub fn ready_command() -> Vec<String> {
    ["rabbitmq-diagnostics", "-q", "ping"]
        .map(String::from)
        .to_vec()
}

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
