//! `tierform fmt`'s property: a generated blueprint written with its fields (and the
//! fields of its one-line flow mappings) in any order, a comment above each entry,
//! formats to one text, with each comment still above its entry.

use proptest::prelude::*;

use crate::fmt::formats;

/// A YAML tree to write in a chosen order: a mapping of fields (`true`: the schema
/// orders it) or of names, a sequence, or a scalar as written.
#[derive(Debug, Clone)]
enum T {
    Leaf(&'static str),
    Text(String),
    Map(bool, Vec<(String, T)>),
    /// A flow mapping of fields, on one line.
    Flow(Vec<(&'static str, &'static str)>),
    Seq(Vec<T>),
}

fn m(fields: bool, entries: Vec<(&str, T)>) -> T {
    T::Map(
        fields,
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn blueprint(services: &[(u8, u8)], postgres: bool, phases: u8) -> T {
    use T::*;
    let mut svc = Vec::new();
    for (i, (kind, replicas)) in services.iter().enumerate() {
        let mut fields = vec![
            ("image", Text(format!("gen/s{i}:1"))),
            ("tier", Leaf("app")),
            ("env", m(false, vec![("Z", Leaf("1")), ("A", Leaf("two"))])),
        ];
        if *kind == 0 {
            fields.push(("kind", Leaf("http")));
            fields.push(("port", Text(format!("{}", 8000 + i))));
            fields.push((
                "health",
                m(
                    true,
                    vec![("path", Leaf("/health")), ("interval", Leaf("5s"))],
                ),
            ));
        } else {
            fields.push(("kind", Leaf("worker")));
            fields.push(("command", Leaf("[work, --fast]")));
        }
        fields.push((
            "resources",
            T::Flow(vec![
                ("cpu", "100m"),
                ("memory", "128Mi"),
                ("memory_limit", "256Mi"),
            ]),
        ));
        fields.push((
            "scaling",
            m(true, vec![("replicas", Text(replicas.to_string()))]),
        ));
        svc.push((format!("s{i}"), m(true, fields)));
    }
    let mut top = vec![
        ("version".to_string(), Leaf("1")),
        ("name".to_string(), Leaf("generated")),
        ("targets".to_string(), Leaf("[compose, hosts]")),
        (
            "tiers".to_string(),
            m(
                false,
                vec![(
                    "app",
                    m(
                        true,
                        vec![
                            (
                                "machine",
                                m(true, vec![("cpu", Leaf("4")), ("memory", Leaf("8Gi"))]),
                            ),
                            ("hosts", Seq(vec![Leaf("10.0.0.1"), Leaf("10.0.0.2")])),
                        ],
                    ),
                )],
            ),
        ),
        ("services".to_string(), T::Map(false, svc)),
    ];
    if postgres {
        top.push((
            "datastores".into(),
            m(
                false,
                vec![(
                    "db",
                    m(
                        true,
                        vec![
                            ("engine", Leaf("postgres")),
                            ("database", Leaf("gen")),
                            ("replicas", Leaf("1")),
                            ("pooler", m(true, vec![("engine", Leaf("pgbouncer"))])),
                        ],
                    ),
                )],
            ),
        ));
    }
    let mut list = Vec::new();
    for p in 0..phases {
        list.push(m(
            true,
            vec![
                ("name", Text(format!("p{p}"))),
                ("description", Leaf("a phase")),
                (
                    "patch",
                    m(
                        true,
                        vec![(
                            "services",
                            m(false, vec![("s0", m(true, vec![("tier", Leaf("app"))]))]),
                        )],
                    ),
                ),
            ],
        ));
    }
    if !list.is_empty() {
        top.push(("phases".into(), Seq(list)));
    }
    T::Map(true, top)
}

/// Writes `t` in block style, each field mapping in an order drawn from `seed`, each
/// entry with a comment above it (but a sequence item's own fields: a comment above a
/// dash is the item's, and stays above it).
fn write(t: &T, indent: usize, seed: &mut u64, out: &mut String) {
    write_item(t, indent, seed, out, true)
}

fn write_item(t: &T, indent: usize, seed: &mut u64, out: &mut String, comments: bool) {
    let pad = " ".repeat(indent);
    match t {
        T::Map(fields, entries) => {
            let mut order: Vec<usize> = (0..entries.len()).collect();
            if *fields {
                for i in (1..order.len()).rev() {
                    *seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    order.swap(i, (*seed >> 33) as usize % (i + 1));
                }
            }
            for i in order {
                let (k, v) = &entries[i];
                if comments {
                    out.push_str(&format!("{pad}# about {k}\n"));
                }
                match v {
                    T::Leaf(s) => out.push_str(&format!("{pad}{k}: {s}  # {k}'s value\n")),
                    T::Text(s) => out.push_str(&format!("{pad}{k}: {s}\n")),
                    T::Flow(fields) => {
                        let mut order: Vec<usize> = (0..fields.len()).collect();
                        for i in (1..order.len()).rev() {
                            *seed = seed
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407);
                            order.swap(i, (*seed >> 33) as usize % (i + 1));
                        }
                        let body: Vec<String> = order
                            .iter()
                            .map(|&i| format!("{}: {}", fields[i].0, fields[i].1))
                            .collect();
                        out.push_str(&format!("{pad}{k}: {{ {} }}\n", body.join(", ")));
                    }
                    _ => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        write(v, indent + 2, seed, out);
                    }
                }
            }
        }
        T::Seq(items) => {
            for item in items {
                match item {
                    T::Leaf(s) => out.push_str(&format!("{pad}- {s}\n")),
                    T::Text(s) => out.push_str(&format!("{pad}- {s}\n")),
                    _ => {
                        // `- first: …` on the dash's line.
                        let mut inner = String::new();
                        write_item(item, indent + 2, seed, &mut inner, false);
                        let mut lines = inner.lines();
                        if let Some(first) = lines.next() {
                            out.push_str(&format!("{pad}- {}\n", first.trim_start()));
                        }
                        for line in lines {
                            out.push_str(line);
                            out.push('\n');
                        }
                    }
                }
            }
        }
        T::Leaf(s) => out.push_str(&format!("{pad}{s}\n")),
        T::Text(s) => out.push_str(&format!("{pad}{s}\n")),
        T::Flow(_) => unreachable!("a flow mapping is a field's value"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_shuffle_of_a_generated_blueprint_formats_alike(
        services in prop::collection::vec((0u8..2, 1u8..=3), 1..4),
        postgres in any::<bool>(),
        phases in 0u8..3,
        seeds in prop::collection::vec(any::<u64>(), 3),
    ) {
        let t = blueprint(&services, postgres, phases);
        let mut first: Option<String> = None;
        for mut seed in seeds {
            let mut text = String::new();
            write(&t, 0, &mut seed, &mut text);
            let formatted = formats(&text, "generated");
            // Each entry's comment is still on the line above it.
            let lines: Vec<&str> = formatted.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                if let Some(key) = l.trim().strip_prefix("# about ") {
                    let next = lines[i + 1].trim().trim_start_matches("- ");
                    prop_assert!(next.starts_with(&format!("{key}:")), "{formatted}");
                }
            }
            match &first {
                None => first = Some(formatted),
                Some(f) => prop_assert_eq!(f, &formatted),
            }
        }
    }
}
