//! docs/seeds.md: each seed's infrastructure requirements, the blueprint line that says
//! each and the rendered line that carries it out, generated here from tests/seeds/*.yaml
//! so it cannot drift. Every anchor must be found (in the blueprint, in the rendered
//! file, or in `tierform plan`'s section of the phase), and each seed's coverage
//! (covered / applicable) must be at least 90 %.
//!
//! `TIERFORM_BLESS_SEEDS=1 cargo test --test it seeds::` rewrites docs/seeds.md.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

/// How one requirement stands.
enum Status {
    /// The blueprint says it (line, text) and the output carries it out (where, line, text).
    Covered {
        line: usize,
        text: String,
        file: String,
        at: usize,
        shown: String,
    },
    /// The language cannot say it yet: why.
    Out(String),
    /// Not infrastructure: why.
    NotApplicable(String),
}

struct Row {
    need: String,
    status: Status,
}

struct Seed {
    seed: String,
    blueprint: String,
    rows: Vec<Row>,
}

impl Seed {
    fn counts(&self) -> (usize, usize) {
        let covered = self
            .rows
            .iter()
            .filter(|r| matches!(r.status, Status::Covered { .. }))
            .count();
        let out = self
            .rows
            .iter()
            .filter(|r| matches!(r.status, Status::Out(_)))
            .count();
        (covered, covered + out)
    }
}

/// An anchor: one text, or texts each searched after the line of the one before.
fn anchors(y: &Yaml) -> Option<Vec<String>> {
    match y {
        Yaml::String(s) => Some(vec![s.clone()]),
        Yaml::Array(a) => a.iter().map(|v| v.as_str().map(String::from)).collect(),
        _ => None,
    }
}

/// The 1-based line that holds the last anchor, each anchor searched from the line after
/// the one before (the first from the top).
fn find_line(text: &str, anchors: &[String]) -> Option<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut found = None;
    for a in anchors {
        let i = (from..lines.len()).find(|&i| lines[i].contains(a.as_str()))?;
        found = Some((i + 1, lines[i].trim().to_string()));
        from = i + 1;
    }
    found
}

/// `tierform plan`'s text, split by phase: the lines from `== Phase NAME` to the next.
fn plan_sections(path: &Path) -> BTreeMap<String, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tierform"))
        .arg("plan")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "plan {}", path.display());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(name) = phase_heading(line) {
            if let Some((n, s)) = current.take() {
                sections.insert(n, s);
            }
            current = Some((name, String::new()));
        }
        if let Some((_, s)) = &mut current {
            s.push_str(line);
            s.push('\n');
        }
    }
    if let Some((n, s)) = current {
        sections.insert(n, s);
    }
    sections
}

/// `== Phase NAME`: the start of a phase's section.
fn phase_heading(line: &str) -> Option<String> {
    let rest = line.strip_prefix("== Phase ")?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn load(spec: &Path, errors: &mut Vec<String>) -> Seed {
    let text = std::fs::read_to_string(spec).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    let name = spec.display().to_string();
    let seed = doc["seed"].as_str().expect("seed:").to_string();
    let blueprint = doc["blueprint"].as_str().expect("blueprint:").to_string();
    let shared = Path::new("../shared/seeds");
    if shared.is_dir() && !shared.join(&seed).is_file() {
        errors.push(format!("{name}: no seed ../shared/seeds/{seed}"));
    }
    let path = Path::new("blueprints").join(format!("{blueprint}.yaml"));
    let source = std::fs::read_to_string(&path).unwrap();
    let set = common::render_all(&path);
    let plan = plan_sections(&path);
    let mut rows = Vec::new();
    for (i, r) in doc["rows"].as_vec().expect("rows:").iter().enumerate() {
        let need = r["need"].as_str().unwrap_or_default().to_string();
        let at = format!("{name}: row {} ({need})", i + 1);
        if need.is_empty() {
            errors.push(format!("{at}: no need"));
        }
        let status = match (
            anchors(&r["line"]),
            anchors(&r["renders"]),
            r["out"].as_str(),
            r["na"].as_str(),
        ) {
            (Some(line), Some(renders), None, None) => {
                let Some((line, text)) = find_line(&source, &line) else {
                    errors.push(format!("{at}: {} has no line {line:?}", path.display()));
                    continue;
                };
                let Some((file, anchors)) = renders.split_first() else {
                    errors.push(format!("{at}: renders: [file, text…]"));
                    continue;
                };
                let body = match file.strip_prefix("plan/") {
                    Some(phase) => plan.get(phase).map(String::as_str),
                    None => set.get(file),
                };
                let Some(body) = body else {
                    errors.push(format!("{at}: nothing rendered at {file}"));
                    continue;
                };
                let Some((n, shown)) = find_line(body, anchors) else {
                    errors.push(format!("{at}: {file} has no line {anchors:?}"));
                    continue;
                };
                Status::Covered {
                    line,
                    text,
                    file: file.clone(),
                    at: n,
                    shown,
                }
            }
            (None, None, Some(why), None) => Status::Out(why.to_string()),
            (None, None, None, Some(why)) => Status::NotApplicable(why.to_string()),
            _ => {
                errors.push(format!("{at}: give line + renders, or out, or na"));
                continue;
            }
        };
        rows.push(Row { need, status });
    }
    Seed {
        seed,
        blueprint,
        rows,
    }
}

/// Text for a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Code for a table cell: backticks that hold any run of backticks in the text.
fn code(s: &str) -> String {
    let s = cell(s);
    let fence = if s.contains('`') { "`` " } else { "`" };
    let close = if s.contains('`') { " ``" } else { "`" };
    format!("{fence}{s}{close}")
}

fn percent(covered: usize, applicable: usize) -> usize {
    (covered * 100).checked_div(applicable).unwrap_or(100)
}

fn markdown(seeds: &[Seed]) -> String {
    let mut md = String::from(
        "# The seeds, requirement by requirement\n\n\
         Each bundled blueprint in `blueprints/` carries a real team's scaling plan (a seed).\n\
         Below, per seed: each infrastructure requirement, the blueprint line that says it\n\
         and the rendered line that carries it out (`<phase>/<platform>/<file>:<line>`\n\
         as `tierform render` writes it; `plan/<phase>` is that phase's section of\n\
         `tierform plan`), then what the language cannot say yet and why.\n\n\
         This file is generated by `tests/it/seeds.rs` from `tests/seeds/*.yaml`, which\n\
         fails when a line moved or a text is gone; regenerate it with\n\
         `TIERFORM_BLESS_SEEDS=1 cargo test --test it seeds::`. Coverage counts covered\n\
         requirements over applicable ones (covered + out of reach); requirements that\n\
         are not infrastructure (application code, team practice) are listed, not counted;\n\
         the test holds each seed at 90 % or more.\n\n\
         | Seed | Blueprint | Applicable | Covered | Out of reach | Coverage |\n\
         |---|---|---|---|---|---|\n",
    );
    for s in seeds {
        let (covered, applicable) = s.counts();
        md.push_str(&format!(
            "| {} | [{b}](#{b}) | {applicable} | {covered} | {} | {} % |\n",
            s.seed,
            applicable - covered,
            percent(covered, applicable),
            b = s.blueprint,
        ));
    }
    for s in seeds {
        let (covered, applicable) = s.counts();
        md.push_str(&format!(
            "\n## {b}\n\nSeed `{}`, blueprint [blueprints/{b}.yaml](../blueprints/{b}.yaml): \
             {covered} of {applicable} applicable requirements covered ({} %).\n\n\
             | # | Requirement | Blueprint | Rendered |\n|---|---|---|---|\n",
            s.seed,
            percent(covered, applicable),
            b = s.blueprint,
        ));
        for (i, r) in s.rows.iter().enumerate() {
            if let Status::Covered {
                line,
                text,
                file,
                at,
                shown,
            } = &r.status
            {
                md.push_str(&format!(
                    "| {} | {} | [{line}](../blueprints/{b}.yaml#L{line}) {} | {file}:{at} {} |\n",
                    i + 1,
                    cell(&r.need),
                    code(text),
                    code(shown),
                    b = s.blueprint,
                ));
            }
        }
        reasons(&mut md, "Out of reach", s, |r| match &r.status {
            Status::Out(why) => Some(why),
            _ => None,
        });
        reasons(&mut md, "Not counted", s, |r| match &r.status {
            Status::NotApplicable(why) => Some(why),
            _ => None,
        });
    }
    md
}

/// The table of the rows `why` picks, each with its reason, under `title`.
fn reasons(md: &mut String, title: &str, s: &Seed, why: impl Fn(&Row) -> Option<&String>) {
    let rows: Vec<_> = s
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| why(r).map(|w| (i, &r.need, w)))
        .collect();
    if !rows.is_empty() {
        md.push_str(&format!(
            "\n{title}:\n\n| # | Requirement | Why |\n|---|---|---|\n"
        ));
        for (i, need, why) in rows {
            md.push_str(&format!("| {} | {} | {} |\n", i + 1, cell(need), cell(why)));
        }
    }
}

#[test]
fn seeds_doc_is_current_and_each_seed_is_covered() {
    let mut specs: Vec<_> = std::fs::read_dir("tests/seeds")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    specs.sort();
    let mut errors = Vec::new();
    let mut seeds: Vec<Seed> = specs.iter().map(|p| load(p, &mut errors)).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    seeds.sort_by(|a, b| a.seed.cmp(&b.seed));
    // Every bundled blueprint but the showcase (which has no seed) has its spec.
    let mut bundled: Vec<String> = std::fs::read_dir("blueprints")
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            Some(p.file_stem()?.to_str()?.to_string())
        })
        .filter(|s| s != "showcase")
        .collect();
    bundled.sort();
    let mut specified: Vec<String> = seeds.iter().map(|s| s.blueprint.clone()).collect();
    specified.sort();
    assert_eq!(
        bundled, specified,
        "one tests/seeds spec per seed blueprint"
    );

    let md = markdown(&seeds);
    let doc = Path::new("docs/seeds.md");
    if std::env::var_os("TIERFORM_BLESS_SEEDS").is_some() {
        std::fs::write(doc, &md).unwrap();
    }
    let committed = std::fs::read_to_string(doc).unwrap_or_default();
    assert!(
        committed == md,
        "docs/seeds.md is stale: run `TIERFORM_BLESS_SEEDS=1 cargo test --test it seeds::`"
    );
    for s in &seeds {
        let (covered, applicable) = s.counts();
        assert!(
            percent(covered, applicable) >= GOAL,
            "{}: {covered} of {applicable} covered, under {GOAL} %",
            s.blueprint
        );
    }
}

/// The coverage each seed must reach.
const GOAL: usize = 90;

#[test]
fn find_line_follows_its_anchors() {
    let text = "a: 1\nb:\n  a: 2\n  c: 3\n";
    let find = |a: &[&str]| find_line(text, &a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(find(&["a:"]), Some((1, "a: 1".into())));
    assert_eq!(find(&["b:", "a:"]), Some((3, "a: 2".into())));
    assert_eq!(find(&["c:", "a:"]), None);
    assert_eq!(find(&["z"]), None);
    assert_eq!(
        phase_heading("== Phase route-based"),
        Some("route-based".into())
    );
    assert_eq!(phase_heading("  == Phase x"), None);
    assert_eq!(percent(9, 10), 90);
    assert_eq!(percent(26, 29), 89);
}
