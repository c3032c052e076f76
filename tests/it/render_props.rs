//! Property tests over generated blueprints (random services, tiers, datastores and
//! phases): every one validates, renders every phase and platform, renders the same
//! bytes twice, writes YAML that parses back, and differs from nothing when a phase is
//! compared with itself; broken in a known way, every one is refused with that finding.

use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Gen {
    services: Vec<(u8, u8)>, // (kind: 0 http, 1 worker, 2 scheduler; replicas 1..=3)
    postgres: Option<(u8, bool, bool)>, // (replicas, pooler, sync)
    cache_cluster: Option<bool>,
    hosts: bool,
    haproxy: bool,
    phases: Vec<u8>, // replicas for s0 in each later phase
}

fn gen() -> impl Strategy<Value = Gen> {
    (
        prop::collection::vec((0u8..3, 1u8..=3), 1..6),
        prop::option::of((0u8..3, any::<bool>(), any::<bool>())),
        prop::option::of(any::<bool>()),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(1u8..=4, 0..3),
    )
        .prop_map(
            |(services, postgres, cache_cluster, hosts, haproxy, phases)| Gen {
                services,
                postgres,
                cache_cluster,
                hosts,
                haproxy,
                phases,
            },
        )
}

fn yaml(g: &Gen) -> String {
    let mut y = String::from("version: 1\nname: generated\n");
    y.push_str(if g.hosts {
        "targets: [compose, hosts, kubernetes]\n"
    } else {
        "targets: [compose, kubernetes]\n"
    });
    y.push_str("tiers:\n");
    y.push_str("  edge: { machine: { cpu: 2, memory: 4Gi }, hosts: [10.9.0.1] }\n");
    y.push_str("  app: { machine: { cpu: 64, memory: 256Gi }, hosts: [10.9.1.1, 10.9.1.2] }\n");
    y.push_str(
        "  data: { machine: { cpu: 64, memory: 256Gi }, hosts: [10.9.2.1, 10.9.2.2, 10.9.2.3] }\n",
    );
    let https: Vec<usize> = g
        .services
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| *k == 0)
        .map(|(i, _)| i)
        .collect();
    let workers = g.services.iter().any(|(k, _)| *k == 1);
    if !https.is_empty() {
        y.push_str(&format!(
            "balancer:\n  engine: {}\n  tier: edge\n  routes:\n",
            if g.haproxy { "haproxy" } else { "nginx" }
        ));
        for (n, i) in https.iter().enumerate() {
            let path = if n == 0 {
                "/".to_string()
            } else {
                format!("/p{i}")
            };
            y.push_str(&format!("    - {{ path: {path}, service: s{i} }}\n"));
        }
    }
    y.push_str("services:\n");
    for (i, (kind, replicas)) in g.services.iter().enumerate() {
        y.push_str(&format!("  s{i}:\n    tier: app\n    image: gen/s{i}:1\n"));
        y.push_str("    resources: { cpu: 100m, memory: 128Mi, memory_limit: 256Mi }\n");
        let mut uses = Vec::new();
        if g.postgres.is_some() {
            uses.push("db");
        }
        if g.cache_cluster.is_some() {
            uses.push("cache");
        }
        match kind {
            0 => {
                y.push_str(&format!(
                    "    kind: http\n    port: {}\n    health: {{ path: /health }}\n    scaling: {{ replicas: {replicas} }}\n",
                    8000 + i * 10
                ));
            }
            1 => {
                uses.push("jobs");
                y.push_str(&format!(
                    "    kind: worker\n    command: [work, --queue, q{i}]\n    queue: {{ broker: jobs, name: q{i} }}\n    scaling: {{ replicas: {replicas} }}\n"
                ));
            }
            _ => y.push_str("    kind: scheduler\n    command: [beat]\n"),
        }
        if !uses.is_empty() {
            y.push_str(&format!("    uses: [{}]\n", uses.join(", ")));
        }
    }
    let mut stores = String::new();
    if let Some((replicas, pooler, sync)) = g.postgres {
        stores.push_str(&format!(
            "  db:\n    engine: postgres\n    tier: data\n    database: gen\n    resources: {{ cpu: 1, memory: 2Gi }}\n    replicas: {replicas}\n    replication: {}\n",
            if sync && replicas > 0 { "sync" } else { "async" }
        ));
        if pooler {
            stores.push_str("    pooler: { engine: pgbouncer }\n");
        }
    }
    if let Some(cluster) = g.cache_cluster {
        stores.push_str("  cache:\n    engine: redis\n    tier: data\n    role: cache\n    resources: { memory: 512Mi }\n");
        if cluster {
            stores.push_str(
                "    mode: cluster\n    cluster: { masters: 3, replicas_per_master: 1 }\n",
            );
        }
    }
    if workers {
        stores.push_str("  jobs:\n    engine: redis\n    tier: data\n    role: broker\n    resources: { memory: 256Mi }\n");
    }
    if !stores.is_empty() {
        y.push_str("datastores:\n");
        y.push_str(&stores);
    }
    y.push_str("phases:\n  - name: p0\n");
    for (n, replicas) in g.phases.iter().enumerate() {
        // Grow the first service (a scheduler stays at one).
        let patch = if g.services[0].0 == 2 {
            "{}".to_string()
        } else {
            format!("{{ services: {{ s0: {{ scaling: {{ replicas: {replicas} }} }} }} }}")
        };
        y.push_str(&format!("  - name: p{}\n    patch: {patch}\n", n + 1));
    }
    y
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn generated_blueprints_render_deterministically(g in gen()) {
        let text = yaml(&g);
        let v = tierform::validate_str(&text);
        prop_assert_eq!(
            v.errors(), 0,
            "{}\n{}", text,
            tierform::render_text("generated.yaml", Some(&text), &v.diagnostics)
        );
        let templates = tierform::Templates::embedded().unwrap();
        let selection = tierform::Selection::default();
        let (a, _) = tierform::render(&v.phases, &selection, &templates)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let (b, _) = tierform::render(&v.phases, &selection, &templates).unwrap();
        prop_assert_eq!(&a, &b);
        for (path, body) in a.iter() {
            if path.ends_with(".yml") || path.ends_with(".yaml") {
                // Kubernetes files hold several documents.
                for doc in body.split("\n---\n") {
                    prop_assert!(tierform::load_yaml(doc).is_ok(), "{} does not parse back", path);
                }
            }
        }
        // A phase against itself: no change at all.
        let plans = tierform::plans(&v.phases, &selection).unwrap();
        for plan in &plans {
            prop_assert!(tierform::diff::summarize(plan, plan).is_empty());
            let prefix = format!("{}/", plan.phase);
            let mut own = tierform::OutputSet::new();
            for (path, body) in a.iter().filter(|(p, _)| p.starts_with(&prefix)) {
                own.insert(path.to_string(), body.to_string()).unwrap();
            }
            prop_assert!(tierform::diff::file_changes(&own, &plan.phase, &plan.phase, 3).is_empty());
        }
    }
}

/// Edits that make any generated blueprint invalid: (what, from, to, the finding's
/// code). `from` is replaced once; an edit whose `from` the blueprint lacks is skipped.
const BREAKS: &[(&str, &str, &str, &str)] = &[
    (
        "an image with a space",
        "image: gen/s0:1",
        "image: \"gen s0:1\"",
        "invalid-image",
    ),
    (
        "an unknown tier",
        "    tier: app\n",
        "    tier: nowhere\n",
        "unknown-reference",
    ),
    (
        "a misspelt field",
        "  s0:\n",
        "  s0:\n    replica: 2\n",
        "unknown-field",
    ),
    (
        "an uppercase name",
        "name: generated",
        "name: Generated",
        "invalid-name",
    ),
    (
        "a memory in MB",
        "memory: 128Mi",
        "memory: 128MB",
        "invalid-quantity",
    ),
    (
        "a negative count",
        "replicas: ",
        "replicas: -1",
        "out-of-range",
    ),
    (
        "a phase named twice",
        "phases:\n  - name: p0\n",
        "phases:\n  - name: p0\n  - name: p0\n",
        "duplicate-name",
    ),
    (
        "a duplicate key",
        "  s0:\n    tier: app\n",
        "  s0:\n    tier: app\n    tier: app\n",
        "duplicate-key",
    ),
    (
        "a route to nothing",
        "service: s",
        "service: nothing-",
        "unknown-reference",
    ),
    (
        "a use of nothing",
        "    uses: [",
        "    uses: [nothing, ",
        "unknown-reference",
    ),
    (
        "a worker without its broker",
        "queue: { broker: jobs",
        "queue: { broker: nothing",
        "unknown-reference",
    ),
    (
        "a port out of range",
        "port: 80",
        "port: 99980",
        "out-of-range",
    ),
    ("a wrong type", "version: 1", "version: [1]", "wrong-type"),
    (
        "a cut in the middle",
        "services:\n",
        "services:\n  s0: [\n",
        "yaml-syntax",
    ),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A generated blueprint broken in one known way is always refused, with that
    /// finding located, and never renders.
    #[test]
    fn broken_blueprints_are_always_refused(g in gen(), which in 0..BREAKS.len()) {
        let (what, from, to, code) = BREAKS[which];
        let text = yaml(&g);
        prop_assume!(text.contains(from));
        let broken = text.replacen(from, to, 1);
        let v = tierform::validate_str(&broken);
        prop_assert!(v.errors() > 0, "{} is accepted:\n{}", what, broken);
        prop_assert!(v.phases.is_empty(), "{}: phases resolved", what);
        prop_assert!(
            v.diagnostics.iter().any(|d| d.code == code && d.line.is_some()),
            "{}: no located `{}` among {:?}\n{}",
            what,
            code,
            v.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(),
            broken
        );
    }
}

#[test]
fn every_break_applies_to_a_full_blueprint_and_is_refused() {
    let g = Gen {
        services: vec![(0, 2), (1, 2), (2, 1), (0, 1)],
        postgres: Some((1, true, true)),
        cache_cluster: Some(true),
        hosts: true,
        haproxy: false,
        phases: vec![3],
    };
    let text = yaml(&g);
    assert_eq!(tierform::validate_str(&text).errors(), 0);
    for (what, from, to, code) in BREAKS {
        assert!(text.contains(from), "{what}: `{from}` is not in\n{text}");
        let v = tierform::validate_str(&text.replacen(from, to, 1));
        assert!(
            v.diagnostics.iter().any(|d| d.code == *code),
            "{what}: {:?}",
            v.diagnostics
        );
    }
}
