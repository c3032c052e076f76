//! Tests of the test lab (this crate): its hash and encoding, the stub backend and the
//! clients, `check_isolated` with real `nginx -t` and `haproxy -c`, and `Lab` running a
//! real nginx in front of a stub.
//!
//! Addresses: this file uses 127.0.0.60 to 127.0.0.69 only, so it can run alongside
//! the other live tests. Tests needing a tool skip without it (and fail in CI).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use tierform_lab::{
    self as lab, base64, check_isolated, descendants, http_get, require, require_isolation, sha1,
    wait_listening, websocket_accept, websocket_connect, websocket_handshake, Lab, StubBackend,
    WEBSOCKET_KEY,
};

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a process is running: /proc/PID exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Polls `done` until it holds or 10 s pass. nginx listens before it writes its pid
/// file and forks its workers, so a test that saw it listen waits for those.
fn eventually(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn refused(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---- SHA-1, base64, Sec-WebSocket-Accept --------------------------------------------

#[test]
fn sha1_matches_published_vectors() {
    // FIPS 180 / RFC 3174 examples: empty, one block, two blocks, many blocks.
    assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        hex(&sha1(b"abc")),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(
        hex(&sha1(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
    );
    assert_eq!(
        hex(&sha1(&vec![b'a'; 1_000_000])),
        "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
    );
}

#[test]
fn base64_matches_rfc4648_vectors() {
    let vectors = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];
    for (input, output) in vectors {
        assert_eq!(base64(input.as_bytes()), output, "base64({input:?})");
    }
    assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
}

#[test]
fn websocket_accept_matches_rfc6455_example() {
    // RFC 6455 section 1.3 (also checked against Python's hashlib and base64).
    assert_eq!(
        websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

// ---- StubBackend and the clients ----------------------------------------------------

#[test]
fn stub_backend_answers_http_get() {
    let stub = StubBackend::start(sock("127.0.0.63:9001"), "stub-a");
    let response = http_get(stub.addr(), "/hello?x=1", &[("X-Test", "yes")]).unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, "stub-a");
    assert_eq!(response.header("x-backend"), Some("stub-a"));
    assert_eq!(response.header("X-PATH"), Some("/hello?x=1"));
    assert_eq!(response.header("content-length"), Some("6"));
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(response.header("x-missing"), None);
    assert_eq!((stub.hits(), stub.health_hits()), (1, 0));
    assert_eq!(stub.last_header("x-test").as_deref(), Some("yes"));
    assert_eq!(stub.last_header("host").as_deref(), Some("127.0.0.63:9001"));

    let health = http_get(stub.addr(), "/health", &[]).unwrap();
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    assert_eq!((stub.hits(), stub.health_hits()), (1, 1));
}

#[test]
fn stub_backend_serves_many_concurrent_clients() {
    let stub = StubBackend::start(sock("127.0.0.64:9001"), "stub-b");
    let addr = stub.addr();
    let clients: Vec<_> = (0..32)
        .map(|i| std::thread::spawn(move || http_get(addr, &format!("/n/{i}"), &[]).unwrap()))
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let response = client.join().unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("x-path"), Some(format!("/n/{i}").as_str()));
    }
    assert_eq!(stub.hits(), 32);
}

#[test]
fn stub_backend_reads_request_bodies() {
    let stub = StubBackend::start(sock("127.0.0.64:9002"), "stub-c");
    // A POST with a chunked body, sent by hand: the stub must consume it and answer.
    let mut stream = TcpStream::connect(stub.addr()).unwrap();
    stream
        .write_all(
            b"POST /submit HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n",
        )
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nstub-c"), "{text}");
    assert_eq!(stub.hits(), 1);

    // A body behind `Expect: 100-continue` is only sent after the stub's go-ahead.
    let mut stream = TcpStream::connect(stub.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(
            b"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\
              Expect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"abc").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert_eq!(stub.hits(), 2);
    assert_eq!(stub.last_header("x-path"), None); // Request headers, not response's.
    assert_eq!(stub.last_header("content-length").as_deref(), Some("3"));
}

#[test]
fn stub_backend_stop_refuses_connections_and_it_can_restart() {
    let addr = sock("127.0.0.65:9001");
    let mut stub = StubBackend::start(addr, "stub-d");
    assert!(http_get(addr, "/", &[]).is_ok());
    // An idle open connection is cut by stop, too.
    let mut idle = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(50)); // Let the stub accept it.
    stub.stop();
    assert!(
        refused(addr),
        "the port still accepts connections after stop"
    );
    assert!(http_get(addr, "/", &[]).is_err());
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(idle.read(&mut buf), Ok(0) | Err(_)),
        "an open connection survived stop"
    );
    stub.stop(); // Idempotent.
    drop(stub);

    // The address is free again at once (SO_REUSEADDR).
    let stub = StubBackend::start(addr, "stub-d2");
    assert_eq!(http_get(addr, "/", &[]).unwrap().body, "stub-d2");
    drop(stub);
    assert!(
        refused(addr),
        "the port still accepts connections after drop"
    );
}

#[test]
fn stub_backend_websocket_handshake_and_echo() {
    let stub = StubBackend::start(sock("127.0.0.66:9001"), "stub-e");
    let response = websocket_handshake(stub.addr(), "/ws").unwrap();
    assert_eq!(response.status, 101, "{response:?}");
    assert_eq!(response.header("upgrade"), Some("websocket"));
    assert_eq!(response.header("connection"), Some("Upgrade"));
    assert_eq!(response.header("x-backend"), Some("stub-e"));
    assert_eq!(
        response.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(
        response.header("sec-websocket-accept"),
        Some(websocket_accept(WEBSOCKET_KEY).as_str())
    );

    // After the 101 the stub echoes bytes.
    let (response, mut stream) = websocket_connect(stub.addr(), "/ws").unwrap();
    assert_eq!(response.status, 101);
    stream.write_all(b"ping").unwrap();
    let mut echo = [0u8; 4];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"ping");
    assert_eq!(stub.hits(), 2);
    assert_eq!(
        stub.last_header("sec-websocket-key").as_deref(),
        Some(WEBSOCKET_KEY)
    );
}

#[test]
fn http_get_decodes_chunked_and_close_delimited_bodies() {
    // A one-shot server for each canned response.
    fn serve_once(addr: &str, response: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind(addr).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            stream.write_all(response).unwrap();
        });
        addr
    }

    let addr = serve_once(
        "127.0.0.67:0",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    let response = http_get(addr, "/", &[]).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "Wikipedia in\r\n\r\nchunks.");

    let addr = serve_once(
        "127.0.0.67:0",
        b"HTTP/1.0 404 Not Found\r\nX-A: 1\r\n\r\nuntil close",
    );
    let response = http_get(addr, "/", &[]).unwrap();
    assert_eq!(
        (response.status, response.body.as_str()),
        (404, "until close")
    );
}

#[test]
fn wait_listening_times_out_on_a_closed_port() {
    let start = Instant::now();
    assert!(!wait_listening(
        sock("127.0.0.67:9009"),
        Duration::from_millis(300)
    ));
    assert!(start.elapsed() < Duration::from_secs(3));
}

// ---- check_isolated -----------------------------------------------------------------

/// A config that must bind 10.0.1.10:8080 and resolve app.internal.
const NGINX_CHECK_CONF: &str = "\
pid /tmp/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    server {
        listen 10.0.1.10:8080;
        location / { proxy_pass http://app.internal:8000; }
    }
}
";

#[test]
fn check_isolated_runs_nginx_t_with_addresses_and_hosts() {
    let Some(nginx) = require("nginx") else {
        return;
    };
    if !require_isolation() {
        return;
    }
    let dir = lab::scratch_dir();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, NGINX_CHECK_CONF).unwrap();
    let argv = [
        nginx.to_str().unwrap(),
        "-t",
        "-c",
        conf.to_str().unwrap(),
        "-p",
        dir.path().to_str().unwrap(),
    ];
    let hosts = [("app.internal".to_string(), ip("10.0.1.20"))];
    let real_hosts = std::fs::read("/etc/hosts").unwrap();

    let out = check_isolated(&argv, &[ip("10.0.1.10")], &hosts);
    assert!(out.status.success(), "nginx -t failed:\n{}", stderr(&out));
    assert!(
        stderr(&out).contains("test is successful"),
        "{}",
        stderr(&out)
    );

    // Without the address, nginx cannot bind.
    let out = check_isolated(&argv, &[], &hosts);
    assert!(!out.status.success(), "nginx -t passed without 10.0.1.10");
    let expected = "bind() to 10.0.1.10:8080 failed";
    assert!(stderr(&out).contains(expected), "{}", stderr(&out));

    // Without the hosts entry, nginx cannot resolve the upstream.
    let out = check_isolated(&argv, &[ip("10.0.1.10")], &[]);
    assert!(
        !out.status.success(),
        "nginx -t passed without app.internal"
    );
    let expected = "host not found in upstream \"app.internal\"";
    assert!(stderr(&out).contains(expected), "{}", stderr(&out));

    assert_eq!(std::fs::read("/etc/hosts").unwrap(), real_hosts);
}

#[test]
fn check_isolated_runs_haproxy_c_with_hosts() {
    let Some(haproxy) = require("haproxy") else {
        return;
    };
    if !require_isolation() {
        return;
    }
    let dir = lab::scratch_dir();
    let conf = dir.path().join("haproxy.cfg");
    std::fs::write(
        &conf,
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
         frontend web\n  bind 10.0.1.10:8080\n  default_backend app\n\
         backend app\n  server app1 app.internal:8000\n",
    )
    .unwrap();
    let argv = [
        haproxy.to_str().unwrap(),
        "-dW",
        "-c",
        "-f",
        conf.to_str().unwrap(),
    ];
    let hosts = [("app.internal".to_string(), ip("10.0.1.20"))];

    let out = check_isolated(&argv, &[ip("10.0.1.10")], &hosts);
    assert!(out.status.success(), "haproxy -c failed:\n{}", stderr(&out));

    let out = check_isolated(&argv, &[ip("10.0.1.10")], &[]);
    assert!(
        !out.status.success(),
        "haproxy -c passed without app.internal"
    );
    assert!(stderr(&out).contains("app.internal"), "{}", stderr(&out));
}

#[test]
#[should_panic(expected = "is under /tmp")]
fn check_isolated_refuses_files_the_namespace_hides() {
    let tmp = tempfile::NamedTempFile::new_in("/tmp").unwrap();
    check_isolated(&["cat", tmp.path().to_str().unwrap()], &[], &[]);
}

// ---- Lab ----------------------------------------------------------------------------

#[test]
fn lab_runs_nginx_in_front_of_a_stub_backend() {
    let Some(nginx) = require("nginx") else {
        return;
    };
    if !require_isolation() {
        return;
    }
    let listen = sock("127.0.0.61:8080");
    let stub = StubBackend::start(sock("127.0.0.62:9001"), "app-1");

    let mut lab = Lab::new();
    let conf = lab.dir().join("nginx.conf");
    // The upstream is a name that only the server's private /etc/hosts knows.
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
        listen 127.0.0.61:8080;
        location / {
            proxy_pass http://app.lab-selftest:9001;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
}
",
    )
    .unwrap();
    let dir = lab.dir().to_str().unwrap().to_string();
    let argv = [
        nginx.to_str().unwrap(),
        "-p",
        &dir,
        "-c",
        conf.to_str().unwrap(),
        "-g",
        "daemon off;",
    ];
    let hosts = [("app.lab-selftest".to_string(), ip("127.0.0.62"))];
    let pid = lab.start("nginx", &argv, &hosts);
    assert!(
        wait_listening(listen, Duration::from_secs(10)),
        "nginx did not listen on {listen}; log:\n{}",
        lab.logs("nginx")
    );

    // The PID is nginx's own (the master), not a wrapper's.
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        nginx,
        "pid {pid} is not nginx"
    );
    // The pid file went to the private /tmp, in the lab directory.
    let pid_file = lab.dir().join("nginx.tmp/nginx.pid");
    eventually(|| std::fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n')));
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    let real_tmp = std::fs::read_to_string("/tmp/nginx.pid").unwrap_or_default();
    assert_ne!(
        real_tmp.trim(),
        pid.to_string(),
        "the pid file reached the real /tmp"
    );
    eventually(|| !descendants(pid).is_empty());
    let workers = descendants(pid);
    assert!(!workers.is_empty(), "no nginx workers below {pid}");

    let response = http_get(listen, "/through/nginx?q=1", &[]).unwrap();
    assert_eq!(
        response.status,
        200,
        "{response:?}\nlog:\n{}",
        lab.logs("nginx")
    );
    assert_eq!(response.body, "app-1");
    assert_eq!(response.header("x-backend"), Some("app-1"));
    assert_eq!(response.header("x-path"), Some("/through/nginx?q=1"));
    assert_eq!(stub.hits(), 1);
    let real_ip = stub
        .last_header("x-real-ip")
        .expect("X-Real-IP reached the stub");
    assert!(ip(&real_ip).is_loopback(), "X-Real-IP: {real_ip}");
    assert_eq!(stub.last_header("x-forwarded-for"), Some(real_ip));

    lab.stop(pid);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "nginx (pid {pid}) still exists after stop"
    );
    for worker in workers {
        assert!(!alive(worker), "nginx worker {worker} outlived the master");
    }
    assert!(refused(listen), "{listen} still accepts after stop");
}

#[test]
fn lab_drop_stops_servers_even_when_the_test_panics() {
    let Some(sleep) = require("sleep") else {
        return;
    };
    if !require_isolation() {
        return;
    }
    let pid = std::sync::atomic::AtomicU32::new(0);
    let result = std::panic::catch_unwind(|| {
        let mut lab = Lab::new();
        let started = lab.start("sleeper", &[sleep.to_str().unwrap(), "600"], &[]);
        pid.store(started, std::sync::atomic::Ordering::SeqCst);
        assert!(alive(started));
        panic!("a failing test");
    });
    assert!(result.is_err());
    let pid = pid.into_inner();
    assert_ne!(pid, 0);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} survived the lab"
    );
}

#[test]
fn lab_stop_kills_a_server_that_ignores_sigterm_and_its_children() {
    if !require_isolation() {
        return;
    }
    let mut lab = Lab::new();
    // The shell ignores SIGTERM, starts a child (which inherits that) and execs itself
    // into another sleep, which keeps the PID.
    let pid = lab.start(
        "stubborn",
        &["/bin/sh", "-c", "trap '' TERM; sleep 600 & exec sleep 601"],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let child = loop {
        if let Some(&child) = descendants(pid).first() {
            break child;
        }
        assert!(Instant::now() < deadline, "no child below {pid}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(lab.is_running(pid));
    let started = Instant::now();
    lab.stop(pid);
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "SIGTERM was not ignored?"
    );
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(child) {
        assert!(Instant::now() < deadline, "child {child} survived stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn private_network_hides_a_tests_listeners_from_every_other_thread() {
    // A thread started before the move stays in the machine's network (one started
    // after it would inherit the test's).
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    let outside =
        std::thread::spawn(move || rx.recv().ok().map(|addr| TcpStream::connect(addr).is_ok()));
    if !tierform_lab::private_network() {
        drop(tx);
        outside.join().unwrap();
        return;
    }
    // In this thread's own network: a listener, reachable from here.
    let listener = std::net::TcpListener::bind("127.0.0.69:0").unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(std::net::TcpStream::connect(addr).is_ok());
    // A process started from this thread shares the network: it reaches it too.
    let from_child = std::process::Command::new("bash")
        .args([
            "-c",
            &format!("exec 3<>/dev/tcp/{}/{}", addr.ip(), addr.port()),
        ])
        .status()
        .unwrap();
    assert!(
        from_child.success(),
        "a child of the test cannot reach {addr}"
    );
    // The thread outside: nothing listens there.
    tx.send(addr).unwrap();
    let elsewhere = outside.join().unwrap();
    assert_eq!(
        elsewhere,
        Some(false),
        "{addr} is reachable from outside the test's network"
    );
}
