//! The balancer's changes: engine, port, HTTPS, routes, rate limit, the proxies it
//! trusts, servers per pool.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{opt, Both, Mark, Summary};
use crate::plan::{RateLimitPlan, RoutePlan, TlsPlan};

/// The balancer's HTTPS: `none`, or its port, redirect and HSTS; and as JSON.
fn https(tls: &Option<TlsPlan>) -> Both {
    let Some(t) = tls else {
        return ("none".into(), Value::Null);
    };
    let redirect = if t.redirect_http {
        " (plain HTTP redirects)"
    } else {
        ""
    };
    let hsts = t
        .hsts
        .as_deref()
        .map_or("no HSTS".into(), |h| format!("HSTS {h}"));
    (
        format!("on port {}{redirect}, {hsts}", t.listen),
        json!({"port": t.listen, "redirect_http": t.redirect_http, "hsts": t.hsts}),
    )
}

/// `api`, or `api 90.00% / canary 10.00%`.
fn route_target(r: &RoutePlan) -> String {
    if r.backends.len() == 1 {
        r.backends[0].pool.clone()
    } else {
        r.backends
            .iter()
            .map(|b| {
                format!(
                    "{} {}.{:02}%",
                    b.pool,
                    b.basis_points / 100,
                    b.basis_points % 100
                )
            })
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// A route as JSON: its path and pools, each with its share in basis points.
fn route_json(r: &RoutePlan) -> Value {
    let backends: Vec<Value> = r
        .backends
        .iter()
        .map(|b| json!({"pool": b.pool, "share_basis_points": b.basis_points}))
        .collect();
    json!({"path": r.path, "backends": backends})
}

/// A rate limit as the summary says it (`10/s burst 20 per client IP`) and as JSON.
fn rate(r: &Option<RateLimitPlan>) -> Both {
    let Some(r) = r else {
        return ("none".into(), Value::Null);
    };
    let text = format!(
        "{} burst {} per {}",
        r.rate_text(),
        r.burst,
        if r.header.is_empty() {
            "client IP"
        } else {
            &r.header
        }
    );
    let value = json!({
        "requests": r.rate,
        "per": if r.per_minute { "minute" } else { "second" },
        "burst": r.burst,
        "header": (!r.header.is_empty()).then_some(&r.header),
    });
    (text, value)
}

pub(super) fn balancer(s: &mut Summary) {
    let subject = "balancer";
    match (&s.from.balancer, &s.to.balancer) {
        (None, None) => {}
        (None, Some(b)) => {
            let engine = b.engine.as_str();
            s.added(
                subject,
                "balancer",
                format!("{engine} on port {}", b.listen),
                json!({"engine": engine, "port": b.listen}),
            );
            if b.tls.is_some() {
                let (text, value) = https(&b.tls);
                s.added(subject, "https", format!("HTTPS {text}"), value);
            }
            for r in &b.routes {
                let text = format!("route {} → {}", r.path, route_target(r));
                s.added(subject, "route", text, route_json(r));
            }
        }
        (Some(a), None) => s.removed(
            subject,
            "balancer",
            "removed",
            json!({"engine": a.engine.as_str(), "port": a.listen}),
        ),
        (Some(a), Some(b)) => {
            s.same(
                subject,
                "engine",
                "engine",
                a.engine.as_str(),
                b.engine.as_str(),
            );
            s.same(subject, "port", "port", a.listen, b.listen);
            s.same(
                subject,
                "health path",
                "health_path",
                a.health_path.as_str(),
                b.health_path.as_str(),
            );
            s.field(subject, "tier", "tier", opt(&a.tier), opt(&b.tier));
            s.field(subject, "HTTPS", "https", https(&a.tls), https(&b.tls));
            let ra: BTreeMap<&str, &RoutePlan> =
                a.routes.iter().map(|r| (r.path.as_str(), r)).collect();
            let rb: BTreeMap<&str, &RoutePlan> =
                b.routes.iter().map(|r| (r.path.as_str(), r)).collect();
            for (path, new) in &rb {
                let target = route_target(new);
                match ra.get(path) {
                    None => s.added(
                        subject,
                        "route",
                        format!("route {path} → {target}"),
                        route_json(new),
                    ),
                    Some(old) if route_target(old) != target => s.changed(
                        subject,
                        Mark::Changed,
                        format!("route {path}: {} → {target}", route_target(old)),
                        "route",
                        (route_json(old), route_json(new)),
                    ),
                    _ => {}
                }
            }
            for (path, old) in &ra {
                if !rb.contains_key(path) {
                    let text = format!("route {path} → {}", route_target(old));
                    s.removed(subject, "route", text, route_json(old));
                }
            }
            s.field(
                subject,
                "rate limit",
                "rate_limit",
                rate(&a.rate_limit),
                rate(&b.rate_limit),
            );
            // Who names the client: the proxies trusted, how far back, and whether
            // they send a PROXY header.
            let proxies = |x: &[String]| -> Both {
                let text = if x.is_empty() {
                    "none".to_string()
                } else {
                    format!("[{}]", x.join(", "))
                };
                (text, json!(x))
            };
            s.field(
                subject,
                "trusted proxies",
                "trusted_proxies",
                proxies(&a.trusted_proxies),
                proxies(&b.trusted_proxies),
            );
            s.same(
                subject,
                "trusted hops",
                "trusted_hops",
                a.trusted_hops,
                b.trusted_hops,
            );
            let on = |x: bool| -> Both { (if x { "on" } else { "off" }.into(), json!(x)) };
            s.field(
                subject,
                "PROXY protocol",
                "proxy_protocol",
                on(a.proxy_protocol),
                on(b.proxy_protocol),
            );
            // Servers per pool, on each platform both phases render.
            for platform in
                s.to.platforms
                    .iter()
                    .filter(|p| s.from.platforms.contains(p))
            {
                for (name, pb) in &b.pools {
                    let nb = pb.servers.get(platform).map_or(0, Vec::len);
                    let na = a
                        .pools
                        .get(name)
                        .and_then(|p| p.servers.get(platform))
                        .map_or(0, Vec::len);
                    if na != nb {
                        let delta = nb as i64 - na as i64;
                        let text = format!(
                            "upstream {name} {}{} server{} on {} ({na} → {nb})",
                            if delta > 0 { "+ " } else { "− " },
                            delta.unsigned_abs(),
                            if delta.unsigned_abs() == 1 { "" } else { "s" },
                            platform.as_str()
                        );
                        let servers = |n: usize| json!({"pool": name, "platform": platform.as_str(), "servers": n});
                        s.changed(
                            subject,
                            if na == 0 { Mark::Added } else { Mark::Changed },
                            text,
                            "pool_servers",
                            (servers(na), servers(nb)),
                        );
                    }
                }
            }
        }
    }
}
