//! docs/contract.md, the application's contract, cannot drift from what is rendered:
//! every blueprint (bundled and render fixtures) is rendered, and every environment
//! variable a service's container receives that is not its own (`env`, `secrets`) is
//! a datastore's connection setting, `<NAME>_…` of a datastore it uses, listed on the
//! page under that datastore's engine; and every variable the page lists is rendered
//! somewhere. Each connection URL a service asks for (`urls`) has the form the page
//! gives for its engine, filled with the container's own connection values.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const PAGE: &str = "docs/contract.md";

/// The page's variables, by engine: the `` `<NAME>_X` `` of each `## … (`engine: E`)`
/// section.
fn listed() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(PAGE).unwrap();
    let heading = regex::Regex::new(r"^## .*\(`engine: ([a-z]+)`").unwrap();
    let var = regex::Regex::new(r"`(<NAME>_[A-Z_]+)`").unwrap();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut engine: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("## ") {
            engine = heading.captures(line).map(|c| c[1].to_string());
            continue;
        }
        // Only the first column of a section's table: what a service receives.
        if let (Some(e), Some(cell)) = (&engine, line.strip_prefix("| `<NAME>_")) {
            let name = format!("`<NAME>_{cell}");
            if let Some(c) = var.captures(&name) {
                out.entry(e.clone()).or_default().insert(c[1].to_string());
            }
        }
    }
    out
}

/// The page's URL form of each engine: the rows `| engine | `form` |` of its table.
fn url_forms() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(PAGE).unwrap();
    let row =
        regex::Regex::new(r"^\| `?(postgres|redis|rabbitmq)`? \| `([a-z]+://[^`]+)` \|").unwrap();
    text.lines()
        .filter_map(|l| row.captures(l))
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect()
}

/// The variables of each instance container of `service` in a compose file.
fn compose_env(doc: &Value, service: &str) -> Vec<BTreeMap<String, String>> {
    let Some(services) = doc["services"].as_object() else {
        return Vec::new();
    };
    services
        .iter()
        .filter(|(name, _)| {
            name.as_str() == service
                || name
                    .strip_prefix(service)
                    .and_then(|r| r.strip_prefix('-'))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|(_, c)| {
            c["environment"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

/// The variables of each container of a service's Deployment (a value from a
/// Secret as empty).
fn kubernetes_env(text: &str) -> Vec<BTreeMap<String, String>> {
    text.split("\n---\n")
        .map(|d| tierform::load_yaml(d).unwrap().to_json())
        .filter(|d| d["kind"] == "Deployment")
        .flat_map(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| {
            c["env"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_string(),
                        e["value"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

/// A datastore of a plan's JSON, run here or by a provider (`managed`).
fn store_of<'a>(plan: &'a Value, name: &str) -> &'a Value {
    match &plan["datastores"][name] {
        Value::Null => &plan["managed"][name],
        d => d,
    }
}

#[test]
fn the_contract_page_lists_every_connection_variable_and_no_other() {
    let page = listed();
    for engine in ["postgres", "redis", "rabbitmq"] {
        assert!(
            page.contains_key(engine),
            "{PAGE} has no `{engine}` section"
        );
    }
    let url_forms = url_forms();
    let placeholder = regex::Regex::new(r"<NAME>_([A-Z_]+)").unwrap();
    let mut seen_urls = BTreeSet::new();
    let mut rendered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut unlisted = Vec::new();
    for path in common::render_blueprints() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let (plans, set) = common::plans_and_render(&path);
        for plan in &plans {
            let plan = serde_json::to_value(plan).unwrap();
            let phase = plan["phase"].as_str().unwrap();
            let files: Vec<(&str, &str)> = set
                .iter()
                .filter_map(|(p, t)| {
                    p.strip_prefix(phase)
                        .and_then(|r| r.strip_prefix('/'))
                        .map(|r| (r, t))
                })
                .collect();
            for (name, s) in plan["services"].as_object().unwrap() {
                let own: BTreeSet<String> = s["env"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .chain(
                        s["secrets"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_str().unwrap().to_string()),
                    )
                    // A vendor's APM variables (`monitoring.apm`): the tracer's, not a
                    // datastore's connection.
                    .chain(apm_names(&plan["apm"]["services"][name.as_str()]))
                    .collect();
                let mut containers = Vec::new();
                for (rel, text) in &files {
                    if rel.ends_with("docker-compose.yml") {
                        let doc = tierform::load_yaml(text).unwrap().to_json();
                        containers.extend(compose_env(&doc, name).into_iter().map(|e| (true, e)));
                    } else if *rel == format!("kubernetes/{name}.yaml") {
                        containers.extend(kubernetes_env(text).into_iter().map(|e| (false, e)));
                    }
                }
                let urls = s["urls"].as_object().cloned().unwrap_or_default();
                for (compose, env) in &containers {
                    for (var, store) in &urls {
                        let d = store_of(&plan, store.as_str().unwrap());
                        let engine = d["engine"].as_str().unwrap().to_string();
                        let Some(form) = url_forms.get(&engine) else {
                            unlisted.push(format!(
                                "{stem}/{phase}: `{var}`: no {engine} URL on the page"
                            ));
                            continue;
                        };
                        seen_urls.insert(engine.clone());
                        if !compose {
                            continue;
                        }
                        // The page's form, with the container's own connection values.
                        let prefix = d["env_prefix"].as_str().unwrap();
                        // A provider's datastore over TLS: the page's TLS forms.
                        let form = if d["tls"] == true {
                            let verify = d["verify"] == true;
                            match (engine.as_str(), verify) {
                                ("postgres", true) => {
                                    format!("{form}?sslmode=verify-full&sslrootcert=system")
                                }
                                ("postgres", false) => format!("{form}?sslmode=require"),
                                ("redis", v) => format!(
                                    "{}?ssl_cert_reqs={}",
                                    form.replacen("redis://", "rediss://", 1),
                                    if v { "required" } else { "none" }
                                ),
                                _ => form.replacen("amqp://", "amqps://", 1),
                            }
                        } else {
                            form.clone()
                        };
                        let expected = placeholder
                            .replace_all(&form, |c: &regex::Captures| {
                                let v = env
                                    .get(&format!("{prefix}_{}", &c[1]))
                                    .cloned()
                                    .unwrap_or_default();
                                if v.contains(':') && &c[1] == "HOST" {
                                    format!("[{v}]")
                                } else {
                                    v
                                }
                            })
                            .to_string();
                        if env.get(var) != Some(&expected) {
                            unlisted.push(format!(
                                "{stem}/{phase}: `{name}`'s `{var}` is {:?}, the page's form gives {expected:?}",
                                env.get(var)
                            ));
                        }
                    }
                }
                let names = containers.iter().flat_map(|(_, env)| env.keys());
                for var in names.filter(|v| !own.contains(*v) && !urls.contains_key(*v)) {
                    // The datastore it comes from: the longest prefix of one it uses.
                    let from = s["uses"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|u| store_of(&plan, u.as_str().unwrap()))
                        .filter(|d| {
                            var.starts_with(&format!("{}_", d["env_prefix"].as_str().unwrap()))
                        })
                        .max_by_key(|d| d["env_prefix"].as_str().unwrap().len());
                    let Some(d) = from else {
                        unlisted.push(format!(
                            "{stem}/{phase}: `{name}` receives `{var}`, from no datastore it uses"
                        ));
                        continue;
                    };
                    let prefix = d["env_prefix"].as_str().unwrap();
                    let engine = d["engine"].as_str().unwrap().to_string();
                    let generic = format!("<NAME>{}", &var[prefix.len()..]);
                    if !page.get(&engine).is_some_and(|l| l.contains(&generic)) {
                        unlisted.push(format!(
                            "{stem}/{phase}: `{name}` receives `{var}` ({engine}: `{generic}`)"
                        ));
                    }
                    rendered.entry(engine).or_default().insert(generic);
                }
            }
        }
    }
    unlisted.sort();
    unlisted.dedup();
    assert!(
        unlisted.is_empty(),
        "not on {PAGE}:\n{}",
        unlisted.join("\n")
    );
    for engine in url_forms.keys() {
        assert!(
            seen_urls.contains(engine),
            "{PAGE} gives a {engine} URL, which no blueprint asks for"
        );
    }
    for (engine, names) in &page {
        for n in names {
            assert!(
                rendered.get(engine).is_some_and(|r| r.contains(n)),
                "{PAGE} lists `{n}` under {engine}, which no blueprint renders"
            );
        }
    }
}

/// The variable names in a traced service's APM plan (every `name` in it, per platform).
fn apm_names(traced: &serde_json::Value) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(env) = traced["env"].as_object() {
        for vars in env.values() {
            for v in vars.as_array().into_iter().flatten() {
                if let Some(n) = v["name"].as_str() {
                    names.push(n.to_string());
                }
            }
        }
    }
    names
}
