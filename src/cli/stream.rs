//! `render -o -`: the rendered files as one stream on standard output, for a pipe.
//!
//! A selection that is one Kubernetes bundle (`--phase P --platform kubernetes`)
//! becomes the YAML stream `kubectl kustomize` builds from its folder, as `helm
//! template` prints one: every object in the bundle's namespace, the ConfigMaps its
//! `configMapGenerator` lists, named with kustomize's content hash and referred to by
//! that name, each object after a `# Source: PATH` comment, `---` between them. Pipe it
//! to `kubectl apply -f -`. Anything else is every file, each after a header line
//! `==> PATH (N bytes) <==` and then exactly its N bytes.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::render::files::OutputSet;
use crate::render::yaml_emit;

/// Writes `set` to `out` as one stream.
pub fn write(set: &OutputSet, out: &mut impl Write) -> Result<()> {
    match kubernetes_bundle(set) {
        Some(prefix) => out.write_all(kustomize(set, &prefix)?.as_bytes())?,
        None => {
            for (path, text) in set.iter() {
                write!(out, "{}", file_header(path, text.len()))?;
                out.write_all(text.as_bytes())?;
            }
        }
    }
    Ok(())
}

/// The line before each file of a stream that is not a Kubernetes bundle.
pub fn file_header(path: &str, bytes: usize) -> String {
    format!("==> {path} ({bytes} bytes) <==\n")
}

/// `PHASE/kubernetes/` when every file of `set` is in that one bundle, but the phase's
/// own files (its picture, ARCHITECTURE.md), which are for people, not for kubectl.
fn kubernetes_bundle(set: &OutputSet) -> Option<String> {
    let (kustomization, _) = set
        .iter()
        .find(|(p, _)| p.ends_with("/kubernetes/kustomization.yaml"))?;
    let prefix = kustomization
        .strip_suffix("kustomization.yaml")?
        .to_string();
    let phase = prefix.strip_suffix("kubernetes/")?;
    let all = set.iter().all(|(p, _)| {
        p.starts_with(&prefix)
            || p.strip_prefix(phase)
                .is_some_and(|rest| !rest.contains('/'))
    });
    all.then_some(prefix)
}

/// The documents of a YAML file whose documents are separated by `---` lines.
fn documents(path: &str, text: &str) -> Result<Vec<Value>> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n').chain(std::iter::once("---\n")) {
        if line.trim_end() == "---" {
            let doc = crate::source::yaml::load(&current)
                .map_err(|e| {
                    anyhow!(
                        "{path}: {}",
                        e.first().map(|e| e.to_string()).unwrap_or_default()
                    )
                })?
                .to_json();
            if !doc.is_null() {
                docs.push(doc);
            }
            current.clear();
        } else {
            current.push_str(line);
        }
    }
    Ok(docs)
}

/// Kinds that belong to no namespace, which kustomize does not put in one.
const CLUSTER_KINDS: [&str; 11] = [
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "RuntimeClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

/// The bundle under `prefix` built as `kubectl kustomize` builds its folder.
fn kustomize(set: &OutputSet, prefix: &str) -> Result<String> {
    let file = |rel: &str| -> Result<&str> {
        set.get(&format!("{prefix}{rel}")).with_context(|| {
            format!("{prefix}kustomization.yaml names {rel}, which is not rendered")
        })
    };
    let kustomization_text = file("kustomization.yaml")?;
    let [k] = &documents("kustomization.yaml", kustomization_text)?[..] else {
        bail!("{prefix}kustomization.yaml is not one document");
    };
    let known = [
        "apiVersion",
        "kind",
        "namespace",
        "resources",
        "configMapGenerator",
    ];
    if let Some(other) = k
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, _)| key)
        .find(|key| !known.contains(&key.as_str()))
    {
        bail!(
            "cannot stream {prefix}: its kustomization uses `{other}`, which `-o -` does not build"
        );
    }
    let namespace = k["namespace"].as_str();
    // The generated ConfigMaps, by the name the manifests use.
    let mut maps: Vec<(String, Value, Vec<String>)> = Vec::new();
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    for generator in k["configMapGenerator"].as_array().into_iter().flatten() {
        let name = generator["name"]
            .as_str()
            .context("a configMapGenerator without a name")?;
        if let Some(other) = generator
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, _)| key)
            .find(|key| !["name", "files"].contains(&key.as_str()))
        {
            bail!("cannot stream {prefix}: configMapGenerator `{name}` uses `{other}`");
        }
        let mut data = BTreeMap::new();
        let mut sources = Vec::new();
        for entry in generator["files"].as_array().into_iter().flatten() {
            let entry = entry
                .as_str()
                .context("a configMapGenerator file that is not a path")?;
            let (key, rel) = entry
                .split_once('=')
                .unwrap_or((entry.rsplit('/').next().unwrap_or(entry), entry));
            data.insert(key.to_string(), file(rel)?.to_string());
            sources.push(rel.to_string());
        }
        let hashed = format!("{name}-{}", config_map_hash(&data));
        renamed.insert(name.to_string(), hashed.clone());
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!(hashed));
        if let Some(ns) = namespace {
            metadata.insert("namespace".into(), json!(ns));
        }
        let doc =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data});
        maps.push((name.to_string(), doc, sources));
    }
    let mut namespaces = Vec::new();
    let mut objects = Vec::new();
    for rel in k["resources"].as_array().into_iter().flatten() {
        let rel = rel.as_str().context("a resource that is not a path")?;
        for mut doc in documents(rel, file(rel)?)? {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            if let (Some(ns), false) = (namespace, CLUSTER_KINDS.contains(&kind.as_str())) {
                set_namespace(&mut doc, ns);
            }
            rename_config_maps(&mut doc, &renamed);
            if kind == "Namespace" {
                namespaces.push((rel, doc));
            } else {
                objects.push((rel, doc));
            }
        }
    }
    // The generated-by line of the bundle's files, once at the top.
    let mut out: String = kustomization_text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut docs: Vec<String> = Vec::new();
    let emit = |head: &[&str], doc: &Value| -> Result<String> {
        yaml_emit::emit_checked(head, doc).map_err(|e| anyhow!("{e}"))
    };
    for (rel, doc) in &namespaces {
        docs.push(emit(&[&format!("Source: {prefix}{rel}")], doc)?);
    }
    for (name, doc, sources) in &maps {
        let head = format!("Source: {prefix}kustomization.yaml");
        let from = format!("configMapGenerator {name}: {}", sources.join(", "));
        docs.push(config_map_yaml(&[&head, &from], doc)?);
    }
    for (rel, doc) in &objects {
        docs.push(emit(&[&format!("Source: {prefix}{rel}")], doc)?);
    }
    out.push_str(&docs.join("---\n"));
    Ok(out)
}

/// `doc` with `metadata.namespace` set, right after its name.
fn set_namespace(doc: &mut Value, namespace: &str) {
    let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let mut out = Map::new();
    for (k, v) in std::mem::take(meta) {
        let name = k == "name";
        if k != "namespace" {
            out.insert(k, v);
        }
        if name {
            out.insert("namespace".into(), json!(namespace));
        }
    }
    out.entry("namespace").or_insert_with(|| json!(namespace));
    *meta = out;
}

/// Every reference to a generated ConfigMap (a volume's, `envFrom`'s, an env value's)
/// by the name kustomize gives it.
fn rename_config_maps(v: &mut Value, renamed: &BTreeMap<String, String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if ["configMap", "configMapRef", "configMapKeyRef"].contains(&k.as_str()) {
                    if let Some(name) = child.get_mut("name") {
                        if let Some(new) = name.as_str().and_then(|n| renamed.get(n)) {
                            *name = json!(new);
                        }
                    }
                }
                rename_config_maps(child, renamed);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| rename_config_maps(i, renamed)),
        _ => {}
    }
}

/// kustomize's name suffix for a generated ConfigMap: the SHA-256 of `{"data":…,
/// "kind":"ConfigMap","name":""}` as Go's `json.Marshal` writes it, its first ten hex
/// digits with `0 1 3 a e` turned into `g h k m t`. The name is empty: kustomize's
/// hasher looks it up as one field called `metadata/name`, which no object has (checked
/// against `kubectl kustomize` in tests/it/cli_stream.rs).
pub fn config_map_hash(data: &BTreeMap<String, String>) -> String {
    let mut encoded = String::from("{\"data\":{");
    for (i, (k, v)) in data.iter().enumerate() {
        if i > 0 {
            encoded.push(',');
        }
        go_json_string(&mut encoded, k);
        encoded.push(':');
        go_json_string(&mut encoded, v);
    }
    encoded.push_str("},\"kind\":\"ConfigMap\",\"name\":\"\"}");
    let digest = Sha256::digest(encoded.as_bytes());
    digest
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(10)
        .map(|n| match n {
            0 => 'g',
            1 => 'h',
            3 => 'k',
            0xa => 'm',
            0xe => 't',
            n => char::from_digit(u32::from(n), 16).expect("a hex digit"),
        })
        .collect()
}

/// `s` as Go's `encoding/json` writes a string: HTML-safe (`<`, `>`, `&` escaped),
/// control characters as `\u00XX` but `\n`, `\r`, `\t`, `\b`, `\f`, and U+2028 and
/// U+2029 escaped.
fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A generated ConfigMap as YAML, each file's text a literal block (`|`) as people
/// read a config, when it reads back the same; otherwise as the emitter quotes it.
fn config_map_yaml(head: &[&str], doc: &Value) -> Result<String> {
    let mut shell = doc.clone();
    let data = shell
        .as_object_mut()
        .and_then(|m| m.remove("data"))
        .unwrap_or_default();
    let mut text = yaml_emit::emit_checked(head, &shell).map_err(|e| anyhow!("{e}"))?;
    let entries: Vec<(&String, &Value)> = data.as_object().into_iter().flatten().collect();
    if !entries.is_empty() {
        text.push_str("data:\n");
        for (key, value) in entries {
            let value = value.as_str().unwrap_or_default();
            let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            match literal_block(value).filter(|_| plain) {
                Some(block) => text.push_str(&format!("  {key}: {block}")),
                None => {
                    let one = yaml_emit::emit(&[], &json!({ key: value }));
                    text.extend(one.lines().map(|l| format!("  {l}\n")));
                }
            }
        }
    }
    let back = crate::source::yaml::load(&text).map(|n| n.to_json());
    if back.as_ref().ok() != Some(doc) {
        return yaml_emit::emit_checked(head, doc).map_err(|e| anyhow!("{e}"));
    }
    Ok(text)
}

/// `text` as a literal block scalar indented by four, from its indicator on: `|` when
/// it ends in one newline, `|-` without one, `|+` with more; `None` for text a literal
/// block cannot hold as it is (other control characters, a first line that starts with
/// a space, a carriage return).
fn literal_block(text: &str) -> Option<String> {
    let printable = |c: char| {
        c == '\n'
            || c == '\t'
            || !(c.is_control()
                || c == '\u{feff}'
                || c == '\u{2028}'
                || c == '\u{2029}'
                || c == '\u{85}')
    };
    if text.is_empty() || !text.chars().all(printable) || text.starts_with([' ', '\n', '\t']) {
        return None;
    }
    let body = text.trim_end_matches('\n');
    let chomp = match text.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!("|{chomp}\n");
    for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
        if !line.is_empty() {
            out.push_str("    ");
            out.push_str(line);
        }
        out.push('\n');
    }
    Some(out)
}

/// The files of a stream that is not a Kubernetes bundle, by path (the inverse of
/// [`write`] for such a stream; for tests and scripts).
#[cfg(test)]
fn parse_files(stream: &str) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (line, after) = rest
            .split_once('\n')
            .context("a header without its line end")?;
        let inner = line
            .strip_prefix("==> ")
            .and_then(|l| l.strip_suffix(" bytes) <=="))
            .context("not a header line")?;
        let (path, n) = inner.rsplit_once(" (").context("a header without a size")?;
        let n: usize = n.parse()?;
        files.insert(
            path.to_string(),
            after.get(..n).context("a file cut short")?.to_string(),
        );
        rest = &after[n..];
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash `kubectl kustomize` (kustomize v5.5) gives a generated ConfigMap whose
    /// one file `a` holds `b`; and the escaping Go's JSON uses.
    #[test]
    fn config_map_hash_is_kustomizes() {
        let data = BTreeMap::from([("a".to_string(), "b".to_string())]);
        assert_eq!(config_map_hash(&data), "4h2mbtbbt6");
        let mut s = String::new();
        go_json_string(&mut s, "<a & b>\u{1}\u{2028}\"\\");
        assert_eq!(s, r#""\u003ca \u0026 b\u003e\u0001\u2028\"\\""#);
    }

    #[test]
    fn literal_blocks_keep_the_text() {
        for text in [
            "a\n",
            "a",
            "a\n\n",
            "a\n  b\n\n c\n",
            "x\ty\n",
            "# c\nk: v\n",
        ] {
            let block = literal_block(text).unwrap();
            let yaml = format!("k: {block}");
            let back = crate::source::yaml::load(&yaml).unwrap().to_json();
            assert_eq!(back["k"], text, "{yaml}");
        }
        for text in ["", " a\n", "\na\n", "a\rb\n", "a\u{1}\n"] {
            assert!(literal_block(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn files_stream_parses_back() {
        let mut set = OutputSet::new();
        set.insert("p/compose/a.yml".into(), "x: 1\n".into())
            .unwrap();
        set.insert(
            "p/compose/b".into(),
            "no newline ==> q (1 bytes) <==".into(),
        )
        .unwrap();
        let mut out = Vec::new();
        write(&set, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("==> p/compose/a.yml (5 bytes) <==\nx: 1\n"),
            "{text}"
        );
        let back = parse_files(&text).unwrap();
        let want: BTreeMap<String, String> =
            set.iter().map(|(p, t)| (p.into(), t.into())).collect();
        assert_eq!(back, want);
    }
}
