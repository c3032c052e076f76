//! The YAML emitter's promise, for any value: what it writes reads back, with the
//! loader the tests trust, as exactly the value it was written from. Strings hold any
//! character (controls, quotes, `: `, ` #`, `---`, YAML's words and numbers), and keys
//! too, so no value can become a key, a comment or another document.

use proptest::prelude::*;
use serde_json::{Map, Value};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9:#&*!|>'\" .,\\-\\[\\]{}%@`~\n\t]{0,12}",
        prop::sample::select(vec![
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "~",
            "null",
            "true",
            "0755",
            "1e3",
            "0x1F",
            "12:30",
            ".5",
            "-.inf",
            ".NaN",
            "---",
            "...",
            "- a",
            "a: b",
            "a #b",
            "",
            " ",
            "2026-11-26",
        ])
        .prop_map(str::to_string),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_value_reads_back_as_written(v in value()) {
        // The top level of a YAML file the targets write is a mapping.
        let mut doc = Map::new();
        doc.insert("doc".into(), v);
        let doc = Value::Object(doc);
        let text = tierform::render::yaml_emit::emit(&["a header", ""], &doc);
        let back = tierform::source::yaml::load(&text)
            .map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?
            .to_json();
        prop_assert_eq!(back, doc, "{}", text);
    }
}
