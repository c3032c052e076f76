//! Writing an output set: the lock, the record of the run in the manifest, staging,
//! one flush to disk, the renames, and the clean-up of every failure before the
//! renames (see the module docs of [`super`]).

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::scan::{parent, Kind, Scan};
use super::{
    compare_with, io_error, join, load_manifest, manifest_text, staged_path, write_atomic, Changes,
    Manifest, OutputError, OutputSet, Scope, MANIFEST,
};
use crate::render::parallel;

pub(super) fn write(dir: &Path, set: &OutputSet, scope: &Scope) -> Result<Changes, OutputError> {
    let mut created: Vec<PathBuf> = Vec::new();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(OutputError::NotADirectory {
                path: dir.display().to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_root(dir, &mut created)?,
        Err(e) => return Err(io_error(dir)(e)),
    }
    let result = lock(dir).and_then(|lock| {
        let r = write_locked(dir, set, scope, &mut created);
        drop(lock);
        r
    });
    if result.is_err() {
        remove_dirs(&created);
    }
    result
}

/// Creates `dir` and its missing parents, recording each folder it made.
fn create_root(dir: &Path, created: &mut Vec<PathBuf>) -> Result<(), OutputError> {
    let mut missing = Vec::new();
    let mut p = Some(dir);
    while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
        if std::fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d.to_path_buf());
        p = d.parent();
    }
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(&d) {
            Ok(()) => created.push(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => {
                remove_dirs(created);
                created.clear();
                return Err(io_error(&d)(e));
            }
        }
    }
    Ok(())
}

fn remove_dirs(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}

/// An exclusive `flock` on the output folder itself (no lock file is left behind),
/// held until the returned file is dropped.
fn lock(dir: &Path) -> Result<std::fs::File, OutputError> {
    lock_as(dir, rustix::fs::FlockOperation::NonBlockingLockExclusive)
}

/// A shared `flock` on the output folder, for reading it whole (`render --check`):
/// taken beside other readers, refused while a render writes.
pub(super) fn lock_shared(dir: &Path) -> Result<std::fs::File, OutputError> {
    lock_as(dir, rustix::fs::FlockOperation::NonBlockingLockShared)
}

fn lock_as(dir: &Path, how: rustix::fs::FlockOperation) -> Result<std::fs::File, OutputError> {
    let f = std::fs::File::open(dir).map_err(io_error(dir))?;
    match rustix::fs::flock(&f, how) {
        Ok(()) => Ok(f),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(OutputError::Locked {
            path: dir.display().to_string(),
            holder: lock_holder(&f)
                .map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}")),
        }),
        Err(e) => Err(io_error(dir)(e.into())),
    }
}

/// The process that holds an `flock` on the folder open as `f`, from `/proc/locks`
/// (`1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF`).
fn lock_holder(f: &std::fs::File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let m = f.metadata().ok()?;
    let dev = m.dev();
    let id = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        m.ino()
    );
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, _, pid, file, ..] if *file == id => pid.parse().ok(),
            _ => None,
        }
    })
}

fn write_locked(
    dir: &Path,
    set: &OutputSet,
    scope: &Scope,
    created: &mut Vec<PathBuf>,
) -> Result<Changes, OutputError> {
    let manifest = load_manifest(dir)?;
    // The folders of the listed files are read too when a recorded run may have left
    // staged files beside them.
    let listed = manifest
        .files
        .iter()
        .filter(|_| !manifest.staging.is_empty())
        .map(String::as_str);
    let scan = Scan::new(dir, set.iter().map(|(p, _)| p).chain(listed))?;
    let changes = compare_with(dir, set, scope, &manifest, &scan)?;
    let swept = sweep(dir, &manifest, &scan);
    let mpath = dir.join(MANIFEST);
    let me = std::process::id();

    let to_stage: Vec<&str> = changes
        .added
        .iter()
        .chain(&changes.changed)
        .map(String::as_str)
        .collect();
    let mut staging = if swept {
        BTreeSet::new()
    } else {
        manifest.staging.clone()
    };
    let mut failure = None;
    if !to_stage.is_empty() {
        // 1. The manifest records this run and claims every file it may put in place,
        //    before anything is staged: a run killed from here on leaves no staged file
        //    the next run does not know to remove, and no file it takes for someone
        //    else's.
        let mut pending = staging.clone();
        pending.insert(me);
        let claimed = manifest_text(
            &manifest.files,
            set,
            &Scope::nothing(),
            &BTreeSet::new(),
            &pending,
        );
        write_atomic(&mpath, claimed.as_bytes()).map_err(io_error(&mpath))?;

        // 2. Stage every new or changed file, then flush them all at once.
        let mut staged = Vec::new();
        let result =
            stage(dir, set, &to_stage, &scan, me, created, &mut staged).and_then(|()| sync_fs(dir));
        if let Err(e) = result {
            undo(dir, &manifest, &staged, created);
            return Err(e);
        }

        // 3. Rename into place (on every core; the first failure in order is told).
        let renamed = parallel::map(&staged, |(tmp, dest)| {
            std::fs::rename(tmp, dest).map_err(|e| {
                let _ = std::fs::remove_file(tmp);
                io_error(dest)(e)
            })
        });
        if let Some(e) = renamed.into_iter().find_map(Result::err) {
            failure.get_or_insert(e);
        }
    }
    // 4. A stale file stays in the manifest until it is really gone, so a later render
    //    tries again.
    let mut kept = BTreeSet::new();
    for rel in &changes.removed {
        if let Err(e) = remove_stale(dir, rel) {
            kept.insert(rel.clone());
            failure.get_or_insert(e);
        }
    }
    if !to_stage.is_empty() || !changes.removed.is_empty() {
        // The renames and removals reach the disk before the manifest that lists them.
        if let Err(e) = sync_fs(dir) {
            failure.get_or_insert(e);
            staging.insert(me);
        }
    }
    // 5. The manifest last: everything now written, and what could not be removed.
    let text = manifest_text(&manifest.files, set, scope, &kept, &staging);
    if manifest.text.as_deref() != Some(text.as_str()) {
        write_atomic(&mpath, text.as_bytes()).map_err(io_error(&mpath))?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(changes),
    }
}

/// Writes each file of `rels` to its staged name, making each missing folder once
/// first. The files are written on every core; `staged` lists, in `rels`' order, each
/// one that was created (so an undo removes it) even when another failed, and the
/// failure returned is the first in `rels`' order.
fn stage(
    dir: &Path,
    set: &OutputSet,
    rels: &[&str],
    scan: &Scan,
    me: u32,
    created: &mut Vec<PathBuf>,
    staged: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<(), OutputError> {
    // The folders first, in the files' order. A folder that cannot be made stops the
    // files from there on; the files before it are still written, so the failure told
    // is the first in file order, as when each file was written after its folder.
    let mut made: HashSet<String> = HashSet::new();
    let mut folder_failure = None;
    let mut ready = rels.len();
    for (i, rel) in rels.iter().enumerate() {
        if let Err(e) = make_folders(dir, parent(rel), scan, &mut made, created) {
            folder_failure = Some(e);
            ready = i;
            break;
        }
    }
    let written = parallel::map(&rels[..ready], |rel| {
        let dest = join(dir, rel);
        let tmp = staged_path(&dest, me);
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => f,
            // Not staged by this run, nor by one the manifest records: not ours.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return (
                    None,
                    Err(OutputError::Foreign {
                        path: tmp.display().to_string(),
                    }),
                )
            }
            Err(e) => return (None, Err(io_error(&tmp)(e))),
        };
        let result = f
            .write_all(set.get(rel).unwrap_or_default().as_bytes())
            .map_err(io_error(&tmp));
        (Some((tmp, dest)), result)
    });
    let mut failure = None;
    for (file, result) in written {
        staged.extend(file);
        if let Err(e) = result {
            failure.get_or_insert(e);
        }
    }
    match failure.or(folder_failure) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Makes the folder `rel` and each missing parent, once per run.
fn make_folders(
    dir: &Path,
    rel: &str,
    scan: &Scan,
    made: &mut HashSet<String>,
    created: &mut Vec<PathBuf>,
) -> Result<(), OutputError> {
    if rel.is_empty() || scan.has_dir(rel) || made.contains(rel) {
        return Ok(());
    }
    make_folders(dir, parent(rel), scan, made, created)?;
    let path = join(dir, rel);
    match std::fs::create_dir(&path) {
        Ok(()) => created.push(path),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(OutputError::Symlink {
                        path: path.display().to_string(),
                    })
                }
                _ => return Err(io_error(&path)(e)),
            }
        }
        Err(e) => return Err(io_error(&path)(e)),
    }
    made.insert(rel.to_string());
    Ok(())
}

/// Flushes the file system that holds `dir` to disk: one `syncfs` for every staged
/// file instead of an `fsync` each.
fn sync_fs(dir: &Path) -> Result<(), OutputError> {
    let f = std::fs::File::open(dir).map_err(io_error(dir))?;
    rustix::fs::syncfs(&f).map_err(|e| io_error(dir)(e.into()))
}

/// Puts the folder back as it was before this run staged anything: removes the staged
/// files and the folders made for them, and restores the manifest.
fn undo(dir: &Path, manifest: &Manifest, staged: &[(PathBuf, PathBuf)], created: &[PathBuf]) {
    for (tmp, _) in staged {
        let _ = std::fs::remove_file(tmp);
    }
    let mpath = dir.join(MANIFEST);
    match &manifest.text {
        Some(old) => {
            let _ = write_atomic(&mpath, old.as_bytes());
        }
        None => {
            let _ = std::fs::remove_file(&mpath);
        }
    }
    remove_dirs(created);
}

/// Removes what runs the manifest records staged beside the files it lists (and their
/// staged manifests); returns whether none is left.
fn sweep(dir: &Path, manifest: &Manifest, scan: &Scan) -> bool {
    let mut gone = true;
    let mut remove = |rel: &str| {
        if scan.kind(rel) == Some(Kind::File) {
            let path = join(dir, rel);
            gone &= std::fs::remove_file(&path).is_ok();
        }
    };
    // A staged manifest is tierform's own name whoever staged it (a run killed while
    // staging it had not recorded itself yet), and no other run writes this folder
    // while the lock is held.
    for name in scan.names_in("", |n, k| k == Kind::File && is_staged_manifest(n)) {
        remove(&name);
    }
    for pid in &manifest.staging {
        for rel in &manifest.files {
            let folder = parent(rel);
            let file = rel.rsplit('/').next().unwrap_or(rel);
            let name = format!(".{file}.tierform-{pid}.tmp");
            if folder.is_empty() {
                remove(&name);
            } else {
                remove(&format!("{folder}/{name}"));
            }
        }
    }
    gone
}

fn is_staged_manifest(name: &str) -> bool {
    // `write_atomic` stages `..tierform-manifest.tierform-PID.tmp`: only that name.
    name.strip_prefix("..tierform-manifest.tierform-")
        .and_then(|n| n.strip_suffix(".tmp"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes a stale file tierform wrote, and the folders it leaves empty; refuses a link
/// or anything but a regular file.
fn remove_stale(dir: &Path, rel: &str) -> Result<(), OutputError> {
    let mut p = dir.to_path_buf();
    for c in rel.split('/') {
        p.push(c);
        let m = std::fs::symlink_metadata(&p).map_err(io_error(&p))?;
        if m.file_type().is_symlink() {
            return Err(OutputError::Symlink {
                path: p.display().to_string(),
            });
        }
    }
    if !std::fs::symlink_metadata(&p)
        .map_err(io_error(&p))?
        .is_file()
    {
        return Err(OutputError::NotRegular {
            path: p.display().to_string(),
            what: "not a regular file",
        });
    }
    std::fs::remove_file(&p).map_err(io_error(&p))?;
    let mut folder = p.parent();
    while let Some(d) = folder {
        if d == dir || !d.starts_with(dir) || std::fs::remove_dir(d).is_err() {
            break;
        }
        folder = d.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_manifests_are_only_those_write_atomic_makes() {
        let staged = staged_path(Path::new("out/.tierform-manifest"), 7);
        let name = staged.file_name().unwrap().to_str().unwrap();
        assert!(is_staged_manifest(name), "{name}");
        for other in [
            ".tierform-manifest",
            ".tierform-manifest.tierform-.tmp",
            ".tierform-manifest.tierform-12x.tmp",
            ".compose.yaml.tierform-1.tmp",
            "...tierform-manifest.tierform-1.tmp",
            "tierform-manifest.tierform-1.tmp",
            ".tierform-manifest.tierform-1.tmp.bak",
        ] {
            assert!(!is_staged_manifest(other), "{other}");
        }
    }
}
