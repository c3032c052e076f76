//! `render -o -`: every rendered file on standard output as one stream, never a folder
//! named `-`. One Kubernetes bundle is the YAML stream `kubectl kustomize` builds from
//! its folder (checked against kubectl itself, and without it, object by object against
//! the folder); anything else is each file after a `==> PATH (N bytes) <==` line.

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;
use tierform_lab as lab;

use crate::common;

fn tierform(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("tierform").unwrap();
    c.current_dir(dir)
        .env_remove("TIERFORM_BLUEPRINT")
        .env_remove("TIERFORM_OUTPUT");
    c
}

fn repo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The documents of a YAML stream, each with the `# Source:` comment before it.
fn stream_docs(text: &str) -> Vec<(Option<String>, Value)> {
    let mut out = Vec::new();
    for part in format!("\n{text}").split("\n---\n") {
        let source = part
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map(str::to_string);
        let doc = tierform::load_yaml(part)
            .unwrap_or_else(|e| panic!("{e:?}:\n{part}"))
            .to_json();
        if !doc.is_null() {
            out.push((source, doc));
        }
    }
    out
}

/// The documents of one rendered manifest file.
fn file_docs(text: &str) -> Vec<Value> {
    stream_docs(text).into_iter().map(|(_, d)| d).collect()
}

fn key(doc: &Value) -> (String, String) {
    (
        doc["kind"].as_str().unwrap().to_string(),
        doc["metadata"]["name"].as_str().unwrap().to_string(),
    )
}

/// Every blueprint × phase with a Kubernetes bundle: (blueprint, phase).
fn kubernetes_phases() -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    for path in common::render_blueprints() {
        let set = common::render_all(&path);
        let mut phases: Vec<String> = set
            .iter()
            .filter_map(|(p, _)| {
                let parts: Vec<&str> = p.splitn(3, '/').collect();
                (parts.len() == 3 && parts[1] == "kubernetes").then(|| parts[0].to_string())
            })
            .collect();
        phases.dedup();
        let path = repo(&path.to_string_lossy());
        out.extend(phases.into_iter().map(|p| (path.clone(), p)));
    }
    assert!(out.len() >= 10, "{out:?}");
    out
}

/// `render -o - --phase P --platform kubernetes`: the stream.
fn stream(blueprint: &Path, phase: &str, cwd: &Path) -> String {
    let out = tierform(cwd)
        .args([
            "render",
            "-q",
            "-o",
            "-",
            "--phase",
            phase,
            "--platform",
            "kubernetes",
        ])
        .arg(blueprint)
        .assert()
        .code(0);
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// `render -o -` of a Kubernetes bundle is what `kubectl kustomize` builds from the
/// folder render writes: the same objects, the generated ConfigMaps' hashed names too.
#[test]
fn a_kubernetes_bundle_streams_as_kubectl_kustomize_builds_it() {
    let Some(kubectl) = lab::require("kubectl") else {
        return;
    };
    for (blueprint, phase) in kubernetes_phases() {
        let tmp = tempfile::tempdir().unwrap();
        let at = format!("{} {phase}", blueprint.display());
        let text = stream(&blueprint, &phase, tmp.path());
        assert!(!tmp.path().join("-").exists(), "{at}: a folder named -");
        tierform(tmp.path())
            .args([
                "render",
                "-q",
                "-o",
                "out",
                "--phase",
                &phase,
                "--platform",
                "kubernetes",
            ])
            .arg(&blueprint)
            .assert()
            .code(0);
        let built = std::process::Command::new(&kubectl)
            .arg("kustomize")
            .arg(tmp.path().join("out").join(&phase).join("kubernetes"))
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{at}: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        let want: BTreeMap<_, _> = file_docs(&String::from_utf8(built.stdout).unwrap())
            .into_iter()
            .map(|d| (key(&d), d))
            .collect();
        let docs = stream_docs(&text);
        let got: BTreeMap<_, _> = docs.iter().map(|(_, d)| (key(d), d.clone())).collect();
        assert_eq!(got.len(), docs.len(), "{at}: an object twice");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{at}"
        );
        for (k, doc) in &want {
            assert_eq!(&got[k], doc, "{at}: {k:?}");
        }
        // Each object says which rendered file it comes from; the namespace comes first.
        for (source, doc) in &docs {
            let source = source
                .as_deref()
                .unwrap_or_else(|| panic!("{at}: no source: {doc}"));
            assert!(
                tmp.path().join("out").join(source).is_file(),
                "{at}: {source}"
            );
        }
        assert_eq!(docs[0].1["kind"], "Namespace", "{at}");
    }
}

/// Without kubectl: the stream holds each object of the folder's manifests, in the
/// bundle's namespace, referring to the generated ConfigMaps by their hashed names,
/// and each generated ConfigMap holds its files.
#[test]
fn a_kubernetes_stream_holds_the_folders_objects() {
    for (blueprint, phase) in kubernetes_phases() {
        let at = format!("{} {phase}", blueprint.display());
        let tmp = tempfile::tempdir().unwrap();
        let set = common::render_all(&blueprint);
        let prefix = format!("{phase}/kubernetes/");
        let files: BTreeMap<&str, &str> = set
            .iter()
            .filter_map(|(p, t)| Some((p.strip_prefix(&prefix)?, t)))
            .collect();
        let kustomization = &file_docs(files["kustomization.yaml"])[0];
        let namespace = kustomization["namespace"].as_str().unwrap();
        let docs = stream_docs(&stream(&blueprint, &phase, tmp.path()));
        let mut hashed = BTreeMap::new();
        // A bundle without a balancer or a datastore generates no ConfigMap.
        for generator in kustomization["configMapGenerator"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = generator["name"].as_str().unwrap();
            let (_, map) = docs
                .iter()
                .find(|(_, d)| {
                    d["kind"] == "ConfigMap"
                        && d["metadata"]["name"]
                            .as_str()
                            .unwrap()
                            .strip_prefix(&format!("{name}-"))
                            .is_some_and(|h| h.len() == 10)
                })
                .unwrap_or_else(|| panic!("{at}: no ConfigMap {name}"));
            assert_eq!(map["metadata"]["namespace"], namespace, "{at}");
            for f in generator["files"].as_array().unwrap() {
                let f = f.as_str().unwrap();
                let key = f.rsplit('/').next().unwrap();
                assert_eq!(map["data"][key], files[f], "{at}: {name} {f}");
            }
            hashed.insert(map["metadata"]["name"].as_str().unwrap().to_string(), name);
        }
        let mut objects = 0;
        for rel in kustomization["resources"].as_array().unwrap() {
            for want in file_docs(files[rel.as_str().unwrap()]) {
                objects += 1;
                let (_, got) = docs
                    .iter()
                    .find(|(_, d)| key(d) == key(&want))
                    .unwrap_or_else(|| panic!("{at}: {:?} missing", key(&want)));
                let mut got = got.clone();
                if want["kind"] != "Namespace" {
                    let meta = got["metadata"].as_object_mut().unwrap();
                    assert_eq!(meta.remove("namespace").unwrap(), namespace, "{at}");
                }
                // Back to the names the manifests use.
                let text = hashed.iter().fold(got.to_string(), |t, (h, n)| {
                    t.replace(&format!("\"{h}\""), &format!("\"{n}\""))
                });
                let got: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(got, want, "{at}: {:?}", key(&want));
            }
        }
        assert_eq!(docs.len(), objects + hashed.len(), "{at}");
    }
}

/// The files of a stream that is not one Kubernetes bundle.
fn parse_files(stream: &str) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (line, after) = rest.split_once('\n').expect("a header line");
        let inner = line
            .strip_prefix("==> ")
            .and_then(|l| l.strip_suffix(" bytes) <=="))
            .unwrap_or_else(|| panic!("not a header: {line:?}"));
        let (path, n) = inner.rsplit_once(" (").unwrap();
        let n: usize = n.parse().unwrap();
        files.insert(path.to_string(), after[..n].to_string());
        rest = &after[n..];
    }
    files
}

/// Any other selection: every file the folder render writes, each after a header line
/// naming its path and size, byte for byte.
#[test]
fn other_selections_stream_every_file_after_its_header() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let bp = repo("blueprints/showcase.yaml");
    for selection in [&[][..], &["--phase", "nginx"], &["--platform", "compose"]] {
        let out = tierform(d)
            .args(["render", "-q", "-o", "-"])
            .args(selection)
            .arg(&bp)
            .assert()
            .code(0);
        assert!(!d.join("-").exists(), "{selection:?}: a folder named -");
        let got = parse_files(&String::from_utf8(out.get_output().stdout.clone()).unwrap());
        let dir = tempfile::tempdir().unwrap();
        tierform(d)
            .args(["render", "-q", "-o"])
            .arg(dir.path())
            .args(selection)
            .arg(&bp)
            .assert()
            .code(0);
        let want: BTreeMap<String, String> = common::files_under(dir.path())
            .into_iter()
            .map(|p| {
                p.strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|p| p != ".tierform-manifest")
            .map(|p| {
                let text = std::fs::read_to_string(dir.path().join(&p)).unwrap();
                (p, text)
            })
            .collect();
        assert!(want.len() > 5, "{selection:?}");
        assert_eq!(got, want, "{selection:?}");
    }
}

/// `-o -` with `--check` or `--format json` is a usage error, and TIERFORM_OUTPUT=-
/// streams too; an invalid blueprint streams nothing.
#[test]
fn the_stream_refuses_what_does_not_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let bp = repo("blueprints/showcase.yaml");
    for extra in [&["--check"][..], &["--format", "json"]] {
        let out = tierform(d)
            .args(["render", "-o", "-"])
            .args(extra)
            .arg(&bp)
            .assert()
            .code(2)
            .stdout("");
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains("`-o -`"), "{stderr}");
    }
    let out = tierform(d)
        .env("TIERFORM_OUTPUT", "-")
        .args(["render", "-q", "--phase", "nginx", "--platform", "compose"])
        .arg(&bp)
        .assert()
        .code(0);
    let files = parse_files(&String::from_utf8(out.get_output().stdout.clone()).unwrap());
    assert!(
        files.contains_key("nginx/compose/docker-compose.yml"),
        "{files:?}"
    );
    let bad = d.join("bad.yaml");
    std::fs::write(&bad, "version: 1\nname: x\nservices: {}\nbogus: 1\n").unwrap();
    tierform(d)
        .args(["render", "-o", "-"])
        .arg(&bad)
        .assert()
        .code(2)
        .stdout("");
    assert!(!d.join("-").exists());
}

/// `render --help` and its manual page say what `-o -` writes.
#[test]
fn help_and_man_page_describe_the_stream() {
    let d = tempfile::tempdir().unwrap();
    for args in [&["render", "--help"][..], &["man", "render"]] {
        let out = tierform(d.path()).args(args).assert().code(0);
        // As words: the help wraps lines, the manual page escapes dashes.
        let text = String::from_utf8_lossy(&out.get_output().stdout).replace("\\-", "-");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for needle in [
            "kubectl kustomize",
            "# Source: PATH",
            "==> PATH (N bytes) <==",
        ] {
            assert!(text.contains(needle), "{args:?} lacks {needle:?}:\n{text}");
        }
    }
}

/// A phase rendered only for Kubernetes streams as YAML with `--phase P` alone: the
/// phase's picture (ARCHITECTURE.md) is for people, not for `kubectl apply -f -`, and
/// is left out, so the stream is what `--platform kubernetes` gives.
#[test]
fn a_kubernetes_only_phase_streams_as_yaml_without_naming_the_platform() {
    let dir = tempfile::tempdir().unwrap();
    let bp = repo("blueprints/medhasakthi.yaml");
    let out = tierform(dir.path())
        .args(["render", "-q", "-o", "-", "--phase", "enterprise"])
        .arg(&bp)
        .assert()
        .code(0);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(!text.contains("==> "), "{}", &text[..text.len().min(400)]);
    assert_eq!(text, stream(&bp, "enterprise", dir.path()));
}

/// A reader that stops early (`| head`) ends the stream quietly, as `cat` does: exit
/// 0 and nothing on stderr (before: "error: Broken pipe (os error 32)", exit 2).
#[test]
fn a_reader_that_stops_early_ends_the_stream_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tierform"))
        .args(["render", "-q", "-o", "-"])
        .arg(repo("blueprints/bet-intel.yaml"))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // Our end of the pipe is closed now (dropped above).
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
}
