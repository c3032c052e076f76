//! [`Lab`]: long-running servers, each in a private mount namespace, stopped by PID.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::scratch::{assert_visible_inside, run_in_root, scratch_dir, write_hosts};
use crate::tools::{locate, tool_path};

/// The shell script `Lab::start` runs inside `unshare --mount`: a private `/tmp`,
/// `/dev/shm` and `/etc/hosts`, then `exec` the server, so the PID is the server's own.
/// After `root_prelude!` (a server from another root: its overlay and `$LAB_FILES`, the
/// lab folder): its hosts file, `/tmp` and binds, then the server, as `$LAB_USER`.
const START_SCRIPT: &str = concat!(
    root_prelude!(),
    r#""$LAB_MOUNT" --bind "$LAB_HOSTS" "$r/etc/hosts"
"$LAB_MOUNT" --bind "$LAB_TMP" "$r/tmp"
# A private /dev/shm, freed with this mount namespace: what a server killed by a test
# leaves there (PostgreSQL's dynamic shared memory segments) goes with it.
"$LAB_MOUNT" -t tmpfs -o mode=1777 lab-shm "$r/dev/shm"
# Extra binds: "SOURCE TARGET" pairs, one per line.
if [ -n "${LAB_BINDS:-}" ]; then
  printf '%s\n' "$LAB_BINDS" | while read -r src dst; do
    [ -z "$r" ] || mkdir -p "$r$dst"
    "$LAB_MOUNT" --bind "$src" "$r$dst"
  done
fi
[ -z "${LAB_READY:-}" ] || : > "$LAB_READY"
user=${LAB_USER:-}
unset LAB_MOUNT LAB_HOSTS LAB_TMP LAB_READY LAB_BINDS LAB_USER LAB_ROOT LAB_OVERLAY LAB_FILES
if [ -n "$user" ]; then
  set -- runuser -u "$user" -- "$@"
fi
if [ -n "$r" ]; then
  # The root's own shell returns to the lab folder, then execs: still one PID.
  set -- chroot "$r" /bin/sh -c 'cd "$0" && exec "$@"' "$PWD" "$@"
fi
exec "$@"
"#
);

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
    /// Run the server from this root filesystem (a [`ServerSet`]'s root) instead of the
    /// machine's: chrooted, with `argv`, `binds` and `user` as seen inside the root.
    ///
    /// [`ServerSet`]: crate::ServerSet
    pub root: Option<PathBuf>,
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
    /// How many [`Lab::command`]s ran from a root (each gets its own folders).
    commands: Cell<u32>,
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
            commands: Cell::new(0),
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
        let child = self
            .launcher(name, argv, hosts, &options)
            .env("LAB_READY", &ready)
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

    /// A one-shot command (`initdb`, `psql`, `redis-cli`, ...) from `root`, set up as
    /// [`Lab::start_with`] sets up a server from that root (chrooted, the lab folder at
    /// its own path, a private `/tmp`); the caller adds environment and runs it. Without
    /// a root, a plain `Command` for the machine's `program`.
    pub fn command(&self, root: Option<&Path>, argv: &[&str]) -> Command {
        let Some(root) = root else {
            let mut command = Command::new(argv[0]);
            command.args(&argv[1..]).current_dir(self.dir());
            return command;
        };
        self.commands.set(self.commands.get() + 1);
        let name = format!("command-{}", self.commands.get());
        let options = StartOptions {
            root: Some(root.to_path_buf()),
            ..Default::default()
        };
        let mut command = self.launcher(&name, argv, &[], &options);
        command.stdin(Stdio::null());
        command
    }

    /// A one-shot command set up as [`Lab::start_with`] sets up a server with
    /// `options` (its binds, user and root): a tool that must see the same paths as
    /// the server it works on (`pgbackrest` on PostgreSQL's data folder).
    pub fn command_with(&self, argv: &[&str], options: StartOptions) -> Command {
        self.commands.set(self.commands.get() + 1);
        let name = format!("command-{}", self.commands.get());
        let mut command = self.launcher(&name, argv, &[], &options);
        command
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        command
    }

    /// `unshare` running [`START_SCRIPT`] for `argv`, with the files it needs (`name.tmp`,
    /// `name.hosts`, and for a root `name.root`) created in the lab folder.
    fn launcher(
        &self,
        name: &str,
        argv: &[&str],
        hosts: &[(String, IpAddr)],
        options: &StartOptions,
    ) -> Command {
        assert_visible_inside(argv);
        let tmp = self.dir().join(format!("{name}.tmp"));
        fs::create_dir(&tmp).unwrap_or_else(|e| panic!("cannot create {}: {e}", tmp.display()));
        // Like the real /tmp: everyone may write, sticky.
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
            .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", tmp.display()));
        let hosts_file = self.dir().join(format!("{name}.hosts"));
        write_hosts(&hosts_file, hosts);
        let mut command = Command::new(tool_path("unshare"));
        command
            .args(["--mount", "--propagation", "private"])
            .args(["/bin/sh", "-c", START_SCRIPT, "sh"])
            .args(argv)
            .current_dir(self.dir())
            .env("LAB_MOUNT", tool_path("mount"))
            .env("LAB_HOSTS", &hosts_file)
            .env("LAB_TMP", &tmp)
            .env(
                "LAB_BINDS",
                options
                    .binds
                    .iter()
                    .map(|(src, dst)| match &options.root {
                        // Mounted from outside the root: its symbolic links (trixie's
                        // /var/run -> /run) must not lead out of it.
                        Some(root) => format!("{} {}", src.display(), resolve_inside(root, dst)),
                        None => format!("{} {dst}", src.display()),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
            .env("LAB_USER", options.user.as_deref().unwrap_or(""));
        if let Some(root) = &options.root {
            let overlay = self.dir().join(format!("{name}.root"));
            run_in_root(&mut command, root, &overlay, self.dir());
        }
        command
    }

    /// Panics (with the server's log) unless everything the server with this PID and
    /// the processes below it listen on is a loopback address: the lab shares the
    /// machine's network, so a server listening on every interface would be reachable
    /// from outside.
    pub fn assert_loopback_only(&self, pid: u32) {
        let server = self
            .servers
            .iter()
            .find(|s| s.child.id() == pid)
            .unwrap_or_else(|| panic!("pid {pid} was not started by this lab, or was stopped"));
        let exposed: Vec<_> = crate::listening(pid)
            .into_iter()
            .filter(|a| !crate::is_loopback_only(a))
            .collect();
        assert!(
            exposed.is_empty(),
            "{} listens beyond loopback: {exposed:?}; log:\n{}",
            server.name,
            self.logs(&server.name)
        );
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
/// reaped guarantees the PID still names our process when we signal it. The processes
/// below it are watched while it stops and killed once it is gone: a server that dies
/// on SIGTERM at once (a shell script running its server in the background) would
/// otherwise leave them running, still listening.
fn terminate(mut server: Server) -> Result<ExitStatus, String> {
    let pid = server.child.id();
    let name = &server.name;
    let exited = |e: io::Error| format!("cannot wait for {name} (pid {pid}): {e}");
    let mut below = Tree::default();
    below.watch(pid);
    if let Some(status) = server.child.try_wait().map_err(exited)? {
        eprintln!("lab: {name} (pid {pid}) had already exited: {status}");
        below.kill();
        return Ok(status);
    }
    signal("TERM", &[pid]);
    let deadline = Instant::now() + STOP_GRACE;
    let mut polls = 0u32;
    while Instant::now() < deadline {
        if let Some(status) = server.child.try_wait().map_err(exited)? {
            below.kill();
            return Ok(status);
        }
        polls += 1;
        if polls % 10 == 0 {
            below.watch(pid);
        }
        thread::sleep(Duration::from_millis(10));
    }
    // Ignored SIGTERM: kill it, and whatever it started (its workers would otherwise
    // outlive it, still listening).
    eprintln!("lab: {name} (pid {pid}) ignored SIGTERM for {STOP_GRACE:?}; sending SIGKILL");
    below.watch(pid);
    let mut stragglers = below.pids();
    stragglers.push(pid);
    signal("KILL", &stragglers);
    server.child.kill().ok(); // In case `kill` is missing; harmless otherwise.
    let status = server.child.wait().map_err(exited)?;
    below.kill();
    Ok(status)
}

/// The processes seen below a server, each with its start time, so that a PID the
/// system has since reused for another process is never signalled.
#[derive(Default)]
struct Tree {
    seen: HashMap<u32, u64>,
}

impl Tree {
    fn watch(&mut self, pid: u32) {
        for p in descendants(pid) {
            if let Some(start) = start_time(p) {
                self.seen.entry(p).or_insert(start);
            }
        }
    }

    /// Those still running as the same process.
    fn pids(&self) -> Vec<u32> {
        self.seen
            .iter()
            .filter(|(p, start)| start_time(**p) == Some(**start))
            .map(|(p, _)| *p)
            .collect()
    }

    fn kill(&self) {
        let left = self.pids();
        if !left.is_empty() {
            signal("KILL", &left);
        }
    }
}

/// A process's start time (field 22 of /proc/PID/stat), None once it is gone.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // After the comm: state is field 3, so the start time is the 20th here.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// `path` as the root filesystem `root` resolves it: each symbolic link followed inside
/// the root (an absolute target starts again from the root, never from the machine's
/// `/`), so the result names the same place inside the root without any link in it.
pub(crate) fn resolve_inside(root: &Path, path: &str) -> String {
    let mut pending: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(String::from)
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let here: PathBuf = root.join(resolved.join("/")).join(&part);
        match fs::read_link(&here) {
            Ok(target) => {
                links += 1;
                assert!(
                    links < 40,
                    "too many symbolic links resolving {path} in {}",
                    root.display()
                );
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(
                    target
                        .split('/')
                        .filter(|c| !c.is_empty())
                        .rev()
                        .map(String::from),
                );
            }
            Err(_) => resolved.push(part),
        }
    }
    format!("/{}", resolved.join("/"))
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
