//! Datastores a provider runs (`managed`): no server of theirs in any bundle, and the
//! services that use them get the same variables and URLs, with the provider's address
//! and TLS; KEDA reads a managed broker; `plan` counts the providers' costs; `diff`
//! says that the data does not move by itself.

use serde_json::{json, Value};

use crate::common;

const FIXTURE: &str = "tests/fixtures/render/managed.yaml";
const RDS: &str = "storefront.c8xk2dq1.eu-west-1.rds.amazonaws.com";

fn docs(text: &str) -> Vec<Value> {
    common::yaml_docs(text)
}

#[test]
fn no_server_is_rendered_for_a_managed_datastore() {
    let set = common::render_all(std::path::Path::new(FIXTURE));
    // The phase before runs all three itself.
    assert!(set
        .get("self-run/compose/postgres/db/postgresql.conf")
        .is_some());
    let managed: Vec<&str> = set
        .iter()
        .map(|(f, _)| f)
        .filter(|f| f.starts_with("managed/"))
        .collect();
    for f in &managed {
        for store in [
            "postgres/",
            "redis/",
            "rabbitmq/",
            "/db.yaml",
            "/jobs.yaml",
            "/events.yaml",
        ] {
            assert!(!f.contains(store), "{f} is a managed datastore's server");
        }
    }
    let compose = tierform::load_yaml(set.get("managed/compose/docker-compose.yml").unwrap())
        .unwrap()
        .to_json();
    let names: Vec<&String> = compose["services"].as_object().unwrap().keys().collect();
    for n in &names {
        assert!(
            !["db", "jobs", "events", "db-exporter", "jobs-exporter"].contains(&n.as_str()),
            "compose runs {n}"
        );
    }
    // Nothing waits for a server that is not there.
    assert_eq!(compose["services"]["api"]["depends_on"], Value::Null);
    // No exporter scrapes a provider's server.
    let prometheus = set
        .get("managed/compose/monitoring/prometheus.yml")
        .unwrap();
    assert!(!prometheus.contains("db-exporter") && !prometheus.contains("jobs-exporter"));
}

#[test]
fn services_reach_the_providers_over_tls_with_the_same_variables() {
    let set = common::render_all(std::path::Path::new(FIXTURE));
    let compose = tierform::load_yaml(set.get("managed/compose/docker-compose.yml").unwrap())
        .unwrap()
        .to_json();
    let env = &compose["services"]["worker"]["environment"];
    assert_eq!(env["DB_HOST"], RDS);
    assert_eq!(env["DB_PORT"], "5432");
    assert_eq!(
        env["DB_READ_HOST"],
        "storefront.cluster-ro-c8xk2dq1.eu-west-1.rds.amazonaws.com"
    );
    assert_eq!(env["DB_TLS"], "true");
    assert_eq!(env["EVENTS_PORT"], "5671", "AMQP over TLS has its own port");
    assert_eq!(env["EVENTS_USER"], "storefront");
    let url = |v: &Value| v.as_str().unwrap().to_string();
    assert!(url(&env["AMQP_URL"]).starts_with("amqps://storefront:${EVENTS_PASSWORD:?"));
    assert!(url(&env["CELERY_BROKER_URL"]).starts_with("rediss://:${JOBS_PASSWORD:?"));
    // ElastiCache's certificate is from a public CA: checked (redis-py and Celery
    // want the check said); RDS's is not (`verify: false`): encrypted, unchecked.
    assert!(url(&env["CELERY_BROKER_URL"]).ends_with(":6379/0?ssl_cert_reqs=required"));
    assert_eq!(env["DB_SSLMODE"], "require");
    let api = &compose["services"]["api"]["environment"];
    assert!(
        url(&api["DATABASE_URL"]).ends_with(&format!("@{RDS}:5432/storefront?sslmode=require")),
        "{}",
        api["DATABASE_URL"]
    );
    // The phase before: the same variables, its own servers, no TLS.
    let before = tierform::load_yaml(set.get("self-run/compose/docker-compose.yml").unwrap())
        .unwrap()
        .to_json();
    let env0 = &before["services"]["worker"]["environment"];
    assert_eq!(env0["DB_HOST"], "db");
    assert_eq!(env0["DB_TLS"], Value::Null);
    let mut keys0: Vec<&String> = env0.as_object().unwrap().keys().collect();
    let mut keys1: Vec<&String> = env
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.ends_with("_TLS") && !k.ends_with("_SSLMODE"))
        .collect();
    keys0.sort();
    keys1.sort();
    assert_eq!(
        keys0, keys1,
        "the same variables, whoever runs the datastore"
    );
    // The passwords are still asked for, by the services that read them.
    let example = set.get("managed/compose/.env.example").unwrap();
    for key in ["DB_PASSWORD=", "JOBS_PASSWORD=", "EVENTS_PASSWORD="] {
        assert!(example.contains(key), "{key}");
    }
    // Kubernetes: KEDA reads the managed Redis over TLS; the Secret names its key.
    let worker = docs(set.get("managed/kubernetes/worker.yaml").unwrap());
    let scaled = worker.iter().find(|d| d["kind"] == "ScaledObject").unwrap();
    assert_eq!(
        scaled["spec"]["triggers"][0]["metadata"],
        json!({
            "address": "master.storefront-jobs.x1y2z3.euw1.cache.amazonaws.com:6379",
            "listName": "orders",
            "listLength": "50",
            "enableTLS": "true",
        })
    );
    let readme = set.get("managed/kubernetes/README.md").unwrap();
    assert!(
        readme.contains(&format!("`db` (postgres) at {RDS}:5432 over TLS")),
        "{readme}"
    );
}

#[test]
fn plan_and_diff_count_the_providers() {
    let report = common::tierform_json(&["plan", "--format", "json", FIXTURE]);
    let phase = &report["phases"][1];
    assert_eq!(phase["phase"], "managed");
    assert_eq!(phase["monthly_cost"], json!(575.0));
    let db = phase["datastores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "db")
        .unwrap();
    assert_eq!(db["monthly_cost"], json!(420.0));
    assert_eq!(db["max_instances"], json!(0));
    let d = common::tierform_json(&["diff", "--format", "json", FIXTURE, "self-run", "managed"]);
    let change = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "db")
        .unwrap();
    assert_eq!(change["field"], "managed");
    assert_eq!(change["to"]["host"], RDS);
    let notes = d["notes"].to_string();
    assert!(notes.contains("`db` moves to the provider at"), "{notes}");
    assert!(notes.contains("pg_dump"), "{notes}");
}

#[test]
fn a_managed_redis_cluster_gives_cluster_clients_its_endpoint_and_hosts_machines_are_told() {
    let set = common::render_text(
        "version: 1
name: m
targets: [hosts]
tiers:
  app: { machine: { cpu: 2, memory: 4Gi }, hosts: [10.0.0.11, 10.0.0.12] }
services:
  api: { kind: worker, tier: app, image: demo:1, uses: [rc], scaling: { replicas: 2 } }
datastores:
  rc:
    engine: redis
    mode: cluster
    managed: { host: clustercfg.rc.x1y2.euw1.cache.amazonaws.com }
",
    );
    let compose = tierform::load_yaml(
        set.get("default/hosts/10.0.0.12/docker-compose.yml")
            .unwrap(),
    )
    .unwrap()
    .to_json();
    let env = &compose["services"]["api-2"]["environment"];
    assert_eq!(
        env["RC_CLUSTER_NODES"],
        "clustercfg.rc.x1y2.euw1.cache.amazonaws.com:6379"
    );
    let readme = set.get("default/hosts/README.md").unwrap();
    assert!(
        readme.contains("| `rc` (redis) | clustercfg.rc.x1y2.euw1.cache.amazonaws.com:6379 | over TLS, certificate checked | `10.0.0.11/`, `10.0.0.12/` |"),
        "{readme}"
    );
}
