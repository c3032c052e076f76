//! The README, followed literally as a new user would: its ```console blocks run in
//! order in one empty folder, each `$ …` line through `sh -c` with the built
//! `tierform` first on PATH, and must exit 0 and print every line shown under it (`…`
//! stands for lines left out); the ```yaml block after "Save it as `NAME`" is written
//! to NAME first. Then its deploy blocks (```sh with `docker compose up -d` or
//! `kubectl`) run as written in that folder, with `docker` and `kubectl` standing in:
//! `docker compose up -d` fills in the `.env` the block copied (the step the README
//! leaves to the user) and runs the real Docker Compose v2 `config --quiet`;
//! `kubectl` records what it was asked, and the test checks the namespace and the
//! Secret against the bundle and runs what `apply -k` would apply through
//! `kubectl kustomize` and `kubernetes-validate --strict`.
//! Also: the bundled blueprints' table says their true phase and platform counts, and
//! every relative link of README.md and docs/*.md points at a file.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const README: &str = "README.md";

/// A fenced block: its language, its text, and the prose line just before it.
struct Block {
    lang: String,
    body: String,
    before: String,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    let mut prose = String::new();
    for line in text.lines() {
        match &mut current {
            None => {
                if let Some(lang) = line.strip_prefix("```") {
                    current = Some(Block {
                        lang: lang.trim().to_string(),
                        body: String::new(),
                        before: prose.clone(),
                    });
                } else if !line.trim().is_empty() {
                    prose = line.to_string();
                }
            }
            Some(b) => {
                if line == "```" {
                    out.push(current.take().unwrap());
                } else {
                    b.body.push_str(line);
                    b.body.push('\n');
                }
            }
        }
    }
    out
}

fn bin_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("tierform")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `sh -c script` in `dir`, with tierform first on PATH and no tierform settings
/// from the environment: (exit code, stdout and stderr).
fn sh(script: &str, dir: &Path, env: &[(&str, &Path)]) -> (Option<i32>, String) {
    let path = std::env::join_paths(std::iter::once(bin_dir()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("TIERFORM_BLUEPRINT")
        .env_remove("TIERFORM_OUTPUT")
        .env_remove("FORCE_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// One ```console block: each `$ ` command with the lines shown under it.
fn commands(body: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in body.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            out.push((cmd.to_string(), Vec::new()));
        } else {
            let (_, shown) = out
                .last_mut()
                .unwrap_or_else(|| panic!("output before a command: {line}"));
            shown.push(line.to_string());
        }
    }
    out
}

/// Runs the README's quick start and the blueprint section in `dir`; returns the
/// number of commands run.
fn run_console_blocks(all: &[Block], dir: &Path) -> usize {
    let save = regex::Regex::new(r"[Ss]ave it as `([^`]+)`").unwrap();
    let mut run = 0;
    let mut saved = 0;
    for b in all {
        match b.lang.as_str() {
            "yaml" => {
                if let Some(c) = save.captures(&b.before) {
                    std::fs::write(dir.join(&c[1]), &b.body).unwrap();
                    saved += 1;
                }
            }
            "console" => {
                for (cmd, shown) in commands(&b.body) {
                    let (code, text) = sh(&cmd, dir, &[]);
                    assert_eq!(code, Some(0), "README: `$ {cmd}` failed:\n{text}");
                    let lines: BTreeSet<&str> = text.lines().map(str::trim_end).collect();
                    for want in shown.iter().filter(|l| l.trim() != "…") {
                        assert!(
                            lines.contains(want.trim_end()),
                            "README: `$ {cmd}` did not print `{want}`; it printed:\n{text}"
                        );
                    }
                    run += 1;
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        saved, 1,
        "README: no ```yaml block after \"Save it as `NAME`\""
    );
    run
}

/// `docker` and `kubectl` for the deploy blocks: see the module's comment.
const FAKES: &str = r#"set -eu
docker() {
  if [ "$*" != "compose up -d" ]; then echo "unexpected: docker $*" >&2; exit 97; fi
  sed -i 's/^\([A-Za-z_][A-Za-z0-9_]*\)=$/\1=filled-in/' .env
  "$COMPOSE" -f docker-compose.yml config --quiet
  printf 'docker\t%s\t%s\n' "$PWD" "$*" >> "$LOG"
}
kubectl() {
  case "$*" in
    *--from-env-file=*) f="${*##*--from-env-file=}"
      sed -i 's/^\([A-Za-z_][A-Za-z0-9_]*\)=$/\1=filled-in/' "$f" ;;
  esac
  printf 'kubectl\t%s\t%s\n' "$PWD" "$*" >> "$LOG"
}
"#;

/// The keys of the Secret table of a Kubernetes bundle's README.
fn secret_keys(readme: &str) -> Vec<String> {
    let row = regex::Regex::new(r"^\| `([A-Z0-9_]+)` \|").unwrap();
    readme
        .lines()
        .filter_map(|l| row.captures(l).map(|c| c[1].to_string()))
        .collect()
}

/// Every `secretKeyRef` in a manifest: (Secret name, key).
fn secret_refs(v: &Value, out: &mut BTreeSet<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("secretKeyRef") {
                out.insert((
                    r["name"].as_str().unwrap().to_string(),
                    r["key"].as_str().unwrap().to_string(),
                ));
            }
            m.values().for_each(|c| secret_refs(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| secret_refs(c, out)),
        _ => {}
    }
}

fn tool_on_path(name: &str) -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "{name} is required in CI");
        eprintln!("skipping: {name} not found");
    }
    found
}

/// What `kubectl apply -k DIR` would apply passes kubernetes-validate, and the
/// namespace and Secret the README creates are the ones the workloads read.
fn check_kubernetes(dir: &Path, log: &[Vec<String>]) {
    let (Some(kubectl), Some(validate)) = (
        tool_on_path("kubectl"),
        common::python_tool("kubernetes-validate"),
    ) else {
        return;
    };
    let args: Vec<&str> = log.iter().map(|l| l[2].as_str()).collect();
    let namespace_file = std::fs::read_to_string(dir.join("namespace.yaml")).unwrap();
    let namespace = tierform::load_yaml(&namespace_file).unwrap().to_json()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let create =
        regex::Regex::new(r"^-n (\S+) create secret generic (\S+) --from-env-file=(\S+)$").unwrap();
    let secret = args
        .iter()
        .find_map(|a| create.captures(a))
        .expect("README: no `kubectl -n NS create secret generic NAME --from-env-file=FILE`");
    assert_eq!(&secret[1], namespace, "README: the Secret's namespace");
    let env_file = std::fs::read_to_string(dir.join(&secret[3])).unwrap();
    // The file the README has the user fill in: every key of the README's table,
    // and nothing else.
    let provided: BTreeSet<&str> = env_file
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let table = secret_keys(&readme);
    assert!(!table.is_empty(), "no Secret keys in {}", dir.display());
    assert_eq!(
        provided,
        table.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        "the Secret's env file vs the bundle README's table"
    );
    let order: Vec<usize> = ["apply -f namespace.yaml", "-n ", "apply -k ."]
        .iter()
        .map(|p| {
            args.iter()
                .position(|a| a.starts_with(p))
                .unwrap_or_else(|| panic!("README: no `kubectl {p}…`: {args:?}"))
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "README: namespace, Secret, then apply -k: {args:?}"
    );

    let built = Command::new(kubectl)
        .args(["kustomize"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let stream = String::from_utf8(built.stdout).unwrap();
    let mut refs = BTreeSet::new();
    for doc in stream.split("\n---\n") {
        secret_refs(&tierform::load_yaml(doc).unwrap().to_json(), &mut refs);
    }
    assert!(!refs.is_empty(), "the bundle reads no Secret");
    for (name, key) in &refs {
        assert_eq!(name, &secret[2], "README: the Secret's name");
        assert!(provided.contains(key.as_str()), "secrets.env lacks {key}");
    }
    let file = dir.join("built.yaml");
    std::fs::write(&file, &stream).unwrap();
    let out = Command::new(validate)
        .args(["--strict", "-k", "1.30.0"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn readme_quick_start_and_deploy_run_as_written() {
    let text = std::fs::read_to_string(README).unwrap();
    let all = blocks(&text);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run = run_console_blocks(&all, dir);
    assert!(run >= 6, "README: only {run} commands in ```console blocks");

    let deploy: Vec<&Block> = all
        .iter()
        .filter(|b| b.lang == "sh")
        .filter(|b| b.body.contains("docker compose up -d") || b.body.contains("kubectl "))
        .collect();
    assert_eq!(
        deploy.len(),
        3,
        "README: compose, hosts and Kubernetes deploy blocks"
    );
    let compose = common::compose_binary();
    let log = dir.join("deploy.log");
    for b in &deploy {
        let is_compose = b.body.contains("docker compose");
        if is_compose && compose.is_none() {
            continue;
        }
        let script = format!("{FAKES}{}", b.body);
        let fake_compose = compose.clone().unwrap_or_default();
        let (code, out) = sh(&script, dir, &[("COMPOSE", &fake_compose), ("LOG", &log)]);
        assert_eq!(
            code,
            Some(0),
            "README deploy block failed:\n{}\n{out}",
            b.body
        );
    }
    let lines: Vec<Vec<String>> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    if compose.is_some() {
        let composed: Vec<&Vec<String>> = lines.iter().filter(|l| l[0] == "docker").collect();
        assert_eq!(composed.len(), 2, "compose and hosts: {lines:?}");
    }
    let kube: Vec<Vec<String>> = lines
        .iter()
        .filter(|l| l[0] == "kubectl")
        .cloned()
        .collect();
    assert!(!kube.is_empty(), "no kubectl command ran");
    let kdir = PathBuf::from(&kube[0][1]);
    assert!(kube.iter().all(|l| Path::new(&l[1]) == kdir));
    check_kubernetes(&kdir, &kube);
}

/// The README's table of bundled blueprints gives each one's true number of phases
/// and the platforms it renders.
#[test]
fn readme_lists_the_bundled_blueprints_truly() {
    let text = std::fs::read_to_string(README).unwrap();
    let row = regex::Regex::new(r"^\| `([a-z0-9-]+)` \| .* \| (\d+) \| ([a-z, ]+) \|$").unwrap();
    let rows: BTreeMap<String, (usize, String)> = text
        .lines()
        .filter_map(|l| row.captures(l))
        .map(|c| (c[1].to_string(), (c[2].parse().unwrap(), c[3].to_string())))
        .collect();
    let mut seen = 0;
    for path in common::yaml_files("blueprints") {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let (phases, platforms) = rows
            .get(&stem)
            .unwrap_or_else(|| panic!("README does not list {stem}"));
        let set = common::render_all(&path);
        let mut found_phases = BTreeSet::new();
        let mut found_platforms = BTreeSet::new();
        for (file, _) in set.iter() {
            let parts: Vec<&str> = file.split('/').collect();
            found_phases.insert(parts[0].to_string());
            if parts.len() > 2 {
                found_platforms.insert(parts[1].to_string());
            }
        }
        assert_eq!(found_phases.len(), *phases, "{stem}: phases");
        let listed: BTreeSet<String> = platforms.split(", ").map(str::to_string).collect();
        assert_eq!(found_platforms, listed, "{stem}: platforms");
        seen += 1;
    }
    assert_eq!(
        seen,
        rows.len(),
        "README lists blueprints that are not bundled"
    );
}

/// Every relative link of README.md and docs/*.md names a file that exists.
#[test]
fn relative_links_point_at_files() {
    let link = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").unwrap();
    let mut pages = vec![PathBuf::from(README)];
    pages.extend(
        std::fs::read_dir("docs")
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for c in link.captures_iter(&text) {
            let target = &c[1];
            if target.contains("://") {
                continue;
            }
            let path = page.parent().unwrap().join(target);
            if !path.exists() {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}
