//! Helpers shared by the integration tests.

// Each test crate uses some of the helpers.
#![allow(dead_code)]

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
pub fn render_all(path: &std::path::Path) -> tierform::output::OutputSet {
    let bytes = std::fs::read(path).unwrap();
    let v = tierform::validate::validate_bytes(&bytes);
    assert_eq!(v.errors(), 0, "{} is invalid", path.display());
    let templates = tierform::templates::Templates::embedded().unwrap();
    let (set, _) = tierform::render::render(
        &v.phases,
        &tierform::render::Selection::default(),
        &templates,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    set
}
