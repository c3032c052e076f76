//! Every bundled blueprint and the `init` starter validate cleanly, and each phase
//! resolves to the blueprint its patches describe (snapshotted per blueprint × phase).

use crate::common;

use tierform::render_text;
use tierform::validate_bytes;

/// The findings a bundled blueprint keeps on purpose, by blueprint: (code, why).
const KEPT: &[(&str, &str, &str)] = &[
    (
        "bet-intel",
        "crashes-empty-pool",
        "its seed's own nginx upstream says max_fails=3 fail_timeout=30s; the warning is what tierform says about it",
    ),
    (
        "aqi-monitor",
        "unmeasured",
        "the seed's conditions (concurrent users, routes that are the bottleneck, a scheduler that blocks requests) are judgements no metric measures; they stay text, and validation says so",
    ),
    (
        "bet-intel",
        "unmeasured",
        "read query time (the seed's application histogram of database queries) and the backlog in seconds of processing are not in the signal vocabulary",
    ),
    (
        "fastapi-celery",
        "unmeasured",
        "concurrent users and 'database queries are the bottleneck' are judgements no metric measures",
    ),
    (
        "bet-intel",
        "queue-without-consumer",
        "the seed's dedicated pools consume ev_calculation, data_refresh and notifications, its task routes send nothing to the default `celery` queue any more: what is left in it at the move must be drained first, which is what the warning says",
    ),
    (
        "medhasakthi",
        "unmeasured",
        "concurrent users, SLAs, geography and revenue are the seed's own reasons to grow; no metric measures them",
    ),
    (
        "fastapi-celery",
        "cluster-without-replicas",
        "the seed's Redis Cluster has three nodes; three masters without replicas is what it says, and losing one loses its share of the cache, which the warning says",
    ),
    (
        "bet-intel",
        "cluster-without-replicas",
        "the seed's Redis Cluster is three nodes (redis-node-1 to 3); without replicas no node can fail over, which the warning says against the seed's own hope of automatic failover",
    ),
    (
        "medhasakthi",
        "replicas-on-one-machine",
        "the seed's horizontal phase has one database server for the primary and its replica; the warning says what losing it loses",
    ),
];

fn check_clean(name: &str, bytes: &[u8]) -> tierform::Validated {
    let v = validate_bytes(bytes);
    let unexpected: Vec<_> = v
        .diagnostics
        .iter()
        .filter(|d| {
            !KEPT
                .iter()
                .any(|(bp, code, _)| *bp == name && d.code.as_str() == *code)
        })
        .cloned()
        .collect();
    assert!(
        unexpected.is_empty(),
        "{name} has findings:\n{}",
        render_text(name, v.source.as_deref(), &unexpected)
    );
    for (bp, code, why) in KEPT.iter().filter(|(bp, ..)| *bp == name) {
        assert!(
            v.diagnostics.iter().any(|d| d.code.as_str() == *code),
            "{bp} no longer has {code}, kept because {why}: drop it from KEPT"
        );
    }
    assert!(!v.phases.is_empty());
    v
}

#[test]
fn bundled_blueprints_validate_and_resolve() {
    let mut count = 0;
    insta::with_settings!({
        snapshot_path => "../../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for path in common::yaml_files("blueprints") {
            count += 1;
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                text.starts_with("# yaml-language-server: $schema=../schema/blueprint.schema.json"),
                "{stem} lacks the schema modeline"
            );
            let v = check_clean(&stem, &bytes);
            for phase in &v.phases {
                let json = serde_json::to_string_pretty(&serde_json::json!({
                    "phase": phase.name,
                    "targets": phase.targets,
                    "enter_when": phase.enter_when,
                    "blueprint": phase.blueprint,
                }))
                .unwrap();
                insta::assert_snapshot!(format!("resolved@{stem}.{}", phase.name), json);
            }
        }
    });
    assert!(
        count >= 4,
        "expected the four seed blueprints, found {count}"
    );
}

#[test]
fn starter_validates() {
    check_clean("starter", tierform::STARTER.as_bytes());
}
