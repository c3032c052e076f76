//! The documents in docs/ are true. docs/cookbook.md: every recipe, added as a phase
//! to the cookbook's base blueprint, validates without a finding and renders what the
//! recipe says. docs/github-actions.yml: a valid workflow whose steps, run here as
//! GitHub would run them, validate, check and comment the phase diff.
//! (docs/blueprint.md is checked against the schema in tests/it/schema.rs.)

use crate::common;

use std::path::Path;
use std::process::Command;

use tierform::validate_bytes;
use yaml_rust2::YamlLoader;

/// The ```yaml blocks of the cookbook, in order.
fn yaml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// What each recipe's phase renders and the base phase does not: (phase, file, text).
const EXPECTED: [(&str, &str, &str); 22] = [
    (
        "read-replica",
        "compose/docker-compose.yml",
        "DB_READ_NAME: shop_ro",
    ),
    (
        "redis-cluster",
        "compose/redis/cache/cache-1.conf",
        "cluster-enabled yes",
    ),
    (
        "search-pool",
        "compose/nginx/nginx.conf",
        "location /api/search/ {",
    ),
    ("canary", "compose/nginx/nginx.conf", "split_clients"),
    (
        "websockets",
        "compose/nginx/nginx.conf",
        "hash $http_x_device_id consistent;",
    ),
    (
        "queue-autoscaling",
        "kubernetes/worker.yaml",
        "kind: ScaledObject",
    ),
    ("https", "compose/nginx/nginx.conf", "http2 on;"),
    (
        "behind-proxy",
        "compose/nginx/nginx.conf",
        "set_real_ip_from 10.0.0.0/8;",
    ),
    (
        "behind-nlb",
        "compose/nginx/nginx.conf",
        "real_ip_header proxy_protocol;",
    ),
    (
        "login-and-uploads",
        "compose/nginx/nginx.conf",
        "limit_req_zone $binary_remote_addr zone=route2_limit:10m rate=10r/m;",
    ),
    (
        "migrations",
        "compose/docker-compose.yml",
        "condition: service_completed_successfully",
    ),
    // Watched in the phase before: the alerts are in base's rules.
    (
        "bigger-api",
        "../base/compose/monitoring/rules.yml",
        "to_phase: bigger-api",
    ),
    // The receivers, their URLs as the secret files compose mounts.
    (
        "paged",
        "compose/monitoring/alertmanager.yml",
        "api_url_file: /run/secrets/slack_webhook_url",
    ),
    // The monitoring on the tier it names, scraping the other machines.
    (
        "watched",
        "hosts/10.0.1.30/monitoring/prometheus.yml",
        "- \"10.0.1.11:8080\"",
    ),
    // The phase's own objectives, each an alert in its own rules.
    (
        "objectives",
        "compose/monitoring/rules.yml",
        "alert: ObjectiveMissed",
    ),
    // The GPU worker on its pool, taking its GPU.
    ("gpu-workers", "kubernetes/worker.yaml", "nvidia.com/gpu: 1"),
    // The API reaches the provider's database, and no PostgreSQL is rendered.
    (
        "managed-db",
        "compose/docker-compose.yml",
        "DB_HOST: shop.c8xk2dq1.eu-west-1.rds.amazonaws.com",
    ),
    // Every segment archived to the bucket, and the timers' full backups.
    (
        "backed-up",
        "compose/postgres/db/postgresql.conf",
        "archive_command = 'pgbackrest --config=/etc/tierform/postgres/pgbackrest.conf --stanza=db archive-push %p'",
    ),
    // The workers' queue on three brokers, quorum queues by default.
    (
        "broker-cluster",
        "compose/rabbitmq/queue/rabbitmq.conf",
        "default_queue_type = quorum",
    ),
    // Patroni runs the servers, and promotes only the synchronous standby.
    (
        "failover",
        "compose/postgres/db/patroni-db.yml",
        "synchronous_mode: true",
    ),
    // The standby region's server copies the phase's primary, across the regions.
    (
        "standby-region",
        "hosts/standby-west/10.8.2.11/postgres/db/start-db.sh",
        "primary_host=10.0.2.11",
    ),
    // The Datadog Agent beside the services, taking their traces from other containers.
    (
        "apm",
        "compose/docker-compose.yml",
        "DD_APM_NON_LOCAL_TRAFFIC",
    ),
];

#[test]
fn every_recipe_validates_and_renders_what_it_says() {
    let text = std::fs::read_to_string("docs/cookbook.md").unwrap();
    let blocks = yaml_blocks(&text);
    let (base, recipes) = blocks.split_first().expect("a base blueprint");
    assert!(base.ends_with("phases:\n  - name: base\n"), "{base}");
    let v = validate_bytes(base.as_bytes());
    assert!(v.diagnostics.is_empty(), "base: {:#?}", v.diagnostics);
    let names: Vec<&str> = recipes
        .iter()
        .map(|r| {
            r.lines()
                .next()
                .and_then(|l| l.strip_prefix("  - name: "))
                .unwrap_or_else(|| panic!("a recipe is a phase: {r}"))
        })
        .collect();
    assert_eq!(names, EXPECTED.map(|e| e.0));
    let tmp = tempfile::tempdir().unwrap();
    for (recipe, (phase, file, expected)) in recipes.iter().zip(EXPECTED) {
        let blueprint = format!("{base}{recipe}");
        let path = tmp.path().join(format!("{phase}.yaml"));
        std::fs::write(&path, &blueprint).unwrap();
        let v = validate_bytes(blueprint.as_bytes());
        let shown = tierform::render_text(phase, v.source.as_deref(), &v.diagnostics);
        assert!(v.diagnostics.is_empty(), "{phase}: {shown}");
        let set = common::render_all(&path);
        // `../base/…`: a file of the phase before, which the recipe changes.
        let (key, before) = match file.strip_prefix("../") {
            Some(f) => {
                let alone = tmp.path().join("base.yaml");
                std::fs::write(&alone, base).unwrap();
                let before = common::render_all(&alone)
                    .get(f)
                    .unwrap_or_default()
                    .to_string();
                (f.to_string(), before)
            }
            None => (
                format!("{phase}/{file}"),
                set.get(&format!("base/{file}"))
                    .unwrap_or_default()
                    .to_string(),
            ),
        };
        let rendered = set
            .get(&key)
            .unwrap_or_else(|| panic!("{phase} renders no {file}"));
        assert!(
            rendered.contains(expected),
            "{key} lacks {expected:?}:\n{rendered}"
        );
        assert!(
            !before.contains(expected),
            "base/{file} already has {expected:?}"
        );
    }
}

const WORKFLOW: &str = "docs/github-actions.yml";

#[test]
fn workflow_matches_the_github_workflow_schema() {
    let Some(check) = common::python_tool("check-jsonschema") else {
        return;
    };
    // The schema SchemaStore publishes for workflows, vendored in check-jsonschema.
    let out = Command::new(check)
        .args(["--builtin-schema", "vendor.github-workflows", WORKFLOW])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = common::isolated_git(Command::new("git").args(args).current_dir(dir))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `run:` step of the workflow except the install, in a pull request's checkout
/// (a base branch, then a commit that changes the blueprint and its output), with
/// bash as GitHub runs it, tierform on PATH and `gh` recording what it is asked.
#[test]
fn workflow_steps_run() {
    let text = std::fs::read_to_string(WORKFLOW).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    let env = doc["env"].as_hash().unwrap();
    let var = |k: &str| {
        env.iter()
            .find(|(key, _)| key.as_str() == Some(k))
            .and_then(|(_, v)| v.as_str())
            .unwrap()
            .to_string()
    };
    let (blueprint, output) = (var("BLUEPRINT"), var("OUTPUT"));
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join(Path::new(&blueprint).parent().unwrap())).unwrap();
    let tierform = assert_cmd::cargo::cargo_bin("tierform");
    let render = |bp: &str| {
        std::fs::write(repo.join(&blueprint), bp).unwrap();
        let out = Command::new(&tierform)
            .args(["render", "-q", &blueprint, "-o", &output])
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The app of the workflow passes with --deny-warnings: bet-intel without the seed's
    // nginx max_fails, without the conditions no metric measures, with its default
    // queue still consumed, and with a replica per Redis Cluster master (the seed has
    // three nodes), all kept in the bundled one on purpose, with their warnings.
    let bundled = std::fs::read_to_string("blueprints/bet-intel.yaml").unwrap();
    let base: String = bundled
        .replacen(
            "            max_fails: 3\n            fail_timeout: 30s\n",
            "",
            1,
        )
        // The general worker stays beside the pools: Celery's default queue keeps its
        // consumer.
        .replacen("        worker: null\n", "", 1)
        .replacen("replicas_per_master: 0", "replicas_per_master: 1", 1)
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !(l.starts_with("enter_when: [") && l.contains('"'))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(base, bundled);
    assert_eq!(
        tierform::validate_bytes(base.as_bytes()).diagnostics.len(),
        0
    );
    git(&repo, &["init", "-q", "-b", "main", "."]);
    render(&base);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "base"]);
    git(&repo, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
    let changed = base.replacen(
        "replicas: 2\n          replication: async",
        "replicas: 3\n          replication: async",
        1,
    );
    assert_ne!(changed, base);
    render(&changed);
    git(&repo, &["commit", "-qam", "a third read replica"]);

    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let gh_log = tmp.path().join("gh.log");
    // The first comment of a pull request has no last comment to edit.
    std::fs::write(
        bin.join("gh"),
        "#!/bin/sh\necho \"$*\" >> \"$GH_LOG\"\ncase \"$*\" in *--edit-last*) exit 1;; esac\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("gh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths(
        [bin.clone(), tierform.parent().unwrap().to_path_buf()]
            .into_iter()
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let summary = tmp.path().join("summary.md");
    let mut ran = Vec::new();
    for step in doc["jobs"]["tierform"]["steps"].as_vec().unwrap() {
        let (Some(name), Some(script)) = (step["name"].as_str(), step["run"].as_str()) else {
            continue;
        };
        if name == "Install tierform" {
            continue;
        }
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(&repo)
            .env("PATH", &path)
            .env("GITHUB_BASE_REF", "main")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GH_LOG", &gh_log)
            .env("PR", "7");
        for (k, v) in env {
            cmd.env(k.as_str().unwrap(), v.as_str().unwrap());
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "step `{name}` failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran.push(name.to_string());
    }
    assert_eq!(
        ran,
        [
            "Validate",
            "Rendered output is committed and current",
            "Phase diff"
        ]
    );
    let comment = std::fs::read_to_string(repo.join("phase-diff.md")).unwrap();
    for expected in [
        "### tierform: infra/app.yaml",
        "infra/deploy/read-replicas/compose/docker-compose.yml",
        "<details><summary>load-balancer → read-replicas</summary>",
        "Changes from `load-balancer` to `read-replicas`:",
        "<details><summary>worker-pools → kubernetes</summary>",
    ] {
        assert!(comment.contains(expected), "no {expected:?} in:\n{comment}");
    }
    assert_eq!(std::fs::read_to_string(&summary).unwrap(), comment);
    assert_eq!(
        std::fs::read_to_string(&gh_log).unwrap(),
        "pr comment 7 --body-file phase-diff.md --edit-last\npr comment 7 --body-file phase-diff.md\n"
    );
}

/// Every file or folder docs/architecture.md names (a backticked path ending in `.rs`,
/// `.md` or `/`) exists: from the repository, from `src/`, or, on a line that names a
/// stage's folder (`src/plan/`), from that folder. So the map of the code cannot drift
/// from it unnoticed.
#[test]
fn architecture_doc_names_only_paths_that_exist() {
    let doc = std::fs::read_to_string("docs/architecture.md").unwrap();
    let mut named = 0;
    let mut missing = Vec::new();
    for line in doc.lines() {
        let paths: Vec<&str> = line
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|p| !p.contains(['<', ' ', '*', '{']))
            .filter(|p| p.ends_with(".rs") || p.ends_with(".md") || p.ends_with('/'))
            .collect();
        let mut bases = vec![".".to_string(), "src".to_string()];
        bases.extend(
            paths
                .iter()
                .filter(|p| p.starts_with("src/") && p.ends_with('/'))
                .map(|p| p.to_string()),
        );
        for path in paths {
            named += 1;
            if !bases
                .iter()
                .any(|b| std::path::Path::new(b).join(path).exists())
            {
                missing.push(path.to_string());
            }
        }
    }
    assert!(named > 30, "only {named} paths found: is the scan broken?");
    assert!(
        missing.is_empty(),
        "docs/architecture.md names paths that do not exist: {missing:?}"
    );
}
