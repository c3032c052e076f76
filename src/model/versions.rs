//! The supported server versions: the one table of every server version tierform
//! renders and the image it renders for it.
//!
//! A version is supported when the live tests boot it: Debian 12 (bookworm) gives
//! nginx 1.22, HAProxy 2.6, Redis 7.0, PostgreSQL 15 and PgBouncer 1.18; Debian 13
//! (trixie) gives nginx 1.26, HAProxy 3.0, Redis 8.0, PostgreSQL 17, PgBouncer 1.24 and
//! RabbitMQ 4.0; Debian testing (forky) gives nginx 1.30, upstream's stable line. Of
//! those, the table offers each one whose upstream image line still gets fixes, and
//! otherwise only the newest booted line of a server, so that every server has one:
//!
//! - **nginx 1.30** is the only nginx offered: upstream's stable line, which
//!   `nginx:1.30-alpine` follows. **nginx 1.22** (line ended 2023-04) and **nginx
//!   1.26** (ended 2025-04, 1.26.3) are not offered: their images get no fixes, such as
//!   CVE-2026-1642 (1.28.2). The Debian 12 and 13 tests still boot the configs rendered
//!   for 1.30 on them, so a host that runs its distribution's (patched) nginx is covered.
//! - **Redis 7.0** is not offered: its line ended 2024-07 and it never got the fix for
//!   CVE-2025-49844 (Lua use-after-free, remote code execution); 8.0 did (8.0.4).
//! - **PgBouncer 1.18** is not offered: PgBouncer patches only its newest release.
//!   1.24 (trixie's) is the only PgBouncer; the blueprint does not choose it.
//! - **RabbitMQ 4.0** is offered, the only RabbitMQ booted, though its community
//!   support ended 2025-04 (4.0.9).
//!
//! The first version of each list is the default: the newest tested.

/// The Debian release whose packages the live tests boot a version from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Debian {
    /// Debian 12.
    Bookworm,
    /// Debian 13.
    Trixie,
    /// Debian testing (forky, the future Debian 14): only for nginx's stable line.
    Forky,
}

/// A server version tierform renders, and its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supported {
    /// As a blueprint writes it: `"17"`, `"8.0"`.
    pub version: &'static str,
    /// The image, pinned to that line (major.minor, or a PostgreSQL major).
    pub image: &'static str,
    /// Where the live tests boot it from.
    pub booted_from: Debian,
    /// The Debian package that provides it there.
    pub package: &'static str,
    /// When its upstream line stopped getting fixes, if it has.
    pub upstream_end: Option<&'static str>,
}

const fn v(
    version: &'static str,
    image: &'static str,
    booted_from: Debian,
    package: &'static str,
    upstream_end: Option<&'static str>,
) -> Supported {
    Supported {
        version,
        image,
        booted_from,
        package,
        upstream_end,
    }
}

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use Debian::{Bookworm, Forky, Trixie};

/// nginx: the stable line (1.30, until 1.32 replaces it, in 2027-04).
pub const NGINX: &[Supported] = &[v("1.30", "nginx:1.30-alpine", Forky, "nginx", None)];

/// HAProxy: both are LTS lines (3.0 until 2029-Q2, 2.6 until 2027-Q2).
pub const HAPROXY: &[Supported] = &[
    v("3.0", "haproxy:3.0-alpine", Trixie, "haproxy", None),
    v("2.6", "haproxy:2.6-alpine", Bookworm, "haproxy", None),
];

/// PostgreSQL: a major is its line (17 until 2029-11, 15 until 2027-11).
pub const POSTGRES: &[Supported] = &[
    v("17", "postgres:17", Trixie, "postgresql-17", None),
    v("15", "postgres:15", Bookworm, "postgresql-15", None),
];

/// PgBouncer, in front of every PostgreSQL version (it speaks to both). Upstream fixes
/// only its newest release; 1.24 is trixie's, which Debian patches.
pub const PGBOUNCER: &[Supported] = &[v(
    "1.24",
    "edoburu/pgbouncer:v1.24.1-p1",
    Trixie,
    "pgbouncer",
    None,
)];

/// The image a pod waits for a job with (`kubectl wait`), on Kubernetes: the
/// project's own kubectl image, pinned by digest (an image without a shell, that runs
/// any user). Its minor need not match the cluster's: it only reads a Job's status.
pub const KUBECTL_IMAGE: &str = "registry.k8s.io/kubectl:v1.31.2@sha256:d31de5468fb5c0943358671e3dcf8e4d8281108027efd1f211262d09aedd5519";

/// The image etcd is built on for Patroni (`ha: auto`): Debian 12, whose etcd-server
/// (3.4, with Debian's security fixes) the live failover test boots.
pub const ETCD_BASE_IMAGE: &str = "debian:bookworm-slim";

/// A monitoring program tierform runs beside the stack: the version Debian 13 (trixie)
/// packages, which the live monitoring test boots, and the upstream image of that
/// release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitoringTool {
    /// The release, as upstream tags it.
    pub version: &'static str,
    /// The image of that release.
    pub image: &'static str,
    /// The Debian 13 package that provides it.
    pub package: &'static str,
}

/// Prometheus: trixie's 2.53 (an LTS line).
pub const PROMETHEUS: MonitoringTool = MonitoringTool {
    version: "2.53.3",
    image: "prom/prometheus:v2.53.3",
    package: "prometheus",
};

/// Alertmanager, which sends Prometheus's alerts to the blueprint's receivers.
pub const ALERTMANAGER: MonitoringTool = MonitoringTool {
    version: "0.28.1",
    image: "prom/alertmanager:v0.28.1",
    package: "prometheus-alertmanager",
};

/// redis_exporter, one per Redis datastore, scraping each of its nodes (`/scrape`).
pub const REDIS_EXPORTER: MonitoringTool = MonitoringTool {
    version: "1.69.0",
    image: "oliver006/redis_exporter:v1.69.0",
    package: "prometheus-redis-exporter",
};

/// postgres_exporter, one per PostgreSQL server (primary and each replica).
pub const POSTGRES_EXPORTER: MonitoringTool = MonitoringTool {
    version: "0.17.1",
    image: "quay.io/prometheuscommunity/postgres-exporter:v0.17.1",
    package: "prometheus-postgres-exporter",
};

/// nginx-prometheus-exporter, reading nginx's `stub_status`.
pub const NGINX_EXPORTER: MonitoringTool = MonitoringTool {
    version: "1.4.1",
    image: "nginx/nginx-prometheus-exporter:1.4.1",
    package: "prometheus-nginx-exporter",
};

/// node_exporter, the machine's filesystems (where Docker keeps the volumes).
pub const NODE_EXPORTER: MonitoringTool = MonitoringTool {
    version: "1.9.0",
    image: "prom/node-exporter:v1.9.0",
    package: "prometheus-node-exporter",
};

/// cAdvisor, the containers' CPU and memory on a Docker host (Debian does not package
/// it).
pub const CADVISOR: MonitoringTool = MonitoringTool {
    version: "0.49.1",
    image: "gcr.io/cadvisor/cadvisor:v0.49.1",
    package: "",
};

/// Grafana, which shows each phase's dashboard (Debian does not package it).
pub const GRAFANA: MonitoringTool = MonitoringTool {
    version: "11.6.0",
    image: "grafana/grafana-oss:11.6.0",
    package: "",
};

/// The Datadog Agent, which receives the services' traces on compose and hosts
/// (`monitoring.apm` with `vendor: datadog`), pinned to a release (Debian does not
/// package it).
pub const DATADOG_AGENT: MonitoringTool = MonitoringTool {
    version: "7.84.6",
    image: "gcr.io/datadoghq/agent:7.84.6",
    package: "",
};

/// Every monitoring program tierform runs, for the tests that check each image is one
/// the live monitoring test boots (cAdvisor and Grafana, which Debian does not
/// package, aside).
pub const MONITORING: &[MonitoringTool] = &[
    PROMETHEUS,
    ALERTMANAGER,
    REDIS_EXPORTER,
    POSTGRES_EXPORTER,
    NGINX_EXPORTER,
    NODE_EXPORTER,
    CADVISOR,
    GRAFANA,
    DATADOG_AGENT,
];

/// Redis.
pub const REDIS: &[Supported] = &[v("8.0", "redis:8.0", Trixie, "redis-server", None)];

/// RabbitMQ, with the management plugin (KEDA reads queue lengths through its API).
pub const RABBITMQ: &[Supported] = &[v(
    "4.0",
    "rabbitmq:4.0-management",
    Trixie,
    "rabbitmq-server",
    Some("2025-04-15"),
)];

/// The schema of a `version` field: one of the versions of `tables`, each described
/// with its image. Every value is text: YAML reads an unquoted `8.0` as the number 8.
fn version_schema(description: &str, servers: &[(&str, &[Supported])]) -> Schema {
    let mut values: Vec<(String, String)> = Vec::new();
    for (server, table) in servers {
        for (i, s) in table.iter().enumerate() {
            let mut about = format!("{server} {}: `{}`", s.version, s.image);
            if i == 0 {
                about.push_str(if servers.len() == 1 {
                    ", the default"
                } else {
                    ", the default for this engine"
                });
            }
            if let Some(end) = s.upstream_end {
                about.push_str(&format!(
                    " (its upstream line stopped getting fixes on {end})"
                ));
            }
            about.push('.');
            match values.iter_mut().find(|(v, _)| v == s.version) {
                Some((_, text)) => text.push_str(&format!(" {about}")),
                None => values.push((s.version.to_string(), about)),
            }
        }
    }
    let branches: Vec<serde_json::Value> = values
        .into_iter()
        .map(|(v, about)| serde_json::json!({ "const": v, "description": about }))
        .collect();
    json_schema!({
        "description": description,
        "oneOf": branches,
    })
}

macro_rules! version_type {
    ($(#[$doc:meta])* $name:ident, $description:literal, $($server:literal => $table:ident),+) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                version_schema($description, &[$(($server, $table)),+])
            }
        }
    };
}

version_type!(
    /// A PostgreSQL version, one of [`POSTGRES`].
    PostgresVersion,
    "A PostgreSQL major version tierform's tests run, quoted: `version: \"17\"`.",
    "PostgreSQL" => POSTGRES
);
version_type!(
    /// A Redis version, one of [`REDIS`].
    RedisVersion,
    "A Redis version tierform's tests run, quoted: `version: \"8.0\"` (unquoted, YAML reads 8.0 as the number 8).",
    "Redis" => REDIS
);
version_type!(
    /// A RabbitMQ version, one of [`RABBITMQ`].
    RabbitmqVersion,
    "A RabbitMQ version tierform's tests run, quoted: `version: \"4.0\"`.",
    "RabbitMQ" => RABBITMQ
);
version_type!(
    /// A balancer version, one of [`NGINX`] or [`HAPROXY`] (validation checks it is
    /// one of its engine's).
    BalancerVersion,
    "A version of the balancer's engine that tierform's tests run, quoted: `version: \"3.0\"`.",
    "nginx" => NGINX,
    "HAProxy" => HAPROXY
);

/// The version `version` of `table`, or the default (the newest tested) without one.
/// `None` when the table does not have it (validation refuses such a blueprint).
pub fn select(table: &'static [Supported], version: Option<&str>) -> Option<&'static Supported> {
    match version {
        None => table.first(),
        Some(v) => table.iter().find(|s| s.version == v),
    }
}

/// The versions of `table`, as a blueprint writes them.
pub fn versions(table: &[Supported]) -> Vec<String> {
    table.iter().map(|s| s.version.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&[Supported]] = &[NGINX, HAPROXY, POSTGRES, PGBOUNCER, REDIS, RABBITMQ];

    #[test]
    fn every_image_is_pinned_to_its_line() {
        for table in ALL {
            assert!(!table.is_empty());
            for s in *table {
                let tag = s.image.rsplit(':').next().unwrap();
                let tag = tag.trim_start_matches('v');
                // The tag starts with the version and the line is not floating: `redis:8`
                // or `haproxy:3-alpine` would pull whatever is newest.
                assert!(
                    tag == s.version
                        || tag.starts_with(&format!("{}.", s.version))
                        || tag.starts_with(&format!("{}-", s.version)),
                    "{} does not pin {}",
                    s.image,
                    s.version
                );
                assert!(
                    s.version.contains('.') || s.image.starts_with("postgres:"),
                    "{} is only a major",
                    s.version
                );
            }
        }
    }

    #[test]
    fn the_default_is_the_newest() {
        let order = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
        for table in ALL {
            let newest = table.iter().map(|s| order(s.version)).max().unwrap();
            assert_eq!(order(select(table, None).unwrap().version), newest);
        }
        assert_eq!(select(POSTGRES, Some("15")).unwrap().image, "postgres:15");
        assert_eq!(select(POSTGRES, Some("16")), None);
    }
}
