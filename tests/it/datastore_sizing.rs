//! Datastore servers are configured for the resources their containers get: RabbitMQ
//! blocks publishers below its memory limit, PostgreSQL requests the CPUs its settings
//! are tuned for.

use crate::common;

use tierform::{plans, Selection};

/// With a memory limit, RabbitMQ's watermark is an absolute share of it: a relative
/// watermark is a share of the memory the kernel reports, which in a container is the
/// whole node's.
#[test]
fn rabbitmq_watermark_is_a_share_of_its_memory_limit() {
    let set = common::render_all(std::path::Path::new("tests/fixtures/render/brokers.yaml"));
    let mut seen = 0;
    for (name, text) in set.iter() {
        if !name.ends_with("events/rabbitmq.conf") {
            continue;
        }
        seen += 1;
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("vm_memory_high_watermark"))
            .collect();
        // 60% of `memory_limit: 2Gi`.
        assert_eq!(
            lines,
            ["vm_memory_high_watermark.absolute = 1288490188"],
            "{name}"
        );
    }
    assert!(seen >= 2, "{seen}");
}

/// The CPU request of each PostgreSQL container is what its settings are tuned for
/// (parallel workers): one CPU per tuned CPU when the blueprint gives no request, and
/// tuned for the whole CPUs requested when it gives one.
#[test]
fn postgres_requests_the_cpus_it_is_tuned_for() {
    let mut wrong = Vec::new();
    let mut seen = 0;
    for path in common::render_blueprints() {
        let v = tierform::validate_bytes(&std::fs::read(&path).unwrap());
        for plan in plans(&v.phases, &Selection::default()).unwrap() {
            for d in plan.datastores.values() {
                let Some(pg) = d.postgres() else { continue };
                seen += 1;
                let requested = d.server_resources.with_defaults().cpu_millis;
                let tuned = u64::from(pg.cpus) * 1000;
                let ok = if d.resources.cpu_millis == 0 {
                    match d.resources.cpu_limit_millis {
                        0 => requested == tuned,
                        limit => requested == tuned.min(limit),
                    }
                } else {
                    tuned == (d.resources.cpu_millis / 1000).max(1) * 1000
                };
                if !ok {
                    wrong.push(format!(
                        "{} {} {}: tuned for {} CPUs, requests {requested}m (blueprint {}m / {}m)",
                        path.display(),
                        plan.phase,
                        d.name,
                        pg.cpus,
                        d.resources.cpu_millis,
                        d.resources.cpu_limit_millis
                    ));
                }
            }
        }
    }
    assert!(seen > 5, "{seen}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
