//! Check: the located tree → findings and typed, resolved phases.

pub mod analyze;
pub mod diagnostic;
pub mod phase;
pub mod schema;
pub mod suggest;
pub mod validate;
