//! The render stage's product: rendered files in memory, by relative path, and the part
//! of an output folder a render owns. Only the output stage writes them anywhere.

use std::collections::{BTreeMap, BTreeSet};

/// A path the set cannot hold.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("output path `{path}` is not allowed: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("two files would be written to `{0}`")]
    Duplicate(String),
}

/// Rendered files by relative path (`/`-separated), in sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputSet {
    files: BTreeMap<String, String>,
    /// The bytes of every file together.
    bytes: usize,
}

/// Checks a relative output path: plain components only, none hidden or special.
pub fn check_path(path: &str) -> Result<(), PathError> {
    let bad = |reason| PathError::BadPath {
        path: path.to_string(),
        reason,
    };
    if path.is_empty() || path.starts_with('/') {
        return Err(bad("it must be a relative path"));
    }
    for c in path.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return Err(bad("it must not contain empty, `.` or `..` components"));
        }
        if c.contains(".tierform") {
            return Err(bad(
                "`.tierform…` names are reserved for tierform's own files",
            ));
        }
        if c.chars()
            .any(|ch| ch.is_control() || ch == '\\' || ch == '\0')
        {
            return Err(bad("it contains a control character or a backslash"));
        }
    }
    Ok(())
}

impl OutputSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file; the path is checked and must not be taken.
    pub fn insert(&mut self, path: String, text: String) -> Result<(), PathError> {
        check_path(&path)?;
        if self.files.contains_key(&path) {
            return Err(PathError::Duplicate(path));
        }
        self.bytes += text.len();
        self.files.insert(path, text);
        Ok(())
    }

    /// The bytes of every file together.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(p, t)| (p.as_str(), t.as_str()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Which part of the output folder a render owns: files under the selected phases and
/// platforms. Stale files are removed only inside the scope, so rendering one phase
/// never removes another phase's files.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Phase folders; `None` for every phase.
    pub phases: Option<BTreeSet<String>>,
    /// Platform folders; `None` for every platform and the phase's own files.
    pub platforms: Option<BTreeSet<String>>,
}

impl Scope {
    pub fn everything() -> Self {
        Self::default()
    }

    /// No part of the folder: every file listed before stays listed.
    pub fn nothing() -> Self {
        Self {
            phases: Some(BTreeSet::new()),
            platforms: None,
        }
    }

    pub fn contains(&self, path: &str) -> bool {
        let mut parts = path.split('/');
        let phase = parts.next().unwrap_or_default();
        if let Some(phases) = &self.phases {
            if !phases.contains(phase) {
                return false;
            }
        }
        match &self.platforms {
            None => true,
            Some(platforms) => {
                // `<phase>/<platform>/…`: a file directly in the phase folder belongs to
                // no platform.
                let rest: Vec<&str> = parts.collect();
                rest.len() > 1 && platforms.contains(rest[0])
            }
        }
    }
}

/// Eight hex digits of FNV-1a: a stable, short name suffix for content.
pub(crate) fn short_hash(text: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}
