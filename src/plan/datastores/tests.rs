//! Unit tests of the datastore plan: what each engine decides, on small blueprints.

use super::*;

/// The plan of the first phase of a blueprint.
fn plan_of(yaml: &str) -> crate::plan::Plan {
    let v = crate::check::validate::validate_str(yaml, &crate::plan::placement::findings);
    // Tiers here are machines for hosts; on Kubernetes they need no node pools.
    let findings: Vec<_> = v
        .diagnostics
        .iter()
        .filter(|d| d.code != crate::check::code::Code::TiersWithoutPools)
        .collect();
    assert!(v.errors() == 0 && findings.is_empty(), "{findings:?}");
    crate::plan::resolve("t", &v.phases[0]).unwrap()
}

fn vars(store: &DatastorePlan, platform: Platform) -> Vec<(String, String)> {
    store.connection[&platform]
        .iter()
        .map(|v| {
            let value = match &v.value {
                EnvValue::Literal(text) => text.clone(),
                EnvValue::Secret(name) => format!("secret {name}"),
                EnvValue::Composed(parts) => format!("{parts:?}"),
                EnvValue::Field(path) => format!("field {path}"),
            };
            (v.name.clone(), value)
        })
        .collect()
}

const BLUEPRINT: &str = "
version: 1
name: t
targets: [compose, hosts, kubernetes]
tiers:
  app: { machine: { cpu: 2, memory: 4Gi }, hosts: [10.0.0.1] }
  data: { machine: { cpu: 2, memory: 4Gi }, hosts: [10.0.0.2, 10.0.0.3, 10.0.0.4] }
services:
  api: { kind: http, tier: app, image: 'a:1', port: 8000, uses: [db, cache] }
datastores:
  db: { engine: postgres, tier: data, database: app, replicas: 2 }
  cache: { engine: redis, tier: data, mode: cluster, cluster: { masters: 3, replicas_per_master: 1 }, resources: { memory: 256Mi } }
";

#[test]
fn postgres_without_a_pooler_reads_from_its_replicas() {
    let plan = plan_of(BLUEPRINT);
    let db = &plan.datastores["db"];
    let got = vars(db, Platform::Compose);
    let want: Vec<(String, String)> = [
        ("DB_HOST", "db"),
        ("DB_PORT", "5432"),
        ("DB_NAME", "app"),
        ("DB_USER", "app"),
        ("DB_PASSWORD", "secret DB_PASSWORD"),
        ("DB_READ_HOST", "db-replica-1"),
        ("DB_READ_HOSTS", "db-replica-1:5432,db-replica-2:5432"),
        ("DB_READ_PORT", "5432"),
        ("DB_READ_NAME", "app"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    assert_eq!(got, want);
    let k8s = vars(db, Platform::Kubernetes);
    assert_eq!(k8s[0].1, "db.t.svc.cluster.local");
    assert_eq!(k8s[5].1, "db-ro.t.svc.cluster.local");
}

/// The objects a datastore is made of on Kubernetes are named once, and its users'
/// addresses are built from those names.
#[test]
fn kubernetes_objects_are_named_once_and_addresses_follow_them() {
    let plan = plan_of(BLUEPRINT);
    let db = &plan.datastores["db"].kubernetes;
    assert_eq!((db.workload.as_str(), db.port), ("db", 5432));
    let replicas = db.replicas.as_ref().unwrap();
    assert_eq!(
        (replicas.workload.as_str(), replicas.headless.as_str()),
        ("db-replica", "db-replica-headless")
    );
    let reads = vars(&plan.datastores["db"], Platform::Kubernetes);
    assert_eq!(
        reads[5].1,
        format!("{}.t.svc.cluster.local", replicas.read_service)
    );
    assert!(db.pooler.is_none() && db.bus_port.is_none());
    let cache = &plan.datastores["cache"];
    let k = &cache.kubernetes;
    assert_eq!((k.port, k.bus_port), (6379, Some(16379)));
    assert_eq!(k.cluster_init.as_deref(), Some("cache-cluster-init"));
    let first = &cache.nodes[&Platform::Kubernetes][0];
    assert_eq!(
        first.host,
        format!("cache-0.{}.t.svc.cluster.local", k.headless)
    );
}

#[test]
fn pg_hba_admits_the_machines_that_use_the_database_on_hosts() {
    let plan = plan_of(BLUEPRINT);
    let pg = plan.datastores["db"].postgres().unwrap();
    let hosts = &pg.hba[&Platform::Hosts];
    assert_eq!(hosts.app, ["10.0.0.1/32"]);
    assert!(!hosts.replication.is_empty());
    assert!(hosts.replication.iter().all(|n| n.ends_with("/32")));
    assert_eq!(pg.hba[&Platform::Compose].app, ["samenet"]);
    assert_eq!(pg.hba[&Platform::Kubernetes].app, ["0.0.0.0/0", "::/0"]);
}

#[test]
fn a_redis_cluster_lists_every_node_and_keeps_its_data() {
    let plan = plan_of(BLUEPRINT);
    let cache = &plan.datastores["cache"];
    let got = vars(cache, Platform::Compose);
    assert_eq!(got[0], ("CACHE_HOST".into(), "cache-1".into()));
    assert_eq!(
        got[2],
        (
            "CACHE_CLUSTER_NODES".into(),
            (1..=6)
                .map(|i| format!("cache-{i}:6379"))
                .collect::<Vec<_>>()
                .join(",")
        )
    );
    assert_eq!(
        got[3],
        ("CACHE_PASSWORD".into(), "secret CACHE_PASSWORD".into())
    );
    assert!(cache.keeps_data);
    assert_eq!(cache.image, "redis:8.0");
    assert_eq!(cache.engine.to_string(), "redis");
}

/// A standby region: the phase's primary admits the region's server for replication
/// (its machine alone, with routable addresses), both sides have two more WAL senders
/// than the phase's replicas need, and the region's server streams from the primary.
#[test]
fn a_standby_region_streams_from_the_primary_through_its_own_slot() {
    let yaml = BLUEPRINT.replace(
        "targets: [compose, hosts, kubernetes]",
        "targets: [hosts]",
    ) + "standby:\n  name: west\n  hosts: { app: [10.1.0.1], data: [10.1.0.2, 10.1.0.3, 10.1.0.4] }\n";
    let plan = plan_of(&yaml);
    let pg = plan.datastores["db"].postgres().unwrap();
    let region = plan.standby.as_ref().expect("a standby region");
    assert_eq!(region.dir, "standby-west");
    let theirs = region.plan.datastores["db"].postgres().unwrap();
    let link = pg
        .standby
        .as_ref()
        .expect("the primary's side of the stream");
    assert_eq!(
        (
            link.upstream_host.as_str(),
            link.machine.as_str(),
            link.slot.as_str()
        ),
        ("10.0.0.2", "10.1.0.2", "db_standby")
    );
    assert_eq!(theirs.upstream.as_ref().map(|l| &l.slot), Some(&link.slot));
    assert!(pg.upstream.is_none() && theirs.standby.is_none());
    assert_eq!((pg.max_wal_senders, theirs.max_wal_senders), (6, 6));
    assert_eq!(
        pg.hba[&Platform::Hosts].replication,
        ["10.0.0.3/32", "10.0.0.4/32", "10.1.0.2/32"]
    );
    // The region's own replicas stream from its server, admitted there.
    assert_eq!(
        theirs.hba[&Platform::Hosts].replication,
        ["10.1.0.3/32", "10.1.0.4/32"]
    );
    let leader = region.plan.datastores["db"]
        .nodes_on(Platform::Hosts)
        .iter()
        .find(|n| n.role == NodeRole::Primary)
        .unwrap();
    assert_eq!(leader.machine, "10.1.0.2");
    assert_eq!(
        region.plan.standby_region.as_ref().map(|r| r.name.as_str()),
        Some("west")
    );
}
