//! The server images tierform renders are the versions its tests boot: every image in
//! every rendered file of every bundled blueprint and render fixture is one of the
//! supported table's (or the blueprint's own application images).

use std::collections::BTreeSet;

use crate::common;

/// Every value of an `image` key in a JSON tree.
fn images_in(value: &serde_json::Value, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("image", serde_json::Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    _ => images_in(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| images_in(v, out)),
        _ => {}
    }
}

/// The images a rendered file names: `image: x` in YAML, `"image": "x"` in JSON.
fn rendered_images(text: &str, out: &mut BTreeSet<String>) {
    for line in text.lines() {
        let line = line.trim().trim_start_matches("- ");
        let rest = line
            .strip_prefix("image:")
            .or_else(|| line.strip_prefix("\"image\":"));
        if let Some(rest) = rest {
            let image = rest.trim().trim_end_matches(',').trim_matches(['"', '\'']);
            if !image.is_empty() {
                out.insert(image.to_string());
            }
        }
    }
}

fn supported_images() -> BTreeSet<String> {
    tierform::versions::ALL
        .iter()
        .flat_map(|(_, table)| table.iter().map(|s| s.image.to_string()))
        .collect()
}

#[test]
fn every_rendered_server_image_is_a_supported_version() {
    let supported = supported_images();
    let mut wrong = Vec::new();
    for path in common::render_blueprints() {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut own = BTreeSet::new();
        images_in(&tierform::load_yaml(&text).unwrap().to_json(), &mut own);
        let set = common::render_all(&path);
        for (file, text) in set.iter() {
            let mut found = BTreeSet::new();
            rendered_images(text, &mut found);
            for image in found.difference(&own) {
                if !supported.contains(image) {
                    wrong.push(format!("{}: {file}: {image}", path.display()));
                }
            }
        }
    }
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "{} rendered images are not supported versions:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
