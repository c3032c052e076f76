//! The integration tests, one module per subject, built as one test binary (`it`):
//! linking one binary instead of one per file is most of what a test build costs.
//! Run one subject with its module path, e.g. `cargo test --test it render::`.
//!
//! Snapshots live in the top-level `snapshots/`; the test lab (real servers in
//! namespaces, stub backends, clients) is the workspace crate `crates/lab`.

mod common;

mod amplification;
mod architecture;
mod atomic_output;
mod backups;
mod balancer_configs;
mod balancer_render;
mod blueprints;
mod checkov;
mod cli;
mod cli_defaults;
mod cli_json;
mod cli_stream;
mod compose_configs;
mod contract;
mod control_text;
mod datastore_sizing;
mod diff_plan;
mod docs;
mod ecosystem;
mod explain;
mod external;
mod failover;
mod fixtures;
mod fmt;
mod fmt_props;
mod fuzz_regressions;
mod hosts_readme;
mod injection;
mod jobs;
mod kubernetes_expansion;
mod kubernetes_manifests;
mod kubernetes_pods;
mod kubernetes_readme;
mod layering;
mod limits;
mod lint;
mod live;
mod live_backup;
mod live_data;
mod live_edge;
mod live_failover;
mod live_monitoring;
mod live_postgres;
mod live_postgres_life;
mod live_rabbitmq;
mod live_rabbitmq_cluster;
mod live_redis_life;
mod live_standby;
mod live_tls;
mod managed;
mod monitoring;
mod node_pools;
mod output_safety;
mod over_capacity;
mod path_values;
mod precommit;
mod readme;
mod render;
mod render_cli;
mod render_props;
mod schema;
mod secret_values;
mod seeds;
mod template_limits;
mod tls;
mod urls;
mod versions;
