//! `render --lint`: each rendered balancer config judged by the real checker installed
//! here (`nginx -t`, `haproxy -dW -c`), as it would load on its machine or in its
//! container. That matters most for configs from `--templates` overrides, which
//! tierform's own tests never saw.
//!
//! Each check runs in a private network and mount namespace (`unshare`; a user
//! namespace too when not root): `lo` carries the addresses the config listens on,
//! `/etc/hosts` resolves every upstream name to 127.0.0.2, `/etc/resolv.conf` names a
//! resolver on loopback, `/tmp` is a fresh tmpfs
//! holding the config, and certificate paths point at a throwaway self-signed
//! certificate (made with `openssl`). A checker older than the line a config is
//! rendered for is not used (its verdict would be about another version): the config
//! is listed as not checked, with the reason.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::model::BalancerEngine;
use crate::plan::Plan;
use crate::render::files::OutputSet;

/// The address every upstream name resolves to inside a check.
const NAMES_RESOLVE_TO: &str = "127.0.0.2";

/// What linting found.
#[derive(Default)]
pub struct Verdicts {
    /// Configs the checker accepted without a warning.
    pub passed: Vec<String>,
    /// Configs it refused or warned about, with its output.
    pub failed: Vec<(String, String)>,
    /// Configs not checked, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Lints every balancer config of `set`, with the plans it was rendered from.
pub fn lint(set: &OutputSet, plans: &[Plan]) -> Result<Verdicts> {
    let mut verdicts = Verdicts::default();
    let mut checkers: Vec<(BalancerEngine, Result<Checker, String>)> = Vec::new();
    for (path, text) in set.iter() {
        let engine = if path.ends_with("/nginx/nginx.conf") {
            BalancerEngine::Nginx
        } else if path.ends_with("/haproxy/haproxy.cfg") {
            BalancerEngine::Haproxy
        } else {
            continue;
        };
        let phase = path.split('/').next().unwrap_or_default();
        let Some(line) = plans
            .iter()
            .find(|p| p.phase == phase)
            .and_then(|p| p.balancer.as_ref())
            .map(|lb| lb.version.clone())
        else {
            continue;
        };
        let checker = match checkers.iter().find(|(e, _)| *e == engine) {
            Some((_, c)) => c.clone(),
            None => {
                let c = Checker::find(engine);
                checkers.push((engine, c.clone()));
                c
            }
        };
        let checker = match checker {
            Ok(c) => c,
            Err(why) => {
                verdicts.skipped.push((path.to_string(), why));
                continue;
            }
        };
        if !at_least(&checker.version, &line) {
            verdicts.skipped.push((
                path.to_string(),
                format!(
                    "{} {} is older than {line}, the line this config is for ({})",
                    checker.name(),
                    checker.version,
                    checker.override_hint()
                ),
            ));
            continue;
        }
        match checker.check(text)? {
            Ok(()) => verdicts.passed.push(path.to_string()),
            Err(Refused::Config(out)) => verdicts.failed.push((path.to_string(), out)),
            Err(Refused::Setup(why)) => verdicts.skipped.push((path.to_string(), why)),
        }
    }
    Ok(verdicts)
}

/// Whether version `have` (`1.22.1`) is of line `want` (`1.30`) or later.
fn at_least(have: &str, want: &str) -> bool {
    let parse = |v: &str| -> Vec<u32> {
        v.split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .take(2)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parse(have) >= parse(want)
}

#[derive(Clone)]
struct Checker {
    engine: BalancerEngine,
    program: PathBuf,
    version: String,
}

enum Refused {
    /// The checker's own verdict.
    Config(String),
    /// The check could not be set up (no namespace, no `openssl` for a certificate).
    Setup(String),
}

impl Checker {
    fn name(&self) -> &'static str {
        match self.engine {
            BalancerEngine::Nginx => "nginx",
            BalancerEngine::Haproxy => "haproxy",
        }
    }

    fn override_hint(&self) -> &'static str {
        match self.engine {
            BalancerEngine::Nginx => "set TIERFORM_NGINX to a newer nginx",
            BalancerEngine::Haproxy => "set TIERFORM_HAPROXY to a newer haproxy",
        }
    }

    /// The checker of `TIERFORM_NGINX` / `TIERFORM_HAPROXY`, else of PATH, and its
    /// version.
    fn find(engine: BalancerEngine) -> Result<Checker, String> {
        let (var, name) = match engine {
            BalancerEngine::Nginx => ("TIERFORM_NGINX", "nginx"),
            BalancerEngine::Haproxy => ("TIERFORM_HAPROXY", "haproxy"),
        };
        let program = match std::env::var_os(var).filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => on_path(name)
                .ok_or_else(|| format!("{name} is not installed (nor named by {var})"))?,
        };
        if program.starts_with("/tmp") {
            return Err(format!(
                "{} is under /tmp, which the check replaces with a private one: keep the checker elsewhere",
                program.display()
            ));
        }
        let out = Command::new(&program)
            .arg("-v")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // "nginx version: nginx/1.30.0", "HAProxy version 2.6.12-1+deb12u4 …"
        let version = said
            .split(|c: char| c.is_whitespace() || c == '/')
            .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.'))
            .map(str::to_string)
            .ok_or_else(|| format!("{} -v says no version: {said}", program.display()))?;
        Ok(Checker {
            engine,
            program,
            version,
        })
    }

    /// Runs the checker on `text` in its namespace.
    fn check(&self, text: &str) -> Result<Result<(), Refused>> {
        let scratch = Scratch::new()?;
        let mut names = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        let mut certificates = Vec::new();
        let mut config = String::new();
        for line in text.lines() {
            let words: Vec<&str> = line
                .split_whitespace()
                .map(|w| w.trim_end_matches(';'))
                .collect();
            let mut line = line.to_string();
            match (self.engine, words.as_slice()) {
                (BalancerEngine::Nginx, ["server", target, ..]) => {
                    names.extend(host_of(target));
                }
                (BalancerEngine::Haproxy, ["server", _, target, ..])
                | (BalancerEngine::Haproxy, ["nameserver", _, target, ..]) => {
                    names.extend(host_of(target));
                }
                (BalancerEngine::Nginx, ["resolver", servers @ ..]) => {
                    names.extend(
                        servers
                            .iter()
                            .filter(|w| !w.contains('='))
                            .filter_map(|w| host_of(w)),
                    );
                }
                (BalancerEngine::Nginx, ["listen", at, ..])
                | (BalancerEngine::Haproxy, ["bind", at, ..]) => {
                    addresses.extend(address_of(at));
                }
                _ => {}
            }
            // Certificates: pointed at the stand-in.
            for (i, w) in words.iter().enumerate() {
                let key = matches!(*w, "ssl_certificate_key");
                if matches!(*w, "ssl_certificate" | "ssl_certificate_key" | "crt") {
                    if let Some(path) = words.get(i + 1) {
                        let stand_in = if key {
                            "/tmp/lint/tls.key"
                        } else {
                            "/tmp/lint/tls.crt"
                        };
                        line = line.replace(path, stand_in);
                        certificates.push(path.to_string());
                    }
                }
            }
            config.push_str(&line);
            config.push('\n');
        }
        let openssl = on_path("openssl");
        if !certificates.is_empty() && openssl.is_none() {
            return Ok(Err(Refused::Setup(
                "it reads a certificate, and making a stand-in needs openssl".into(),
            )));
        }
        let hosts = scratch.path().join("hosts");
        let mut listed = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for n in &names {
            listed.push_str(&format!("{NAMES_RESOLVE_TO} {n}\n"));
        }
        std::fs::write(&hosts, listed)?;
        // A resolver on loopback, as a container has one (Docker's 127.0.0.11): a
        // config that reads resolv.conf (HAProxy's `parse-resolv-conf`) finds one.
        let resolv = scratch.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.53\n")?;
        let addrs: Vec<String> = addresses
            .iter()
            .filter(|a: &&IpAddr| !a.is_loopback() && !a.is_unspecified())
            .map(|a| match a {
                IpAddr::V4(_) => format!("{a}/32"),
                IpAddr::V6(_) => format!("{a}/128"),
            })
            .collect();
        let file = match self.engine {
            BalancerEngine::Nginx => "nginx.conf",
            BalancerEngine::Haproxy => "haproxy.cfg",
        };
        let ready = scratch.path().join("ready");
        let mut cmd = Command::new(on_path("unshare").unwrap_or_else(|| "unshare".into()));
        if !is_root() {
            cmd.args(["--user", "--map-root-user"]);
        }
        cmd.args(["--net", "--mount", "--propagation", "private"])
            .args(["/bin/sh", "-c", SCRIPT, "sh"])
            .arg(&self.program);
        match self.engine {
            BalancerEngine::Nginx => {
                cmd.args(["-t", "-q", "-c", "/tmp/lint/nginx.conf", "-p", "/tmp/lint/"])
            }
            BalancerEngine::Haproxy => cmd.args(["-dW", "-c", "-f", "/tmp/lint/haproxy.cfg"]),
        };
        cmd.env("LINT_ADDRS", addrs.join(" "))
            .env("LINT_HOSTS", &hosts)
            .env("LINT_RESOLV", &resolv)
            .env("LINT_FILE", file)
            .env("LINT_READY", &ready)
            .env("PATH", search_path())
            .env("LINT_TLS", if certificates.is_empty() { "" } else { "1" })
            .env("LINT_OPENSSL", openssl.unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Ok(Err(Refused::Setup(format!(
                    "cannot run unshare for a private namespace: {e}"
                ))))
            }
        };
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(config.as_bytes())?;
        let out = child.wait_with_output()?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if std::fs::read_to_string(&ready).unwrap_or_default().trim() != "ready" {
            return Ok(Err(Refused::Setup(format!(
                "no private namespace to check in (unshare: {})",
                said.trim()
            ))));
        }
        let warned = said.contains("[warn]") || said.contains("[WARNING]");
        Ok(if out.status.success() && !warned {
            Ok(())
        } else {
            Err(Refused::Config(said.trim_end().to_string()))
        })
    }
}

/// Inside the namespace: the addresses on `lo`, the hosts file, a private /tmp with
/// the config (from standard input) and a stand-in certificate; then the checker.
const SCRIPT: &str = r#"set -e
exec 3> "$LINT_READY"
ip link set lo up
for a in $LINT_ADDRS; do
  case "$a" in
    *:*) ip addr add "$a" dev lo nodad ;;
    *) ip addr add "$a" dev lo ;;
  esac
done
mount --bind "$LINT_HOSTS" /etc/hosts
mount --bind "$LINT_RESOLV" /etc/resolv.conf
mount -t tmpfs -o mode=1777 tierform-lint /tmp
mkdir /tmp/lint
cat > "/tmp/lint/$LINT_FILE"
if [ -n "$LINT_TLS" ]; then
  "$LINT_OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=tierform-lint -days 1 -keyout /tmp/lint/tls.key -out /tmp/lint/tls.crt 2>/dev/null
  cp /tmp/lint/tls.key /tmp/lint/tls.crt.key
fi
echo ready >&3
exec 3>&-
exec "$@"
"#;

/// The host of `host:port` when it is a name (an address needs no resolving).
fn host_of(target: &str) -> Option<String> {
    let host = match target.rsplit_once(':') {
        Some((h, _)) => h,
        None => target,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && host.parse::<IpAddr>().is_err() && !host.starts_with('$'))
        .then(|| host.to_string())
}

/// The address of a listen / bind argument (`10.0.1.10:80`, `[::1]:443`), if any.
fn address_of(at: &str) -> Option<IpAddr> {
    let host = at.rsplit_once(':').map(|(h, _)| h)?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A private folder for one check's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tierform-lint-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)
            .with_context(|| format!("cannot make the scratch folder {}", dir.display()))?;
        Ok(Scratch(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// PATH, then the system folders where `ip`, `mount` and the servers live.
fn search_path() -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    for d in ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        if !dirs.iter().any(|x| x == Path::new(d)) {
            dirs.push(d.into());
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&search_path())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
