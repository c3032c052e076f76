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
