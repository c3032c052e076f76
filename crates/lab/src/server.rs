//! [`Lab`]: long-running servers, each in a private mount namespace, stopped by PID.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::scratch::{assert_visible_inside, scratch_dir, write_hosts};
use crate::tools::{locate, tool_path};

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
