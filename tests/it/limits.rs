//! Hostile input: oversized files, alias bombs, deep nesting, bad encodings and random
//! bytes all end in a clear finding, never a panic or a hang.

use proptest::prelude::*;
use tierform::{validate_bytes, validate_str};

fn codes(bytes: &[u8]) -> Vec<&'static str> {
    validate_bytes(bytes)
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

#[test]
fn a_ten_megabyte_file_is_refused_by_size() {
    let mut text = String::from("version: 1\nname: big\n# ");
    text.push_str(&"x".repeat(10 * 1024 * 1024));
    assert_eq!(codes(text.as_bytes()), ["too-large"]);
}

/// Nine levels of nine aliases each: 9^9 nodes once expanded.
fn billion_laughs() -> String {
    let mut text = String::from(
        "version: 1\nname: lol\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    text
}

fn deeply_nested() -> String {
    (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect()
}

#[test]
fn a_billion_laughs_is_refused() {
    assert_eq!(codes(billion_laughs().as_bytes()), ["alias-bomb"]);
}

#[test]
fn deep_nesting_is_refused() {
    assert_eq!(codes(deeply_nested().as_bytes()), ["too-deep"]);
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

const VALID: &str = include_str!("../../templates/starter.yaml");

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
        // The report is safe for a terminal, whatever character went in.
        let report = tierform::render_text("f.yaml", Some(&text), &v.diagnostics);
        prop_assert!(
            !report.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{report:?}"
        );
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
    assert_eq!(
        (d.code.as_str(), d.line, d.column),
        ("wrong-type", Some(6), Some(5))
    );
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

/// Every hostile input through the binary, as a user meets it: `validate` and `render`
/// both answer with a finding (exit 1) or an error (exit 2) that names the problem,
/// and leave no output behind.
#[test]
fn hostile_inputs_end_in_a_clear_exit_code_from_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = |extra: &str| {
        format!("version: 1\nname: app\nservices:\n  api: {{ kind: http, image: 'a:1', port: 8000{extra} }}\n")
    };
    let mut big = String::from("version: 1\nname: big\n# ");
    big.push_str(&"x".repeat(9 * 1024 * 1024));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("size", big.into_bytes(), "too-large"),
        ("alias-bomb", billion_laughs().into_bytes(), "alias-bomb"),
        ("nesting", deeply_nested().into_bytes(), "too-deep"),
        ("huge-number", svc(", scaling: { replicas: 1e400 }").into_bytes(), "api"),
        ("negative-count", svc(", scaling: { replicas: -3 }").into_bytes(), "out-of-range"),
        ("zero-count", svc(", scaling: { replicas: 0 }").into_bytes(), "replicas"),
        ("negative-port", "version: 1\nname: app\nservices:\n  api: { kind: http, image: 'a:1', port: -80 }\n".into(), "out-of-range"),
        ("zero-masters", "version: 1\nname: app\ndatastores:\n  c: { engine: redis, mode: cluster, cluster: { masters: 0, replicas_per_master: 0 } }\nservices:\n  api: { kind: http, image: 'a:1', port: 8000, uses: [c] }\n".into(), "masters"),
        ("not-utf8", b"version: 1\nname: \xff\xfe\n".to_vec(), "not-utf8"),
        ("duplicate-key", "version: 1\nname: a\nname: b\n".into(), "duplicate-key"),
        ("empty", Vec::new(), "empty-file"),
        ("nul-bytes", vec![0u8; 64], "control-character"),
        ("escape-sequence", b"version: 1\nname: \x1b[2J\n".to_vec(), "U+001B"),
    ];
    for (name, bytes, says) in cases {
        let file = tmp.path().join(format!("{name}.yaml"));
        std::fs::write(&file, &bytes).unwrap();
        let out = tmp.path().join(format!("out-{name}"));
        for args in [
            vec!["validate"],
            vec!["render", "-o", out.to_str().unwrap()],
        ] {
            let run = assert_cmd::Command::cargo_bin("tierform")
                .unwrap()
                .args(&args)
                .arg(&file)
                .timeout(std::time::Duration::from_secs(60))
                .output()
                .unwrap();
            let code = run.status.code();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            );
            let want = if args[0] == "validate" { 1 } else { 2 };
            assert_eq!(code, Some(want), "{name} via {}: {text}", args[0]);
            assert!(
                text.contains(says),
                "{name} via {}: no `{says}` in\n{text}",
                args[0]
            );
            assert!(!text.contains("panicked"), "{name}: {text}");
        }
        assert!(!out.exists(), "{name}: render wrote {}", out.display());
    }
    // A folder given as the blueprint is an I/O error for both commands.
    for args in [vec!["validate"], vec!["render", "-o", "unused"]] {
        let run = assert_cmd::Command::cargo_bin("tierform")
            .unwrap()
            .args(&args)
            .arg(tmp.path())
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&run.stderr).contains("is a directory"));
    }
}
