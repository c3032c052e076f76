//! Datastores as compose services, one module per engine; this module holds what their
//! containers share and dispatches with an exhaustive match. Each engine's module
//! translates what `render::datastores` describes for every platform (commands,
//! environment, data directory, readiness check) into compose's form.

use super::*;
use crate::plan::NodeRole;
use crate::plan::{EnginePlan, EnvVar, ServerHealth};

mod postgres;
mod rabbitmq;
mod redis;

/// A container with the named volume it uses, if any.
type Container = (String, Value, Option<String>);

/// What a service using `store` waits for on one Docker host: the whole stack's
/// (`machine` none), or one machine's nodes on `hosts`.
pub(in crate::render) fn datastore_dependencies(
    store: &DatastorePlan,
    machine: Option<&str>,
) -> Vec<(String, &'static str)> {
    let platform = if machine.is_some() {
        Platform::Hosts
    } else {
        Platform::Compose
    };
    let nodes: Vec<&DatastoreNode> = store
        .nodes_on(platform)
        .iter()
        .filter(|n| machine.is_none_or(|m| n.machine == m))
        .collect();
    let mut deps = Vec::new();
    // Through a pooler, a service needs the pooler and the primary it fronts; a
    // replica that is slow to copy must not hold the application back.
    let pooled = nodes
        .iter()
        .any(|n| matches!(n.role, NodeRole::Pooler | NodeRole::Router));
    for n in nodes {
        match n.role {
            NodeRole::Pooler | NodeRole::Router => deps.push((n.id.clone(), "service_started")),
            // Patroni's, not the services'.
            NodeRole::Etcd => {}
            NodeRole::Replica if pooled => {}
            _ => deps.push((n.id.clone(), "service_healthy")),
        }
    }
    if let (Some(init), None) = (&store.compose.cluster_init, machine) {
        deps.push((init.clone(), "service_completed_successfully"));
    }
    deps
}

/// A healthcheck running `test` with the plan's timing, where the plan has compose
/// check this server.
fn healthcheck(test: Value, h: &ServerHealth) -> Option<Value> {
    let h = h.healthcheck?;
    let mut check = Map::new();
    check.insert("test".into(), test);
    check.insert("interval".into(), json!(format!("{}s", h.interval_s)));
    check.insert("timeout".into(), json!(format!("{}s", h.timeout_s)));
    check.insert("retries".into(), json!(h.retries));
    if let Some(s) = h.start_period_s {
        check.insert("start_period".into(), json!(format!("{s}s")));
    }
    Some(Value::Object(check))
}

/// Sets `c`'s healthcheck and its stop grace from the plan.
fn watch(c: &mut Map<String, Value>, test: Value, h: &ServerHealth) {
    if let Some(check) = healthcheck(test, h) {
        c.insert("healthcheck".into(), check);
    }
    if let Some(s) = h.stop_grace_s {
        c.insert("stop_grace_period".into(), json!(format!("{s}s")));
    }
}

/// The containers of a datastore, with the named volumes they use. `machine` limits
/// them to the nodes placed there (`hosts`).
pub(in crate::render) fn datastore_containers(
    store: &DatastorePlan,
    layout: Layout,
    machine: Option<&str>,
) -> Vec<Container> {
    let ctx = Ctx::new(store, layout, machine);
    match &store.engine {
        EnginePlan::Postgres(pg) => postgres::containers(&ctx, pg),
        EnginePlan::Redis(r) => redis::containers(&ctx, r),
        EnginePlan::Rabbitmq(r) => rabbitmq::containers(&ctx, r),
    }
}

/// What every container of one datastore shares.
struct Ctx<'a> {
    store: &'a DatastorePlan,
    layout: Layout,
    /// Its nodes on the layout's platform, all of them.
    nodes: &'a [DatastoreNode],
    machine: Option<&'a str>,
    /// Where its files are mounted.
    mount: String,
    /// The mount of its files.
    files: Value,
}

impl<'a> Ctx<'a> {
    fn new(store: &'a DatastorePlan, layout: Layout, machine: Option<&'a str>) -> Self {
        let mount = datastores::mount_dir(store);
        let files = json!({ "type": "bind", "source": format!("./{}", datastores::bundle_dir(store)), "target": mount, "read_only": true });
        Ctx {
            store,
            layout,
            nodes: store.nodes_on(platform_of(layout)),
            machine,
            mount,
            files,
        }
    }

    /// Whether `n` runs here (every node off `hosts`).
    fn here(&self, n: &DatastoreNode) -> bool {
        self.machine.is_none_or(|m| n.machine == m)
    }

    /// The nodes that run here.
    fn nodes_here(&self) -> impl Iterator<Item = &'a DatastoreNode> + '_ {
        self.nodes.iter().filter(|n| self.here(n))
    }

    /// Restart policy, resources and network of a server.
    fn common(&self, c: &mut Map<String, Value>) {
        c.insert("restart".into(), json!("unless-stopped"));
        if let Some(r) = resources(&self.store.resources, None) {
            c.insert("deploy".into(), r);
        }
        self.network(c);
    }

    /// The back network on one host; the machine's own on `hosts`.
    fn network(&self, c: &mut Map<String, Value>) {
        match self.layout {
            Layout::Single => {
                c.insert("networks".into(), json!(["back"]));
            }
            Layout::Hosts => {
                c.insert("network_mode".into(), json!("host"));
            }
        }
    }

    /// Where a check inside the container reaches node `n`.
    fn addr(&self, n: &DatastoreNode) -> String {
        if self.layout == Layout::Hosts {
            n.host.clone()
        } else {
            "127.0.0.1".into()
        }
    }
}

/// An environment as compose writes it: secrets as `${NAME:?…}` references.
fn environment(vars: &[EnvVar]) -> Map<String, Value> {
    vars.iter()
        .map(|v| (v.name.clone(), env_value(&v.value)))
        .collect()
}
