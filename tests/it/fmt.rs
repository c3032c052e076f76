//! `tierform fmt`: canonical key order and layout with every comment kept. Every
//! bundled blueprint and fixture comes back as the same tree and is a fixed point; a
//! shuffled blueprint comes back canonical with its comments beside their entries;
//! aliases, block scalars and flow collections survive; `--check`, stdin and the
//! default blueprint behave as the other commands do. (fmt_props.rs: any shuffle of a
//! generated blueprint's fields formats to the same text.)

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

use crate::common;

fn tierform(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("tierform").unwrap();
    c.current_dir(dir)
        .env_remove("TIERFORM_BLUEPRINT")
        .env_remove("NO_COLOR");
    c
}

fn out(a: &assert_cmd::assert::Assert) -> (String, String) {
    let o = a.get_output();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn tree(text: &str) -> Value {
    tierform::load_yaml(text)
        .unwrap_or_else(|e| panic!("{e:?}\n{text}"))
        .to_json()
}

/// The names of each map keyed by the user's names, in the order written.
fn user_orders(v: &Value) -> Vec<Vec<String>> {
    let keys = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut orders = vec![
        keys(v.get("services")),
        keys(v.get("datastores")),
        keys(v.get("tiers")),
    ];
    for s in v
        .get("services")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
    {
        orders.push(keys(s.get("env")));
    }
    for p in v
        .get("phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        orders.push(keys(p.get("patch").and_then(|p| p.get("services"))));
        orders.push(keys(p.get("patch").and_then(|p| p.get("datastores"))));
    }
    orders
}

/// Formats `text` and checks what every result must be: the same tree, user-named
/// maps in the same order, and a fixed point.
pub fn formats(text: &str, what: &str) -> String {
    let formatted =
        tierform::format_blueprint(text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
    assert_eq!(tree(text), tree(&formatted), "{what}: the tree changed");
    assert_eq!(
        user_orders(&tree(text)),
        user_orders(&tree(&formatted)),
        "{what}: the order of names changed"
    );
    let again = tierform::format_blueprint(&formatted).unwrap();
    assert_eq!(formatted, again, "{what}: not a fixed point");
    assert!(formatted.ends_with('\n') && !formatted.ends_with("\n\n"));
    // Trailing spaces only where a block scalar holds them.
    assert!(
        formatted
            .lines()
            .all(|l| l == l.trim_end() || text.contains(&format!("{}\n", l.trim_start()))),
        "{what}: trailing spaces"
    );
    formatted
}

#[test]
fn every_blueprint_and_fixture_formats_to_the_same_tree_and_a_fixed_point() {
    let mut files: Vec<PathBuf> = common::render_blueprints();
    files.extend(common::yaml_files("tests/fixtures/invalid"));
    files.push("templates/starter.yaml".into());
    let mut formatted = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        // Fixtures of YAML that does not load are refused, located (below).
        if text.is_empty() || tierform::load_yaml(&text).is_err() {
            continue;
        }
        formats(&text, &path.display().to_string());
        formatted += 1;
    }
    assert!(formatted > 100, "only {formatted} files formatted");
}

/// The bundled blueprints are written as fmt writes them, so `fmt --check` in a
/// project started from one passes until the user changes the layout.
#[test]
fn bundled_blueprints_are_formatted() {
    for path in common::yaml_files("blueprints") {
        let text = std::fs::read_to_string(&path).unwrap();
        let formatted = tierform::format_blueprint(&text).unwrap();
        assert!(
            formatted == text,
            "{} is not formatted: run `tierform fmt {}`",
            path.display(),
            path.display()
        );
    }
}

const SHUFFLED: &str = r#"# yaml-language-server: $schema=../schema/blueprint.schema.json
# A shop, written in no particular order.

services:
    # the API: users call it
    api:
        port: 8000     # the port it listens on
        scaling: { replicas: 2 }
        image: shop/api:1.4
        env:
            LOG_LEVEL: info      # env keeps its order
            BIND: 0.0.0.0
        kind: http
        health:
            timeout: 2s
            path: /health
            # interval: 5s (commented out, stays in health)
    # the worker
    worker:
        queue: { name: mail, broker: jobs }
        command: [work, --queue, mail]
        image: shop/api:1.4
        kind: worker
targets: [compose, hosts]


# the name comes second
name: shop
version: 1
datastores:
    jobs:
        role: broker
        engine: redis
    db:
        replicas: 1
        engine: postgres
        database: shop
tiers:
    app:
        hosts: [10.0.0.1]
        machine: { cpu: 4, memory: 8Gi }
phases:
-   patch:
        services:
            worker: { scaling: { replicas: 2 } }
            api: { scaling: { replicas: 4 } }
    name: single
    # why this phase
    enter_when: day one
"#;

#[test]
fn a_shuffled_blueprint_comes_back_canonical_with_its_comments() {
    let formatted = formats(SHUFFLED, "shuffled");
    insta::with_settings!({
        snapshot_path => "../../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("fmt-shuffled", formatted);
    });
    // Each comment is on the line above, or at the end of, the entry it was with.
    let lines: Vec<&str> = formatted.lines().collect();
    let after = |comment: &str| {
        let i = lines.iter().position(|l| l.trim() == comment).unwrap();
        lines[i + 1].trim()
    };
    assert_eq!(after("# the API: users call it"), "api:");
    assert_eq!(after("# the worker"), "worker:");
    assert_eq!(after("# the name comes second"), "name: shop");
    assert_eq!(after("# why this phase"), "enter_when: day one");
    assert!(formatted.contains("  port: 8000     # the port it listens on\n"));
    assert!(formatted.contains("      timeout: 2s\n      # interval: 5s"));
    // Every comment line survives.
    for l in SHUFFLED.lines().filter(|l| l.contains('#')) {
        let comment = &l[l.find('#').unwrap()..];
        assert!(formatted.contains(comment), "lost {comment:?}");
    }
}

/// What fmt moves only as whole lines: an anchor and its aliases (a merge key first),
/// a literal and a folded block scalar (blank lines and trailing spaces inside kept),
/// flow sequences and mappings, quoted keys, a `---` marker.
#[test]
fn aliases_block_scalars_and_flow_collections_survive() {
    let text = "---\n\
        services:\n  \
          base: &base\n    \
            kind: http\n    \
            image: \"x:1\"\n  \
          api:\n    \
            port: 80\n    \
            <<: *base\n    \
            command: [serve, \"--port\", '80']\n    \
            env: { \"B\": 1, A: \"two words\" }\n    \
            description: |\n      \
              line one  \n\n        \
              indented\n    \
            tier: >-\n      \
              folded\n      \
              text\n  \
          web: *base\n\
        version: 1\n";
    let formatted = formats(text, "anchors");
    assert_eq!(
        formatted,
        "---\n\
        version: 1\n\
        services:\n  \
          base: &base\n    \
            kind: http\n    \
            image: \"x:1\"\n  \
          api:\n    \
            <<: *base\n    \
            description: |\n      \
              line one  \n\n        \
              indented\n    \
            tier: >-\n      \
              folded\n      \
              text\n    \
            command: [serve, \"--port\", '80']\n    \
            port: 80\n    \
            env: { \"B\": 1, A: \"two words\" }\n  \
          web: *base\n"
    );
    // An alias before its anchor would not load: the entries keep their order then.
    let text = "x-defaults: &d { kind: http, image: \"x:1\" }\nservices:\n  api: *d\nversion: 1\n";
    let formatted = formats(text, "anchor first");
    assert!(formatted.starts_with("x-defaults: &d"), "{formatted}");
}

#[test]
fn four_space_indentation_and_indentless_sequences_become_two_spaces() {
    let text = "version: 1\nphases:\n- name: a\n  patch:\n      services:\n          api: {}\n-   name: b\n";
    assert_eq!(
        formats(text, "indentless"),
        "version: 1\nphases:\n  - name: a\n    patch:\n      services:\n        api: {}\n  - name: b\n"
    );
}

/// fmt does not validate: unknown fields stay, after the known ones.
#[test]
fn an_invalid_blueprint_is_formatted() {
    let text =
        "services:\n  api:\n    replica: 2\n    image: x\n    kind: nope\nversion: \"one\"\n";
    assert_eq!(
        formats(text, "invalid"),
        "version: \"one\"\nservices:\n  api:\n    kind: nope\n    image: x\n    replica: 2\n"
    );
}

#[test]
fn check_reports_what_would_change_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("messy.yaml"), SHUFFLED).unwrap();
    std::fs::copy("blueprints/showcase.yaml", d.join("tidy.yaml")).unwrap();

    let a = tierform(d)
        .args(["fmt", "--check", "tidy.yaml"])
        .assert()
        .code(0);
    assert_eq!(out(&a).0, "");

    let a = tierform(d)
        .args(["fmt", "--check", "tidy.yaml", "messy.yaml"])
        .assert()
        .code(1);
    assert_eq!(out(&a).0, "messy.yaml\n");
    let a = tierform(d)
        .args(["fmt", "--check", "-v", "messy.yaml"])
        .assert()
        .code(1);
    let (stdout, _) = out(&a);
    assert!(
        stdout.contains("--- a/messy.yaml\n+++ b/messy.yaml\n")
            && stdout.contains("\n+version: 1\n"),
        "{stdout}"
    );
    let a = tierform(d)
        .args([
            "fmt",
            "--check",
            "--format",
            "json",
            "tidy.yaml",
            "messy.yaml",
        ])
        .assert()
        .code(1);
    let doc: Value = serde_json::from_str(&out(&a).0).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "format_version": 1,
            "formatted": false,
            "files": [
                { "file": "tidy.yaml", "changed": false },
                { "file": "messy.yaml", "changed": true },
            ],
        })
    );
    assert_eq!(
        std::fs::read_to_string(d.join("messy.yaml")).unwrap(),
        SHUFFLED
    );

    // Without --check: written in place, and then formatted already.
    let a = tierform(d).args(["fmt", "messy.yaml"]).assert().code(0);
    assert!(out(&a).1.contains("formatted messy.yaml"), "{:?}", out(&a));
    let written = std::fs::read_to_string(d.join("messy.yaml")).unwrap();
    assert_eq!(written, tierform::format_blueprint(SHUFFLED).unwrap());
    tierform(d)
        .args(["fmt", "--check", "messy.yaml"])
        .assert()
        .code(0);
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[test]
fn stdin_to_stdout_and_the_default_blueprint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = tierform(d)
        .args(["fmt", "-"])
        .write_stdin(SHUFFLED)
        .assert()
        .code(0);
    assert_eq!(out(&a).0, tierform::format_blueprint(SHUFFLED).unwrap());
    // Formatted already: the same text back.
    let tidy = std::fs::read_to_string("blueprints/showcase.yaml").unwrap();
    let a = tierform(d)
        .args(["fmt", "-"])
        .write_stdin(tidy.clone())
        .assert()
        .code(0);
    assert_eq!(out(&a).0, tidy);
    tierform(d)
        .args(["fmt", "--check", "-"])
        .write_stdin(SHUFFLED)
        .assert()
        .code(1);

    // No file named: $TIERFORM_BLUEPRINT, else ./blueprint.yaml, else an error.
    tierform(d).args(["fmt", "--check"]).assert().code(2);
    std::fs::write(d.join("app.yaml"), SHUFFLED).unwrap();
    tierform(d)
        .args(["fmt", "--check"])
        .env("TIERFORM_BLUEPRINT", "app.yaml")
        .assert()
        .code(1);
    std::fs::write(d.join("blueprint.yaml"), &tidy).unwrap();
    tierform(d).args(["fmt", "--check"]).assert().code(0);
}

#[test]
fn yaml_that_does_not_load_is_an_error_located_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let broken = "version: 1\nservices:\n  api: { image: x\n";
    std::fs::write(d.join("broken.yaml"), broken).unwrap();
    let a = tierform(d).args(["fmt", "broken.yaml"]).assert().code(2);
    let (stdout, stderr) = out(&a);
    assert_eq!(stdout, "");
    assert!(stderr.contains("broken.yaml:4:1: "), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(d.join("broken.yaml")).unwrap(),
        broken
    );
    let a = tierform(d)
        .args(["fmt", "-"])
        .write_stdin("a: 1\na: 2\n")
        .assert()
        .code(2);
    assert!(
        out(&a).1.contains("<stdin>:2:1: duplicate key `a`"),
        "{:?}",
        out(&a)
    );
}

/// A layout fmt does not take apart (an explicit `? key`) is refused, the file left
/// as it is; a file it writes keeps its permissions.
#[test]
fn a_layout_it_cannot_take_apart_is_refused_and_permissions_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let explicit = "version: 1\n? name\n: x\n";
    std::fs::write(d.join("explicit.yaml"), explicit).unwrap();
    let a = tierform(d).args(["fmt", "explicit.yaml"]).assert().code(2);
    assert!(
        out(&a).1.contains("explicit.yaml: cannot format line 2"),
        "{:?}",
        out(&a)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("explicit.yaml")).unwrap(),
        explicit
    );
    let path = d.join("messy.yaml");
    std::fs::write(&path, SHUFFLED).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    tierform(d)
        .args(["fmt", "-q", "messy.yaml"])
        .assert()
        .code(0);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}
