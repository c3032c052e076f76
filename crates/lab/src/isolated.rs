//! [`check_isolated`]: a config checker in a private network and mount namespace.

use std::collections::HashSet;
use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::scratch::{assert_visible_inside, run_in_root, scratch_dir, write_hosts};
use crate::tools::tool_path;

/// The shell script `check_isolated` runs inside `unshare --net --mount`. Its inputs
/// come in environment variables and the command to run in "$@", so nothing is ever
/// interpolated into shell text. It touches a marker file right before `exec`, which
/// tells a failing setup apart from a failing checker.
/// After `root_prelude!` (a checker from another root: its overlay in the scratch
/// folder, with the caller's configs): its own network and files, then the checker.
const CHECK_SCRIPT: &str = concat!(
    root_prelude!(),
    r#""$LAB_IP" link set lo up
for a in $LAB_ADDRS; do
  case "$a" in
    *:*) "$LAB_IP" addr add "$a" dev lo nodad ;;
    *) "$LAB_IP" addr add "$a" dev lo ;;
  esac
done
"$LAB_MOUNT" --bind "$LAB_HOSTS" "$r/etc/hosts"
"$LAB_MOUNT" --bind "$LAB_RESOLV" "$r/etc/resolv.conf"
"$LAB_MOUNT" -t tmpfs -o mode=1777 lab-tmp "$r/tmp"
: > "$LAB_READY"
unset LAB_IP LAB_MOUNT LAB_ADDRS LAB_HOSTS LAB_RESOLV LAB_READY LAB_ROOT LAB_OVERLAY LAB_FILES
if [ -n "$r" ]; then
  set -- chroot "$r" "$@"
fi
exec "$@"
"#
);

/// Runs a config checker, such as `nginx -t -c FILE -p DIR` or `haproxy -dW -c -f FILE`,
/// in a private network and mount namespace, and returns its output.
///
/// Inside, `lo` is up and also carries each of `addresses` (as a /32 or /128; loopback
/// addresses need not be given), `/etc/hosts` is `127.0.0.1 localhost` plus `hosts`,
/// `/etc/resolv.conf` names a resolver on 127.0.0.53, and
/// `/tmp` is an empty tmpfs. `argv[0]` is looked up in `PATH`; pass the path from
/// [`require`]. Panics if the namespace could not be set up, so a failed status always
/// comes from the checker itself.
///
/// [`require`]: crate::require
pub fn check_isolated(argv: &[&str], addresses: &[IpAddr], hosts: &[(String, IpAddr)]) -> Output {
    check_isolated_from(None, argv, addresses, hosts)
}

/// [`check_isolated`] for a checker of a [`ServerSet`]'s root filesystem: `argv` as
/// the root sees it, chrooted into a writable overlay of the root (the root itself
/// never changes) where `files`, a folder of the caller's (its configs), is at its own
/// path (`root` is `(root, files)`). Without a root, [`check_isolated`].
///
/// [`ServerSet`]: crate::ServerSet
pub fn check_isolated_from(
    root: Option<(&Path, &Path)>,
    argv: &[&str],
    addresses: &[IpAddr],
    hosts: &[(String, IpAddr)],
) -> Output {
    if root.is_none() {
        assert_visible_inside(argv);
    }
    let scratch = scratch_dir();
    let hosts_file = scratch.path().join("hosts");
    write_hosts(&hosts_file, hosts);
    // A resolver on loopback, like the one a container gets (Docker's 127.0.0.11): a
    // config that resolves names at run time (HAProxy `parse-resolv-conf`) finds one.
    let resolv_file = scratch.path().join("resolv.conf");
    fs::write(&resolv_file, "nameserver 127.0.0.53\n")
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", resolv_file.display()));
    let ready = scratch.path().join("ready");

    // Loopback addresses are already there once lo is up (adding them again fails).
    let mut seen = HashSet::new();
    let addrs: Vec<String> = addresses
        .iter()
        .filter(|a| !a.is_loopback() && seen.insert(**a))
        .map(|a| match a {
            IpAddr::V4(_) => format!("{a}/32"),
            IpAddr::V6(_) => format!("{a}/128"),
        })
        .collect();

    let mut command = Command::new(tool_path("unshare"));
    command
        .args(["--net", "--mount", "--propagation", "private"])
        .args(["/bin/sh", "-c", CHECK_SCRIPT, "sh"])
        .args(argv)
        .current_dir(scratch.path())
        .env("LAB_IP", tool_path("ip"))
        .env("LAB_MOUNT", tool_path("mount"))
        .env("LAB_ADDRS", addrs.join(" "))
        .env("LAB_HOSTS", &hosts_file)
        .env("LAB_RESOLV", &resolv_file)
        .env("LAB_READY", &ready)
        .stdin(Stdio::null());
    if let Some((root, files)) = root {
        run_in_root(&mut command, root, &scratch.path().join("root"), files);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run unshare: {e}"));
    if !ready.exists() {
        panic!(
            "the namespace for {argv:?} could not be set up ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}
