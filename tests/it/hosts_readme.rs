//! The hosts bundle's README: every machine folder, once, in an order that starts a
//! datastore's primary before its replicas and the datastores before what uses them.

use std::collections::BTreeMap;

use crate::common;

#[test]
fn every_machine_is_listed_once_in_a_start_order_that_works() {
    let mut seen = 0;
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        for (name, text) in set.iter() {
            let Some(bundle) = name.strip_suffix("/hosts/README.md") else {
                continue;
            };
            seen += 1;
            // step and what runs, by machine folder
            let mut rows: BTreeMap<String, (u32, String)> = BTreeMap::new();
            let mut last = 0;
            for line in text
                .lines()
                .filter(|l| l.starts_with("| ") && l.contains("/` |"))
            {
                let cells: Vec<&str> = line.split(" | ").collect();
                let step: u32 = cells[0].trim_start_matches("| ").parse().unwrap();
                assert!(step >= last, "{name}: steps out of order:\n{text}");
                last = step;
                let folder = cells[1].trim_matches('`').trim_end_matches('/').to_string();
                assert!(
                    rows.insert(folder.clone(), (step, cells[2].to_string()))
                        .is_none(),
                    "{name}: {folder} listed twice"
                );
            }
            // The folders the bundle has.
            let folders: std::collections::BTreeSet<String> = set
                .iter()
                .filter_map(|(p, _)| p.strip_prefix(&format!("{bundle}/hosts/")))
                .filter_map(|p| p.split_once('/').map(|(m, _)| m.to_string()))
                .collect();
            assert_eq!(
                rows.keys()
                    .cloned()
                    .collect::<std::collections::BTreeSet<_>>(),
                folders,
                "{name}:\n{text}"
            );
            // A replica's or pooler's machine never starts before its primary's.
            let step_of = |id: &str| {
                rows.values()
                    .find(|(_, what)| what.contains(&format!("`{id}`")))
                    .map(|(s, _)| *s)
            };
            for (_, what) in rows.values() {
                for id in what
                    .split(", ")
                    .map(|w| w.trim_matches(|c| c == '`' || c == ' ' || c == '|'))
                {
                    if let Some((store, _)) = id
                        .split_once("-replica-")
                        .or_else(|| id.split_once("-pooler"))
                    {
                        if let (Some(mine), Some(primary)) = (step_of(id), step_of(store)) {
                            assert!(
                                primary <= mine,
                                "{name}: {id} starts before {store}:\n{text}"
                            );
                        }
                    }
                }
            }
            assert!(text.contains("docker compose up -d"), "{name}");
        }
    }
    assert!(seen >= 4, "{seen}");
}
