//! One file per command: each reads what it is given, runs the stages, prints, and
//! returns its exit code. Errors go back to the dispatcher in `cli`, which prints them.

pub mod completions;
pub mod diff;
pub mod fmt;
pub mod init;
pub mod man;
pub mod plan;
pub mod render;
pub mod schema;
pub mod templates;
pub mod validate;
pub mod version;
