//! What stands in the output folder where a render writes, from one read of each folder
//! it touches (one `getdents` per folder instead of a `stat` per path component of
//! every file). Nothing is opened that is not a folder.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use super::{io_error, join, OutputError};

/// What an entry of a folder is, from its directory entry (never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device: never opened, never replaced.
    Other,
}

impl Kind {
    fn of(t: std::fs::FileType) -> Kind {
        if t.is_symlink() {
            Kind::Symlink
        } else if t.is_dir() {
            Kind::Dir
        } else if t.is_file() {
            Kind::File
        } else {
            Kind::Other
        }
    }
}

/// The entries of every existing folder that holds (or would hold) one of the scanned
/// paths, by the folder's relative path (`""` for the output folder itself).
#[derive(Debug, Default)]
pub(crate) struct Scan {
    dirs: HashMap<String, HashMap<String, Kind>>,
}

/// The folder part of a relative path (`""` at the top).
pub(crate) fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(p, _)| p)
}

fn name(rel: &str) -> &str {
    rel.rsplit_once('/').map_or(rel, |(_, n)| n)
}

impl Scan {
    /// Reads `dir` and each folder below it that the files `rels` lie in. A folder that
    /// is missing is not an error (nothing below it exists); a symbolic link or
    /// anything but a folder where a folder is needed is.
    pub(crate) fn new<'a>(
        dir: &Path,
        rels: impl Iterator<Item = &'a str>,
    ) -> Result<Scan, OutputError> {
        let mut folders: BTreeSet<&str> = BTreeSet::new();
        for rel in rels {
            let mut p = parent(rel);
            while !p.is_empty() && folders.insert(p) {
                p = parent(p);
            }
        }
        let mut scan = Scan::default();
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(OutputError::NotADirectory {
                    path: dir.display().to_string(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(scan),
            Err(e) => return Err(io_error(dir)(e)),
        }
        scan.read(dir, "")?;
        // Sorted, so every folder comes after its parent.
        for rel in folders {
            match scan.kind(rel) {
                None => {}
                Some(Kind::Dir) => scan.read(dir, rel)?,
                Some(Kind::Symlink) => {
                    return Err(OutputError::Symlink {
                        path: join(dir, rel).display().to_string(),
                    })
                }
                Some(kind) => {
                    return Err(OutputError::NotRegular {
                        path: join(dir, rel).display().to_string(),
                        what: describe(kind, true),
                    })
                }
            }
        }
        Ok(scan)
    }

    fn read(&mut self, root: &Path, rel: &str) -> Result<(), OutputError> {
        let path = if rel.is_empty() {
            root.to_path_buf()
        } else {
            join(root, rel)
        };
        let mut entries = HashMap::new();
        for entry in std::fs::read_dir(&path).map_err(io_error(&path))? {
            let entry = entry.map_err(io_error(&path))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let kind = Kind::of(entry.file_type().map_err(io_error(&entry.path()))?);
            entries.insert(name, kind);
        }
        self.dirs.insert(rel.to_string(), entries);
        Ok(())
    }

    /// What stands at `rel`, or `None` when nothing does (or its folder was not read).
    pub(crate) fn kind(&self, rel: &str) -> Option<Kind> {
        self.dirs.get(parent(rel))?.get(name(rel)).copied()
    }

    /// Whether the folder `rel` (`""` for the output folder) exists.
    pub(crate) fn has_dir(&self, rel: &str) -> bool {
        self.dirs.contains_key(rel)
    }

    /// The names in folder `rel` that satisfy `keep`, sorted.
    pub(crate) fn names_in(&self, rel: &str, keep: impl Fn(&str, Kind) -> bool) -> Vec<String> {
        let sorted: BTreeMap<&String, &Kind> = self
            .dirs
            .get(rel)
            .map(|d| d.iter().collect())
            .unwrap_or_default();
        sorted
            .into_iter()
            .filter(|(n, k)| keep(n, **k))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// How an error names what stands in the way.
pub(crate) fn describe(kind: Kind, want_dir: bool) -> &'static str {
    match kind {
        Kind::File if want_dir => "a file where tierform needs a folder",
        Kind::Dir => "a folder where tierform writes a file",
        Kind::Symlink => "a symbolic link",
        _ => "not a regular file or folder (a FIFO, socket or device)",
    }
}
