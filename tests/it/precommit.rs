//! The pre-commit hooks of `.pre-commit-hooks.yaml`, run by the real pre-commit
//! (pinned in `.ci/requirements.txt`) with `pre-commit try-repo` from a throwaway
//! project, as a team would try them before adding them to its config.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use yaml_rust2::{Yaml, YamlLoader};

const MANIFEST: &str = ".pre-commit-hooks.yaml";

fn tierform_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("tierform")
        .parent()
        .unwrap()
        .to_path_buf()
}

fn hooks() -> Vec<Yaml> {
    let text = std::fs::read_to_string(MANIFEST).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    docs[0].as_vec().expect("a list of hooks").clone()
}

fn field<'a>(hook: &'a Yaml, key: &str) -> &'a Yaml {
    &hook[key]
}

#[test]
fn manifest_is_valid_and_the_twins_agree() {
    let Some(pre_commit) = common::python_tool("pre-commit") else {
        return;
    };
    let out = Command::new(&pre_commit)
        .args(["validate-manifest", MANIFEST])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let hooks = hooks();
    let ids: Vec<&str> = hooks.iter().filter_map(|h| h["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "tierform-validate",
            "tierform-render-check",
            "tierform-validate-system",
            "tierform-render-check-system"
        ]
    );
    // The tested `-system` hooks run exactly what the cargo-built ones run.
    for id in ["tierform-validate", "tierform-render-check"] {
        let find = |id: &str| hooks.iter().find(|h| h["id"].as_str() == Some(id)).unwrap();
        let (rust, system) = (find(id), find(&format!("{id}-system")));
        assert_eq!(field(rust, "language").as_str(), Some("rust"));
        assert_eq!(field(system, "language").as_str(), Some("system"));
        for key in ["name", "entry", "files", "types", "args", "pass_filenames"] {
            assert_eq!(
                field(rust, key),
                field(system, key),
                "{id}: `{key}` differs"
            );
        }
    }
}

/// Runs a command in `dir` with tierform on PATH and pre-commit's cache in `cache`.
fn run(program: &Path, args: &[&str], dir: &Path, cache: &Path) -> Output {
    let path = std::env::join_paths(std::iter::once(tierform_dir()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    common::isolated_git(
        Command::new(program)
            .args(args)
            .current_dir(dir)
            .env("PATH", path)
            .env("PRE_COMMIT_HOME", cache),
    )
    .env("NO_COLOR", "1")
    .output()
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The repository whose hooks are tried: this checkout when it is a git work tree
/// (pre-commit clones it and uses the manifest as committed, with uncommitted edits to
/// tracked files), else a one-commit repository holding the manifest.
fn hook_repo(scratch: &Path, cache: &Path) -> PathBuf {
    let here = std::env::current_dir().unwrap();
    let git = Path::new("git");
    let top = run(git, &["rev-parse", "--show-toplevel"], &here, cache);
    if top.status.success() && Path::new(String::from_utf8_lossy(&top.stdout).trim()) == here {
        let tracked = run(
            git,
            &["ls-files", "--error-unmatch", MANIFEST],
            &here,
            cache,
        );
        if tracked.status.success() {
            return here;
        }
    }
    let repo = scratch.join("hook-repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(MANIFEST, repo.join(MANIFEST)).unwrap();
    for args in [
        &["init", "-q", "."][..],
        &["add", MANIFEST],
        &["commit", "-qm", "hooks"],
    ] {
        let out = run(git, args, &repo, cache);
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
    }
    repo
}

#[test]
fn try_repo_runs_the_hooks() {
    let Some(pre_commit) = common::python_tool("pre-commit") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let cache = scratch.path().join("cache");
    let repo = hook_repo(scratch.path(), &cache);
    let repo_arg = repo.to_str().unwrap();
    // A project as `tierform init` starts it, with its output rendered and staged, and
    // a YAML file that is not a blueprint (the validate hook must leave it alone).
    let project = scratch.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let tierform = tierform_dir().join("tierform");
    let git = Path::new("git");
    for (program, args) in [
        (git, &["init", "-q", "."][..]),
        (&tierform, &["init", "-q"]),
        (&tierform, &["render", "-q", "blueprint.yaml"]),
    ] {
        let out = run(program, args, &project, &cache);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    std::fs::write(project.join("other.yaml"), "not: [a blueprint\n").unwrap();
    let stage = |dir: &Path| {
        let out = run(git, &["add", "-A"], dir, &cache);
        assert!(out.status.success(), "{}", text(&out));
    };
    stage(&project);
    let try_hook = |hook: &str| {
        run(
            &pre_commit,
            &[
                "try-repo",
                repo_arg,
                hook,
                "--all-files",
                "--color",
                "never",
            ],
            &project,
            &cache,
        )
    };
    for (hook, name) in [
        ("tierform-validate-system", "tierform validate"),
        ("tierform-render-check-system", "tierform render --check"),
    ] {
        let out = try_hook(hook);
        let shown = text(&out);
        assert!(out.status.success(), "{hook} failed:\n{shown}");
        assert!(
            shown
                .lines()
                .any(|l| l.starts_with(name) && l.ends_with("Passed")),
            "{hook}:\n{shown}"
        );
    }

    // A hand edit of the rendered output: the render hook fails and shows the diff.
    let env_file = project.join("out/single/compose/.env.example");
    let mut edited = std::fs::read_to_string(&env_file).unwrap();
    edited.push_str("EXTRA=1\n");
    std::fs::write(&env_file, edited).unwrap();
    stage(&project);
    let out = try_hook("tierform-render-check-system");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("-EXTRA=1"), "{shown}");
    assert!(
        shown.contains("out is stale: 0 to add, 1 to change"),
        "{shown}"
    );

    // A typo in the blueprint: the validate hook fails at its line.
    let bp = project.join("blueprint.yaml");
    let text_bp = std::fs::read_to_string(&bp).unwrap();
    std::fs::write(&bp, text_bp.replacen("image:", "imgae:", 1)).unwrap();
    stage(&project);
    let out = try_hook("tierform-validate-system");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("error[unknown-field]: unknown field `imgae`"),
        "{shown}"
    );
    assert!(shown.contains("blueprint.yaml: invalid"), "{shown}");
}

/// The `language: rust` hooks, as pre-commit installs them: `cargo install` of this
/// repository (a release build, with crates from the registry). Minutes and network,
/// so not in the default run: `cargo test --test it precommit:: -- --ignored`.
#[test]
#[ignore = "builds tierform in release mode with crates from the registry"]
fn try_repo_builds_the_rust_hooks() {
    let Some(pre_commit) = common::python_tool("pre-commit") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let cache = scratch.path().join("cache");
    let repo = hook_repo(scratch.path(), &cache);
    let project = scratch.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(project.join("blueprints")).unwrap();
    std::fs::copy(
        "blueprints/showcase.yaml",
        project.join("blueprints/showcase.yaml"),
    )
    .unwrap();
    let git = Path::new("git");
    for args in [&["init", "-q", "."][..], &["add", "-A"]] {
        let out = run(git, args, &project, &cache);
        assert!(out.status.success(), "{}", text(&out));
    }
    // Without tierform on PATH: the hook must bring its own.
    let out = Command::new(&pre_commit)
        .args(["try-repo", repo.to_str().unwrap(), "tierform-validate"])
        .args(["--all-files", "--color", "never"])
        .current_dir(&project)
        .env("PRE_COMMIT_HOME", &cache)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("tierform validate") && l.ends_with("Passed")),
        "{shown}"
    );
}

/// The pre-commit configuration docs/ci.md shows: the blueprint its render hook checks
/// is one the validate hook's `files` pattern takes, and so is the file `tierform init`
/// writes (before: the page's example used `infra/app.yaml`, which the pattern skips).
#[test]
fn the_documented_config_validates_the_blueprint_it_renders() {
    let page = std::fs::read_to_string("docs/ci.md").unwrap();
    let block = page
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/ci.md has a ```yaml block");
    let config = &YamlLoader::load_from_str(block).unwrap()[0];
    let hooks = config["repos"][0]["hooks"].as_vec().unwrap();
    let render = hooks
        .iter()
        .find(|h| h["id"].as_str() == Some("tierform-render-check"))
        .expect("the render hook");
    let blueprint = render["args"][0].as_str().unwrap();
    let manifest = self::hooks();
    let validate = manifest
        .iter()
        .find(|h| h["id"].as_str() == Some("tierform-validate"))
        .unwrap();
    let files = regex::Regex::new(validate["files"].as_str().unwrap()).unwrap();
    for path in [blueprint, "blueprint.yaml"] {
        assert!(
            files.is_match(path),
            "tierform-validate's `files` does not take `{path}`"
        );
    }
}
