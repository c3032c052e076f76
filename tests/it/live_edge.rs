//! Live: the edge under hostile and ordinary traffic, on the lab's `hosts` bundle (see
//! `live.rs`), both engines, on every server set that boots them:
//!
//! - a request that changes something (POST, PUT, PATCH, DELETE) reaches a backend at
//!   most once, even when the backend drops the connection (it is only retried when the
//!   connection could not be made);
//! - a few requests that crash their backend do not take the pool out;
//! - a client's own `X-Forwarded-For` never reaches the backend as its address;
//! - a client sustained above the rate limit gets through at the rate, not nothing;
//! - the default burst lets a browser's parallel requests through;
//! - behind a trusted proxy, the client is the one it names, for limits and backends;
//! - a route's own rate limit (per minute) and body size apply to it alone;
//! - HAProxy's buckets hold across the wrap of the clock they are kept on.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use tierform_lab::{self as lab, ServerSet};

use crate::live::{hits, start, start_with_env, Running, SERIAL};

/// Sends `n` requests with `method` to a path whose backend drops the connection, one at
/// a time: how many attempts each made on the backends.
fn attempts(r: &Running, method: &str, n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let before: usize = hits(r, "api-").values().sum();
            // The answer is a 502 (or a 504): the backend said nothing.
            let resp = lab::http_request(r.front, method, &format!("/api/drop/{i}"), &[], "{}");
            if let Ok(resp) = resp {
                assert!(
                    resp.status >= 500,
                    "{method}: {} {}",
                    resp.status,
                    resp.body
                );
            }
            let after: usize = hits(r, "api-").values().sum();
            after - before
        })
        .collect()
}

/// Defect 1: a request that changes something is never replayed on another instance.
fn changes_reach_a_backend_at_most_once(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    // A GET may be retried on the other instances: at most one attempt on each.
    let gets = attempts(&r, "GET", 2);
    eprintln!("attempts of each of 2 GETs: {gets:?}");
    assert!(gets.iter().all(|n| (1..=3).contains(n)), "{gets:?}");
    // The others never.
    let mut seen = BTreeMap::new();
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        seen.insert(method, attempts(&r, method, 5));
    }
    eprintln!("attempts of each of 5 requests: {seen:?}");
    for (method, each) in &seen {
        let total: usize = each.iter().sum();
        assert!(
            each.iter().all(|n| *n == 1),
            "{phase}: 5 {method}s to a backend that drops the connection were executed {total} times: {each:?}\n{}",
            r.logs()
        );
    }
}

/// Defect 5: thirty requests that crash their backend leave the pool serving.
fn crashing_requests_leave_the_pool_serving(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    let crashed: usize = attempts(&r, "GET", 30).iter().sum();
    let mut statuses = BTreeMap::new();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        *statuses
            .entry(r.get("/api/after-crashes", &[]).status)
            .or_insert(0) += 1;
        thread::sleep(Duration::from_millis(30));
    }
    eprintln!("after 30 crashing requests ({crashed} attempts): {statuses:?}");
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        vec![200],
        "{phase}: 30 crashing requests ({crashed} attempts) took the pool out: {statuses:?}\n{}",
        r.logs()
    );
}

/// Defect 4: the client's own forwarding headers do not pass for its address.
fn the_client_address_is_the_connection_s(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    let resp = r.get(
        "/about",
        &[("X-Forwarded-For", "6.6.6.6"), ("X-Real-IP", "6.6.6.7")],
    );
    assert_eq!(resp.status, 200, "{}", r.logs());
    let web = &r.stubs["web-1"];
    let headers = web.last_headers();
    assert_eq!(
        web.last_header("X-Forwarded-For").as_deref(),
        Some("127.0.0.1"),
        "{phase}: {headers:?}"
    );
    assert_eq!(
        web.last_header("X-Real-IP").as_deref(),
        Some("127.0.0.1"),
        "{phase}: {headers:?}"
    );
    // One header each: a second X-Forwarded-For line would be joined to the first.
    let lines = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .count();
    assert_eq!(lines, 1, "{phase}: {headers:?}");
}

/// Sends `per_second` requests a second, evenly, for `seconds`, one at a time, and
/// returns how many got 200 in each second.
fn steady(r: &Running, per_second: f64, seconds: u64) -> Vec<usize> {
    let start = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / per_second);
    let mut passed = vec![0; seconds as usize];
    let mut i = 0u32;
    loop {
        let at = gap * i;
        if at >= Duration::from_secs(seconds) {
            break;
        }
        if let Some(wait) = at.checked_sub(start.elapsed()) {
            thread::sleep(wait);
        }
        let second = start.elapsed().as_secs() as usize;
        let status = r.get("/api/steady", &[]).status;
        assert!(status == 200 || status == 429, "{status}\n{}", r.logs());
        if status == 200 && second < passed.len() {
            passed[second] += 1;
        }
        i += 1;
    }
    passed
}

/// Defect 2: a client sustained above the limit (10 requests/s, burst 5) is capped at
/// the rate, ±30 % in every second after the first, at 1.5 and 1.05 times the rate.
fn a_client_above_the_limit_gets_the_rate(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (per_second, seconds) in [(15.0, 6), (10.5, 13)] {
        let Some(r) = start(phase, set.clone(), version) else {
            return;
        };
        let passed = steady(&r, per_second, seconds);
        eprintln!("{phase} at {per_second}/s: {passed:?} passed per second");
        for (second, n) in passed.iter().enumerate().skip(1) {
            assert!(
                (7..=13).contains(n),
                "{phase}: at {per_second} requests/s against 10/s, second {second} let {n} through: {passed:?}\n{}",
                r.logs()
            );
        }
    }
}

/// A backend that answers 503 (shedding load) is not sent the request again: an answer
/// is an answer, on both engines. 5 GETs to `/api/busy/…` reach the backends 5 times.
fn an_answer_is_not_retried(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    let before: usize = hits(&r, "api-").values().sum();
    for i in 0..5 {
        let status = r.get(&format!("/api/busy/{i}"), &[]).status;
        assert_eq!(status, 503, "{phase}\n{}", r.logs());
    }
    let after: usize = hits(&r, "api-").values().sum();
    assert_eq!(
        after - before,
        5,
        "{phase}: 5 GETs answered 503 reached the backends {} times\n{}",
        after - before,
        r.logs()
    );
}

/// Many connections of one client at once (12 threads sending back to back for 3 s,
/// against 10/s, burst 5) get the rate, not more: each engine's bucket is updated
/// atomically, whichever worker or thread serves each connection.
fn parallel_connections_share_one_bucket(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    let front = r.front;
    let barrier = Arc::new(Barrier::new(12));
    let workers: Vec<_> = (0..12)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let mut passed = 0;
                while start.elapsed() < Duration::from_secs(3) {
                    if let Ok(resp) = lab::http_get(front, "/api/parallel", &[]) {
                        passed += usize::from(resp.status == 200);
                    }
                }
                passed
            })
        })
        .collect();
    let passed: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    eprintln!("{phase}: 12 connections at once for 3 s, {passed} passed (6 at once, then 10/s)");
    assert!(
        (30..=40).contains(&passed),
        "{phase}: {passed} passed, not about 36 (6 + 3 s × 10)\n{}",
        r.logs()
    );
}

/// Defect 3: with the default burst, a browser's 6 parallel requests a second pass a
/// limit of 100 requests a second, all 60 of 10 seconds.
fn a_browser_passes_the_default_burst(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    let front = r.front;
    let mut statuses = BTreeMap::new();
    for _ in 0..10 {
        let barrier = Arc::new(Barrier::new(6));
        let workers: Vec<_> = (0..6)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    lab::http_get(front, &format!("/api/asset-{i}"), &[]).map(|r| r.status)
                })
            })
            .collect();
        for w in workers {
            let status = w.join().unwrap().unwrap_or(0);
            *statuses.entry(status).or_insert(0) += 1;
        }
        thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(
        statuses.get(&200).copied(),
        Some(60),
        "{phase}: a browser's 60 requests: {statuses:?}\n{}",
        r.logs()
    );
}

/// Behind a trusted proxy (the lab's client, 127.0.0.1): the last address it appended to
/// `X-Forwarded-For` is the client, for the backends and for the rate limit, and its
/// `X-Forwarded-Proto` is kept.
fn a_trusted_proxy_names_the_client(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    let resp = r.get(
        "/about",
        &[
            ("X-Forwarded-For", "203.0.113.7, 198.51.100.9"),
            ("X-Forwarded-Proto", "https"),
        ],
    );
    assert_eq!(resp.status, 200, "{}", r.logs());
    let web = &r.stubs["web-1"];
    let headers = web.last_headers();
    for (name, want) in [
        ("X-Forwarded-For", "198.51.100.9"),
        ("X-Real-IP", "198.51.100.9"),
        ("X-Forwarded-Proto", "https"),
    ] {
        assert_eq!(
            web.last_header(name).as_deref(),
            Some(want),
            "{phase}: {name}: {headers:?}"
        );
    }
    // A chain of trusted proxies is walked back: 127.0.0.1 appended by another trusted
    // hop is not the client.
    r.get(
        "/about",
        &[("X-Forwarded-For", "203.0.113.7, 198.51.100.8, 127.0.0.1")],
    );
    assert_eq!(
        web.last_header("X-Forwarded-For").as_deref(),
        Some("198.51.100.8"),
        "{phase}: {:?}",
        web.last_headers()
    );
    // The walk ends at an entry that is not an address (a proxy that writes `unknown`,
    // or `[v6]:port`): the client's own entries before it are never taken.
    for forwarded in ["6.6.6.6, unknown", "6.6.6.6, [2001:db8::7]:443"] {
        r.get("/about", &[("X-Forwarded-For", forwarded)]);
        let seen = web.last_header("X-Forwarded-For");
        assert_ne!(
            seen.as_deref(),
            Some("6.6.6.6"),
            "{phase}: {forwarded}: {:?}",
            web.last_headers()
        );
    }
    // Each forwarded client has its own bucket (10/s, 6 at once): one client's flood
    // leaves the next one untouched.
    let statuses = |client: &str, n: usize| -> BTreeMap<u16, usize> {
        let mut seen = BTreeMap::new();
        for _ in 0..n {
            let status = r.get("/api/x", &[("X-Forwarded-For", client)]).status;
            *seen.entry(status).or_insert(0) += 1;
        }
        seen
    };
    let flood = statuses("198.51.100.1", 20);
    assert!(
        flood.get(&429).copied().unwrap_or(0) >= 10,
        "{phase}: {flood:?}"
    );
    let next = statuses("198.51.100.2", 5);
    assert_eq!(
        next.get(&200).copied(),
        Some(5),
        "{phase}: after {flood:?}: {next:?}"
    );
}

/// A route's own limits: `/api/login` at 30 requests a minute with a burst of 2 (3 at
/// once, then one every 2 s), on top of the balancer's 5 a second (6 at once), and
/// bodies up to 64 KiB except on `/upload` (1 MiB). A request a limit refuses spends no
/// other limit's budget.
fn routes_have_limits_of_their_own(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    let login: Vec<u16> = (0..12).map(|_| r.get("/api/login", &[]).status).collect();
    assert_eq!(
        login,
        [200, 200, 200, 429, 429, 429, 429, 429, 429, 429, 429, 429],
        "{phase}\n{}",
        r.logs()
    );
    // Other spellings of the same path meet the same limit (nginx normalises them; HAProxy
    // matches on the decoded path with slashes merged and refuses dot segments).
    for path in ["//api//login", "/api/%6cogin", "/api/./login"] {
        let status = r.get(path, &[]).status;
        assert!(
            status == 429 || status == 400,
            "{phase}: {path} slipped past /api/login's limit: {status}\n{}",
            r.logs()
        );
    }
    // The refused logins took nothing from the balancer's bucket: 3 of its 6 are left.
    let rest: Vec<u16> = (0..3).map(|_| r.get("/api/orders", &[]).status).collect();
    assert_eq!(rest, [200, 200, 200], "{phase}\n{}", r.logs());
    // 30 a minute: one more login two seconds later.
    thread::sleep(Duration::from_millis(2100));
    assert_eq!(
        r.get("/api/login", &[]).status,
        200,
        "{phase}\n{}",
        r.logs()
    );
    assert_eq!(r.get("/api/login", &[]).status, 429, "{phase}");

    thread::sleep(Duration::from_millis(1200));
    let post = |path: &str, bytes: usize| {
        lab::http_request(r.front, "POST", path, &[], &"x".repeat(bytes))
            .map(|resp| resp.status)
            .unwrap_or_else(|e| panic!("{phase}: POST {path} of {bytes} bytes: {e}\n{}", r.logs()))
    };
    assert_eq!(post("/api/orders", 60 << 10), 200, "{phase}");
    assert_eq!(post("/api/orders", 100 << 10), 413, "{phase}");
    assert_eq!(post("/upload/photo", 100 << 10), 200, "{phase}");
    assert_eq!(post("/upload/photo", 2 << 20), 413, "{phase}");
}

/// Behind a layer-4 proxy that speaks the PROXY protocol (the lab's client, 127.0.0.1):
/// the address its PROXY header names is the client, for the backends and the rate limit
/// (5/s, 6 at once), and `X-Forwarded-*` headers on its connections count for nothing.
/// A PROXY header from an address that is not trusted names nobody, a connection from
/// the proxy without one is not served, and the balancer's own `/health` answers on its
/// plain listener (127.0.0.20:8081).
fn the_proxy_protocol_names_the_client(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    let health: std::net::SocketAddr = "127.0.0.20:8081".parse().unwrap();
    assert!(
        lab::wait_listening(health, Duration::from_secs(5)),
        "{phase}: no health listener\n{}",
        r.logs()
    );
    let answer = lab::http_get(health, "/health", &[]).map(|resp| resp.status);
    assert_eq!(
        answer.ok(),
        Some(200),
        "{phase}: /health on {health}\n{}",
        r.logs()
    );

    let resp = r.get_proxied(
        "127.0.0.1",
        "203.0.113.9",
        "/about",
        &[
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Proto", "https"),
        ],
    );
    assert_eq!(resp.map(|x| x.status), Some(200), "{phase}\n{}", r.logs());
    let web = &r.stubs["web-1"];
    for (name, want) in [
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Real-IP", "203.0.113.9"),
        ("X-Forwarded-Proto", "http"),
    ] {
        assert_eq!(
            web.last_header(name).as_deref(),
            Some(want),
            "{phase}: {name}: {:?}",
            web.last_headers()
        );
    }
    // Each client the proxy names has its own bucket.
    let statuses = |client: &str, n: usize| -> BTreeMap<u16, usize> {
        let mut seen = BTreeMap::new();
        for _ in 0..n {
            let status = r
                .get_proxied("127.0.0.1", client, "/api/x", &[])
                .map_or(0, |x| x.status);
            *seen.entry(status).or_insert(0) += 1;
        }
        seen
    };
    let flood = statuses("198.51.100.1", 20);
    assert!(
        flood.get(&429).copied().unwrap_or(0) >= 10,
        "{phase}: {flood:?}"
    );
    let next = statuses("198.51.100.2", 5);
    assert_eq!(
        next.get(&200).copied(),
        Some(5),
        "{phase}: after {flood:?}: {next:?}"
    );

    // From an address that is not trusted, a PROXY header names nobody: refused, or
    // served as the connection's own client.
    let hits_before = web.hits();
    let spoofed = r.get_proxied("127.0.0.5", "203.0.113.10", "/about", &[]);
    if web.hits() > hits_before {
        assert_eq!(
            web.last_header("X-Forwarded-For").as_deref(),
            Some("127.0.0.5"),
            "{phase}: {spoofed:?}"
        );
    }
    // The proxy's own connections must start with a PROXY header.
    let bare = lab::http_request_from(
        "127.0.0.1".parse().unwrap(),
        r.front,
        "GET",
        "/about",
        &[],
        "",
    );
    assert!(
        bare.as_ref().map_or(true, |x| x.status == 400),
        "{phase}: served without a PROXY header: {bare:?}"
    );
}

/// A limit keyed by a device header (its client's IP without one, 5/s, 6 at once): a
/// header value cannot name another client's bucket, neither the IP key of a client
/// without the header (as HAProxy writes it, or as nginx's binary address) nor another
/// device whose long id shares its first 128 bytes.
fn keys_cannot_borrow_a_bucket(phase: &str, set: Option<ServerSet>, version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = start(phase, set, version) else {
        return;
    };
    let spend = |source: &str, headers: &[(&str, &str)]| -> Vec<u16> {
        (0..8)
            .map(|_| r.request_from(source, "GET", "/api/x", headers).status)
            .collect()
    };
    let spent = [200, 200, 200, 200, 200, 200, 429, 429];
    // A client without the header, from 127.65.66.67 (bytes 7f 41 42 43: "\x7fABC").
    assert_eq!(spend("127.65.66.67", &[]), spent, "{phase}\n{}", r.logs());
    let long = "d".repeat(128);
    assert_eq!(
        spend("127.0.0.1", &[("X-Device-Id", &format!("{long}1"))]),
        spent,
        "{phase}"
    );
    for device in [&format!("{long}2"), "127.65.66.67", "\x7fABC"] {
        let status = r
            .request_from("127.0.0.1", "GET", "/api/x", &[("X-Device-Id", device)])
            .status;
        assert_eq!(
            status,
            200,
            "{phase}: device {device:?} got another client's spent bucket\n{}",
            r.logs()
        );
    }
}

/// HAProxy keeps each client's next due time on a clock of 2^31 µs that wraps every
/// 35 min 47 s. A bucket spent just before a wrap stays spent just after it: the login
/// route's 3 at once (30 a minute) are taken 1.5 s before the wrap, and 0.3 s after it
/// the next 3 get 429. The balancer runs with its clock moved (libfaketime) so that a
/// wrap comes a few seconds after it starts. On HAProxy 2.6 only (Debian 12's, where
/// Debian's libfaketime is): the arithmetic is the config's, the same on 3.0.
#[test]
fn haproxy_buckets_hold_across_the_clock_wrap() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_) = lab::require("faketime") else {
        return;
    };
    let preload = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
    assert!(
        std::path::Path::new(preload).exists(),
        "{preload}: .ci/run installs faketime"
    );
    const WRAP_US: u128 = 1 << 31;
    let now_us = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
    };
    // The balancer's clock runs `offset_s` ahead, so that its next wrap comes 12 to 13 s
    // from now (real time).
    let real = now_us();
    let next_wrap = (real / WRAP_US + 2) * WRAP_US;
    let offset_s = (next_wrap - real) / 1_000_000 - 12;
    let wrap_at =
        Instant::now() + Duration::from_micros((next_wrap - real - offset_s * 1_000_000) as u64);
    let env = vec![
        ("LD_PRELOAD".to_string(), preload.to_string()),
        ("FAKETIME".to_string(), format!("+{offset_s}")),
        ("FAKETIME_DONT_FAKE_MONOTONIC".to_string(), "1".to_string()),
    ];
    let Some(r) = start_with_env(
        "haproxy-routes",
        Some(ServerSet::host()),
        "2.6",
        |_, config| config.to_string(),
        env,
    ) else {
        return;
    };
    let before = wrap_at
        .checked_duration_since(Instant::now())
        .unwrap_or_default();
    assert!(
        before > Duration::from_secs(3),
        "the balancer took too long to start: the wrap is {before:?} away"
    );
    thread::sleep(before - Duration::from_millis(1500));
    let spent: Vec<u16> = (0..5).map(|_| r.get("/api/login", &[]).status).collect();
    assert_eq!(
        spent,
        [200, 200, 200, 429, 429],
        "before the wrap\n{}",
        r.logs()
    );
    thread::sleep(
        wrap_at
            .checked_duration_since(Instant::now())
            .unwrap_or_default()
            + Duration::from_millis(300),
    );
    let after: Vec<u16> = (0..3).map(|_| r.get("/api/login", &[]).status).collect();
    assert_eq!(after, [429, 429, 429], "just after the wrap\n{}", r.logs());
}

/// Every check, as a test of its own, on one engine and server set.
macro_rules! edge {
    ($module:ident, $engine:literal, $set:expr, $version:literal) => {
        mod $module {
            use super::*;

            #[test]
            fn changes_reach_a_backend_at_most_once() {
                super::changes_reach_a_backend_at_most_once($engine, $set, $version);
            }

            #[test]
            fn crashing_requests_leave_the_pool_serving() {
                super::crashing_requests_leave_the_pool_serving($engine, $set, $version);
            }

            #[test]
            fn the_client_address_is_the_connection_s() {
                super::the_client_address_is_the_connection_s($engine, $set, $version);
            }

            #[test]
            fn a_client_above_the_limit_gets_the_rate() {
                let phase = concat!($engine, "-steady");
                super::a_client_above_the_limit_gets_the_rate(phase, $set, $version);
            }

            #[test]
            fn a_trusted_proxy_names_the_client() {
                let phase = concat!($engine, "-proxied");
                super::a_trusted_proxy_names_the_client(phase, $set, $version);
            }

            #[test]
            fn routes_have_limits_of_their_own() {
                let phase = concat!($engine, "-routes");
                super::routes_have_limits_of_their_own(phase, $set, $version);
            }

            #[test]
            fn the_proxy_protocol_names_the_client() {
                let phase = concat!($engine, "-proxy-protocol");
                super::the_proxy_protocol_names_the_client(phase, $set, $version);
            }

            #[test]
            fn an_answer_is_not_retried() {
                super::an_answer_is_not_retried($engine, $set, $version);
            }

            #[test]
            fn parallel_connections_share_one_bucket() {
                let phase = concat!($engine, "-steady");
                super::parallel_connections_share_one_bucket(phase, $set, $version);
            }

            #[test]
            fn keys_cannot_borrow_a_bucket() {
                super::keys_cannot_borrow_a_bucket(concat!($engine, "-keyed"), $set, $version);
            }

            #[test]
            fn a_browser_passes_the_default_burst() {
                let phase = concat!($engine, "-browser");
                super::a_browser_passes_the_default_burst(phase, $set, $version);
            }
        }
    };
}

edge!(
    nginx_1_22_on_debian12,
    "nginx",
    Some(ServerSet::host()),
    "1.22"
);
edge!(nginx_1_26_on_debian13, "nginx", ServerSet::trixie(), "1.26");
edge!(
    nginx_1_30_on_debian_testing,
    "nginx",
    ServerSet::forky(),
    "1.30"
);
edge!(
    haproxy_2_6_on_debian12,
    "haproxy",
    Some(ServerSet::host()),
    "2.6"
);
edge!(
    haproxy_3_0_on_debian13,
    "haproxy",
    ServerSet::trixie(),
    "3.0"
);
