//! The datastores' config files and start scripts, shared by every platform: Redis
//! (standalone or cluster), PostgreSQL (primary and replicas) with PgBouncer, and
//! RabbitMQ, one module per engine; this module dispatches with an exhaustive match.
//!
//! Files live under `<engine>/<datastore>/` in a bundle. On the `hosts` platform each
//! machine gets the files of the nodes it runs, and the configs listen on that
//! machine's address; elsewhere they listen on every address of the container.
//!
//! Every setting comes from the plan; what is left here is the bundle's layout (which
//! file goes where, for which machine) and the templates' context.
//!
//! Each engine module also describes, once for every platform, what its containers
//! share whatever form a platform gives them: the command that starts the server on
//! these files, the environment its image and these scripts read (passwords as secret
//! references), its data directory and its readiness check. The platforms (compose,
//! kubernetes) translate that and add their own forms, one module per engine each.
//! A fuller platform-neutral description (ports, probes' patience, volumes, start
//! order, one-shot jobs) is left for later: the two platforms differ there in ways
//! their outputs show (a Redis Cluster is one StatefulSet but one container per node
//! in compose), so it would need many per-platform fields to stay byte-identical.

use serde::Serialize;

use crate::model::Platform;
use crate::plan::{DatastorePlan, EnginePlan, Plan};
use crate::render::templates::{TemplateError, Templates};

use super::bundle::generated_header;

pub(in crate::render) mod backup;
mod patroni;
pub(in crate::render) mod postgres;
pub(in crate::render) mod rabbitmq;
pub(in crate::render) mod redis;

/// A rendered file and the machine it belongs to (`hosts` platform; empty elsewhere).
pub struct ConfigFile {
    pub machine: String,
    pub path: String,
    pub text: String,
}

/// Where a datastore's files are mounted in its containers.
pub fn mount_dir(store: &DatastorePlan) -> String {
    format!("/etc/tierform/{}", store.engine.name())
}

/// The bundle folder of a datastore's files: `redis/cache`, `postgres/db`.
pub fn bundle_dir(store: &DatastorePlan) -> String {
    format!("{}/{}", store.engine.name(), store.name)
}

/// The bundle folder of a Postgres datastore's PgBouncer files.
pub fn pooler_dir(store: &DatastorePlan) -> String {
    format!("pgbouncer/{}", store.name)
}

/// Where PgBouncer's files are mounted in its container.
pub const POOLER_MOUNT_DIR: &str = "/etc/tierform/pgbouncer";

/// What every template of a datastore reads: the header and the datastore.
#[derive(Serialize)]
struct Base<'a> {
    generated: String,
    blueprint: &'a str,
    store: &'a DatastorePlan,
}

/// The files of one datastore as they are rendered.
struct Files<'a> {
    templates: &'a Templates,
    base: minijinja::Value,
    out: Vec<ConfigFile>,
}

impl Files<'_> {
    /// `text` as it is, into `path` for `machine`.
    fn push_text(&mut self, machine: &str, path: String, text: String) {
        self.out.push(ConfigFile {
            machine: machine.to_string(),
            path,
            text,
        });
    }

    /// Renders `template` with `ctx` (plus the base context) into `path` for `machine`.
    fn push(
        &mut self,
        machine: &str,
        path: String,
        template: &str,
        ctx: minijinja::Value,
    ) -> Result<(), TemplateError> {
        let ctx = minijinja::context! { ..ctx, ..self.base.clone() };
        let text = self.templates.render(template, &ctx)?;
        self.out.push(ConfigFile {
            machine: machine.to_string(),
            path,
            text,
        });
        Ok(())
    }
}

/// Renders every file of `store` on `platform`.
pub fn render(
    plan: &Plan,
    store: &DatastorePlan,
    platform: Platform,
    templates: &Templates,
) -> Result<Vec<ConfigFile>, TemplateError> {
    let nodes = store.nodes_on(platform);
    // The machines in node order, each once (everything on one "machine" off `hosts`).
    let mut machines: Vec<&str> = Vec::new();
    for n in nodes {
        if !machines.contains(&n.machine.as_str()) {
            machines.push(&n.machine);
        }
    }
    let mut files = Files {
        templates,
        base: minijinja::Value::from_serialize(&Base {
            generated: generated_header(plan),
            blueprint: &plan.blueprint,
            store,
        }),
        out: Vec::new(),
    };
    let dir = bundle_dir(store);
    match &store.engine {
        EnginePlan::Postgres(pg) => {
            postgres::render(&mut files, plan, store, pg, platform, &machines, &dir)?
        }
        EnginePlan::Redis(r) => redis::render(&mut files, store, r, platform, &machines, &dir)?,
        EnginePlan::Rabbitmq(r) => rabbitmq::render(&mut files, nodes, r, platform, &dir)?,
    }
    Ok(files.out)
}
