//! Scratch directories and the files generated into them.

use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where lab directories are created: Cargo's `target/tmp`, which (unlike the system
/// temporary directory) is not hidden by the private `/tmp` of the namespaces, and that
/// the unprivileged users the servers run as can reach.
fn scratch_base() -> PathBuf {
    let Some(target_tmp) = target_tmp() else {
        // A test binary run from outside a target directory: no `target/tmp` to use.
        return PathBuf::from("/var/tmp");
    };
    fs::create_dir_all(&target_tmp)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", target_tmp.display()));
    let real = fs::canonicalize(&target_tmp).unwrap_or(target_tmp);
    if real.starts_with("/tmp") || !traversable_by_all(&real) {
        // CARGO_TARGET_DIR is under /tmp, or under a folder other users cannot enter
        // (a clone in /root, a 0700 mktemp folder): servers running as postgres or
        // nobody could not reach their files. Fall back to a directory they can.
        PathBuf::from("/var/tmp")
    } else {
        real
    }
}

/// Cargo's `target/tmp`: the folder `CARGO_TARGET_TMPDIR` names while an integration
/// test compiles (a library, like this one, is not given it). Found from the running
/// test binary: Cargo marks its target directory with a `CACHEDIR.TAG` file, and the
/// binary lives below it (`target/debug/deps/`). None for a binary elsewhere.
fn target_tmp() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())?;
    Some(target.join("tmp"))
}

/// Whether every folder on the way to `path` lets other users through.
fn traversable_by_all(path: &Path) -> bool {
    path.ancestors()
        .all(|p| fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// A fresh temporary directory that stays visible inside the lab's namespaces (unlike
/// one from `tempfile::tempdir()`, which is under `/tmp`). Put the configs for
/// [`check_isolated`] here. Readable by everyone, so nginx workers (user nobody) can
/// read files in it. Removed when dropped.
///
/// [`check_isolated`]: crate::check_isolated
pub fn scratch_dir() -> tempfile::TempDir {
    let base = scratch_base();
    let dir = tempfile::Builder::new()
        .prefix("lab-")
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("cannot create a directory in {}: {e}", base.display()));
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", dir.path().display()));
    dir
}

/// Writes a hosts file: `127.0.0.1 localhost` plus one line per (name, address).
pub(crate) fn write_hosts(path: &Path, hosts: &[(String, IpAddr)]) {
    let mut text = String::from("127.0.0.1 localhost\n");
    for (name, ip) in hosts {
        assert!(
            !name.is_empty()
                && !name.contains(|c: char| c.is_whitespace() || c.is_control() || c == '#'),
            "not a host name for a hosts file: {name:?}"
        );
        writeln!(text, "{ip} {name}").unwrap();
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// Panics when an argument names an existing file or directory under the machine's
/// `/tmp`: inside the namespace, `/tmp` is replaced, so the tool would not find it.
/// (The tools' working directory is a lab directory, never the checkout: some, like
/// haproxy, chdir back to it by name, and a checkout may well be under `/tmp`.)
pub(crate) fn assert_visible_inside(argv: &[&str]) {
    assert!(!argv.is_empty(), "an empty command line");
    for arg in argv {
        let path = Path::new(arg);
        if path.starts_with("/tmp") && path != Path::new("/tmp") && path.exists() {
            panic!(
                "{arg} is under /tmp, which the lab's namespace replaces with a private one; \
                 put the file in Lab::dir() or lab::scratch_dir() instead"
            );
        }
    }
}

/// Gives `command` (a script starting with `root_prelude!`) what the prelude needs to
/// run a process from the root filesystem `root`: the root, a folder for its overlay,
/// and the caller's folder `files` to bind at its own path inside.
pub(crate) fn run_in_root(
    command: &mut std::process::Command,
    root: &Path,
    overlay: &Path,
    files: &Path,
) {
    assert!(
        root.join("bin/sh").exists(),
        "{} is not a root filesystem (no /bin/sh)",
        root.display()
    );
    command
        .env("LAB_ROOT", root)
        .env("LAB_OVERLAY", overlay)
        .env("LAB_FILES", files);
}
