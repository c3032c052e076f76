//! The Kubernetes bundle's README: the Secret's keys are rows of its table, under its
//! heading, before what the cluster needs.

use crate::common;

#[test]
fn secret_rows_are_in_the_secret_table() {
    let mut seen = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        for (name, text) in set.iter() {
            if !name.ends_with("/kubernetes/README.md") {
                continue;
            }
            seen += 1;
            let lines: Vec<&str> = text.lines().collect();
            let header = lines
                .iter()
                .position(|l| *l == "| key | read by |")
                .unwrap_or_else(|| panic!("{name}: no Secret table"));
            // The table is the header, its rule and one row per key, unbroken.
            let rows = lines[header + 2..]
                .iter()
                .take_while(|l| l.starts_with("| `"))
                .count();
            let all_rows = lines.iter().filter(|l| l.starts_with("| `")).count();
            assert!(rows > 0, "{name}: the Secret table has no rows:\n{text}");
            assert_eq!(
                rows, all_rows,
                "{name}: rows outside the Secret table:\n{text}"
            );
        }
    }
    assert!(seen >= 4, "{seen}");
}

/// The README's steps work in the order written on a fresh cluster: `kubectl -n NS
/// create secret` needs the namespace, which `apply -k` would create only later.
#[test]
fn the_namespace_is_created_before_the_secret() {
    let mut seen = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        for (name, text) in set.iter() {
            if !name.ends_with("/kubernetes/README.md") {
                continue;
            }
            seen += 1;
            let ns = text.find("kubectl apply -f namespace.yaml");
            let secret = text.find("create secret generic").unwrap();
            assert!(
                ns.is_some_and(|n| n < secret),
                "{name}: the Secret is created before its namespace:\n{text}"
            );
            let folder = name.trim_end_matches("README.md");
            assert!(
                set.get(&format!("{folder}namespace.yaml")).is_some(),
                "{name}: no namespace.yaml"
            );
        }
    }
    assert!(seen >= 4, "{seen}");
}
