//! What bounds `--templates DIR`: an override is the deployer's code, trusted to mean
//! what it says but not to be free of mistakes, so reading it follows no link and reads
//! only regular files of a bounded size, rendering it spends a bounded number of
//! instructions, and every rendered file (embedded templates' too) has a size limit.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::render::templates::{closest, relative_name, TemplateError, EMBEDDED};

/// The instructions one render of a template may execute when overrides are given
/// (minijinja's fuel): every embedded template renders a 1,000-service blueprint on a
/// twentieth of it, and a runaway loop in an override stops here, in seconds, with an
/// error.
pub const OVERRIDE_FUEL: u64 = 20_000_000;

/// The most one template may write into one file: 64 MiB.
pub const MAX_RENDERED_BYTES: usize = 64 << 20;

/// The largest override file read: 1 MiB.
pub const MAX_OVERRIDE_BYTES: u64 = 1 << 20;

/// Every `.j2` file under `dir`, by the embedded template's name it overrides. Nothing
/// below `dir` is followed through a symbolic link, and anything but a folder or a
/// regular file is refused before it is opened (a FIFO would block the read forever).
pub fn read_overrides(dir: &Path) -> Result<BTreeMap<String, String>, TemplateError> {
    let mut overrides = BTreeMap::new();
    let io = |path: &Path, source| TemplateError::Io {
        path: path.display().to_string(),
        source,
    };
    let refused = |path: &Path, what: &'static str| TemplateError::NotRead {
        path: path.display().to_string(),
        what,
    };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| io(&d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(&d, e))?;
            let path = entry.path();
            // The entry itself, not what a link points to.
            let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
            let is_j2 = path.extension().is_some_and(|e| e == "j2");
            if meta.file_type().is_symlink() {
                // A link beside the templates (a README) is left alone; one that would
                // stand for a template or a folder of them is refused, not skipped.
                let to_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
                if is_j2 || to_dir {
                    return Err(refused(&path, "is a symbolic link"));
                }
                continue;
            }
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            // Only templates count; a README or notes beside them are left alone.
            if !is_j2 {
                continue;
            }
            if !meta.is_file() {
                return Err(refused(&path, "is not a regular file"));
            }
            let name = relative_name(dir, &path).ok_or_else(|| TemplateError::BadName {
                name: path.display().to_string(),
                reason: "its path is not plain UTF-8 components",
            })?;
            if !EMBEDDED.iter().any(|(n, _)| *n == name) {
                return Err(TemplateError::StrayOverride {
                    path: path.display().to_string(),
                    suggestion: closest(&name),
                });
            }
            let text = read_regular(&path, &meta).map_err(|e| match e {
                ReadError::Io(e) => io(&path, e),
                ReadError::Refused(what) => refused(&path, what),
            })?;
            overrides.insert(name, text);
        }
    }
    Ok(overrides)
}

enum ReadError {
    Io(std::io::Error),
    Refused(&'static str),
}

/// Reads the file `seen` describes, at most [`MAX_OVERRIDE_BYTES`]; refused if what was
/// opened is another file (swapped for a link between the look and the open).
fn read_regular(path: &Path, seen: &std::fs::Metadata) -> Result<String, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let opened = file.metadata().map_err(ReadError::Io)?;
    if !opened.is_file() {
        return Err(ReadError::Refused("is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (opened.dev(), opened.ino()) != (seen.dev(), seen.ino()) {
            return Err(ReadError::Refused("changed while it was read"));
        }
    }
    #[cfg(not(unix))]
    let _ = seen;
    let mut bytes = Vec::new();
    file.take(MAX_OVERRIDE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_OVERRIDE_BYTES {
        return Err(ReadError::Refused("is over 1 MiB"));
    }
    String::from_utf8(bytes).map_err(|_| ReadError::Refused("is not UTF-8"))
}

/// A rendered file held to [`MAX_RENDERED_BYTES`]: past it, the write fails and the
/// render stops with that error.
pub struct Bounded(pub Vec<u8>);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_RENDERED_BYTES {
            return Err(std::io::Error::other(format!(
                "the rendered file would pass {} MiB",
                MAX_RENDERED_BYTES >> 20
            )));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
