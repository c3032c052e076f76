//! Each phase's ARCHITECTURE.md holds a Mermaid flowchart that Mermaid's own parser
//! accepts (`.ci/mermaid/check.mjs`, pinned mermaid + jsdom, installed by `.ci/run`),
//! and so does the README's picture of the monitoring.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

#[test]
fn every_architecture_md_parses_with_mermaid() {
    let checker = Path::new(".ci/mermaid/check.mjs");
    if !Path::new(".ci/mermaid/node_modules/mermaid").is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Mermaid checker is required in CI: .ci/run installs it (npm ci --prefix .ci/mermaid)"
        );
        eprintln!("skipping: run `npm ci --prefix .ci/mermaid --ignore-scripts` to install the Mermaid checker");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for path in common::render_blueprints() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        for (file, text) in common::render_all(&path).iter() {
            if let Some(phase) = file.strip_suffix("/ARCHITECTURE.md") {
                assert!(text.contains("```mermaid\nflowchart LR\n"), "{file}");
                let dest = tmp.path().join(format!("{stem}.{phase}.md"));
                std::fs::write(&dest, text).unwrap();
                files.push(dest);
            }
        }
    }
    assert!(
        files.len() >= 20,
        "only {} ARCHITECTURE.md files",
        files.len()
    );
    files.sort();
    // The README's picture of the monitoring too.
    files.push(Path::new("README.md").to_path_buf());
    let out = Command::new("node")
        .arg(checker)
        .args(&files)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "Mermaid rejected a flowchart:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Mermaid block of an ARCHITECTURE.md.
fn mermaid(md: &str) -> &str {
    let start = md.find("```mermaid\n").expect("a mermaid block") + "```mermaid\n".len();
    let len = md[start..].find("```\n").expect("the block ends");
    &md[start..start + len]
}

/// What a flowchart declares and uses: node and subgraph ids, the ids its edges name,
/// the classes it defines and the classes it gives (id → class).
#[derive(Default, Debug)]
struct Chart {
    declared: BTreeSet<String>,
    linked: BTreeSet<String>,
    defined: BTreeSet<String>,
    classes: BTreeMap<String, String>,
}

/// The id a statement starts with: up to the first character that is not `[A-Za-z0-9_]`.
fn lead(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

fn chart(block: &str) -> Chart {
    let mut c = Chart::default();
    for line in block.lines().skip(1) {
        let l = line.trim();
        if l.is_empty() || l == "end" {
            continue;
        }
        if let Some(rest) = l.strip_prefix("subgraph ") {
            c.declared.insert(lead(rest).to_string());
        } else if let Some(rest) = l.strip_prefix("classDef ") {
            c.defined.insert(lead(rest).to_string());
        } else if let Some(rest) = l.strip_prefix("class ") {
            let (ids, class) = rest.split_once(' ').expect("class IDS NAME");
            for id in ids.split(',') {
                c.classes.insert(id.to_string(), class.to_string());
            }
        } else if l.contains("-->") || l.contains(".->") {
            // `a --> b`, `a -->|"label"| b`, `a -. "label" .-> b`
            c.linked.insert(lead(l).to_string());
            let arrow = l
                .find(".->")
                .map_or_else(|| l.find("-->").unwrap() + 3, |i| i + 3);
            let mut tail = l[arrow..].trim_start();
            if let Some(rest) = tail.strip_prefix('|') {
                tail = rest[rest.find('|').unwrap() + 1..].trim_start();
            }
            assert!(!lead(tail).is_empty(), "no target in `{l}`");
            c.linked.insert(lead(tail).to_string());
        } else if l.contains('[') || l.contains('(') {
            c.declared.insert(lead(l).to_string());
        } else {
            // A member listed in a subgraph: declared before.
            assert!(c.declared.contains(lead(l)), "undeclared member `{l}`");
        }
    }
    c
}

#[test]
fn every_edge_names_a_declared_box_and_every_class_is_defined() {
    let mut pictures = 0;
    for path in common::render_blueprints() {
        for (file, text) in common::render_all(&path).iter() {
            if !file.ends_with("/ARCHITECTURE.md") {
                continue;
            }
            pictures += 1;
            let c = chart(mermaid(text));
            let where_ = format!("{} {file}", path.display());
            for id in &c.linked {
                assert!(
                    c.declared.contains(id),
                    "{where_}: edge to undeclared `{id}`"
                );
            }
            for (id, class) in &c.classes {
                assert!(
                    c.declared.contains(id),
                    "{where_}: class on undeclared `{id}`"
                );
                assert!(
                    c.defined.contains(class),
                    "{where_}: class `{class}` not defined"
                );
            }
        }
    }
    assert!(pictures >= 20, "only {pictures} pictures");
}

const MARKS: &str = r#"
version: 1
name: marks
targets: [compose]
balancer:
  engine: nginx
  listen: 80
  routes:
    - { path: /, service: api }
services:
  api:
    kind: http
    image: demo/api:1
    port: 8000
    health: { path: /health }
    resources: { cpu: 250m, memory: 256Mi }
    uses: [db]
    scaling: { replicas: 2 }
  report:
    kind: worker
    image: demo/report:1
    uses: [db]
  mailer:
    kind: worker
    image: demo/mailer:1
    uses: [db]
datastores:
  db: { engine: postgres, version: "15", database: demo }
phases:
  - name: one
  - name: two
    enter_when: ["api p95 latency > 300ms", "two workers are not enough"]
    patch:
      services:
        api: { scaling: { replicas: 4 } }
        mailer: null
        search: { kind: worker, image: demo/search:1, uses: [db] }
  - name: three
    enter_when: ["the API needs to autoscale"]
    targets: [kubernetes]
    patch:
      services:
        api: { scaling: { replicas: null, min: 2, max: 10, target: { cpu: 70, requests_per_second: 150 } } }
"#;

fn marks_render() -> tierform::OutputSet {
    let v = tierform::validate_bytes(MARKS.as_bytes());
    assert_eq!(v.errors(), 0, "{:?}", v.diagnostics);
    let templates = tierform::Templates::embedded().unwrap();
    tierform::render(&v.phases, &tierform::Selection::default(), &templates)
        .unwrap()
        .0
}

#[test]
fn a_phase_marks_exactly_what_changed_from_the_one_before() {
    let set = marks_render();
    let one = set.get("one/ARCHITECTURE.md").unwrap();
    let two = set.get("two/ARCHITECTURE.md").unwrap();
    // The first phase has nothing to compare with, and says so.
    assert!(chart(mermaid(one)).classes.is_empty(), "{one}");
    assert!(
        one.contains("`one` is the blueprint's first phase"),
        "{one}"
    );
    // The second: the added service, the resized one, and the balancer (its pool grew)
    // are marked; the unchanged worker and datastore are not.
    let c = chart(mermaid(two));
    let marked: Vec<(&str, &str)> = c
        .classes
        .iter()
        .map(|(id, class)| (id.as_str(), class.as_str()))
        .collect();
    assert_eq!(
        marked,
        [
            ("lb", "changed"),
            ("svc_api", "changed"),
            ("svc_search", "added")
        ],
        "{two}"
    );
    assert!(
        two.contains("\"api ×4<br/>http :8000<br/>(changed)\""),
        "{two}"
    );
    assert!(
        two.contains("\"search ×1<br/>worker<br/>(added)\""),
        "{two}"
    );
    // The removed service is listed, not drawn.
    assert!(!mermaid(two).contains("mailer"), "{two}");
    let list = &two[two.find("## Changed from `one`").expect("the list")..];
    assert!(
        list.contains("- **removed** `mailer`: worker service\n"),
        "{two}"
    );
    assert!(
        list.contains("- **added** `search`: worker service, 1 instance\n"),
        "{two}"
    );
    assert!(
        list.contains("- **changed** `api`: instances 2 → 4\n"),
        "{two}"
    );
    assert!(!list.contains("`report`"), "{two}");
}

#[test]
fn the_picture_shows_balancers_autoscaling_and_the_signals_for_leaving() {
    let set = marks_render();
    let one = set.get("one/ARCHITECTURE.md").unwrap();
    let two = set.get("two/ARCHITECTURE.md").unwrap();
    let three = set.get("three/ARCHITECTURE.md").unwrap();
    // How many balancers run: one container on compose, two pods on Kubernetes.
    assert!(
        one.contains("lb[\"nginx :80<br/>instances: compose 1\"]"),
        "{one}"
    );
    assert!(three.contains("instances: kubernetes 2"), "{three}");
    // On hosts, one per machine of the balancer's tier (showcase's edge tier has two).
    let showcase = common::render_all(Path::new("blueprints/showcase.yaml"));
    let nginx = showcase.get("nginx/ARCHITECTURE.md").unwrap();
    assert!(
        nginx.contains("instances: compose 1, hosts 2 (1 per machine)"),
        "{nginx}"
    );
    // What the autoscaler watches, and the fewest and most instances.
    assert!(
        three.contains("api ×2–10<br/>http :8000<br/>autoscaled on cpu 70%, 150 req/s"),
        "{three}"
    );
    // The signals for leaving a phase: the next phase's `enter_when`.
    assert!(
        one.contains(
            "## Leaving this phase\n\nMove on to `two` when:\n- api p95 latency > 300ms (*not measured*)\n- two workers are not enough (*not measured*)\n"
        ),
        "{one}"
    );
    assert!(
        two.contains("Move on to `three` when:\n- the API needs to autoscale (*not measured*)\n"),
        "{two}"
    );
    assert!(
        three.contains("`three` is the blueprint's last phase"),
        "{three}"
    );
}

#[test]
fn services_that_reach_a_datastore_alike_are_one_group_with_one_edge() {
    let set = marks_render();
    let block = mermaid(set.get("one/ARCHITECTURE.md").unwrap());
    assert!(
        block.contains(
            "subgraph grp_worker[\"2 worker services\"]\n    svc_mailer\n    svc_report\n  end\n"
        ),
        "{block}"
    );
    assert!(block.contains("  grp_worker --> ds_db\n"), "{block}");
    assert!(!block.contains("svc_report --> ds_db"), "{block}");
    assert!(block.contains("  svc_api --> ds_db\n"), "{block}");
}

#[test]
fn a_phase_rendered_alone_compares_with_the_phase_before_all_the_same() {
    let v = tierform::validate_bytes(MARKS.as_bytes());
    let templates = tierform::Templates::embedded().unwrap();
    let all = marks_render();
    for phase in ["two", "three"] {
        let selection = tierform::Selection {
            phases: vec![phase.to_string()],
            platforms: Vec::new(),
        };
        let (alone, _) = tierform::render(&v.phases, &selection, &templates).unwrap();
        let file = format!("{phase}/ARCHITECTURE.md");
        assert_eq!(alone.get(&file), all.get(&file), "{file}");
    }
}

#[test]
fn a_phase_that_changes_nothing_the_diff_compares_says_so() {
    let text = MARKS.replace(
        "  - name: one\n",
        "  - name: one\n  - name: again\n    description: the same plan, said again\n",
    );
    let v = tierform::validate_bytes(text.as_bytes());
    assert_eq!(v.errors(), 0);
    let templates = tierform::Templates::embedded().unwrap();
    let (set, _) = tierform::render(&v.phases, &Default::default(), &templates).unwrap();
    let again = set.get("again/ARCHITECTURE.md").unwrap();
    assert!(chart(mermaid(again)).classes.is_empty(), "{again}");
    assert!(
        again.contains("Nothing in the phase diff's summary changed from the phase before, `one`"),
        "{again}"
    );
    assert!(!again.contains("## Changed from"), "{again}");
}
