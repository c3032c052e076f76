//! tierform: one declarative blueprint of an application's services, tiers, datastores
//! and scaling thresholds, validated and resolved phase by phase.

pub mod check;
pub mod cli;
pub mod model;
pub mod output;
pub mod plan;
pub mod render;
pub mod report;
pub mod source;
