//! Live: HTTPS at the balancer. The lab's `haproxy-tls` and `nginx-tls` phases (HTTPS
//! on 127.0.0.20:8443, plain HTTP on 8080 redirecting there) started for real with a
//! self-signed certificate the test makes with openssl, in front of stub backends, and
//! probed with curl: HTTPS answers from a backend over HTTP/2 and HTTP/1.1, TLS 1.2 and
//! 1.3 are accepted and 1.1 refused by the server, plain HTTP gets a 308 to the same URL
//! over HTTPS (the balancer's /health still answers on it), HSTS comes with HTTPS
//! answers only, and the backend is told `X-Forwarded-Proto: https` and port 8443.
//!
//! On HAProxy 2.6 (Debian 12), HAProxy 3.0 and nginx 1.26 (Debian 13) and nginx 1.30
//! (Debian testing, the line tierform renders for). Not on nginx 1.22 (Debian 12): the
//! config says `http2 on;`, which nginx has since 1.25.1, so 1.22 refuses it at start.

use tierform_lab as lab;

use std::process::Command;

use lab::ServerSet;

use super::live::{start_prepared, Running, SERIAL};
use super::tls::{certificate_from, make_certificate};

/// The balancer's HTTPS address in the lab (`balancer.tls.listen` on the edge machine).
const HTTPS: &str = "https://127.0.0.20:8443";
const PLAIN: &str = "http://127.0.0.20:8080";

/// What curl saw: its exit code, the answer's headers and write-out, and its log.
struct Curl {
    code: i32,
    stdout: String,
    stderr: String,
}

fn curl(curl: &std::path::Path, cert: &str, args: &[&str]) -> Curl {
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "10", "--cacert", cert])
        .args(args)
        .output()
        .unwrap();
    Curl {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A response header's value from curl's `-D -` output (names case-insensitive; HTTP/2
/// writes them in lower case).
fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The phase's balancer started with a certificate the test makes, listening on HTTPS;
/// `None` where a tool is missing.
fn start_tls(phase: &str, set: Option<ServerSet>, version: &str) -> Option<Running> {
    let mut made = None;
    let r = start_prepared(phase, set, version, |dir, config| {
        let certs = dir.join("tls");
        made = make_certificate(&certs);
        certificate_from(config, &certs)
    })?;
    made?;
    let https_port: std::net::SocketAddr = "127.0.0.20:8443".parse().unwrap();
    assert!(
        lab::wait_listening(https_port, std::time::Duration::from_secs(10)),
        "no HTTPS on {https_port}:\n{}",
        r.logs()
    );
    Some(r)
}

fn https_is_served(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(curl_bin) = lab::require("curl") else {
        return;
    };
    let Some(r) = start_tls(phase, set, version) else {
        return;
    };
    let cert = r.lab.dir().join("tls/tls.crt");
    let cert = cert.to_str().unwrap();
    let c = |args: &[&str]| curl(&curl_bin, cert, args);

    // HTTPS, negotiated to HTTP/2 by ALPN, answered by a backend, with HSTS.
    let url = format!("{HTTPS}/api/tls?x=1");
    let h2 = c(&[
        "--http2",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}\n",
        &url,
    ]);
    assert_eq!(h2.code, 0, "{}\n{}", h2.stderr, r.logs());
    assert!(
        h2.stdout.ends_with("200 2\n"),
        "{}\n{}",
        h2.stdout,
        r.logs()
    );
    assert_eq!(
        header(&h2.stdout, "strict-transport-security"),
        Some("max-age=31536000"),
        "{}",
        h2.stdout
    );
    let backend = header(&h2.stdout, "x-backend")
        .unwrap_or_default()
        .to_string();
    assert!(backend.starts_with("api-"), "{}", h2.stdout);
    // The backend is told the client came over HTTPS, on port 8443.
    let stub = &r.stubs[&backend];
    assert_eq!(
        stub.last_header("X-Forwarded-Proto").as_deref(),
        Some("https"),
        "{:?}",
        stub.last_headers()
    );
    assert_eq!(
        stub.last_header("X-Forwarded-Port").as_deref(),
        Some("8443"),
        "{:?}",
        stub.last_headers()
    );

    // HTTP/1.1 over TLS too.
    let h1 = c(&[
        "--http1.1",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        &url,
    ]);
    assert_eq!(h1.stdout, "200 1.1", "{}{}", h1.stderr, r.logs());

    // TLS 1.2 and 1.3 are accepted.
    for (flags, want) in [
        (
            &["--tlsv1.2", "--tls-max", "1.2"][..],
            "SSL connection using TLSv1.2",
        ),
        (&["--tlsv1.3"][..], "SSL connection using TLSv1.3"),
    ] {
        let mut args = flags.to_vec();
        args.extend(["-v", "-o", "/dev/null", "-w", "%{http_code}", &url]);
        let out = c(&args);
        assert_eq!(out.stdout, "200", "{flags:?}: {}{}", out.stderr, r.logs());
        assert!(out.stderr.contains(want), "{flags:?}: {}", out.stderr);
    }
    // TLS 1.1 is refused by the server: the client offers it (its own floor lowered to
    // security level 0) and gets the server's protocol-version alert.
    let old = c(&[
        "--tlsv1.1",
        "--tls-max",
        "1.1",
        "--ciphers",
        "DEFAULT@SECLEVEL=0",
        "-o",
        "/dev/null",
        &url,
    ]);
    assert_eq!(
        old.code, 35,
        "TLS 1.1 was not refused: {}{}",
        old.stderr, old.stdout
    );
    assert!(
        old.stderr.contains("alert protocol version"),
        "TLS 1.1 failed, but not by the server's refusal: {}",
        old.stderr
    );

    // Plain HTTP: a 308 to the same URL over HTTPS, without HSTS, for every method.
    for method in ["GET", "POST"] {
        let plain = c(&[
            "-X",
            method,
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}\n",
            &format!("{PLAIN}/api/tls?x=1"),
        ]);
        assert!(
            plain
                .stdout
                .ends_with(&format!("308 {HTTPS}/api/tls?x=1\n")),
            "{method}: {}{}",
            plain.stdout,
            r.logs()
        );
        assert_eq!(
            header(&plain.stdout, "strict-transport-security"),
            None,
            "{}",
            plain.stdout
        );
    }
    // The balancer's own health still answers on plain HTTP.
    let health = c(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{PLAIN}/health"),
    ]);
    assert_eq!(health.stdout, "200", "{}{}", health.stderr, r.logs());

    // The balancer was started by PID and stops by PID.
    drop(r);
}

/// Behind a trusted proxy that terminates TLS (the lab's client, 127.0.0.1) and forwards
/// plain HTTP: its `X-Forwarded-Proto: https` means the client is on HTTPS already, so
/// the request is served, not redirected (a redirect would loop forever), and the
/// backend is told the proxy's scheme and port. Its `http`, or the same headers from an
/// address that is not trusted, still get the redirect.
fn a_tls_terminating_proxy_is_believed(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start_tls(phase, set, version) else {
        return;
    };
    let forwarded = [
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "443"),
    ];
    let served = r.request_from("127.0.0.1", "GET", "/api/behind", &forwarded);
    assert_eq!(
        served.status,
        200,
        "{phase}: HTTPS at the trusted proxy: {served:?}\n{}",
        r.logs()
    );
    let backend = served.header("X-Backend").unwrap_or_default().to_string();
    let stub = &r.stubs[&backend];
    for (name, want) in [
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "443"),
    ] {
        assert_eq!(
            stub.last_header(name).as_deref(),
            Some(want),
            "{phase}: {name}: {:?}",
            stub.last_headers()
        );
    }
    // A terminator that gives the scheme but no port (Cloudflare, Google's load
    // balancers): the port is the scheme's, not the balancer's.
    let no_port = r.request_from(
        "127.0.0.1",
        "GET",
        "/api/behind",
        &[("X-Forwarded-Proto", "https")],
    );
    assert_eq!(no_port.status, 200, "{phase}: {no_port:?}");
    let stub = &r.stubs[no_port.header("X-Backend").unwrap_or_default()];
    assert_eq!(
        stub.last_header("X-Forwarded-Port").as_deref(),
        Some("443"),
        "{phase}: {:?}",
        stub.last_headers()
    );
    // The proxy's client came over plain HTTP: redirected, as a direct client would be.
    let plain = r.request_from(
        "127.0.0.1",
        "GET",
        "/api/behind",
        &[("X-Forwarded-Proto", "http")],
    );
    assert_eq!(plain.status, 308, "{phase}: {plain:?}");
    // Not from a trusted proxy: the headers are the client's own and count for nothing.
    let spoofed = r.request_from("127.0.0.5", "GET", "/api/behind", &forwarded);
    assert_eq!(spoofed.status, 308, "{phase}: {spoofed:?}\n{}", r.logs());
    assert_eq!(
        spoofed.header("Location"),
        Some("https://127.0.0.20:8443/api/behind"),
        "{phase}: {spoofed:?}"
    );
}

#[test]
fn haproxy_2_6_on_debian12_believes_a_tls_terminating_proxy() {
    a_tls_terminating_proxy_is_believed("haproxy-tls-proxied", Some(ServerSet::host()), "2.6");
}

#[test]
fn haproxy_3_0_on_debian13_believes_a_tls_terminating_proxy() {
    a_tls_terminating_proxy_is_believed("haproxy-tls-proxied", ServerSet::trixie(), "3.0");
}

#[test]
fn nginx_1_26_on_debian13_believes_a_tls_terminating_proxy() {
    a_tls_terminating_proxy_is_believed("nginx-tls-proxied", ServerSet::trixie(), "1.26");
}

#[test]
fn nginx_1_30_on_debian_testing_believes_a_tls_terminating_proxy() {
    a_tls_terminating_proxy_is_believed("nginx-tls-proxied", ServerSet::forky(), "1.30");
}

#[test]
fn haproxy_2_6_on_debian12_serves_https() {
    https_is_served("haproxy-tls", Some(ServerSet::host()), "2.6");
}

#[test]
fn haproxy_3_0_on_debian13_serves_https() {
    https_is_served("haproxy-tls", ServerSet::trixie(), "3.0");
}

#[test]
fn nginx_1_26_on_debian13_serves_https() {
    https_is_served("nginx-tls", ServerSet::trixie(), "1.26");
}

#[test]
fn nginx_1_30_on_debian_testing_serves_https() {
    https_is_served("nginx-tls", ServerSet::forky(), "1.30");
}
