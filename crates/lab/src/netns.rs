//! [`private_network`]: a live test's own network, so that two tests (or two checkouts'
//! test runs on one machine) that start servers on the same loopback addresses never
//! meet.

use std::process::{Command, Stdio};

use crate::tools::{require_isolation, tool_path};

/// Moves the calling thread into a network namespace of its own, where only `lo` is up
/// (and with it all of 127.0.0.0/8): every server and client the test starts from this
/// thread from now on runs there, and sees nothing of the machine's network or of other
/// tests'. Namespaces belong to threads, and each test runs on its own thread; a child
/// process inherits the namespace of the thread that started it.
///
/// Returns false (after a "skipping" line) when the test should skip: no namespaces
/// here; panics in CI, as [`require_isolation`] does.
pub fn private_network() -> bool {
    if !require_isolation() {
        return false;
    }
    // SAFETY: unshare(2) with CLONE_NEWNET only changes the calling thread's network
    // namespace; it touches no memory of ours.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert!(
        rc == 0,
        "unshare(CLONE_NEWNET) failed: {}",
        std::io::Error::last_os_error()
    );
    let out = Command::new(tool_path("ip"))
        .args(["link", "set", "lo", "up"])
        .stdin(Stdio::null())
        .output()
        .expect("ip runs");
    assert!(
        out.status.success(),
        "ip link set lo up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}
