//! Kubernetes expands `$(NAME)` in a container's `command`, `args` and `env` values,
//! and in an exec probe's command, from the container's environment, and reads `$$` as
//! one `$`. A blueprint's text must reach the process as the blueprint says it: the
//! kubelet must not put a Secret into a process's arguments because an argument reads
//! `$(CACHE_PASSWORD)`. The variables tierform itself builds from others
//! (`REDIS_ANNOUNCE_HOSTNAME` from `$(POD_NAME)`) must still expand.
//!
//! The test expands the rendered manifests the way the kubelet does
//! (`third_party/forked/golang/expansion` in Kubernetes) and compares with the blueprint.

use std::collections::BTreeMap;

use serde_json::Value;
use tierform::{Platform, Selection};

const BLUEPRINT: &str = r#"
version: 1
name: expand
targets: [kubernetes]
services:
  api:
    kind: http
    image: demo/api:1
    port: 8000
    command: ["serve", "--broker-password=$(CACHE_PASSWORD)", "cost: $$5", "$(", "$HOME", "$(LOG_LEVEL)"]
    health: { command: ["probe", "$(LOG_LEVEL)", "$$"] }
    env:
      LOG_LEVEL: info
      X_GREETING: "$(LOG_LEVEL) costs $$5"
      PASSED_ON: "$(CACHE_PASSWORD)"
    uses: [cache]
datastores:
  cache: { engine: redis, role: cache, resources: { memory: 256Mi } }
"#;

/// The kubelet's `expansion.Expand`: `$$` is `$`, `$(NAME)` is the variable's value
/// when it is defined (otherwise it stays as written), any other `$` is itself.
fn expand(input: &str, vars: &BTreeMap<String, String>) -> String {
    let b = input.as_bytes();
    let mut out = String::new();
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match vars.get(name) {
                            Some(value) => out.push_str(value),
                            None => out.push_str(&format!("$({name})")),
                        }
                        close + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    let c = rest.chars().next().unwrap();
                    out.push('$');
                    out.push(c);
                    c.len_utf8()
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

#[test]
fn the_kubelet_expansion_model_matches_kubernetes() {
    let vars: BTreeMap<String, String> = [("A".to_string(), "x".to_string())].into();
    assert_eq!(expand("$(A)", &vars), "x");
    assert_eq!(expand("$$(A)", &vars), "$(A)");
    assert_eq!(expand("$$", &vars), "$");
    assert_eq!(expand("$(B)", &vars), "$(B)");
    assert_eq!(expand("$HOME $", &vars), "$HOME $");
    assert_eq!(expand("$(A", &vars), "$(A");
    assert_eq!(expand("a$(A)b$(A)", &vars), "axbx");
}

fn containers(text: &str) -> Vec<Value> {
    let v = tierform::validate_str(text);
    assert_eq!(v.errors(), 0, "{:#?}", v.diagnostics);
    let templates = tierform::Templates::embedded().unwrap();
    let selection = Selection {
        phases: Vec::new(),
        platforms: vec![Platform::Kubernetes],
    };
    let (set, _) = tierform::render(&v.phases, &selection, &templates).unwrap();
    let mut out = Vec::new();
    for (path, text) in set.iter() {
        if !path.ends_with(".yaml") {
            continue;
        }
        for doc in text.split("\n---\n") {
            let doc = tierform::load_yaml(doc).unwrap().to_json();
            let spec = &doc["spec"]["template"]["spec"];
            for c in spec["containers"].as_array().into_iter().flatten() {
                out.push(c.clone());
            }
        }
    }
    out
}

/// A container's variables as the kubelet resolves them in order: a static value
/// expanded from the ones before it, a reference to a Secret or the pod's fields as a
/// marker naming it.
fn environment(c: &Value) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for e in c["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap().to_string();
        let value = match e["value"].as_str() {
            Some(v) => expand(v, &vars),
            None => format!("<{name} from its source>"),
        };
        vars.insert(name, value);
    }
    vars
}

#[test]
fn kubernetes_processes_see_the_blueprint_text_not_an_expansion() {
    let all = containers(BLUEPRINT);
    let api = all.iter().find(|c| c["name"] == "api").expect("api");
    let vars = environment(api);
    assert!(vars.contains_key("CACHE_PASSWORD"), "{vars:?}");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let args: Vec<String> = strings(&api["args"])
        .iter()
        .map(|a| expand(a, &vars))
        .collect();
    assert_eq!(
        args,
        [
            "serve",
            "--broker-password=$(CACHE_PASSWORD)",
            "cost: $$5",
            "$(",
            "$HOME",
            "$(LOG_LEVEL)"
        ],
        "the process's arguments"
    );
    assert_eq!(vars["X_GREETING"], "$(LOG_LEVEL) costs $$5");
    assert_eq!(vars["PASSED_ON"], "$(CACHE_PASSWORD)");
    assert_eq!(vars["LOG_LEVEL"], "info");
    // Probes expand from the static variables only, the same way.
    let probe: Vec<String> = strings(&api["readinessProbe"]["exec"]["command"])
        .iter()
        .map(|a| expand(a, &vars))
        .collect();
    assert_eq!(
        probe,
        ["probe", "$(LOG_LEVEL)", "$$"],
        "the probe's command"
    );
}

#[test]
fn variables_tierform_builds_from_others_still_expand() {
    let text = r#"
version: 1
name: expand
targets: [kubernetes]
services:
  api: { kind: http, image: demo/api:1, port: 8000, uses: [cache] }
datastores:
  cache: { engine: redis, role: cache, mode: cluster, cluster: { masters: 3, replicas_per_master: 1 }, resources: { memory: 256Mi } }
"#;
    let all = containers(text);
    let mut seen = false;
    for c in &all {
        let vars = environment(c);
        if let Some(host) = vars.get("REDIS_ANNOUNCE_HOSTNAME") {
            assert!(host.starts_with("<POD_NAME from its source>."), "{host}");
            seen = true;
        }
    }
    assert!(seen, "a Redis Cluster node announces its pod's name");
}

/// A connection URL a service asks for (`urls`) holds its password as `$(…_PASSWORD)`,
/// a variable before it in the container's environment: the kubelet puts the Secret's
/// value there, and the manifest never holds it.
#[test]
fn connection_urls_expand_to_the_secret_they_name() {
    let text = r#"
version: 1
name: expand
targets: [kubernetes]
services:
  api:
    kind: http
    image: demo/api:1
    port: 8000
    uses: [db, cache, events]
    urls: { DATABASE_URL: db, REDIS_URL: cache, AMQP_URL: events }
datastores:
  db: { engine: postgres, database: shop }
  cache: { engine: redis, role: cache, resources: { memory: 256Mi } }
  events: { engine: rabbitmq }
"#;
    let all = containers(text);
    let api = all.iter().find(|c| c["name"] == "api").expect("api");
    let vars = environment(api);
    let secret = |name: &str| format!("<{name} from its source>");
    assert_eq!(
        vars["DATABASE_URL"],
        format!(
            "postgresql://{}:{}@{}:{}/{}",
            vars["DB_USER"],
            secret("DB_PASSWORD"),
            vars["DB_HOST"],
            vars["DB_PORT"],
            vars["DB_NAME"]
        )
    );
    assert_eq!(
        vars["REDIS_URL"],
        format!(
            "redis://:{}@{}:{}/0",
            secret("CACHE_PASSWORD"),
            vars["CACHE_HOST"],
            vars["CACHE_PORT"]
        )
    );
    assert_eq!(
        vars["AMQP_URL"],
        format!(
            "amqp://{}:{}@{}:{}/%2F",
            vars["EVENTS_USER"],
            secret("EVENTS_PASSWORD"),
            vars["EVENTS_HOST"],
            vars["EVENTS_PORT"]
        )
    );
    assert_eq!(vars["EVENTS_VHOST"], "/");
}
