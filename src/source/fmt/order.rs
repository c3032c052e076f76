//! The canonical key order, read from a JSON Schema: a mapping the schema describes
//! with `properties` (a struct of the model) takes the order of its `properties`; a
//! mapping the schema describes with `additionalProperties` (one keyed by the user's
//! names: services, datastores, tiers, env, a patch's services) keeps the user's
//! order. Where the schema offers alternatives (`oneOf`, `anyOf`: a datastore per
//! engine) the one whose `const` fields match the mapping is followed.

use serde_json::Value;

/// A place in the schema: the node that describes the current YAML node, if any.
#[derive(Clone, Copy)]
pub struct Schema<'a> {
    root: &'a Value,
    node: Option<&'a Value>,
}

/// What the schema says about one mapping.
pub struct MapSchema<'a> {
    root: &'a Value,
    /// The fields of a struct, in their order; `None` for a mapping of user names
    /// or one the schema does not describe.
    properties: Option<&'a serde_json::Map<String, Value>>,
    /// The schema of every value of a mapping of user names.
    additional: Option<&'a Value>,
}

/// `$ref` followed and `anyOf`/`oneOf`/`allOf` flattened: the alternatives that
/// describe a collection.
fn alternatives<'a>(root: &'a Value, node: &'a Value, depth: usize, out: &mut Vec<&'a Value>) {
    if depth > 16 {
        return;
    }
    if let Some(target) = node.get("$ref").and_then(Value::as_str) {
        if let Some(name) = target.strip_prefix("#/$defs/") {
            if let Some(def) = root.get("$defs").and_then(|d| d.get(name)) {
                alternatives(root, def, depth + 1, out);
            }
        }
    }
    for combinator in ["allOf", "anyOf", "oneOf"] {
        for alt in node
            .get(combinator)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            alternatives(root, alt, depth + 1, out);
        }
    }
    if node.get("properties").is_some()
        || node
            .get("additionalProperties")
            .is_some_and(Value::is_object)
        || node.get("items").is_some()
    {
        out.push(node);
    }
}

impl<'a> Schema<'a> {
    pub fn new(root: &'a Value) -> Self {
        Schema {
            root,
            node: Some(root),
        }
    }

    fn alternatives(&self) -> Vec<&'a Value> {
        let mut out = Vec::new();
        if let Some(node) = self.node {
            alternatives(self.root, node, 0, &mut out);
        }
        out
    }

    /// What the schema says of a mapping; `scalar(key)` is the mapping's scalar
    /// value under `key`, to pick the alternative whose `const` fields it matches.
    pub fn map(&self, scalar: &dyn Fn(&str) -> Option<String>) -> MapSchema<'a> {
        let alts = self.alternatives();
        let structs: Vec<&serde_json::Map<String, Value>> = alts
            .iter()
            .filter_map(|a| a.get("properties").and_then(Value::as_object))
            .collect();
        let matches = |props: &&serde_json::Map<String, Value>| {
            props.iter().all(|(k, v)| match v.get("const") {
                Some(c) => scalar(k).is_some_and(|s| c.as_str() == Some(s.as_str())),
                None => true,
            })
        };
        let properties = structs
            .iter()
            .find(|p| matches(p))
            .or_else(|| structs.first())
            .copied();
        let additional = alts
            .iter()
            .find_map(|a| a.get("additionalProperties").filter(|v| v.is_object()));
        MapSchema {
            root: self.root,
            properties,
            additional,
        }
    }

    /// The schema of a sequence's items.
    pub fn items(&self) -> Schema<'a> {
        Schema {
            root: self.root,
            node: self.alternatives().iter().find_map(|a| a.get("items")),
        }
    }
}

impl<'a> MapSchema<'a> {
    /// The canonical order of `keys`, as indexes into them: a plain `<<` merge key
    /// first, then the schema's fields in its order, then keys it does not know in
    /// the user's order. A mapping of user names keeps the user's order.
    pub fn order(&self, keys: &[&str]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        if let Some(props) = self.properties {
            let rank = |k: &str| match k {
                "<<" => 0,
                _ => props
                    .keys()
                    .position(|p| p == k)
                    .map_or(usize::MAX, |i| i + 1),
            };
            order.sort_by_key(|&i| rank(keys[i]));
        }
        order
    }

    /// The schema of the value under `key`.
    pub fn child(&self, key: &str) -> Schema<'a> {
        let node = match self.properties {
            Some(props) => props.get(key),
            None => self.additional,
        };
        Schema {
            root: self.root,
            node,
        }
    }
}
