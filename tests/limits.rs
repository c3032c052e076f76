//! Hostile input: oversized files, alias bombs, deep nesting, bad encodings and random
//! bytes all end in a clear finding, never a panic or a hang.

use proptest::prelude::*;
use tierform::validate::{validate_bytes, validate_str};

fn codes(bytes: &[u8]) -> Vec<&'static str> {
    validate_bytes(bytes)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect()
}

#[test]
fn a_ten_megabyte_file_is_refused_by_size() {
    let mut text = String::from("version: 1\nname: big\n# ");
    text.push_str(&"x".repeat(10 * 1024 * 1024));
    assert_eq!(codes(text.as_bytes()), ["too-large"]);
}

#[test]
fn a_billion_laughs_is_refused() {
    let mut text = String::from(
        "version: 1\nname: lol\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert_eq!(codes(text.as_bytes()), ["alias-bomb"]);
}

#[test]
fn deep_nesting_is_refused() {
    let text: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    assert_eq!(codes(text.as_bytes()), ["too-deep"]);
}

#[test]
fn encodings_and_empty_files() {
    assert_eq!(codes(b"version: 1\nname: \xc3\x28\n"), ["not-utf8"]);
    assert_eq!(codes(b""), ["empty-file"]);
    assert_eq!(codes(b"   \n# nothing\n"), ["empty-file"]);
    assert_eq!(codes(b"42"), ["wrong-type"]);
    assert_eq!(codes(b"- a\n- b\n"), ["wrong-type"]);
}

#[test]
fn huge_numbers_are_range_errors() {
    let text = "version: 1\nname: app\nservices:\n  api: {kind: http, image: 'a:1', port: 99999999999999999999999}\n";
    let v = validate_str(text);
    assert_eq!(v.diagnostics.len(), 1, "{:?}", v.diagnostics);
    assert_eq!(v.diagnostics[0].code, "out-of-range");
}

const VALID: &str = include_str!("../templates/starter.yaml");

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = validate_bytes(&bytes);
    }

    #[test]
    fn random_yaml_like_text_never_panics(text in "[a-z:{}\\[\\],&*!|>#'\" \n-]{0,300}") {
        let _ = validate_str(&text);
    }

    /// Cutting the starter anywhere, or replacing one character, never panics, and an
    /// invalid result always says where.
    #[test]
    fn mutated_blueprints_never_panic(cut in 0usize..VALID.len(), c in any::<char>()) {
        let mut text: String = VALID.chars().take(cut).collect();
        let _ = validate_str(&text);
        text.push(c);
        text.push_str(&VALID.chars().skip(cut + 1).collect::<String>());
        let v = validate_str(&text);
        for d in &v.diagnostics {
            prop_assert!(d.line.is_some() && d.column.is_some(), "{d:?}");
        }
    }
}

#[test]
fn byte_order_mark_tags_and_whole_floats() {
    let base =
        "version: 1\nname: app\nservices:\n  api: {kind: http, image: 'app:1', port: 8000}\n";
    assert!(codes(format!("\u{feff}{base}").as_bytes()).is_empty());
    assert!(codes(base.replace("8000", "8000.0").as_bytes()).is_empty());
    let tagged = base.replace("'app:1'", "!Ref AppImage");
    let v = validate_str(&tagged);
    assert_eq!(v.diagnostics[0].code, "unsupported-tag");
    assert_eq!(
        (v.diagnostics[0].line, v.diagnostics[0].column),
        (Some(4), Some(33))
    );
}

#[test]
fn an_empty_value_is_shown_at_its_key() {
    let text =
        "version: 1\nname: app\nservices:\n  api:\n    kind: http\n    image:\n    port: 8000\n";
    let v = validate_str(text);
    assert_eq!(v.diagnostics.len(), 1, "{:?}", v.diagnostics);
    let d = &v.diagnostics[0];
    assert_eq!((d.code, d.line, d.column), ("wrong-type", Some(6), Some(5)));
    assert_eq!(d.pointer, "/services/api/image");
}

#[test]
fn a_base_finding_is_not_moved_to_a_patch_that_merges_into_it() {
    let text = "version: 1\nname: app\nservices:\n  api:\n    kind: http\n    image: 'app:1'\nphases:\n  - name: one\n  - name: two\n    patch:\n      services:\n        api: {scaling: {replicas: 2}}\n";
    let v = validate_str(text);
    assert_eq!(v.diagnostics.len(), 1, "{:?}", v.diagnostics);
    assert_eq!(v.diagnostics[0].line, Some(4));
    assert!(v.diagnostics[0].phases.is_empty());
}
