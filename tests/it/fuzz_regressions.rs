//! The fuzz targets' checks (fuzz/fuzz_targets/), replayed on every input kept in
//! fuzz/regressions/ and on the seed corpus (the example blueprints and every
//! fixture): nothing panics; an invalid input gets a located, non-empty report; a
//! valid one resolves, renders every phase and platform inside the output folder, and
//! renders the same bytes twice. `fuzz/run.sh` runs the fuzzer itself (not in CI).

use crate::common;

use std::path::PathBuf;

use tierform::Templates;
use tierform::{render, Selection};

fn inputs() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir("fuzz/regressions")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    assert!(!all.is_empty(), "fuzz/regressions is empty");
    all.extend(common::render_blueprints());
    all.extend(common::yaml_files("tests/fixtures/invalid"));
    all
}

#[test]
fn every_kept_input_passes_the_fuzz_checks() {
    let templates = Templates::embedded().unwrap();
    let mut valid = 0;
    for path in inputs() {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        let v = tierform::validate_bytes(&bytes);
        let report = tierform::render_text(&name, v.source.as_deref(), &v.diagnostics);
        if v.errors() > 0 {
            assert!(v.phases.is_empty(), "{name}: invalid, yet phases resolved");
            assert!(
                report.contains(&format!("{name}:")),
                "{name}: unlocated\n{report}"
            );
            continue;
        }
        valid += 1;
        assert!(!v.phases.is_empty(), "{name}: valid without phases");
        let (set, _) = render(&v.phases, &Selection::default(), &templates)
            .unwrap_or_else(|e| panic!("{name} is valid but does not render: {e}"));
        for (p, _) in set.iter() {
            tierform::check_path(p).unwrap();
        }
        let (again, _) = render(&v.phases, &Selection::default(), &templates).unwrap();
        assert!(set == again, "{name}: two renders differ");
    }
    assert!(valid >= 5, "only {valid} valid inputs were rendered");
}
