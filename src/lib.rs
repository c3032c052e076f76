//! tierform: one declarative blueprint of an application's services, tiers, datastores
//! and scaling thresholds, validated and resolved phase by phase.
//!
//! The flow is one way: [`yaml`] loads text into a located tree, [`schema`] and
//! [`analyze`] check it, [`phase`] applies each phase's patch, and [`validate`] ties
//! them together into findings ([`diagnostic`]) and typed, resolved phases.

pub mod analyze;
pub mod capacity;
pub mod cli;
pub mod diagnostic;
pub mod diff;
pub mod model;
pub mod output;
pub mod phase;
pub mod plan;
pub mod reference;
pub mod render;
pub mod schema;
pub mod targets;
pub mod templates;
pub mod tuning;
pub mod units;
pub mod validate;
pub mod yaml;
pub mod yaml_emit;
