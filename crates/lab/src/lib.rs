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
