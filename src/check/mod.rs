//! Check: the located tree → findings and typed, resolved phases.

pub mod budget;
pub mod code;
pub mod diagnostic;
mod instance;
pub mod phase;
pub mod rules;
pub mod schema;
pub mod suggest;
pub mod validate;
