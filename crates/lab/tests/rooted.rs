//! Tests of the lab running servers and commands from another root filesystem (the
//! Debian 13 root of `.ci/debian-rootfs trixie`, named by `TIERFORM_TRIXIE_ROOT`): chrooted in
//! their own mount namespace, the lab folder at its own path, loopback only, stopped by
//! PID, and the cached root left as it was.
//!
//! Addresses: 127.0.0.66 to 127.0.0.67 (selftest.rs has the rest of 127.0.0.60–69).
//! Without the root the tests skip (and fail in CI).

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use tierform_lab::{
    descendants, http_get, listening, require_isolation, wait_listening, Lab, ServerSet,
    StartOptions, StubBackend,
};

fn trixie() -> Option<ServerSet> {
    if !require_isolation() {
        return None;
    }
    ServerSet::trixie()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_command_from_the_root_sees_the_root_and_the_lab_folder_and_leaves_the_root_unchanged() {
    let Some(set) = trixie() else { return };
    let root = set.root().unwrap();
    let lab = Lab::new();
    let version = stdout(
        &lab.command(Some(root), &["cat", "/etc/debian_version"])
            .output()
            .unwrap(),
    );
    assert!(version.starts_with("13."), "{version}");
    assert!(!std::fs::read_to_string("/etc/debian_version")
        .unwrap_or_default()
        .starts_with("13."));

    // The lab folder is at its own path inside; writes elsewhere land in the overlay.
    let marker = lab.dir().join("written-inside");
    let out = lab
        .command(
            Some(root),
            &[
                "/bin/sh",
                "-c",
                "echo \"$(pwd) $LAB_VAR\" > written-inside && touch /etc/lab-was-here",
            ],
        )
        .env("LAB_VAR", "passed")
        .output()
        .unwrap();
    stdout(&out);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        format!("{} passed", lab.dir().display())
    );
    assert!(
        !root.join("etc/lab-was-here").exists(),
        "a command wrote into the cached root"
    );

    // runuser inside the root switches to the root's own postgres user.
    let (uid, _) = set.ids("postgres").expect("the root has a postgres user");
    let id = stdout(
        &lab.command(Some(root), &["runuser", "-u", "postgres", "--", "id", "-u"])
            .output()
            .unwrap(),
    );
    assert_eq!(id.trim(), uid.to_string());
}

#[test]
fn lab_runs_the_roots_nginx_on_loopback_and_stops_it_by_pid() {
    let Some(set) = trixie() else { return };
    let Some(nginx) = set.require("nginx") else {
        return;
    };
    let listen: SocketAddr = "127.0.0.66:8080".parse().unwrap();
    let stub = StubBackend::start("127.0.0.67:9001".parse().unwrap(), "app-1");
    let mut lab = Lab::new();
    let version = lab.command(set.root(), &[&nginx, "-v"]).output().unwrap();
    let version = String::from_utf8_lossy(&version.stderr).into_owned();
    assert!(version.contains("nginx/1.26"), "{version}");

    let conf = lab.dir().join("nginx.conf");
    std::fs::write(
        &conf,
        "\
pid /tmp/nginx.pid;
error_log stderr;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    server {
        listen 127.0.0.66:8080;
        location / { proxy_pass http://app.lab-rooted:9001; }
    }
}
",
    )
    .unwrap();
    let dir = lab.dir().to_str().unwrap().to_string();
    let argv = [
        nginx.as_str(),
        "-p",
        &dir,
        "-c",
        conf.to_str().unwrap(),
        "-g",
        "daemon off;",
    ];
    let hosts = [("app.lab-rooted".to_string(), "127.0.0.67".parse().unwrap())];
    let pid = lab.start_with(
        "nginx",
        &argv,
        &hosts,
        StartOptions {
            root: set.root().map(Path::to_path_buf),
            ..Default::default()
        },
    );
    assert!(
        wait_listening(listen, Duration::from_secs(10)),
        "nginx did not listen on {listen}; log:\n{}",
        lab.logs("nginx")
    );
    // The PID is nginx's own, chrooted: its root is not the machine's.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "nginx");
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        Path::new("/")
    );
    // Its pid file went to the lab's private /tmp for it.
    let pid_file = lab.dir().join("nginx.tmp/nginx.pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n')) {
        assert!(Instant::now() < deadline, "no pid file");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    // Loopback only: the one address its config names, nothing else.
    assert_eq!(listening(pid), vec![listen]);
    let response = http_get(listen, "/rooted", &[]).unwrap();
    assert_eq!(response.status, 200, "{}", lab.logs("nginx"));
    assert_eq!(response.body, "app-1");
    assert_eq!(stub.hits(), 1);
    let workers = descendants(pid);
    assert!(!workers.is_empty());

    lab.stop(pid);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    for w in workers {
        assert!(!Path::new(&format!("/proc/{w}")).exists(), "worker {w}");
    }
    assert!(TcpStream::connect_timeout(&listen, Duration::from_secs(2)).is_err());
}

#[test]
fn binds_follow_the_roots_own_symbolic_links_and_never_the_machines() {
    let Some(set) = trixie() else { return };
    let root = set.root().unwrap();
    // Debian 13's /var/run is a link to /run: resolved from outside the root, it
    // would name the machine's /run.
    assert_eq!(
        std::fs::read_link(root.join("var/run")).unwrap(),
        Path::new("/run")
    );
    let mut lab = Lab::new();
    let shared = lab.dir().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let pid = lab.start_with(
        "writer",
        &[
            "/bin/sh",
            "-c",
            "echo inside > /var/run/lab-rooted-bind/f && exec sleep 600",
        ],
        &[],
        StartOptions {
            binds: vec![(shared.clone(), "/var/run/lab-rooted-bind".into())],
            root: Some(root.to_path_buf()),
            ..Default::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    // The shell creates the file, then writes it: wait for the whole line.
    while !std::fs::read_to_string(shared.join("f")).is_ok_and(|t| t.ends_with('\n')) {
        assert!(
            lab.is_running(pid) && Instant::now() < deadline,
            "the bind did not reach the server; log:\n{}",
            lab.logs("writer")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        std::fs::read_to_string(shared.join("f")).unwrap(),
        "inside\n"
    );
    assert!(!Path::new("/run/lab-rooted-bind").exists());
    lab.stop(pid);
}
