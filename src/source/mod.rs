//! Source: blueprint bytes → a located YAML tree, every node with its line, column and
//! JSON pointer.

pub mod fmt;
pub mod pointer;
pub mod yaml;
