//! The tools the lab needs, and how tests that need a tool skip without it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Where a tool is, looking in `PATH`, then `/usr/sbin` and `/sbin` (which a non-root
/// `PATH` often lacks, and where apt puts nginx, haproxy and ip).
pub(crate) fn locate(tool: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/sbin"));
    dirs.push(PathBuf::from("/sbin"));
    dirs.into_iter()
        .map(|d| d.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds `tool` for a test that needs it. When it is missing, the test should skip:
/// this returns `None` after printing `skipping: {tool} not installed`. In CI (the `CI`
/// environment variable is set) a missing tool is a failure instead, so this panics.
pub fn require(tool: &str) -> Option<PathBuf> {
    let found = locate(tool);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required in CI: .ci/run must install it"
        );
        eprintln!("skipping: {tool} not installed");
    }
    found
}

/// Like [`require`], for the namespace machinery that [`check_isolated`] and
/// [`Lab::start`] use: the `unshare`, `ip` and `mount` tools, and the right to use them
/// (root, or CAP_SYS_ADMIN + CAP_NET_ADMIN). Returns false (after a "skipping" line)
/// when the test should skip; panics in CI.
///
/// [`check_isolated`]: crate::check_isolated
/// [`Lab::start`]: crate::Lab::start
pub fn require_isolation() -> bool {
    if ["unshare", "ip", "mount"]
        .iter()
        .any(|tool| require(tool).is_none())
    {
        return false;
    }
    // Probe once per test binary: can we actually create the namespaces?
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    let probe = PROBE.get_or_init(|| {
        let out = Command::new(tool_path("unshare"))
            .args(["--net", "--mount", "--propagation", "private", "true"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    });
    match probe {
        Ok(()) => true,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "namespaces are required in CI (run the tests as root): unshare failed: {why}"
            );
            eprintln!("skipping: cannot create namespaces (not root?): {why}");
            false
        }
    }
}

/// The path of a tool this module itself needs; panics when it is missing (tests call
/// [`require`] or [`require_isolation`] first, so this only fires when they did not).
pub(crate) fn tool_path(tool: &str) -> PathBuf {
    locate(tool).unwrap_or_else(|| {
        panic!("{tool} not found in PATH, /usr/sbin or /sbin (check with lab::require first)")
    })
}
