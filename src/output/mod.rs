//! Output: the only code that writes the rendered files ([`OutputSet`]) to disk,
//! compares them with it (`--check`), diffs them, or removes what is stale.
//!
//! Rules:
//! - Nothing is written until the whole set is rendered.
//! - One render at a time writes a folder: `render` holds an exclusive `flock` on the
//!   output folder itself while it writes; a second one fails at once (exit 2) and
//!   names the process that holds it. `render --check` holds a shared one while it
//!   reads, so it never compares against a folder half written.
//! - New contents are first staged beside their destinations; only when every file is
//!   staged (and flushed to disk, with one `syncfs`) are they renamed into place. A
//!   failure while staging (a full disk, say) removes the staged files and any folder
//!   it created and puts the manifest back, so the output folder is left as it was.
//! - A manifest (`.tierform-manifest`) lists the files tierform wrote. A file it lists
//!   that is no longer rendered is removed; a file it does not list is never
//!   overwritten or removed.
//! - Only regular files and folders are read or replaced: a symbolic link below the
//!   output folder (the folder itself may be one), a FIFO, socket or device at an
//!   output path or at the manifest is refused without being opened.
//! - Before staging, the manifest records the run (`# staging PID`). A run killed
//!   between staging and renaming leaves only staged files (`.NAME.tierform-PID.tmp`),
//!   never a partial file in place; the next render removes the staged files of the
//!   runs its manifest records, beside the files it lists, and nothing else: a file
//!   that merely looks staged is someone else's.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use crate::render::files::{check_path, OutputSet, PathError, Scope};

pub mod diff;
mod scan;
mod stage;

use scan::{describe, Kind, Scan};

/// The manifest's file name, in the output folder.
pub const MANIFEST: &str = ".tierform-manifest";
const MANIFEST_HEADER: &str = "# Files tierform wrote here; `tierform render` removes them when they are no longer rendered. Do not edit.";
/// A manifest line recording a run that stages files: `# staging 1234`.
const STAGING: &str = "# staging ";

/// A problem with the output folder.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{path} exists and was not written by tierform; refusing to overwrite it (move it away, or render into another folder)")]
    Foreign { path: String },
    #[error("{path} is not a directory: give `-o` a folder (it is created if missing)")]
    NotADirectory { path: String },
    #[error("{path} is a symbolic link; tierform does not write through links")]
    Symlink { path: String },
    #[error("{path} is {what}; tierform reads and replaces only regular files and folders, and refuses it")]
    NotRegular { path: String, what: &'static str },
    #[error("{path} is being written by another tierform render ({holder}); run again when it has finished, or render into another folder")]
    Locked { path: String, holder: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What a write would do, or did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

fn join(dir: &Path, rel: &str) -> PathBuf {
    rel.split('/').fold(dir.to_path_buf(), |p, c| p.join(c))
}

/// The manifest as read: the files tierform wrote, and the runs that staged files.
#[derive(Debug, Default)]
struct Manifest {
    files: BTreeSet<String>,
    /// Runs (by process id) that recorded themselves before staging and may have left
    /// staged files behind.
    staging: BTreeSet<u32>,
    /// The text as read; `None` when there is no manifest.
    text: Option<String>,
}

/// Reads the manifest: the files tierform wrote into `dir`, and the runs it records.
fn load_manifest(dir: &Path) -> Result<Manifest, OutputError> {
    let path = dir.join(MANIFEST);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => {}
        Ok(m) => {
            let kind = if m.file_type().is_symlink() {
                return Err(OutputError::Symlink {
                    path: path.display().to_string(),
                });
            } else if m.is_dir() {
                Kind::Dir
            } else {
                Kind::Other
            };
            return Err(OutputError::NotRegular {
                path: path.display().to_string(),
                what: describe(kind, false),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(Manifest::default()),
        Err(e) => return Err(io_error(&path)(e)),
    }
    let text = match read_regular(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => return Err(io_error(&path)(e)),
    };
    let mut m = Manifest::default();
    for line in text.lines() {
        if let Some(pid) = line.strip_prefix(STAGING) {
            if let Ok(pid) = pid.parse::<u32>() {
                m.staging.insert(pid);
            }
        } else if !line.is_empty() && !line.starts_with('#') && check_path(line).is_ok() {
            // A line that is not a plain relative path is ignored: it cannot name a
            // file tierform wrote, and must never lead a removal outside the folder.
            m.files.insert(line.to_string());
        }
    }
    m.text = Some(text);
    Ok(m)
}

/// Opens a file for reading without following a link at its last component and
/// without waiting on a FIFO.
fn open_nofollow(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(
            rustix::fs::OFlags::NOFOLLOW.bits() as i32 | rustix::fs::OFlags::NONBLOCK.bits() as i32,
        )
        .open(path)
}

/// The contents of a regular file, never opened through a link, never waiting on a
/// FIFO.
fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = open_nofollow(path)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether the file at `path` holds exactly `want`: one open and one read of at most
/// `want.len() + 1` bytes (no `stat`).
fn same_contents(path: &Path, want: &[u8]) -> Result<bool, OutputError> {
    let f = match open_nofollow(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(OutputError::Symlink {
                path: path.display().to_string(),
            })
        }
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut have = Vec::with_capacity(want.len() + 1);
    f.take(want.len() as u64 + 1)
        .read_to_end(&mut have)
        .map_err(io_error(path))?;
    Ok(have == want)
}

/// Compares `set` with `dir`: what a write would add, change and remove. Fails when a
/// file tierform did not write stands where it would write.
pub fn compare(dir: &Path, set: &OutputSet, scope: &Scope) -> Result<Changes, OutputError> {
    // Read while no render writes: a folder half renamed would read as stale.
    let _lock = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Some(stage::lock_shared(dir)?),
        _ => None,
    };
    let manifest = load_manifest(dir)?;
    let scan = Scan::new(dir, set.iter().map(|(p, _)| p))?;
    compare_with(dir, set, scope, &manifest, &scan)
}

fn compare_with(
    dir: &Path,
    set: &OutputSet,
    scope: &Scope,
    manifest: &Manifest,
    scan: &Scan,
) -> Result<Changes, OutputError> {
    let mut changes = Changes::default();
    for (rel, text) in set.iter() {
        let path = || join(dir, rel).display().to_string();
        match scan.kind(rel) {
            None => changes.added.push(rel.to_string()),
            Some(Kind::File) if !manifest.files.contains(rel) => {
                return Err(OutputError::Foreign { path: path() })
            }
            Some(Kind::File) => {
                if same_contents(&join(dir, rel), text.as_bytes())? {
                    changes.unchanged += 1;
                } else {
                    changes.changed.push(rel.to_string());
                }
            }
            Some(Kind::Symlink) => return Err(OutputError::Symlink { path: path() }),
            Some(kind) => {
                return Err(OutputError::NotRegular {
                    path: path(),
                    what: describe(kind, false),
                })
            }
        }
    }
    for rel in &manifest.files {
        if scope.contains(rel)
            && set.get(rel).is_none()
            && std::fs::symlink_metadata(join(dir, rel)).is_ok()
        {
            changes.removed.push(rel.clone());
        }
    }
    Ok(changes)
}

/// A unified diff of every file `compare` reports, as `cargo fmt --check` would show it.
pub fn diff(dir: &Path, set: &OutputSet, changes: &Changes, context: usize) -> String {
    let mut out = String::new();
    let old_text = |rel: &str| {
        read_regular(&join(dir, rel))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let mut all: Vec<(&str, String, String)> = Vec::new();
    for rel in &changes.added {
        all.push((
            rel,
            String::new(),
            set.get(rel).unwrap_or_default().to_string(),
        ));
    }
    for rel in &changes.changed {
        all.push((
            rel,
            old_text(rel),
            set.get(rel).unwrap_or_default().to_string(),
        ));
    }
    for rel in &changes.removed {
        all.push((rel, old_text(rel), String::new()));
    }
    all.sort_by(|a, b| a.0.cmp(b.0));
    for (rel, old, new) in all {
        let a = if old.is_empty() && changes.added.iter().any(|r| r == rel) {
            "/dev/null".to_string()
        } else {
            format!("a/{rel}")
        };
        let b = if new.is_empty() && changes.removed.iter().any(|r| r == rel) {
            "/dev/null".to_string()
        } else {
            format!("b/{rel}")
        };
        out.push_str(&diff::unified_diff(&old, &new, &a, &b, context));
    }
    out
}

/// Writes `set` into `dir` as described in the module docs, and returns what changed.
pub fn write(dir: &Path, set: &OutputSet, scope: &Scope) -> Result<Changes, OutputError> {
    stage::write(dir, set, scope)
}

/// The manifest's text: the files of `old` outside `scope` or not removed, every file
/// of `set`, and the runs in `staging`.
fn manifest_text(
    old: &BTreeSet<String>,
    set: &OutputSet,
    scope: &Scope,
    not_removed: &BTreeSet<String>,
    staging: &BTreeSet<u32>,
) -> String {
    let mut paths: BTreeSet<&str> = old
        .iter()
        .filter(|p| !scope.contains(p) || not_removed.contains(*p))
        .map(String::as_str)
        .collect();
    paths.extend(set.iter().map(|(p, _)| p));
    let mut text = String::from(MANIFEST_HEADER);
    text.push('\n');
    for pid in staging {
        text.push_str(&format!("{STAGING}{pid}\n"));
    }
    for p in paths {
        text.push_str(p);
        text.push('\n');
    }
    text
}

/// The staged name of `dest` for the run `pid`: `.NAME.tierform-PID.tmp` beside it.
fn staged_path(dest: &Path, pid: u32) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.tierform-{pid}.tmp"))
}

/// Writes `bytes` to `path` atomically and durably (a same-directory staged file,
/// flushed, then renamed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A file already at the staged name is not removed: it may be someone else's.
    let tmp = staged_path(path, std::process::id());
    let f = write_new_or_clean(&tmp, bytes)?;
    let result = f.sync_all().and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_new`], removing what it created when the write fails.
fn write_new_or_clean(path: &Path, bytes: &[u8]) -> std::io::Result<std::fs::File> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    if let Err(e) = f.write_all(bytes) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(f)
}
