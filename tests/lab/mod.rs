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

#![allow(dead_code)] // Each test crate that says `mod lab;` uses only some helpers.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------

/// Where a tool is, looking in `PATH`, then `/usr/sbin` and `/sbin` (which a non-root
/// `PATH` often lacks, and where apt puts nginx, haproxy and ip).
fn locate(tool: &str) -> Option<PathBuf> {
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
fn tool_path(tool: &str) -> PathBuf {
    locate(tool).unwrap_or_else(|| {
        panic!("{tool} not found in PATH, /usr/sbin or /sbin (check with lab::require first)")
    })
}

// ---------------------------------------------------------------------------------------
// Scratch directories and generated files
// ---------------------------------------------------------------------------------------

/// Where lab directories are created: Cargo's `target/tmp`, which (unlike the system
/// temporary directory) is not hidden by the private `/tmp` of the namespaces, and that
/// the unprivileged users the servers run as can reach.
fn scratch_base() -> PathBuf {
    let target_tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
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

/// Whether every folder on the way to `path` lets other users through.
fn traversable_by_all(path: &Path) -> bool {
    path.ancestors()
        .all(|p| fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// A fresh temporary directory that stays visible inside the lab's namespaces (unlike
/// one from `tempfile::tempdir()`, which is under `/tmp`). Put the configs for
/// [`check_isolated`] here. Readable by everyone, so nginx workers (user nobody) can
/// read files in it. Removed when dropped.
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
fn write_hosts(path: &Path, hosts: &[(String, IpAddr)]) {
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
fn assert_visible_inside(argv: &[&str]) {
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

// ---------------------------------------------------------------------------------------
// check_isolated
// ---------------------------------------------------------------------------------------

/// The shell script `check_isolated` runs inside `unshare --net --mount`. Its inputs
/// come in environment variables and the command to run in "$@", so nothing is ever
/// interpolated into shell text. It touches a marker file right before `exec`, which
/// tells a failing setup apart from a failing checker.
const CHECK_SCRIPT: &str = r#"set -e
"$LAB_IP" link set lo up
for a in $LAB_ADDRS; do
  case "$a" in
    *:*) "$LAB_IP" addr add "$a" dev lo nodad ;;
    *) "$LAB_IP" addr add "$a" dev lo ;;
  esac
done
"$LAB_MOUNT" --bind "$LAB_HOSTS" /etc/hosts
"$LAB_MOUNT" --bind "$LAB_RESOLV" /etc/resolv.conf
"$LAB_MOUNT" -t tmpfs -o mode=1777 lab-tmp /tmp
: > "$LAB_READY"
unset LAB_IP LAB_MOUNT LAB_ADDRS LAB_HOSTS LAB_RESOLV LAB_READY
exec "$@"
"#;

/// Runs a config checker, such as `nginx -t -c FILE -p DIR` or `haproxy -dW -c -f FILE`,
/// in a private network and mount namespace, and returns its output.
///
/// Inside, `lo` is up and also carries each of `addresses` (as a /32 or /128; loopback
/// addresses need not be given), `/etc/hosts` is `127.0.0.1 localhost` plus `hosts`,
/// `/etc/resolv.conf` names a resolver on 127.0.0.53, and
/// `/tmp` is an empty tmpfs. `argv[0]` is looked up in `PATH`; pass the path from
/// [`require`]. Panics if the namespace could not be set up, so a failed status always
/// comes from the checker itself.
pub fn check_isolated(argv: &[&str], addresses: &[IpAddr], hosts: &[(String, IpAddr)]) -> Output {
    assert_visible_inside(argv);
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

    let output = Command::new(tool_path("unshare"))
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
        .stdin(Stdio::null())
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

// ---------------------------------------------------------------------------------------
// Lab: long-running servers
// ---------------------------------------------------------------------------------------

/// The shell script `Lab::start` runs inside `unshare --mount`: a private `/tmp` and
/// `/etc/hosts`, then `exec` the server, so the PID is the server's own.
const START_SCRIPT: &str = r#"set -e
"$LAB_MOUNT" --bind "$LAB_HOSTS" /etc/hosts
"$LAB_MOUNT" --bind "$LAB_TMP" /tmp
# Extra binds: "SOURCE TARGET" pairs, one per line.
if [ -n "${LAB_BINDS:-}" ]; then
  printf '%s\n' "$LAB_BINDS" | while read -r src dst; do
    "$LAB_MOUNT" --bind "$src" "$dst"
  done
fi
: > "$LAB_READY"
user=${LAB_USER:-}
unset LAB_MOUNT LAB_HOSTS LAB_TMP LAB_READY LAB_BINDS LAB_USER
if [ -n "$user" ]; then
  exec runuser -u "$user" -- "$@"
fi
exec "$@"
"#;

/// Extra settings for [`Lab::start_with`].
#[derive(Default)]
pub struct StartOptions {
    /// Folders bind-mounted over paths inside the server's mount namespace (e.g. a
    /// private `/var/run/postgresql`). Paths must not contain spaces.
    pub binds: Vec<(PathBuf, String)>,
    /// Environment variables for the server.
    pub env: Vec<(String, String)>,
    /// Run as this user (`runuser -u`), for servers that refuse root.
    pub user: Option<String>,
}

/// How long `stop` waits after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One server started by a [`Lab`].
struct Server {
    name: String,
    child: Child,
}

/// Long-running servers for a live test, in a temporary directory ([`Lab::dir`]) that
/// holds their configs, logs and private `/tmp`s. Dropping the lab stops every server
/// that is still running (by PID, also when the test panics), then removes the
/// directory.
pub struct Lab {
    servers: Vec<Server>,
    /// Every name ever started, so names (and so log files) are never reused.
    names: HashSet<String>,
    // Declared last: fields drop after `Drop::drop` has stopped the servers.
    dir: tempfile::TempDir,
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

impl Lab {
    /// An empty lab with a fresh directory (see [`scratch_dir`]).
    pub fn new() -> Lab {
        Lab {
            servers: Vec::new(),
            names: HashSet::new(),
            dir: scratch_dir(),
        }
    }

    /// The lab's directory: write configs here (not under `/tmp`, see the module docs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts a long-running server (in the foreground: `nginx ... -g 'daemon off;'`,
    /// `haproxy -W -db -f FILE`) and returns its PID.
    ///
    /// The server runs in a private mount namespace where `/tmp` is the directory
    /// `<name>.tmp` of the lab (so pid files and temp paths in `/tmp` do not collide
    /// between servers) and `/etc/hosts` is `127.0.0.1 localhost` plus `hosts`. It shares
    /// the machine's network, so it must listen on 127.0.0.0/8 only. Its stdout and
    /// stderr go to `<name>.log` in the lab directory ([`Lab::logs`]).
    ///
    /// Returns once the namespace is set up and the server has been `exec`ed, not once it
    /// listens: use [`wait_listening`] for that. `name` is a file-name-safe word, unique
    /// within the lab.
    pub fn start(&mut self, name: &str, argv: &[&str], hosts: &[(String, IpAddr)]) -> u32 {
        self.start_with(name, argv, hosts, StartOptions::default())
    }

    /// [`Lab::start`] with extra bind mounts, environment and a user to run as. With
    /// a user, the recorded PID is `runuser`'s, which passes SIGTERM on to the server.
    pub fn start_with(
        &mut self,
        name: &str,
        argv: &[&str],
        hosts: &[(String, IpAddr)],
        options: StartOptions,
    ) -> u32 {
        assert!(
            !name.is_empty()
                && !name.starts_with('.')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "server name {name:?}: use letters, digits, '-', '_' and '.'"
        );
        assert!(
            self.names.insert(name.to_string()),
            "a server named {name} was already started in this lab"
        );
        assert_visible_inside(argv);

        let tmp = self.dir().join(format!("{name}.tmp"));
        fs::create_dir(&tmp).unwrap_or_else(|e| panic!("cannot create {}: {e}", tmp.display()));
        // Like the real /tmp: everyone may write, sticky.
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
            .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", tmp.display()));
        let hosts_file = self.dir().join(format!("{name}.hosts"));
        write_hosts(&hosts_file, hosts);
        let ready = self.dir().join(format!("{name}.ready"));
        let log_path = self.dir().join(format!("{name}.log"));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log_path.display()));
        let log_too = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot duplicate a handle of {}: {e}", log_path.display()));

        // unshare without --fork execs the shell, which execs the server: one PID.
        let child = Command::new(tool_path("unshare"))
            .args(["--mount", "--propagation", "private"])
            .args(["/bin/sh", "-c", START_SCRIPT, "sh"])
            .args(argv)
            .current_dir(self.dir())
            .env("LAB_MOUNT", tool_path("mount"))
            .env("LAB_HOSTS", &hosts_file)
            .env("LAB_TMP", &tmp)
            .env("LAB_READY", &ready)
            .env(
                "LAB_BINDS",
                options
                    .binds
                    .iter()
                    .map(|(src, dst)| format!("{} {dst}", src.display()))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
            .env("LAB_USER", options.user.as_deref().unwrap_or(""))
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_too)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({argv:?}): {e}"));
        let pid = child.id();
        // Recorded before anything else can panic, so Drop stops it.
        self.servers.push(Server {
            name: name.to_string(),
            child,
        });

        // Wait for the setup script to reach `exec`, so setup failures are reported
        // here, clearly, and not as a server that never listens.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            let child = &mut self.servers.last_mut().unwrap().child;
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{name} exited ({status}) before its namespace was set up; log:\n{}",
                    self.logs(name)
                );
            }
            assert!(
                Instant::now() < deadline,
                "{name}: namespace setup took over 10 s; log:\n{}",
                self.logs(name)
            );
            thread::sleep(Duration::from_millis(10));
        }
        pid
    }

    /// Whether the server with this PID (started by this lab) is still running.
    /// A server that has exited is reaped but stays recorded until [`Lab::stop`].
    pub fn is_running(&mut self, pid: u32) -> bool {
        let server = self
            .servers
            .iter_mut()
            .find(|s| s.child.id() == pid)
            .unwrap_or_else(|| panic!("pid {pid} was not started by this lab, or was stopped"));
        matches!(server.child.try_wait(), Ok(None))
    }

    /// Stops the server with this PID: SIGTERM, up to 5 s for it to exit, then SIGKILL
    /// (for it and for any processes it started, such as nginx workers). The process is
    /// reaped, so `/proc/<pid>` is gone afterwards. Panics if `pid` is not a running
    /// server of this lab (for example, already stopped).
    pub fn stop(&mut self, pid: u32) {
        let i = self
            .servers
            .iter()
            .position(|s| s.child.id() == pid)
            .unwrap_or_else(|| panic!("pid {pid} was not started by this lab, or was stopped"));
        let server = self.servers.remove(i);
        if let Err(e) = terminate(server) {
            panic!("{e}");
        }
    }

    /// The server's log (its stdout and stderr) so far, for assertion messages.
    pub fn logs(&self, name: &str) -> String {
        let path = self.dir().join(format!("{name}.log"));
        match fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => format!("(no log for {name}: {}: {e})", path.display()),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Must not panic: this also runs while a failed test unwinds.
        for server in std::mem::take(&mut self.servers) {
            if let Err(e) = terminate(server) {
                eprintln!("lab: {e}");
            }
        }
    }
}

/// Stops and reaps one server (see [`Lab::stop`]). Holding the `Child` until it is
/// reaped guarantees the PID still names our process when we signal it.
fn terminate(mut server: Server) -> Result<ExitStatus, String> {
    let pid = server.child.id();
    let name = &server.name;
    let exited = |e: io::Error| format!("cannot wait for {name} (pid {pid}): {e}");
    if let Some(status) = server.child.try_wait().map_err(exited)? {
        eprintln!("lab: {name} (pid {pid}) had already exited: {status}");
        return Ok(status);
    }
    signal("TERM", &[pid]);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Some(status) = server.child.try_wait().map_err(exited)? {
            return Ok(status);
        }
        thread::sleep(Duration::from_millis(10));
    }
    // Ignored SIGTERM: kill it, and whatever it started (its workers would otherwise
    // outlive it, still listening).
    eprintln!("lab: {name} (pid {pid}) ignored SIGTERM for {STOP_GRACE:?}; sending SIGKILL");
    let mut stragglers = descendants(pid);
    stragglers.push(pid);
    signal("KILL", &stragglers);
    server.child.kill().ok(); // In case `kill` is missing; harmless otherwise.
    server.child.wait().map_err(exited)
}

/// Sends a signal to processes by PID, with the `kill` command (std has no other way
/// short of libc). Failures (a process already gone) do not matter: callers wait.
fn signal(signal: &str, pids: &[u32]) {
    let kill = locate("kill").unwrap_or_else(|| PathBuf::from("kill"));
    let _ = Command::new(kill)
        .arg(format!("-{signal}"))
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The PIDs of all processes below `pid` (children, grandchildren, ...), from /proc.
/// For nginx or haproxy, these are the workers.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // /proc/PID/stat is "pid (comm) state ppid ...", and comm may contain anything,
        // so parse after the last ')'.
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            children.entry(ppid).or_default().push(p);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            found.push(c);
            queue.push(c);
        }
    }
    found
}

/// Polls until a TCP connection to `addr` succeeds (true) or `timeout` passes (false).
pub fn wait_listening(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left
            .min(Duration::from_millis(200))
            .max(Duration::from_millis(1));
        if TcpStream::connect_timeout(&addr, attempt).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// StubBackend: an app instance on threads
// ---------------------------------------------------------------------------------------

/// What the accept loop and the connection threads of a [`StubBackend`] share.
struct Shared {
    name: String,
    stop: AtomicBool,
    hits: AtomicUsize,
    health_hits: AtomicUsize,
    last_headers: Mutex<Vec<(String, String)>>,
    /// Open connections (clones of their streams), so `stop` can cut them.
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

/// An HTTP/1.1 server on threads of the test process, playing one app instance.
///
/// Every request gets `200 OK` with the backend's name as the body and the headers
/// `X-Backend: <name>`, `X-Path: <request target>`, `Content-Length` and
/// `Connection: close`; then the connection closes (one request per connection).
/// Requests for `/health` get `200 OK` "ok" and count in [`StubBackend::health_hits`],
/// all others in [`StubBackend::hits`]. A request with `Upgrade: websocket` gets
/// `101 Switching Protocols` (with a correct `Sec-WebSocket-Accept`), after which the
/// backend echoes raw bytes until the peer closes.
pub struct StubBackend {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl StubBackend {
    /// Listens on `addr` (a 127.x address; port 0 picks a free port, see
    /// [`StubBackend::addr`]). Panics if it cannot.
    pub fn start(addr: SocketAddr, name: &str) -> StubBackend {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| {
            panic!("StubBackend {name}: cannot listen on {addr}: {e} (another test or a leftover process using it?)")
        });
        // A blocking accept answers at once; `stop` wakes it with a connection of its own.
        let addr = listener.local_addr().expect("the listener's address");
        let shared = Arc::new(Shared {
            name: name.to_string(),
            stop: AtomicBool::new(false),
            hits: AtomicUsize::new(0),
            health_hits: AtomicUsize::new(0),
            last_headers: Mutex::new(Vec::new()),
            connections: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("stub-{name}"))
                .spawn(move || accept_loop(listener, shared))
                .expect("spawn the accept thread")
        };
        StubBackend {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend's name (its response body and `X-Backend`).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Requests served, other than those for `/health`.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// Requests for `/health` served.
    pub fn health_hits(&self) -> usize {
        self.shared.health_hits.load(Ordering::SeqCst)
    }

    /// The headers of the last request (of any kind), names as sent.
    pub fn last_headers(&self) -> Vec<(String, String)> {
        self.shared.last_headers.lock().unwrap().clone()
    }

    /// The value of one header of the last request (name case-insensitive).
    pub fn last_header(&self, name: &str) -> Option<String> {
        find_header(&self.last_headers(), name).map(str::to_string)
    }

    /// Plays a crashed instance: closes the listener (new connections are refused) and
    /// cuts the open connections. Returns once the port refuses. Idempotent.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            // Wake the blocking accept; it sees `stop` and returns.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            // The accept loop drops the listener when it ends. Connections it accepted
            // are registered before it returns, so the sweep below sees them all.
            if acceptor.join().is_err() {
                eprintln!("lab: the accept thread of {} panicked", self.shared.name);
            }
        }
        for stream in self.shared.connections.lock().unwrap().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for StubBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok(_) if shared.stop.load(Ordering::SeqCst) => break,
            Ok((stream, _peer)) => {
                let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
                match stream.try_clone() {
                    Ok(clone) => {
                        shared.connections.lock().unwrap().insert(id, clone);
                    }
                    Err(e) => eprintln!("lab: {}: cannot clone a stream: {e}", shared.name),
                }
                let shared = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name(format!("stub-{}-{id}", shared.name))
                    .spawn(move || {
                        if let Err(e) = serve(&shared, stream) {
                            // Peers that hang up early are normal in proxy tests.
                            if !matches!(
                                e.kind(),
                                io::ErrorKind::UnexpectedEof
                                    | io::ErrorKind::ConnectionReset
                                    | io::ErrorKind::BrokenPipe
                                    | io::ErrorKind::NotConnected
                            ) {
                                eprintln!("lab: {}: {e}", shared.name);
                            }
                        }
                        shared.connections.lock().unwrap().remove(&id);
                    });
                if let Err(e) = spawned {
                    eprintln!("lab: cannot spawn a connection thread: {e}");
                }
            }
            // Transient (a client gave up, out of fds for a moment): keep going.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    // `listener` is dropped here: the port refuses connections from now on.
}

/// Serves one connection: one request, then close (or a WebSocket echo).
fn serve(shared: &Shared, stream: TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;

    let Some(head) = read_head(&mut reader)? else {
        return Ok(()); // Closed without a request: a TCP health check, or wait_listening.
    };
    let mut parts = head.start_line.split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad_request(&mut writer, "malformed request line");
    };
    if !version.starts_with("HTTP/1.") {
        return bad_request(&mut writer, "not HTTP/1.x");
    }
    // A client that asked to be told before sending its body is told to go ahead.
    if find_header(&head.headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    // Read (and ignore) the request body, so the response does not race unread input.
    read_body(&mut reader, &head.headers, false)?;

    // Record before counting, so a test that sees the count also sees the headers.
    *shared.last_headers.lock().unwrap() = head.headers.clone();
    let path = target.split('?').next().unwrap_or(target);
    let health = path == "/health";
    let counter = if health {
        &shared.health_hits
    } else {
        &shared.hits
    };
    counter.fetch_add(1, Ordering::SeqCst);

    let upgrade = find_header(&head.headers, "upgrade").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
    });
    if upgrade && !health {
        let Some(key) = find_header(&head.headers, "sec-websocket-key") else {
            return bad_request(&mut writer, "websocket upgrade without Sec-WebSocket-Key");
        };
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nX-Backend: {}\r\nX-Path: {target}\r\n\r\n",
            websocket_accept(key),
            shared.name
        );
        writer.write_all(response.as_bytes())?;
        // Echo until the peer closes (bytes already buffered by `reader` come first).
        io::copy(&mut reader, &mut writer)?;
        return Ok(());
    }

    let body = if health { "ok" } else { shared.name.as_str() };
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nX-Backend: {}\r\nX-Path: {target}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        shared.name,
        body.len()
    );
    if method != "HEAD" {
        response.push_str(body);
    }
    writer.write_all(response.as_bytes())?;
    writer.flush()?;
    let _ = writer.shutdown(Shutdown::Write);
    Ok(())
}

fn bad_request(writer: &mut TcpStream, why: &str) -> io::Result<()> {
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}",
        why.len()
    );
    writer.write_all(response.as_bytes())
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1 parsing (shared by the stub and the clients)
// ---------------------------------------------------------------------------------------

/// At most this many bytes of head (start line + headers) are accepted.
const MAX_HEAD: u64 = 64 * 1024;

/// A request or response head.
struct Head {
    start_line: String,
    headers: Vec<(String, String)>,
}

/// Reads one line (without its CR LF), or None at end of input.
fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    r.by_ref().take(MAX_HEAD).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "input ended inside a line (or the line is too long)",
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Reads a head: a start line and header lines up to an empty line. None if the input
/// ends before anything arrives.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    // Empty lines before a start line are allowed (RFC 9112 section 2.2).
    let start_line = loop {
        match read_line(r)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut size = start_line.len();
    loop {
        let line = read_line(r)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "input ended inside a head")
        })?;
        if line.is_empty() {
            return Ok(Some(Head {
                start_line,
                headers,
            }));
        }
        size += line.len();
        if size as u64 > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
        if line.starts_with([' ', '\t']) {
            // An obsolete folded continuation line.
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a header: {line:?}"),
            )
        })?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}

/// The value of the first header called `name` (case-insensitive).
fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads a message body framed by `Transfer-Encoding: chunked` or `Content-Length`;
/// without either, reads to end of input when `until_eof` (responses) or nothing
/// (requests).
fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    until_eof: bool,
) -> io::Result<Vec<u8>> {
    let chunked = find_header(headers, "transfer-encoding").is_some_and(|te| {
        te.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    let mut body = Vec::new();
    if chunked {
        loop {
            let line = read_line(r)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "input ended in a chunked body",
                )
            })?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            if size == 0 {
                // Trailer fields, up to an empty line (or the end of input).
                while let Some(line) = read_line(r)? {
                    if line.is_empty() {
                        break;
                    }
                }
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            if read_line(r)?.is_none_or(|l| !l.is_empty()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a chunk is not followed by CR LF",
                ));
            }
        }
    } else if let Some(length) = find_header(headers, "content-length") {
        let length: u64 = length.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad Content-Length {length:?}"),
            )
        })?;
        r.take(length).read_to_end(&mut body)?;
        if (body.len() as u64) < length {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("body ended after {} of {length} bytes", body.len()),
            ));
        }
    } else if until_eof {
        r.read_to_end(&mut body)?;
    }
    Ok(body)
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

/// Timeouts of the clients: connect, each read, each write.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A response, as [`http_get`] or [`websocket_handshake`] received it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The decoded body (lossy UTF-8); empty for a 101 handshake.
    pub body: String,
}

impl Response {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    Ok(stream)
}

/// `GET path` request text: `Host` (unless given), the extra headers, `Connection`
/// (unless given).
fn request_text(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> String {
    let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut text = format!("GET {path} HTTP/1.1\r\n");
    if !given("host") {
        writeln!(text, "Host: {addr}\r").unwrap();
    }
    for (name, value) in headers {
        writeln!(text, "{name}: {value}\r").unwrap();
    }
    if !given("connection") {
        text.push_str("Connection: close\r\n");
    }
    text.push_str("\r\n");
    text
}

fn parse_status(start_line: &str) -> io::Result<u16> {
    let mut parts = start_line.split_whitespace();
    match (parts.next(), parts.next().and_then(|s| s.parse().ok())) {
        (Some(version), Some(status)) if version.starts_with("HTTP/") => Ok(status),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a status line: {start_line:?}"),
        )),
    }
}

/// Sends `GET path` over HTTP/1.1 with `Host: <addr>` and `Connection: close` (unless
/// `headers` gives its own) plus `headers`, and reads the response. The body may be
/// framed by `Content-Length`, `Transfer-Encoding: chunked` or the end of the
/// connection. 5 s timeouts for connecting, reading and writing.
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
    let mut stream = connect(addr)?;
    stream.write_all(request_text(addr, path, headers).as_bytes())?;
    let mut reader = BufReader::new(stream);
    loop {
        let head = read_head(&mut reader)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed without a response",
            )
        })?;
        let status = parse_status(&head.start_line)?;
        if (100..200).contains(&status) && status != 101 {
            continue; // An interim response (100 Continue, 103 Early Hints).
        }
        let body = if status == 101 || status == 204 || status == 304 {
            Vec::new()
        } else {
            read_body(&mut reader, &head.headers, true)?
        };
        return Ok(Response {
            status,
            headers: head.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
}

/// The `Sec-WebSocket-Key` the WebSocket clients send (RFC 6455's example key).
pub const WEBSOCKET_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends a WebSocket upgrade request for `path` and returns the response head (for a
/// 101, without waiting for anything more) and the open connection, on which raw bytes
/// can then be written and read (the stub echoes them; no WebSocket framing is done).
/// For a response other than 101 the body is read too (for assertion messages).
pub fn websocket_connect(addr: SocketAddr, path: &str) -> io::Result<(Response, TcpStream)> {
    let mut stream = connect(addr)?;
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", WEBSOCKET_KEY),
        ("Sec-WebSocket-Version", "13"),
    ];
    stream.write_all(request_text(addr, path, &headers).as_bytes())?;

    // Read the head a byte at a time: nothing after it may be consumed, since it
    // belongs to whoever uses the connection next.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed inside the response head",
            ));
        }
        head.push(byte[0]);
        if head.len() as u64 > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
    }
    let head = read_head(&mut &head[..])?.expect("a complete head");
    let status = parse_status(&head.start_line)?;
    let body = if status == 101 {
        Vec::new()
    } else {
        read_body(&mut BufReader::new(&stream), &head.headers, true)?
    };
    let response = Response {
        status,
        headers: head.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    Ok((response, stream))
}

/// Sends a WebSocket upgrade request for `path` (with [`WEBSOCKET_KEY`]) and returns
/// the response head; the connection is then closed. A correct answer has status 101
/// and `Sec-WebSocket-Accept: websocket_accept(WEBSOCKET_KEY)`.
pub fn websocket_handshake(addr: SocketAddr, path: &str) -> io::Result<Response> {
    websocket_connect(addr, path).map(|(response, _stream)| response)
}

// ---------------------------------------------------------------------------------------
// SHA-1 and base64, for Sec-WebSocket-Accept
// ---------------------------------------------------------------------------------------

/// The `Sec-WebSocket-Accept` value answering `key` (RFC 6455 section 4.2.2):
/// base64(SHA-1(key + the protocol's GUID)).
pub fn websocket_accept(key: &str) -> String {
    const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    base64(&sha1(format!("{key}{GUID}").as_bytes()))
}

/// SHA-1 (RFC 3174). Broken for security, fine for a handshake.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];

    // Padding: a 1 bit, zeros up to 56 mod 64 bytes, the length in bits (big-endian).
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());

    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (state, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(v);
        }
    }

    let mut digest = [0u8; 20];
    for (out, word) in digest.chunks_exact_mut(4).zip(h) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// Standard base64 with padding (RFC 4648 section 4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        // Up to 3 bytes make 24 bits, which make 4 six-bit digits.
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        // n bytes of input carry n + 1 digits; the rest is padding.
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
