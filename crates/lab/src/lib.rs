//! A small lab for integration tests that run the configs tierform renders through
//! the real tools (nginx, HAProxy).
//!
//! Two ways to use it:
//!
//! * [`check_isolated`] runs a config checker (`nginx -t`, `haproxy -c`) in a private
//!   network + mount namespace. The addresses the config listens on are added to that
//!   namespace's loopback device (nginx -t really binds), the host names it proxies to
//!   come from a generated `/etc/hosts`, and `/tmp` is a private tmpfs. Nothing of the
//!   machine changes.
//! * [`Lab`] runs long-lived servers for live tests. Each server gets a private mount
//!   namespace (its own `/tmp` and `/etc/hosts`) but shares the real network namespace,
//!   so it can reach [`StubBackend`]s, which are HTTP servers on threads of the test
//!   process. Servers may only listen on loopback addresses (127.0.0.0/8).
//!
//! * [`ServerSet`] says whose servers a live test boots: the machine's, or those of a
//!   Debian root filesystem (`TIERFORM_TRIXIE_ROOT`, `TIERFORM_FORKY_ROOT`), which [`Lab::start_with`] and
//!   [`Lab::command`] run chrooted inside their mount namespace, below a writable overlay
//!   in the lab folder, so the cached root never changes.
//!
//! [`DnsServer`] answers A queries for the names a test gives it, several addresses
//! each, as a headless Kubernetes Service does for its pods.
//!
//! [`http_get`] and [`websocket_handshake`] are tiny hand-rolled clients for asserting on
//! what comes out.
//!
//! Everything this module starts is stopped by PID: [`Lab`]'s `Drop` stops its servers
//! (also when a test panics) and [`StubBackend`]'s `Drop` closes its listener and
//! connections.
//!
//! A caveat for both namespace flavours: `/tmp` inside is not the machine's `/tmp`, so
//! config files and everything a config refers to must live elsewhere. [`Lab::dir`] and
//! [`scratch_dir`] are (they live under Cargo's `target/tmp`), and the functions here
//! refuse arguments naming existing files under `/tmp`.
//!
//! The integration tests of tierform depend on this crate (a dev-dependency); its own
//! tests (`tests/selftest.rs`) check the lab itself.

/// The start of the shell scripts that run a process in the lab's namespaces (a server,
/// a config checker): for a process from another root filesystem (`$LAB_ROOT`), that
/// root read-only below a writable overlay (`$LAB_OVERLAY`; the cached root never
/// changes), with the caller's folder `$LAB_FILES` at its own path, `/proc`, `/dev`,
/// and an `/etc/hosts` and `/etc/resolv.conf` to bind over; the script chroots last.
/// `$r` is the root's path, "" on the machine's own.
macro_rules! root_prelude {
    () => {
        r#"set -e
r=""
if [ -n "${LAB_ROOT:-}" ]; then
  r=$LAB_OVERLAY/merged
  mkdir -p "$LAB_OVERLAY/upper" "$LAB_OVERLAY/work" "$r"
  "$LAB_MOUNT" -t overlay lab-root -o "lowerdir=$LAB_ROOT,upperdir=$LAB_OVERLAY/upper,workdir=$LAB_OVERLAY/work" "$r"
  mkdir -p "$r$LAB_FILES"
  "$LAB_MOUNT" --bind "$LAB_FILES" "$r$LAB_FILES"
  "$LAB_MOUNT" -t proc proc "$r/proc"
  "$LAB_MOUNT" --rbind /dev "$r/dev"
  [ -e "$r/etc/hosts" ] || : > "$r/etc/hosts"
  [ -e "$r/etc/resolv.conf" ] || : > "$r/etc/resolv.conf"
fi
"#
    };
}

mod client;
mod digest;
mod dns;
mod http;
mod isolated;
mod netns;
mod scratch;
mod server;
mod sets;
mod sockets;
mod stub;
mod tools;

pub use client::{
    http_get, http_request, http_request_after, http_request_from, websocket_connect,
    websocket_handshake, Response, WEBSOCKET_KEY,
};
pub use digest::{base64, sha1, websocket_accept};
pub use dns::DnsServer;
pub use isolated::{check_isolated, check_isolated_from};
pub use netns::private_network;
pub use scratch::scratch_dir;
pub use server::{descendants, wait_listening, Lab, StartOptions};
pub use sets::{ServerSet, FORKY_ROOT, TRIXIE_ROOT};
pub use sockets::{is_loopback_only, listening};
pub use stub::StubBackend;
pub use tools::{require, require_isolation};
