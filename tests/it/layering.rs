//! The layout is the pipeline: a module under `src/<stage>/` may use its own stage and
//! the stages before it (the order `src/lib.rs` lists them in), never a later one; and
//! no platform renderer uses another platform's, nor a config renderer a platform's.
//! Read from the source text, so a new `use` that breaks the flow fails here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const STAGES: [&str; 8] = [
    "source", "model", "check", "plan", "report", "render", "output", "cli",
];
/// Platform renderers: each translates a plan for one platform. (`compose_file`, the
/// Docker Compose format both Docker platforms write, is shared, like the config
/// renderers.)
const PLATFORMS: [&str; 3] = ["compose", "hosts", "kubernetes"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::a::b…` path in `text`, and every `super::…` path resolved from
/// `module` (the file's module path), as segments from the crate root. Groups
/// (`crate::{a::x, b}`, nested too) are expanded into one path each.
fn crate_paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        if i > 0 && text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut base: Vec<String> = Vec::new();
        let mut rest = &text[i..];
        if let Some(r) = rest.strip_prefix("crate::") {
            rest = r;
        } else {
            base = module.to_vec();
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
        }
        expand(base, rest, &mut out);
    }
    out
}

/// The paths `rest` names below `base`: a plain path, or a `{…}` group of them.
fn expand(mut base: Vec<String>, rest: &str, out: &mut Vec<Vec<String>>) {
    let path: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    base.extend(path.split("::").filter(|s| !s.is_empty()).map(String::from));
    let after = &rest[path.len()..];
    let Some(group) = after.strip_prefix('{') else {
        out.push(base);
        return;
    };
    // Split the group at its top-level commas, up to its closing brace.
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                expand(base.clone(), group[start..i].trim(), out);
                return;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(base.clone(), group[start..i].trim(), out);
                start = i + 1;
            }
            _ => {}
        }
    }
}

fn stage_of(segments: &[String]) -> Option<usize> {
    segments
        .first()
        .and_then(|s| STAGES.iter().position(|x| x == s))
}

#[test]
fn lib_rs_declares_the_stages_in_the_order_data_flows() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    assert_eq!(declared, STAGES);
}

/// Each module under `src/` (its path, `mod` files named by their folder) with the
/// crate paths its text names, and whether it takes in its parent with a top-level
/// `use super::*;` (an indented one is a nested `mod tests` taking in its own file).
fn modules() -> BTreeMap<Vec<String>, (Vec<Vec<String>>, bool)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = BTreeMap::new();
    for file in &files {
        let mut rel: Vec<String> = file
            .strip_prefix(&src)
            .unwrap()
            .with_extension("")
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        if rel.last().is_some_and(|s| s == "mod") {
            rel.pop();
        }
        // Comments may name any module (a doc link is no dependency).
        let text: String = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let glob = text.lines().any(|l| l == "use super::*;");
        let paths = crate_paths(&text, &rel);
        out.insert(rel, (paths, glob));
    }
    out
}

/// The paths `module` can use: its own, and those of every ancestor it takes in
/// through a chain of `use super::*;`.
fn reachable(
    modules: &BTreeMap<Vec<String>, (Vec<Vec<String>>, bool)>,
    module: &[String],
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut at = module.to_vec();
    while let Some((paths, glob)) = modules.get(&at) {
        out.extend(paths.iter().cloned());
        if !glob || at.len() < 2 {
            break;
        }
        at.pop();
    }
    out
}

#[test]
fn no_module_uses_a_later_stage_and_no_renderer_another() {
    let modules = modules();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (rel, (_, glob)) in &modules {
        let Some(own) = stage_of(rel) else { continue };
        if *glob && rel.len() == 1 && STAGES[own] != "cli" {
            problems.push(format!(
                "{}: takes in the crate root with `use super::*` (the façade in lib.rs)",
                rel.join("/")
            ));
        }
        let own_platform = (rel[0] == "render" && rel.len() > 1)
            .then(|| rel[1].clone())
            .filter(|p| PLATFORMS.contains(&p.as_str()));
        for path in reachable(&modules, rel) {
            checked += 1;
            let Some(used) = stage_of(&path) else {
                // A path through the façade (`crate::validate_bytes`) would hide which
                // stage it reaches: only the command line, the last stage, may use it.
                if path.first().is_some_and(|s| !s.is_empty() && s != "*") && STAGES[own] != "cli" {
                    problems.push(format!(
                        "{}: uses crate::{} (the façade in lib.rs; name the stage instead)",
                        rel.join("/"),
                        path.join("::")
                    ));
                }
                continue;
            };
            if used > own {
                problems.push(format!(
                    "{}: uses crate::{} ({} comes after {})",
                    rel.join("/"),
                    path.join("::"),
                    STAGES[used],
                    STAGES[own]
                ));
            }
            if rel[0] == "render" && path[0] == "render" && path.len() > 1 {
                let target = &path[1];
                let is_platform = PLATFORMS.contains(&target.as_str());
                // The render stage's own root (render/mod.rs, the registry) picks a
                // platform; every other render module stays out of the platforms but its own.
                if is_platform
                    && own_platform.as_deref() != Some(target)
                    && rel.len() > 1
                    && rel[1] != "bundle"
                {
                    problems.push(format!(
                        "{}: uses crate::{} (another platform's renderer)",
                        rel.join("/"),
                        path.join("::")
                    ));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate paths found: is the scan broken?"
    );
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_glob_of_the_parent_carries_its_paths() {
    let m = |p: &str| p.split('/').map(String::from).collect::<Vec<_>>();
    let mut modules = BTreeMap::new();
    modules.insert(m("render/hosts"), (vec![m("render/compose/emit")], false));
    modules.insert(m("render/hosts/stores"), (vec![m("plan/Plan")], true));
    modules.insert(m("render/hosts/stores/redis"), (vec![], true));
    modules.insert(m("render/hosts/stores/redis/x"), (vec![], false));
    assert_eq!(
        reachable(&modules, &m("render/hosts/stores/redis")),
        [m("plan/Plan"), m("render/compose/emit")]
    );
    assert!(reachable(&modules, &m("render/hosts/stores/redis/x")).is_empty());
}

#[test]
fn the_scan_sees_a_violation() {
    let module = ["render".to_string(), "hosts".to_string()];
    let paths = crate_paths(
        "use crate::plan::Plan;\nfoo(my_crate::x); crate::render::compose::emit(); use super::compose::emit;\nuse super::{kubernetes::x, files::{a, b}};",
        &module,
    );
    assert_eq!(paths.len(), 6);
    assert_eq!(paths[3], ["render", "kubernetes", "x"]);
    assert_eq!(paths[5], ["render", "files", "b"]);
    assert_eq!(stage_of(&paths[0]), Some(3));
    assert_eq!(paths[1], ["render", "compose", "emit"]);
    assert_eq!(paths[2], ["render", "compose", "emit"]);
}
