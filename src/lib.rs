//! tierform: one declarative blueprint of an application's services, tiers, datastores
//! and scaling thresholds, rendered into the configs that run it, phase by phase.
//!
//! Data flows one way, and the modules are listed in that order:
//!
//! 1. `source`: blueprint bytes → a located YAML tree (every node knows its line,
//!    column and JSON pointer).
//! 2. `model`: the typed blueprint, its units and the JSON Schema generated from it.
//! 3. `check`: the tree → every finding at once ([`Diagnostic`]), each phase's patch
//!    applied and the result typed ([`ResolvedPhase`]).
//! 4. `plan`: one resolved phase → a [`Plan`] that holds every decision: instances,
//!    names and addresses per platform, connection settings, sizes and tuning. Its
//!    placement rules also report what cannot be placed ([`validate_bytes`] runs them
//!    with the check stage's).
//! 5. `report`: what a plan says to a person: the phase diff, capacity, the field
//!    reference. Beside rendering; reads plans only.
//! 6. `render`: plans → an [`OutputSet`] of files, through one renderer per platform
//!    and the config renderers they share. Nothing touches the disk.
//! 7. `output`: the only code that writes the set to a folder, compares it with one
//!    (`--check`), or diffs phases' files.
//! 8. `cli`: the command-line edge: arguments, one command per file, the one place
//!    that prints errors and picks exit codes.
//!
//! A module may use the modules above it in this list, never one below it; a platform's
//! renderer never uses another platform's (the layering test holds the code to both).
//! `docs/architecture.md` says where each decision lives and how to add an engine or a
//! platform.
//!
//! What this file exports is the library's whole surface; the stages are internal.

// The stages, in the order data flows (a comment between declarations keeps rustfmt
// from sorting them; the layering test reads this order).
// 1. bytes → a located YAML tree
mod source;
// 2. the typed blueprint and its schema
mod model;
// 3. every finding, each phase resolved and typed
mod check;
// 4. a phase's every decision
mod plan;
// 5. what a plan says to a person
mod report;
// 6. plans → files in memory
mod render;
// 7. files → a folder, atomically
mod output;
// 8. the command line
mod cli;

pub use check::diagnostic::{render_text, Diagnostic, Severity};
pub use check::validate::{ResolvedPhase, Validated};
pub use cli::{command, main as run, reference_text, schema_text, STARTER};
pub use model::schema::blueprint_schema;
pub use model::{BalancerEngine, Platform};
pub use output::{check_path, write, Changes, OutputError, OutputSet, Scope};
pub use plan::{resolve, Plan};
pub use render::templates::Templates;
pub use render::{
    plans, render, render_limited, render_plan, OutputLimits, RenderError, Selection,
};
pub use report::explain::explain;
pub use source::yaml::load as load_yaml;

/// Comparing phases: the per-resource summary and operational notes of two plans, and
/// the file-by-file changes between two phases' rendered files.
pub mod diff {
    pub use crate::output::diff::{file_changes, FileChange};
    pub use crate::report::diff::{notes, summarize, Change, Mark};
}

/// The embedded templates, and overrides from a folder.
pub mod templates {
    pub use crate::render::templates::{embedded, TemplateError, Templates, EMBEDDED};
}

/// The server versions tierform renders, and their images.
pub mod versions {
    pub use crate::model::versions::{
        select, Debian, MonitoringTool, Supported, ALERTMANAGER, CADVISOR, DATADOG_AGENT,
        ETCD_BASE_IMAGE, HAPROXY, KUBECTL_IMAGE, MONITORING, NGINX, NGINX_EXPORTER, NODE_EXPORTER,
        PGBOUNCER, POSTGRES, POSTGRES_EXPORTER, PROMETHEUS, RABBITMQ, REDIS, REDIS_EXPORTER,
    };

    /// Every table of supported versions, named by server.
    pub const ALL: &[(&str, &[Supported])] = &[
        ("nginx", NGINX),
        ("haproxy", HAPROXY),
        ("postgres", POSTGRES),
        ("pgbouncer", PGBOUNCER),
        ("redis", REDIS),
        ("rabbitmq", RABBITMQ),
    ];
}

/// How much a blueprint may ask for, and how a count is written in findings.
pub mod limits {
    pub use crate::check::budget::thousands;
    pub use crate::model::limits::*;
}

/// The balancer's config file, by engine, and where its TLS certificate is mounted.
pub mod monitoring {
    pub use crate::model::signal::{Signal, Unit};
    pub use crate::plan::scrape::local_address;
    pub use crate::plan::watch::{
        AlertPlan, MeasuredCondition, Move, Source, NEXT_PHASE_ALERT, OVER_PROVISIONED_ALERT,
        RATE_WINDOW,
    };
    pub use crate::render::monitoring::{
        current_value, prom_duration, ALERTMANAGER_FILE, CONFIG_FILE, KUBERNETES_FILE,
        PROMETHEUS_RULE, RULES_FILE,
    };
}

pub mod balancer {
    pub use crate::plan::{CLUSTER_DNS, TLS_DIR};
    pub use crate::render::balancer::file_name;
}
/// Validates one blueprint file's bytes: every finding of the check stage, and the
/// placement findings the plan stage's rules make (names that clash, tiers that do not
/// fit, what the `hosts` platform cannot place), each located in its phase.
pub fn validate_bytes(bytes: &[u8]) -> Validated {
    check::validate::validate_bytes(bytes, &plan::placement::findings)
}

/// [`validate_bytes`] for text already decoded.
pub fn validate_str(text: &str) -> Validated {
    check::validate::validate_str(text, &plan::placement::findings)
}

/// `tierform fmt`: a blueprint's text in the canonical key order (the schema's) and
/// layout, every comment kept; refused when the result would not load as the same
/// blueprint.
pub fn format_blueprint(text: &str) -> Result<String, FmtError> {
    source::fmt::format(text, &model::schema::blueprint_schema())
}
pub use source::fmt::FmtError;
