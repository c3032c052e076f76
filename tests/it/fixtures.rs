//! The invalid fixtures: each declares the findings it must produce
//! (`# expect: LINE:COL CODE`), and the full message is snapshotted.

use crate::common;

use tierform::render_text;
use tierform::validate_bytes;

fn expectations(text: &str) -> Vec<(u32, u32, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|rest| {
            let (pos, code) = rest.trim().split_once(' ').expect("`LINE:COL CODE`");
            let (line, col) = pos.split_once(':').expect("`LINE:COL`");
            (
                line.parse().expect("line"),
                col.parse().expect("col"),
                code.trim().to_string(),
            )
        })
        .collect()
}

#[test]
fn invalid_fixtures() {
    let mut count = 0;
    insta::with_settings!({
        snapshot_path => "../../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::glob!("..", "fixtures/invalid/*.yaml", |path| {
            count += 1;
            let bytes = std::fs::read(path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            let expected = expectations(&text);
            assert!(!expected.is_empty(), "{} declares no `# expect:` line", path.display());
            let v = validate_bytes(&bytes);
            let name = format!(
                "tests/fixtures/invalid/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            let rendered = render_text(&name, v.source.as_deref(), &v.diagnostics);
            for (line, col, code) in &expected {
                assert!(
                    v.diagnostics.iter().any(|d| d.line == Some(*line)
                        && d.column == Some(*col)
                        && d.code == code),
                    "{}: expected {code} at {line}:{col}, got:\n{rendered}",
                    path.display()
                );
            }
            let fails = v.errors() > 0 || v.warnings() > 0;
            assert!(fails, "{} produced no finding", path.display());
            insta::assert_snapshot!(rendered);
        });
    });
    assert!(count >= 20, "only {count} invalid fixtures");
}

/// Through the binary: every fixture fails validation (exit 1), the warning-only ones
/// once warnings are denied.
#[test]
fn invalid_fixtures_exit_1() {
    for path in common::yaml_files("tests/fixtures/invalid") {
        let v = validate_bytes(&std::fs::read(&path).unwrap());
        let mut cmd = assert_cmd::Command::cargo_bin("tierform").unwrap();
        cmd.arg("validate");
        if v.errors() == 0 {
            // Warning-only: valid by default, invalid with --deny-warnings.
            assert_cmd::Command::cargo_bin("tierform")
                .unwrap()
                .arg("validate")
                .arg(&path)
                .assert()
                .code(0);
            cmd.arg("--deny-warnings");
        }
        cmd.arg(&path).assert().code(1);
    }
}
