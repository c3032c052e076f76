//! Jobs (`kind: job`): each platform runs one to completion before what waits for it
//! (`after`): compose's `service_completed_successfully`, a Kubernetes Job named for
//! its content that dependents' pods wait for, the hosts bundle's start order.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common;

const FIXTURE: &str = "tests/fixtures/render/jobs.yaml";

fn render_text(text: &str) -> tierform::OutputSet {
    let v = tierform::validate_str(text);
    assert_eq!(v.errors(), 0, "{:?}", v.diagnostics);
    let templates = tierform::Templates::embedded().unwrap();
    let (set, _) =
        tierform::render(&v.phases, &tierform::Selection::default(), &templates).unwrap();
    set
}

fn file<'a>(set: &'a tierform::OutputSet, path: &str) -> &'a str {
    set.iter()
        .find(|(p, _)| *p == path)
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("no {path}"))
}

fn docs(text: &str) -> Vec<Value> {
    common::yaml_docs(text)
}

/// The Kubernetes Job's name of `job` in the bundle of `text`.
fn job_name(text: &str, job: &str) -> String {
    let set = render_text(text);
    let doc = &docs(file(&set, &format!("default/kubernetes/{job}.yaml")))[0];
    assert_eq!(doc["kind"], "Job");
    doc["metadata"]["name"].as_str().unwrap().to_string()
}

/// The real Compose v2 reads the dependents' `depends_on` as waiting for each job to
/// complete successfully, and the job as never restarted.
#[test]
fn compose_starts_dependents_after_their_jobs_complete() {
    let Some(compose) = common::compose_binary() else {
        return;
    };
    let set = common::render_all(std::path::Path::new(FIXTURE));
    let tmp = tempfile::tempdir().unwrap();
    common::write_files(
        tmp.path(),
        set.iter()
            .filter_map(|(p, t)| p.strip_prefix("default/compose/").map(|r| (r, t))),
    );
    let example = std::fs::read_to_string(tmp.path().join(".env.example")).unwrap();
    let filled: String = example
        .lines()
        .map(|l| match l.strip_suffix('=') {
            Some(k) if !l.starts_with('#') => format!("{k}=placeholder\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(tmp.path().join(".env"), filled).unwrap();
    let doc = common::compose_config_json(&compose, tmp.path());
    let services = &doc["services"];
    for job in ["migrate", "warm"] {
        assert_eq!(services[job]["restart"], "no", "{job}");
    }
    let waits = |service: &str, job: &str| {
        services[service]["depends_on"][job]["condition"] == "service_completed_successfully"
    };
    assert!(waits("api", "migrate") && waits("api", "warm"));
    assert!(waits("worker", "migrate") && !waits("worker", "warm"));
    assert!(waits("warm", "migrate"), "a job waits for a job");
    // The migration starts once the database it migrates is healthy.
    assert_eq!(
        services["migrate"]["depends_on"]["db"]["condition"],
        "service_healthy"
    );
    assert!(services["migrate"]["depends_on"].get("warm").is_none());
}

/// On Kubernetes, a pod of a service that waits for jobs cannot start its containers
/// before each Job is complete: its init container runs `kubectl wait` for exactly
/// the Jobs of the bundle it waits for, as a service account whose Role may read Jobs
/// and nothing else. A pod that waits for nothing has no such container and no token.
#[test]
fn kubernetes_pods_wait_for_their_jobs_to_complete() {
    let set = common::render_all(std::path::Path::new(FIXTURE));
    let mut all: Vec<Value> = Vec::new();
    for (path, text) in set.iter() {
        if let Some(rel) = path.strip_prefix("default/kubernetes/") {
            if rel.ends_with(".yaml") && rel != "kustomization.yaml" {
                all.extend(docs(text));
            }
        }
    }
    let jobs: BTreeMap<String, &Value> = all
        .iter()
        .filter(|d| d["kind"] == "Job")
        .map(|d| {
            (
                d["metadata"]["labels"]["app.kubernetes.io/name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                d,
            )
        })
        .collect();
    assert_eq!(jobs.len(), 2);
    let migrate = jobs["migrate"];
    let name = migrate["metadata"]["name"].as_str().unwrap();
    assert!(
        name.starts_with("migrate-") && name.len() == "migrate-".len() + 10,
        "{name}"
    );
    let spec = &migrate["spec"];
    assert_eq!(spec["backoffLimit"], 3, "retries: 3");
    assert_eq!(spec["activeDeadlineSeconds"], 600, "timeout: 10m");
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
    let waited = |kind: &str, service: &str| -> Vec<String> {
        let owner = all
            .iter()
            .find(|d| {
                d["kind"] == kind && d["metadata"]["labels"]["app.kubernetes.io/name"] == service
            })
            .unwrap_or_else(|| panic!("no {kind} {service}"));
        let pod = &owner["spec"]["template"]["spec"];
        let Some(init) = pod["initContainers"].as_array() else {
            return Vec::new();
        };
        assert_eq!(pod["serviceAccountName"], "job-waiter", "{service}");
        assert_eq!(pod["automountServiceAccountToken"], true, "{service}");
        let wait = init.iter().find(|c| c["name"] == "wait-for-jobs").unwrap();
        assert!(
            wait["image"].as_str().unwrap().contains("@sha256:"),
            "pinned by digest"
        );
        let args: Vec<&str> = wait["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            &args[..2],
            ["wait", "--for=condition=complete"],
            "{service}"
        );
        args.iter()
            .filter_map(|a| a.strip_prefix("job/"))
            .map(String::from)
            .collect()
    };
    let names = |of: &[&str]| -> Vec<String> {
        of.iter()
            .map(|j| jobs[*j]["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(waited("Deployment", "api"), names(&["migrate", "warm"]));
    assert_eq!(waited("Deployment", "worker"), names(&["migrate"]));
    assert_eq!(waited("Job", "warm"), names(&["migrate"]));
    assert_eq!(waited("Job", "migrate"), Vec::<String>::new());
    // The service account may get, list and watch Jobs: nothing else.
    let role = all.iter().find(|d| d["kind"] == "Role").unwrap();
    assert_eq!(
        role["rules"],
        serde_json::json!([{ "apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"] }])
    );
    let binding = all.iter().find(|d| d["kind"] == "RoleBinding").unwrap();
    assert_eq!(binding["subjects"][0]["name"], "job-waiter");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    let account = all.iter().find(|d| d["kind"] == "ServiceAccount").unwrap();
    assert_eq!(account["metadata"]["name"], "job-waiter");
    // The kustomization lists the file.
    assert!(file(&set, "default/kubernetes/kustomization.yaml").contains("- job-waiter.yaml"));
}

const SMALL: &str = "version: 1
name: small
targets: [kubernetes]
services:
  migrate: { kind: job, image: 'app:1', command: [alembic, upgrade, head], uses: [db] }
  api: { kind: http, image: 'app:1', port: 8000, uses: [db], after: [migrate], env: { LEVEL: info } }
datastores:
  db: { engine: postgres, database: app }
";

/// A Job's template cannot change: new content must be a new Job (its name changes),
/// and the same content must keep its name (nothing runs again for nothing).
#[test]
fn a_jobs_name_changes_with_its_content_and_only_then() {
    let name = job_name(SMALL, "migrate");
    assert_eq!(job_name(SMALL, "migrate"), name, "rendered twice");
    let new_command = SMALL.replace("[alembic, upgrade, head]", "[alembic, upgrade, heads]");
    assert_ne!(job_name(&new_command, "migrate"), name, "another command");
    let new_image = SMALL.replace("{ kind: job, image: 'app:1'", "{ kind: job, image: 'app:2'");
    assert_ne!(job_name(&new_image, "migrate"), name, "another image");
    let new_retries = SMALL.replace("uses: [db] }\n  api", "uses: [db], retries: 5 }\n  api");
    assert_ne!(job_name(&new_retries, "migrate"), name, "other retries");
    // What belongs to another service, or to nothing the job runs, keeps it.
    let other_service = SMALL.replace("LEVEL: info", "LEVEL: debug");
    assert_eq!(
        job_name(&other_service, "migrate"),
        name,
        "the API's variable"
    );
    let new_api_image = SMALL.replace(
        "{ kind: http, image: 'app:1'",
        "{ kind: http, image: 'app:3'",
    );
    assert_eq!(job_name(&new_api_image, "migrate"), name, "the API's image");
}

/// On hosts, a job's machine starts before the machines of what waits for it and
/// after the machines of the datastores it uses, and the README says how to check
/// that the job succeeded before going on.
#[test]
fn hosts_start_order_puts_jobs_between_datastores_and_dependents() {
    let text = "version: 1
name: order
targets: [hosts]
tiers:
  data: { machine: { cpu: 2, memory: 4Gi }, hosts: [10.0.9.1] }
  ops: { machine: { cpu: 1, memory: 1Gi }, hosts: [10.0.9.2] }
  app: { machine: { cpu: 2, memory: 4Gi }, hosts: [10.0.9.3] }
services:
  migrate: { kind: job, tier: ops, image: 'app:1', command: [migrate], uses: [db] }
  api: { kind: http, tier: app, image: 'app:1', port: 8000, uses: [db], after: [migrate] }
datastores:
  db: { engine: postgres, tier: data, database: app }
";
    let set = render_text(text);
    let readme = file(&set, "default/hosts/README.md");
    let step = |machine: &str| -> u32 {
        let line = readme
            .lines()
            .find(|l| l.starts_with("| ") && l.contains(&format!("`{machine}/`")))
            .unwrap_or_else(|| panic!("{machine}:\n{readme}"));
        line.trim_start_matches("| ")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(step("10.0.9.1") < step("10.0.9.2"), "{readme}");
    assert!(step("10.0.9.2") < step("10.0.9.3"), "{readme}");
    assert!(readme.contains("`10.0.9.2/`, job `migrate`: `test \"$(docker wait \"$(docker compose ps -aq migrate)\")\" = 0`"), "{readme}");
    let ops = file(&set, "default/hosts/10.0.9.2/docker-compose.yml");
    assert!(ops.contains("restart: \"no\""), "{ops}");
    // The API's machine has no job to wait for: the start order ran it.
    let app = file(&set, "default/hosts/10.0.9.3/docker-compose.yml");
    assert!(!app.contains("service_completed_successfully"), "{app}");
    assert!(
        !readme.contains("which this order does not start first"),
        "{readme}"
    );

    // The API beside the database starts at the database's step, before the job's
    // machine: the README says so, and how to start that machine instead.
    let beside = text.replace(
        "api: { kind: http, tier: app",
        "api: { kind: http, tier: data",
    );
    let set = render_text(&beside);
    let readme = file(&set, "default/hosts/README.md");
    assert!(
        readme.contains("- `api` on `10.0.9.1/` waits for job `migrate` on `10.0.9.2/`, which this order does not start first"),
        "{readme}"
    );
}

/// `plan` shows a job as taking no steady capacity; `diff` names a job added, and a
/// job whose content changed with its new hash.
#[test]
fn plan_and_diff_show_jobs() {
    let two = format!(
        "{SMALL}phases:
  - name: one
    patch: {{ services: {{ migrate: null, api: {{ after: null }} }} }}
  - name: two
    patch:
      services:
        migrate: {{ kind: job, image: 'app:1', command: [alembic, upgrade, head], uses: [db] }}
        api: {{ after: [migrate] }}
  - name: three
    patch: {{ services: {{ migrate: {{ image: 'app:2' }} }} }}
"
    );
    let v = tierform::validate_str(&two);
    assert_eq!(v.errors(), 0, "{:?}", v.diagnostics);
    let plans: Vec<tierform::Plan> = v
        .phases
        .iter()
        .map(|p| tierform::resolve("small", p).unwrap())
        .collect();
    let set = common::render_all(std::path::Path::new(FIXTURE));
    let architecture = file(&set, "default/ARCHITECTURE.md");
    assert!(
        architecture
            .contains("| migrate | job | 0 (runs once to completion: no steady capacity) |"),
        "{architecture}"
    );
    assert!(
        architecture.contains("svc_migrate -. before .-> svc_api"),
        "{architecture}"
    );
    let added = tierform::diff::summarize(&plans[0], &plans[1]);
    let text: Vec<String> = added.iter().map(|c| c.text.clone()).collect();
    let hash = plans[1].services["migrate"]
        .job
        .as_ref()
        .unwrap()
        .hash
        .clone();
    assert!(
        text.iter()
            .any(|t| t.contains(&format!("job, runs once to completion (content {hash})"))),
        "{text:?}"
    );
    let changed = tierform::diff::summarize(&plans[1], &plans[2]);
    let text: Vec<String> = changed.iter().map(|c| c.text.clone()).collect();
    let new = plans[2].services["migrate"]
        .job
        .as_ref()
        .unwrap()
        .hash
        .clone();
    assert_ne!(hash, new);
    assert!(
        text.iter()
            .any(|t| t.contains(&format!("content {hash} → {new}: the job runs again"))),
        "{text:?}"
    );
    // The operational notes say it runs, before what, and as which Job.
    let notes = tierform::diff::notes(&plans[1], &plans[2]);
    assert!(
        notes.iter().any(|n| n.contains(&format!(
            "Job `migrate` runs (content {new}) before `api` start"
        )) && n.contains(&format!("`migrate-{new}`"))),
        "{notes:?}"
    );
    let unchanged = tierform::diff::notes(&plans[2], &plans[2]);
    assert!(
        !unchanged.iter().any(|n| n.contains("Job `migrate`")),
        "{unchanged:?}"
    );
}
