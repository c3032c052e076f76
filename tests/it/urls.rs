//! Connection URLs a service asks for by its own names (`urls`): validation refuses a
//! URL of a datastore the service does not use, one that is also a variable of its
//! own, and one in a datastore's `<NAME>_` namespace; on compose the real Docker
//! Compose fills the password in from the `.env`, and the file never holds it.
//! (Kubernetes: tests/it/kubernetes_expansion.rs.)

use crate::common;

use tierform::Severity;

const BASE: &str = r#"
version: 1
name: shop
targets: [compose]
services:
  api:
    kind: http
    image: demo/api:1
    port: 8000
    uses: [db, cache, events]
    urls: URLS
    secrets: [SECRET_KEY]
datastores:
  db: { engine: postgres, database: shop }
  cache: { engine: redis, role: cache, resources: { memory: 256Mi } }
  events: { engine: rabbitmq }
  other: { engine: redis, role: cache, resources: { memory: 256Mi } }
"#;

fn blueprint(urls: &str) -> String {
    BASE.replace("URLS", urls)
}

fn errors(urls: &str) -> Vec<(String, String)> {
    tierform::validate_str(&blueprint(urls))
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.code.to_string(), d.pointer.to_string()))
        .collect()
}

#[test]
fn a_url_names_a_used_datastore_by_a_name_of_its_own() {
    assert_eq!(errors("{ DATABASE_URL: db, AMQP_URL: events }"), []);
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect()
    };
    assert_eq!(
        errors("{ REDIS_URL: other }"),
        pairs(&[("unknown-reference", "/services/api/urls/REDIS_URL")])
    );
    assert_eq!(
        errors("{ SECRET_KEY: db }"),
        pairs(&[("duplicate-name", "/services/api/urls/SECRET_KEY")])
    );
    assert_eq!(
        errors("{ CACHE_URL: cache }"),
        pairs(&[("env-conflict", "/services/api/urls/CACHE_URL")])
    );
    // The schema: a variable's name, a datastore's name.
    assert!(!errors("{ DATABASE_URL: Db }").is_empty());
    assert!(!errors("{ DATABASE-URL: db }").is_empty());
}

#[test]
fn compose_fills_the_password_into_the_url_from_the_env_file() {
    let Some(compose) = common::compose_binary() else {
        return;
    };
    let v = tierform::validate_str(&blueprint(
        "{ DATABASE_URL: db, REDIS_URL: cache, AMQP_URL: events }",
    ));
    assert_eq!(v.errors(), 0, "{:#?}", v.diagnostics);
    let templates = tierform::Templates::embedded().unwrap();
    let (set, _) =
        tierform::render(&v.phases, &tierform::Selection::default(), &templates).unwrap();
    let file = set.get("default/compose/docker-compose.yml").unwrap();
    assert!(!file.contains("pw-"), "no password in the file");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("docker-compose.yml"), file).unwrap();
    std::fs::write(
        tmp.path().join(".env"),
        "DB_PASSWORD=pw-db\nCACHE_PASSWORD=pw-cache\nEVENTS_PASSWORD=pw-events\n\
         OTHER_PASSWORD=o\nSECRET_KEY=k\nDB_SUPERUSER_PASSWORD=s\nDB_REPLICATION_PASSWORD=r\n\
         DB_MONITOR_PASSWORD=m\nGRAFANA_ADMIN_PASSWORD=g\n",
    )
    .unwrap();
    let config = common::compose_config_json(&compose, tmp.path());
    let env = &config["services"]["api"]["environment"];
    assert_eq!(env["DATABASE_URL"], "postgresql://shop:pw-db@db:5432/shop");
    assert_eq!(env["REDIS_URL"], "redis://:pw-cache@cache:6379/0");
    assert_eq!(env["AMQP_URL"], "amqp://app:pw-events@events:5672/%2F");
}

/// A password that goes into a URL as it is must be URL-safe; every place that asks
/// the deployer for it says so: the `.env.example` of compose and hosts, and the
/// Kubernetes README's Secret table. A password no URL holds carries no such note.
#[test]
fn a_password_inside_a_url_is_asked_for_as_url_safe() {
    let set = common::render_all(std::path::Path::new("blueprints/fastapi-celery.yaml"));
    let mut seen = 0;
    for (path, text) in set.iter() {
        let path = path.to_string();
        if path.ends_with(".env.example") {
            let at = text.find("\nDB_PASSWORD=").expect("DB_PASSWORD asked for");
            let note = &text[..at];
            let note = &note[note.rfind("\n\n").unwrap()..];
            assert!(
                note.contains("URL-safe") && note.contains("DATABASE_URL"),
                "{path}: {note}"
            );
            seen += 1;
        }
        if path.ends_with("kubernetes/README.md") {
            let row = text
                .lines()
                .find(|l| l.starts_with("| `DB_PASSWORD`"))
                .expect("a DB_PASSWORD row");
            assert!(
                row.contains("URL-safe") && row.contains("DATABASE_URL"),
                "{row}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 2, "{seen} files checked");
    // Without `urls`, the note is absent, but for the password postgres_exporter
    // reads (it cannot read a quote or backslash in it), beside its variable.
    let set = common::render_all(std::path::Path::new("blueprints/medhasakthi.yaml"));
    let mut monitor = 0;
    for (path, text) in set.iter() {
        for (i, line) in text.lines().enumerate() {
            if line.contains("URL-safe") {
                assert!(
                    line.contains("postgres_exporter"),
                    "{path}:{}: {line}",
                    i + 1
                );
                monitor += 1;
            }
        }
    }
    assert!(monitor > 0, "the monitoring password's note is missing");
}
