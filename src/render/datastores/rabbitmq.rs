//! RabbitMQ's files: `rabbitmq.conf` and `enabled_plugins`, beside each node.

use minijinja::context;

use super::Files;
use crate::model::Platform;
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

/// A cluster node's environment beyond [`server_env`]: its Erlang name, the shared
/// cookie (which `start.sh` writes), and on a machine the address Erlang's
/// distribution and port mapper listen on.
pub fn cluster_env(
    rabbit: &RabbitmqPlan,
    platform: Platform,
    node: &DatastoreNode,
    name: &str,
) -> Vec<EnvVar> {
    let Some(cookie) = &rabbit.cookie_secret else {
        return Vec::new();
    };
    let mut env = vec![EnvVar::literal("RABBITMQ_NODENAME", name)];
    if RabbitmqPlan::long_names(platform) {
        env.push(EnvVar::literal("RABBITMQ_USE_LONGNAME", "true"));
    }
    env.push(EnvVar::secret("RABBITMQ_COOKIE", cookie));
    if let (Platform::Hosts, Ok(std::net::IpAddr::V4(ip))) = (platform, node.host.parse()) {
        let [a, b, c, d] = ip.octets();
        env.push(EnvVar::literal("ERL_EPMD_ADDRESS", &node.host));
        env.push(EnvVar::literal(
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            format!("-kernel inet_dist_use_interface {{{a},{b},{c},{d}}}"),
        ));
    }
    env
}

/// A cluster node's command: `start.sh` (the cookie), then `then`.
pub fn cluster_command(mount: &str) -> Vec<String> {
    vec!["sh".into(), format!("{mount}/start.sh")]
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
    platform: Platform,
    dir: &str,
) -> Result<(), TemplateError> {
    let peers = rabbit.peers.get(&platform).cloned().unwrap_or_default();
    let mut seen = Vec::new();
    for node in nodes {
        // One set of files per machine (off `hosts`, every node reads the same).
        if seen.contains(&&node.machine) {
            continue;
        }
        seen.push(&node.machine);
        let ctx = context! {
            rabbit => rabbit, port => node.port, node => node, peers => peers,
            data_dir => DATA_DIR,
        };
        if rabbit.nodes > 1 {
            files.push(
                &node.machine,
                format!("{dir}/start.sh"),
                "rabbitmq/start.sh.j2",
                ctx.clone(),
            )?;
        }
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
