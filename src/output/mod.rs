//! Output: the only code that writes the rendered files ([`OutputSet`]) to disk,
//! compares them with it (`--check`), diffs them, or removes what is stale.
//!
//! Rules:
//! - Nothing is written until the whole set is rendered.
//! - New contents are first staged beside their destinations; only when every file is
//!   staged are they renamed into place. A failure while staging removes the staged
//!   files and any folder it created, so the output folder is left as it was.
//! - A manifest (`.tierform-manifest`) lists the files tierform wrote. A file it lists
//!   that is no longer rendered is removed; a file it does not list is never
//!   overwritten or removed.
//! - No path below the output folder is followed through a symbolic link (the folder
//!   itself may be one).
//! - A run killed between staging and renaming leaves only staged files
//!   (`.NAME.tierform-PID.tmp`), never a partial file in place; the next render
//!   removes them from the folders it writes.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use crate::render::files::{check_path, OutputSet, PathError, Scope};

pub mod diff;

/// The manifest's file name, in the output folder.
pub const MANIFEST: &str = ".tierform-manifest";
const MANIFEST_HEADER: &str = "# Files tierform wrote here; `tierform render` removes them when they are no longer rendered. Do not edit.";

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

/// Reads the manifest: the files tierform wrote into `dir`.
pub fn read_manifest(dir: &Path) -> Result<BTreeSet<String>, OutputError> {
    let path = dir.join(MANIFEST);
    refuse_symlink(&path)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(io_error(&path)(e)),
    };
    Ok(text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        // A line that is not a plain relative path is ignored: it cannot name a file
        // tierform wrote, and must never lead a removal outside the folder.
        .filter(|l| check_path(l).is_ok())
        .map(str::to_string)
        .collect())
}

fn refuse_symlink(path: &Path) -> Result<(), OutputError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(OutputError::Symlink {
            path: path.display().to_string(),
        }),
        _ => Ok(()),
    }
}

/// Refuses a path any of whose components below `dir` is a symbolic link.
fn refuse_links_below(dir: &Path, rel: &str) -> Result<(), OutputError> {
    let mut p = dir.to_path_buf();
    for c in rel.split('/') {
        p.push(c);
        refuse_symlink(&p)?;
    }
    Ok(())
}

/// The current text of a file, or `None` when it does not exist.
fn read_existing(path: &Path) -> Result<Option<Vec<u8>>, OutputError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// Compares `set` with `dir`: what a write would add, change and remove. Fails when a
/// file tierform did not write stands where it would write.
pub fn compare(dir: &Path, set: &OutputSet, scope: &Scope) -> Result<Changes, OutputError> {
    if dir.exists() && !dir.is_dir() {
        return Err(OutputError::NotADirectory {
            path: dir.display().to_string(),
        });
    }
    let manifest = read_manifest(dir)?;
    let mut changes = Changes::default();
    for (rel, text) in set.iter() {
        refuse_links_below(dir, rel)?;
        let path = join(dir, rel);
        match read_existing(&path)? {
            None => changes.added.push(rel.to_string()),
            Some(_) if !manifest.contains(rel) => {
                return Err(OutputError::Foreign {
                    path: path.display().to_string(),
                })
            }
            Some(old) if old == text.as_bytes() => changes.unchanged += 1,
            Some(_) => changes.changed.push(rel.to_string()),
        }
    }
    for rel in &manifest {
        if scope.contains(rel) && set.get(rel).is_none() && join(dir, rel).exists() {
            changes.removed.push(rel.clone());
        }
    }
    Ok(changes)
}

/// A unified diff of every file `compare` reports, as `cargo fmt --check` would show it.
pub fn diff(dir: &Path, set: &OutputSet, changes: &Changes, context: usize) -> String {
    let mut out = String::new();
    let old_text = |rel: &str| {
        std::fs::read(join(dir, rel))
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
    let changes = compare(dir, set, scope)?;
    let manifest = read_manifest(dir)?;
    sweep_staged(
        dir,
        set.iter()
            .map(|(p, _)| p)
            .chain(manifest.iter().map(String::as_str)),
    );

    // 1. Stage every new or changed file beside its destination.
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let stage = |created_dirs: &mut Vec<PathBuf>,
                 staged: &mut Vec<(PathBuf, PathBuf)>|
     -> Result<(), OutputError> {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
            created_dirs.push(dir.to_path_buf());
        }
        for rel in changes.added.iter().chain(&changes.changed) {
            let dest = join(dir, rel);
            let parent = dest.parent().unwrap_or(dir);
            create_dirs(dir, parent, created_dirs)?;
            refuse_links_below(dir, rel)?;
            let tmp = temp_path(&dest);
            let text = set.get(rel).unwrap_or_default();
            write_file(&tmp, text.as_bytes()).map_err(io_error(&tmp))?;
            staged.push((tmp, dest));
        }
        Ok(())
    };
    if let Err(e) = stage(&mut created_dirs, &mut staged) {
        for (tmp, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
        for d in created_dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
        return Err(e);
    }

    // 2. Before anything is renamed, the manifest claims every file this run may put in
    //    place, so a run killed from here on leaves no file the next run takes for
    //    someone else's.
    let mpath = dir.join(MANIFEST);
    refuse_symlink(&mpath)?;
    if !changes.added.is_empty() {
        let claimed = manifest_text(&manifest, set, &Scope::nothing(), &BTreeSet::new());
        if let Err(e) = write_atomic(&mpath, claimed.as_bytes()) {
            for (tmp, _) in &staged {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(io_error(&mpath)(e));
        }
    }

    // 3. Rename into place, then remove what is stale.
    let mut failure = None;
    for (tmp, dest) in &staged {
        if let Err(e) = std::fs::rename(tmp, dest) {
            let _ = std::fs::remove_file(tmp);
            failure.get_or_insert(io_error(dest)(e));
        }
    }
    // 4. A stale file stays in the manifest until it is really gone, so a later render
    //    tries again.
    let mut kept = BTreeSet::new();
    for rel in &changes.removed {
        let result = refuse_links_below(dir, rel).and_then(|()| {
            let path = join(dir, rel);
            std::fs::remove_file(&path).map_err(io_error(&path))?;
            remove_empty_parents(dir, &path);
            Ok(())
        });
        if let Err(e) = result {
            kept.insert(rel.clone());
            failure.get_or_insert(e);
        }
    }
    // 5. The manifest last: everything now written, and what could not be removed.
    write_atomic(
        &mpath,
        manifest_text(&manifest, set, scope, &kept).as_bytes(),
    )
    .map_err(io_error(&mpath))?;
    match failure {
        Some(e) => Err(e),
        None => Ok(changes),
    }
}

fn manifest_text(
    old: &BTreeSet<String>,
    set: &OutputSet,
    scope: &Scope,
    not_removed: &BTreeSet<String>,
) -> String {
    let mut paths: BTreeSet<&str> = old
        .iter()
        .filter(|p| !scope.contains(p) || not_removed.contains(*p))
        .map(String::as_str)
        .collect();
    paths.extend(set.iter().map(|(p, _)| p));
    let mut text = String::from(MANIFEST_HEADER);
    text.push('\n');
    for p in paths {
        text.push_str(p);
        text.push('\n');
    }
    text
}

fn create_dirs(root: &Path, dir: &Path, created: &mut Vec<PathBuf>) -> Result<(), OutputError> {
    let rel = dir.strip_prefix(root).unwrap_or(Path::new(""));
    let mut p = root.to_path_buf();
    for c in rel.components() {
        p.push(c);
        refuse_symlink(&p)?;
        match std::fs::create_dir(&p) {
            Ok(()) => created.push(p.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {}
            Err(e) => return Err(io_error(&p)(e)),
        }
    }
    Ok(())
}

fn remove_empty_parents(root: &Path, file: &Path) {
    let mut p = file.parent();
    while let Some(d) = p {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        p = d.parent();
    }
}

/// Whether `name` is a file staged by [`temp_path`].
fn is_staged_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.rsplit_once(".tierform-"))
        .is_some_and(|(file, pid)| {
            !file.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Removes files staged by a run that was killed before it renamed them, from the
/// folders (not links) that hold the files of `paths`. No rendered path may contain
/// `.tierform` ([`check_path`]), so none of them can match.
fn sweep_staged<'a>(dir: &Path, paths: impl Iterator<Item = &'a str>) {
    let parents: BTreeSet<&str> = paths
        .filter_map(|rel| rel.rsplit_once('/').map(|(parent, _)| parent))
        .collect();
    let folders = parents
        .into_iter()
        .filter(|parent| refuse_links_below(dir, parent).is_ok())
        .map(|parent| join(dir, parent));
    for folder in std::iter::once(dir.to_path_buf()).chain(folders) {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let staged = entry.file_name().to_str().is_some_and(is_staged_name)
                && entry.file_type().is_ok_and(|t| t.is_file());
            if staged {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.tierform-{}.tmp", std::process::id()))
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .or_else(|e| {
            // A temporary file left by a killed run of the same PID: replace it.
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                std::fs::remove_file(path)?;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
            } else {
                Err(e)
            }
        })?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes `bytes` to `path` atomically (same-directory temporary file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = write_file(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_names_are_only_those_temp_path_makes() {
        let staged = temp_path(Path::new("out/one/compose/compose.yaml"));
        let name = staged.file_name().unwrap().to_str().unwrap();
        assert!(is_staged_name(name), "{name}");
        assert!(is_staged_name(".tierform-manifest.tierform-7.tmp"));
        for other in [
            "compose.yaml",
            ".env",
            ".tierform-manifest",
            "..tierform-1.tmp",
            ".a.tierform-.tmp",
            ".a.tierform-12x.tmp",
            "a.tierform-1.tmp",
            ".a.tierform-1.tmp.bak",
        ] {
            assert!(!is_staged_name(other), "{other}");
        }
    }
}
