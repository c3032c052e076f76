//! The loaded tree as the schema validator's instance: `jsonschema`'s representation
//! traits over `&Node`, so a document is checked where it was loaded, without a JSON
//! copy. Every node reads as [`Node::to_json`] converts it: the same numbers (a whole
//! float is an integer), infinite and not-a-number floats as text, keys in file order.

use std::borrow::Cow;

use jsonschema::json::{self, Array, Json, JsonNumber, NodeIdentity, Object};
use jsonschema::JsonType;
use serde_json::Value;

use crate::source::yaml::{self, Key, Kind, Node, Span};

/// The representation: nodes of the loaded tree.
pub struct Tree;

impl Json for Tree {
    type Node<'a> = &'a Node;
    type PreparedKey = String;
    type StringBuffer = Option<Node>;

    // A lookup scans the keys: a pass over the members costs no more.
    const KEYS_PER_LOOKUP: usize = 4;
    // A tree shares subtrees (aliases, phases) but never holds itself.
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(
        buffer: &mut Option<Node>,
        string: &str,
        f: impl FnOnce(&Node) -> T,
    ) -> T {
        let node = buffer.get_or_insert_with(|| Node {
            kind: Kind::Str(String::new()),
            span: Span::default(),
            origin: None,
        });
        match &mut node.kind {
            Kind::Str(s) => {
                s.clear();
                s.push_str(string);
            }
            other => *other = Kind::Str(string.to_owned()),
        }
        f(node)
    }
}

/// A number as JSON holds it.
#[derive(Clone, Copy)]
pub enum Number {
    Int(i64),
    Float(f64),
}

/// The number a node is, as [`Node::to_json`] converts it.
fn number(node: &Node) -> Option<Number> {
    match node.json() {
        yaml::Json::Int(i) => Some(Number::Int(i)),
        yaml::Json::Float(f) => Some(Number::Float(f)),
        _ => None,
    }
}

impl JsonNumber for Number {
    fn as_u64(&self) -> Option<u64> {
        match *self {
            Number::Int(i) => u64::try_from(i).ok(),
            Number::Float(_) => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match *self {
            Number::Int(i) => Some(i),
            Number::Float(_) => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match *self {
            Number::Int(i) => Some(i as f64),
            Number::Float(f) => Some(f),
        }
    }

    fn as_str(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_number().to_string())
    }

    fn to_number(&self) -> Cow<'_, serde_json::Number> {
        Cow::Owned(match *self {
            Number::Int(i) => i.into(),
            Number::Float(f) => serde_json::Number::from_f64(f).expect("a finite float"),
        })
    }

    fn is_written_as_integer(&self) -> bool {
        matches!(self, Number::Int(_))
    }
}

impl<'a> json::Node<'a, Tree> for &'a Node {
    type Object = &'a [(Key, Node)];
    type Array = &'a [Node];
    type Number = Number;

    fn as_object(&self) -> Option<&'a [(Key, Node)]> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&'a [Node]> {
        match &self.kind {
            Kind::Seq(items) => Some(items),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self.json() {
            yaml::Json::Str(s) => Some(Cow::Borrowed(s)),
            yaml::Json::Text(f) => Some(Cow::Owned(f.to_string())),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<Number> {
        number(self)
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.kind {
            Kind::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    fn json_type(&self) -> JsonType {
        match self.json() {
            yaml::Json::Null => JsonType::Null,
            yaml::Json::Bool(_) => JsonType::Boolean,
            yaml::Json::Int(_) | yaml::Json::Float(_) => JsonType::Number,
            yaml::Json::Str(_) | yaml::Json::Text(_) => JsonType::String,
            yaml::Json::Seq(_) => JsonType::Array,
            yaml::Json::Map(_) => JsonType::Object,
        }
    }

    fn equals_value(&self, expected: &Value) -> bool {
        match (&self.kind, expected) {
            (Kind::Str(s), Value::String(e)) => s == e,
            (Kind::Str(_), _) => false,
            (Kind::Bool(b), Value::Bool(e)) => b == e,
            (Kind::Null, _) => expected.is_null(),
            _ => json::cmp::equal(&self.to_json(), expected),
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(self.to_json())
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(std::ptr::from_ref::<Node>(*self) as usize))
    }
}

impl<'a> Object<'a, Tree> for &'a [(Key, Node)] {
    type Node = &'a Node;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        <[(Key, Node)]>::len(self)
    }

    fn get(&self, key: &String) -> Option<&'a Node> {
        self.iter().find(|(k, _)| k.name == *key).map(|(_, v)| v)
    }

    fn members(&self) -> Members<'a> {
        Members(self.iter())
    }
}

pub struct Members<'a>(std::slice::Iter<'a, (Key, Node)>);

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a Node);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.name.as_str(), v))
    }
}

impl<'a> Array<'a, Tree> for &'a [Node] {
    type Node = &'a Node;
    type ElementsIter = std::slice::Iter<'a, Node>;

    fn len(&self) -> usize {
        <[Node]>::len(self)
    }

    fn elements(&self) -> std::slice::Iter<'a, Node> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;
    use std::path::Path;

    use proptest::prelude::*;
    use serde::Deserialize;

    use crate::check::phase::{resolve_each, PhaseDoc};
    use crate::check::schema::document_schema;
    use crate::model::Blueprint;
    use crate::source::yaml::{load, Node};

    use super::Tree;

    /// What the validator finds in a document: each error's place in it, its place in
    /// the schema, and its message.
    fn errors(doc: &Node) -> [Vec<(String, String, String)>; 2] {
        use std::sync::OnceLock;
        static VALIDATORS: OnceLock<(jsonschema::Validator<Tree>, jsonschema::Validator)> =
            OnceLock::new();
        let (tree, value) = VALIDATORS.get_or_init(|| {
            let schema = document_schema();
            (
                jsonschema::options_for::<Tree>().build(&schema).unwrap(),
                jsonschema::options().build(&schema).unwrap(),
            )
        });
        let row = |e: jsonschema::ValidationError<'_>| {
            (
                e.instance_path().as_str().to_string(),
                e.schema_path().as_str().to_string(),
                e.to_string(),
            )
        };
        let json = doc.to_json();
        [
            tree.iter_errors(doc).map(row).collect(),
            value.iter_errors(&json).map(row).collect(),
        ]
    }

    /// The typed blueprint read from the tree and from its JSON, or their errors.
    fn typed(doc: &Node) -> [String; 2] {
        let json = doc.to_json();
        let show = |b: Result<Blueprint, serde_json::Error>| match b {
            Ok(b) => format!("{b:?}"),
            Err(e) => format!("error: {e}"),
        };
        [
            show(Blueprint::deserialize(doc)),
            show(Blueprint::deserialize(&json)),
        ]
    }

    /// The tree and its JSON agree, for the document and for each phase's.
    fn agree(text: &str, what: &str) {
        let Ok(root) = load(text) else { return };
        let [a, b] = errors(&root);
        assert_eq!(a, b, "{what}: the schema's findings");
        let mut findings = Vec::new();
        resolve_each(&root, &mut findings, |doc: &PhaseDoc| {
            let [a, b] = errors(&doc.root);
            assert_eq!(a, b, "{what}, phase {}: the schema's findings", doc.name);
            let [a, b] = typed(&doc.root);
            assert_eq!(a, b, "{what}, phase {}: the typed blueprint", doc.name);
            ControlFlow::Continue(())
        });
    }

    /// Every blueprint and fixture the project has, valid and not.
    #[test]
    fn the_tree_reads_as_its_json_for_every_bundled_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for dir in [
            "blueprints",
            "tests/fixtures/invalid",
            "tests/fixtures/render",
        ] {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                agree(&text, &path.display().to_string());
                seen += 1;
            }
        }
        assert!(seen > 100, "{seen} files");
    }

    /// A scalar or small collection in any YAML form a user may write.
    fn value() -> impl Strategy<Value = String> {
        let scalar = prop_oneof![
            Just("null".to_string()),
            Just("~".to_string()),
            Just("true".to_string()),
            Just("yes".to_string()),
            Just(".inf".to_string()),
            Just("-.inf".to_string()),
            Just(".nan".to_string()),
            Just("8000.0".to_string()),
            Just("1e3".to_string()),
            Just("1.2e6".to_string()),
            Just("12345.0".to_string()),
            Just("-4.0".to_string()),
            Just("1e16".to_string()),
            Just("0x1f".to_string()),
            Just("-3".to_string()),
            Just("2.5".to_string()),
            Just("9007199254740993".to_string()),
            Just("'5'".to_string()),
            Just("500m".to_string()),
            Just("10s".to_string()),
            Just("http".to_string()),
            Just("worker".to_string()),
            Just("\"\"".to_string()),
            "[a-z0-9./:-]{0,12}",
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
        ];
        scalar.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|items| format!("[{}]", items.join(", "))),
                prop::collection::vec(("[a-z_]{1,8}", inner), 0..3).prop_map(|entries| {
                    let body: Vec<String> =
                        entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    format!("{{{}}}", body.join(", "))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        /// A value of any shape at a field of a working blueprint: the tree and its JSON
        /// give the same findings and the same typed blueprint (or the same error).
        #[test]
        fn any_value_at_a_field_reads_as_its_json(
            at in prop::sample::select(vec![
                "port", "replicas", "image", "kind", "cpu", "memory", "health",
                "scaling", "env", "queue", "tier", "timeout", "command", "urls",
            ]),
            value in value(),
            in_patch in any::<bool>(),
        ) {
            let field = format!("{at}: {value}");
            let (base, patch) = if in_patch {
                ("port: 8080".to_string(), field)
            } else {
                (field, "port: 8081".to_string())
            };
            let text = format!(
                "version: 1\nname: shop\ntargets: [compose, kubernetes]\nservices:\n  api:\n    kind: http\n    image: shop/api:1\n    {base}\n  work:\n    kind: worker\n    image: shop/work:1\nphases:\n  - name: one\n  - name: two\n    patch:\n      services:\n        api:\n          {patch}\n"
            );
            agree(&text, &text);
        }
    }
}
