//! Synthetic blueprints for the benchmarks: deterministic by seed, from 10 to 10,000
//! services, in the mix real back ends have.
//!
//! Services come in groups of up to 100, each with its own PostgreSQL (two streaming
//! replicas, PgBouncer in the last phase) and its own Redis broker; one Redis Cluster
//! caches for everyone. In a group: about 60 % HTTP APIs (half autoscaled on CPU, a
//! few on requests per second, some sticky WebSocket hubs), about 35 % workers on their
//! group's queues (some autoscaled on queue depth), and one scheduler. Every HTTP
//! service has a route. Three phases: `single` on compose, `horizontal` on hosts with
//! a tenth of the services scaled up, `kubernetes` with the pooler added.
//!
//! Shared by `benches/pipeline.rs` (criterion) and `examples/synth.rs` (which writes
//! the files `bench/run.sh` times).

use std::fmt::Write;

/// A small, fast, deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The blueprint of `services` services, the same text for the same seed.
pub fn blueprint(services: usize, seed: u64) -> String {
    let mut rng = Rng(seed);
    let groups = services.div_ceil(100).max(1);
    // Enough app hosts that no service has two instances on one machine.
    let app_hosts = (services / 8).clamp(6, 2000);
    let mut y = String::with_capacity(services * 400);
    let _ = writeln!(y, "version: 1\nname: synth-{services}\ndescription: A synthetic back end of {services} services\ntargets: [compose]\n");
    y.push_str(
        "tiers:\n  edge: { machine: { cpu: 8, memory: 16Gi }, hosts: [10.0.0.10, 10.0.0.11] }\n",
    );
    let _ = write!(
        y,
        "  app:\n    machine: {{ cpu: 64, memory: 256Gi }}\n    hosts: ["
    );
    for h in 0..app_hosts {
        let sep = if h == 0 { "" } else { ", " };
        let _ = write!(
            y,
            "{sep}10.{}.{}.{}",
            1 + h / 65536,
            (h / 256) % 256,
            h % 256
        );
    }
    y.push_str("]\n");
    let data_hosts = (groups * 4).max(4);
    let _ = write!(
        y,
        "  data:\n    machine: {{ cpu: 32, memory: 128Gi }}\n    hosts: ["
    );
    for h in 0..data_hosts {
        let sep = if h == 0 { "" } else { ", " };
        let _ = write!(y, "{sep}10.200.{}.{}", h / 256, h % 256);
    }
    y.push_str("]\n\n");

    // Decide every service first, so routes can be written before the services.
    struct Svc {
        name: String,
        group: usize,
        kind: u8, // 0 http, 1 websocket, 2 worker, 3 scheduler
        scaling: u8,
    }
    let mut all: Vec<Svc> = Vec::with_capacity(services);
    for i in 0..services {
        let group = i / 100;
        let in_group = i % 100;
        let kind = if in_group == 99
            || (i + 1 == services && !all.iter().any(|s| s.group == group && s.kind == 3))
        {
            3
        } else {
            match rng.below(100) {
                0..=54 => 0,
                55..=59 => 1,
                _ => 2,
            }
        };
        let name = match kind {
            0 => format!("api-{i}"),
            1 => format!("hub-{i}"),
            2 => format!("worker-{i}"),
            _ => format!("cron-{i}"),
        };
        all.push(Svc {
            name,
            group,
            kind,
            scaling: rng.below(10) as u8,
        });
    }
    // The first service serves `/`; make sure it is an HTTP one.
    all[0].kind = 0;
    all[0].name = "api-0".into();

    y.push_str("balancer:\n  engine: nginx\n  tier: edge\n  listen: 80\n  rate_limit: { requests_per_second: 500, burst: 100 }\n  routes:\n");
    for s in all.iter().filter(|s| s.kind <= 1) {
        let path = if s.name == "api-0" {
            "/".to_string()
        } else {
            format!("/{}", s.name)
        };
        let _ = writeln!(y, "    - {{ path: {path}, service: {} }}", s.name);
    }

    y.push_str("\nservices:\n");
    for (i, s) in all.iter().enumerate() {
        let g = s.group;
        let _ = writeln!(y, "  {}:", s.name);
        let image = format!(
            "registry.example.com/synth/{}:1.{}.{}",
            s.name,
            rng.below(20),
            rng.below(10)
        );
        match s.kind {
            0 | 1 => {
                let kind = if s.kind == 0 { "http" } else { "websocket" };
                let _ = writeln!(
                    y,
                    "    kind: {kind}\n    tier: app\n    image: {image}\n    port: {}",
                    10000 + i
                );
                y.push_str("    health: { path: /health, interval: 10s, timeout: 2s }\n");
                y.push_str("    resources: { cpu: 250m, memory: 256Mi, cpu_limit: \"1\", memory_limit: 512Mi }\n");
                let _ = writeln!(y, "    uses: [db-{g}, cache]\n    env: {{ LOG_LEVEL: info, WORKERS: {} }}\n    secrets: [API_KEY_{g}]", 2 + rng.below(6));
                if s.kind == 1 {
                    y.push_str(
                        "    balance: { sticky: client_ip }\n    scaling: { replicas: 2 }\n",
                    );
                } else {
                    match s.scaling {
                        0..=4 => y.push_str("    scaling: { min: 2, max: 10, target: { cpu: 70 } }\n"),
                        5 => y.push_str("    scaling: { min: 2, max: 20, target: { requests_per_second: 200 } }\n"),
                        _ => {
                            let _ = writeln!(y, "    scaling: {{ replicas: {} }}", 1 + s.scaling % 3);
                        }
                    }
                }
            }
            2 => {
                let _ = writeln!(y, "    kind: worker\n    tier: app\n    image: {image}\n    command: [celery, -A, app.tasks, worker, -Q, q{i}]");
                y.push_str("    resources: { cpu: 500m, memory: 512Mi, memory_limit: 1Gi }\n");
                let _ = writeln!(
                    y,
                    "    uses: [db-{g}, jobs-{g}]\n    queue: {{ broker: jobs-{g}, name: q{i} }}"
                );
                if s.scaling < 3 {
                    y.push_str("    scaling: { min: 1, max: 12, target: { queue_depth: 100 } }\n");
                } else {
                    let _ = writeln!(y, "    scaling: {{ replicas: {} }}", 1 + s.scaling % 3);
                }
            }
            _ => {
                let _ = writeln!(y, "    kind: scheduler\n    tier: app\n    image: {image}\n    command: [celery, -A, app.tasks, beat]\n    uses: [jobs-{g}]");
            }
        }
    }

    y.push_str("\ndatastores:\n  cache:\n    engine: redis\n    tier: data\n    role: cache\n    resources: { memory: 4Gi }\n    mode: cluster\n    cluster: { masters: 3, replicas_per_master: 1 }\n");
    for g in 0..groups {
        let _ = writeln!(y, "  db-{g}:\n    engine: postgres\n    tier: data\n    database: app_{g}\n    resources: {{ cpu: 4, memory: 16Gi }}\n    replicas: 2");
        let _ = writeln!(y, "  jobs-{g}:\n    engine: redis\n    tier: data\n    role: broker\n    resources: {{ memory: 1Gi }}");
    }

    y.push_str("\nphases:\n  - name: single\n    description: Everything on compose.\n");
    y.push_str("  - name: horizontal\n    description: Spread over the hosts; the busiest tenth scaled up.\n    enter_when: [\"cpu > 70% for 10m\"]\n    targets: [hosts]\n    patch:\n      services:\n");
    for s in all
        .iter()
        .filter(|s| s.kind == 0 && s.scaling >= 6)
        .step_by(2)
    {
        let _ = writeln!(y, "        {}: {{ scaling: {{ replicas: 4 }} }}", s.name);
    }
    if !all.iter().any(|s| s.kind == 0 && s.scaling >= 6) {
        y.push_str("        api-0: { scaling: { replicas: 3 } }\n");
    }
    y.push_str("  - name: kubernetes\n    description: Autoscaled on Kubernetes, with a pool in front of every database.\n    targets: [kubernetes]\n    patch:\n      datastores:\n");
    for g in 0..groups {
        let _ = writeln!(
            y,
            "        db-{g}: {{ pooler: {{ engine: pgbouncer, pool_mode: transaction }} }}"
        );
    }
    y
}
