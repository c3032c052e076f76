//! [`ServerSet`]: which servers a live test boots — the machine's own (Debian 12 from
//! apt), or those of a Debian root filesystem that `.ci/debian-rootfs` builds: Debian 13
//! (trixie) for most servers, Debian testing (forky) for a maintained nginx line.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::tools::locate;

/// The environment variable naming the Debian 13 (trixie) root filesystem.
pub const TRIXIE_ROOT: &str = "TIERFORM_TRIXIE_ROOT";

/// The environment variable naming the Debian testing (forky) root filesystem.
pub const FORKY_ROOT: &str = "TIERFORM_FORKY_ROOT";

/// A set of server binaries: the machine's, or those inside a root filesystem, which
/// [`Lab::start_with`] (with [`StartOptions::root`]) and [`Lab::command`] run chrooted.
///
/// [`Lab::start_with`]: crate::Lab::start_with
/// [`Lab::command`]: crate::Lab::command
/// [`StartOptions::root`]: crate::StartOptions::root
#[derive(Clone, Debug)]
pub struct ServerSet {
    name: &'static str,
    root: Option<PathBuf>,
}

impl ServerSet {
    /// The machine's own servers (CI installs Debian 12's from apt).
    pub fn host() -> ServerSet {
        ServerSet {
            name: "Debian 12 (the machine's)",
            root: None,
        }
    }

    /// The Debian 13 root named by `TIERFORM_TRIXIE_ROOT`. When it is unset or not a
    /// complete root, prints `skipping: ...` and returns `None`; in CI (`CI` set) that
    /// is a failure instead, so this panics.
    pub fn trixie() -> Option<ServerSet> {
        ServerSet::rooted(TRIXIE_ROOT, "Debian 13 (trixie root)", "trixie")
    }

    /// The Debian testing root named by `TIERFORM_FORKY_ROOT` (nginx 1.30); missing: as
    /// [`ServerSet::trixie`].
    pub fn forky() -> Option<ServerSet> {
        ServerSet::rooted(FORKY_ROOT, "Debian testing (forky root)", "forky")
    }

    fn rooted(var: &str, name: &'static str, suite: &str) -> Option<ServerSet> {
        let why = match std::env::var_os(var) {
            None => format!("{var} is not set"),
            Some(root) => {
                let root = PathBuf::from(root);
                if root.join(".complete").is_file() && root.join("bin/sh").exists() {
                    return Some(ServerSet {
                        name,
                        root: Some(root),
                    });
                }
                format!("{} is not a complete root filesystem", root.display())
            }
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "the {name} servers are required in CI ({why}): .ci/run builds them with .ci/debian-rootfs {suite}"
        );
        eprintln!(
            "skipping: {name} servers absent: {why} (build them with .ci/debian-rootfs {suite})"
        );
        None
    }

    /// What to call it in messages.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The root filesystem, `None` for the machine's servers: pass it to
    /// [`StartOptions::root`] and [`Lab::command`].
    ///
    /// [`Lab::command`]: crate::Lab::command
    /// [`StartOptions::root`]: crate::StartOptions::root
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// A file of the set, given by its path inside the root (the path itself on the
    /// machine): to read, not to run.
    pub fn file(&self, inside: &str) -> PathBuf {
        match &self.root {
            None => PathBuf::from(inside),
            Some(root) => root.join(inside.trim_start_matches('/')),
        }
    }

    /// Finds `tool` in the set (`PATH`, `/usr/sbin`, `/sbin` on the machine;
    /// `/usr/sbin`, `/usr/bin`, `/sbin`, `/bin` in a root) and returns its path as the
    /// set runs it. Missing: like [`require`], `None` after a "skipping" line, or a
    /// panic in CI.
    ///
    /// [`require`]: crate::require
    pub fn require(&self, tool: &str) -> Option<String> {
        let found = match &self.root {
            None => locate(tool).map(|p| p.to_string_lossy().into_owned()),
            Some(_) => ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
                .iter()
                .map(|dir| format!("{dir}/{tool}"))
                .find(|inside| {
                    fs::metadata(self.file(inside))
                        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                }),
        };
        if found.is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{tool} is required in CI: missing from {}",
                self.name
            );
            eprintln!("skipping: {tool} missing from {}", self.name);
        }
        found
    }

    /// The newest PostgreSQL server folder (`/usr/lib/postgresql/N/bin`), as the set
    /// sees it; missing: as [`ServerSet::require`].
    pub fn postgres_bin(&self) -> Option<String> {
        let mut majors: Vec<u32> = fs::read_dir(self.file("/usr/lib/postgresql"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|n| {
                self.file(&format!("/usr/lib/postgresql/{n}/bin/postgres"))
                    .is_file()
            })
            .collect();
        majors.sort();
        let found = majors.pop().map(|n| format!("/usr/lib/postgresql/{n}/bin"));
        if found.is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "postgresql is required in CI: missing from {}",
                self.name
            );
            eprintln!("skipping: postgresql missing from {}", self.name);
        }
        found
    }

    /// The numeric user and group ids of `user` in the set's `/etc/passwd`, for
    /// `chown` of folders its servers own (a root's postgres is not the machine's).
    pub fn ids(&self, user: &str) -> Option<(u32, u32)> {
        let passwd = fs::read_to_string(self.file("/etc/passwd")).ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 3 && fields[0] == user)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
    }
}
