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

/// The servers' images, the monitoring programs' (each the release Debian 13 packages,
/// which the live monitoring test boots), and the one tool image a bundle runs
/// (kubectl, with which a pod waits for a job; pinned by digest, no server).
fn supported_images() -> BTreeSet<String> {
    tierform::versions::ALL
        .iter()
        .flat_map(|(_, table)| table.iter().map(|s| s.image.to_string()))
        .chain(
            tierform::versions::MONITORING
                .iter()
                .map(|t| t.image.to_string()),
        )
        .chain([
            tierform::versions::KUBECTL_IMAGE.to_string(),
            tierform::versions::ETCD_BASE_IMAGE.to_string(),
        ])
        .collect()
}

/// Each monitoring image is tagged with the release of the Debian package the live
/// test boots (cAdvisor, Grafana and the Datadog Agent have none).
#[test]
fn monitoring_images_are_the_booted_releases() {
    for t in tierform::versions::MONITORING {
        let tag = t.image.rsplit_once(':').unwrap().1;
        assert_eq!(tag.trim_start_matches('v'), t.version, "{}", t.image);
        assert_eq!(
            t.package.is_empty(),
            t.image.contains("cadvisor")
                || t.image.contains("grafana")
                || t.image.contains("datadoghq/agent"),
            "{}",
            t.image
        );
    }
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
        // Images compose builds from a Dockerfile of the bundle (PostgreSQL with
        // pgBackRest): the Dockerfile's `FROM` is the image that must be supported.
        let mut built = BTreeSet::new();
        for (file, text) in set.iter() {
            if file.ends_with("docker-compose.yml") {
                let doc = tierform::load_yaml(text).unwrap().to_json();
                for c in doc["services"].as_object().unwrap().values() {
                    if let (Some(image), true) = (c["image"].as_str(), c["build"].is_object()) {
                        built.insert(image.to_string());
                    }
                }
            }
        }
        for (file, text) in set.iter() {
            let mut found = BTreeSet::new();
            rendered_images(text, &mut found);
            if file.ends_with("/Dockerfile") {
                found.extend(
                    text.lines()
                        .filter_map(|l| l.strip_prefix("FROM "))
                        .map(|i| i.trim().to_string()),
                );
            }
            let found: BTreeSet<String> = found.difference(&built).cloned().collect();
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

/// The version of `package` installed in the Debian root `root`, from its dpkg status
/// (epoch dropped): `7.0.15-1~deb12u10`.
fn installed_version(root: &std::path::Path, package: &str) -> Option<String> {
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).ok()?;
    status.split("\n\n").find_map(|para| {
        let field = |name: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(name).map(str::trim))
        };
        if field("Package:") != Some(package)
            || !field("Status:").is_some_and(|s| s.ends_with(" installed"))
        {
            return None;
        }
        let v = field("Version:")?;
        Some(v.split_once(':').map_or(v, |(_, rest)| rest).to_string())
    })
}

/// The Debian release of a root: its `etc/debian_version` major.
fn debian_of(root: &std::path::Path) -> Option<tierform::versions::Debian> {
    let text = std::fs::read_to_string(root.join("etc/debian_version")).ok()?;
    match text.trim().split('.').next()? {
        "12" => Some(tierform::versions::Debian::Bookworm),
        "13" | "trixie/sid" => Some(tierform::versions::Debian::Trixie),
        "forky/sid" => Some(tierform::versions::Debian::Forky),
        _ => None,
    }
}

/// Each supported version is the one its Debian release installs, where the live
/// tests boot it: this machine's packages for its own release, and the trixie and forky
/// roots (`TIERFORM_TRIXIE_ROOT`, `TIERFORM_FORKY_ROOT`) when they are given.
#[test]
fn the_table_matches_the_servers_the_live_tests_boot() {
    let mut roots = vec![std::path::PathBuf::from("/")];
    for var in ["TIERFORM_TRIXIE_ROOT", "TIERFORM_FORKY_ROOT"] {
        if let Some(r) = std::env::var_os(var) {
            roots.push(r.into());
        }
    }
    let mut checked = 0;
    for root in roots {
        let Some(release) = debian_of(&root) else {
            eprintln!(
                "skipping {}: not a Debian 12, 13 or forky root",
                root.display()
            );
            continue;
        };
        for (server, table) in tierform::versions::ALL {
            for s in table.iter().filter(|s| s.booted_from == release) {
                let Some(installed) = installed_version(&root, s.package) else {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "{server} {}: {} is not installed in {}",
                        s.version,
                        s.package,
                        root.display()
                    );
                    eprintln!(
                        "skipping {server} {}: {} not installed",
                        s.version, s.package
                    );
                    continue;
                };
                assert!(
                    installed == s.version || installed.starts_with(&format!("{}.", s.version)),
                    "{server} {} is booted from {}'s {} {installed}",
                    s.version,
                    root.display(),
                    s.package
                );
                checked += 1;
            }
        }
    }
    eprintln!("{checked} supported versions match an installed package");
}

/// A phase that moves PostgreSQL between the supported majors says what it takes: the
/// new server does not start on the old one's data directory. (Coverage of an existing
/// note, which no test named.)
#[test]
fn a_postgres_major_upgrade_between_phases_gets_a_note() {
    let text = "version: 1\nname: demo\nservices:\n  api: { kind: http, image: 'demo:1.0', port: 8000, uses: [db] }\n\
                datastores:\n  db: { engine: postgres, database: demo, version: '15' }\n\
                phases:\n  - name: old\n  - name: new\n    patch: { datastores: { db: { version: '17' } } }\n";
    let v = tierform::validate_str(text);
    assert_eq!(v.errors(), 0);
    let plans = tierform::plans(&v.phases, &tierform::Selection::default()).unwrap();
    let notes = tierform::diff::notes(&plans[0], &plans[1]);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("`db` moves to PostgreSQL 17 from 15") && n.contains("pg_upgrade")),
        "{notes:?}"
    );
    // The same version: no such note.
    assert!(!tierform::diff::notes(&plans[0], &plans[0])
        .iter()
        .any(|n| n.contains("moves to PostgreSQL")));
}
