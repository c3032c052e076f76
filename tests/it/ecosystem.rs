//! tierform in terminals, shells and CI: completions that load in a real bash, a
//! manual page `man` renders, help with examples, colour, `--quiet` / `--verbose`,
//! GitHub annotations, JSON output and piping one rendered file.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;

fn tierform() -> Command {
    Command::cargo_bin("tierform").unwrap()
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("tierform")
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stderr.clone()).unwrap()
}

/// Runs a bash script; its standard output, or a failure with both streams.
fn bash(script: &str) -> String {
    let out = Process::new("bash")
        .args(["--norc", "--noprofile", "-c", script])
        .output()
        .expect("bash runs");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "bash failed: {script}\n{o}\n{e}");
    assert!(e.is_empty(), "bash wrote to stderr: {e}");
    o.into_owned()
}

/// What <TAB> offers in a real bash with `tierform completions bash` loaded, at the end
/// of `line`, run in the repository with `env` set.
fn bash_complete(line: &str, env: &str) -> String {
    let b = bin();
    let b = b.display();
    let words: Vec<&str> = line.split(' ').collect();
    let array: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    bash(&format!(
        "{env}\nsource <('{b}' completions bash)\n\
         f=$(complete -p tierform | sed 's/.*-F \\([^ ]*\\).*/\\1/')\n\
         COMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n\
         \"$f\" tierform '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        array.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    ))
}

#[test]
fn bash_completion_loads_and_completes() {
    let b = bin();
    let b = b.display();
    let registered = bash(&format!(
        "source <('{b}' completions bash) && complete -p tierform"
    ));
    assert!(
        registered.starts_with("complete ") && registered.trim().ends_with(" tierform"),
        "{registered}"
    );
    // What <TAB> offers: the commands, and the values of an option.
    let complete = |line: &str| bash_complete(line, "");
    assert_eq!(complete("tierform va"), "validate\n");
    assert_eq!(
        complete("tierform validate --format "),
        "text\njson\ngithub\n"
    );
    let shells: Vec<String> = complete("tierform completions ")
        .lines()
        .filter(|w| !w.starts_with('-'))
        .map(String::from)
        .collect();
    assert_eq!(shells, ["bash", "elvish", "fish", "powershell", "zsh"]);
}

/// Completion reads the blueprint on the command line (else $TIERFORM_BLUEPRINT, else
/// ./blueprint.yaml) for its phase names, and knows the embedded templates' names.
#[test]
fn bash_completes_phase_and_template_names() {
    let lines = |s: String| s.lines().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        lines(bash_complete(
            "tierform render blueprints/medhasakthi.yaml --phase ",
            ""
        )),
        ["local", "single", "vertical", "horizontal", "enterprise"]
    );
    assert_eq!(
        lines(bash_complete(
            "tierform render --phase h blueprints/medhasakthi.yaml",
            ""
        )),
        ["blueprints/medhasakthi.yaml"],
        "the word at the end is the blueprint's path, not a phase"
    );
    assert_eq!(
        lines(bash_complete(
            "tierform render --phase h",
            "export TIERFORM_BLUEPRINT=blueprints/medhasakthi.yaml"
        )),
        ["horizontal"]
    );
    let diff = lines(bash_complete("tierform diff blueprints/showcase.yaml ", ""));
    assert!(
        ["nginx", "haproxy", "strict"]
            .iter()
            .all(|p| diff.iter().any(|d| d == p)),
        "{diff:?}"
    );
    // With the blueprint from the environment, `diff` offers phases, not files.
    assert_eq!(
        lines(bash_complete(
            "tierform diff nginx ",
            "export TIERFORM_BLUEPRINT=blueprints/showcase.yaml"
        )),
        ["nginx", "haproxy", "strict"]
    );
    let templates = lines(bash_complete("tierform templates eject nginx/", ""));
    assert!(
        templates.iter().any(|t| t == "nginx/nginx.conf.j2"),
        "{templates:?}"
    );
    assert!(
        templates.iter().all(|t| t.starts_with("nginx/")),
        "{templates:?}"
    );
}

#[test]
fn completions_for_other_shells() {
    for (shell, marker) in [
        ("zsh", "#compdef tierform"),
        ("fish", "--command tierform"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let a = tierform().args(["completions", shell]).assert().code(0);
        let text = stdout(&a);
        assert!(text.contains(marker), "{shell}: {text}");
        // The shell asks the binary (as invoked) for candidates as you type.
        assert!(text.contains("COMPLETE"), "{shell}: {text}");
        assert!(
            text.contains(&bin().display().to_string()),
            "{shell} calls the binary it was printed by: {text}"
        );
    }
    tierform().args(["completions", "tcsh"]).assert().code(2);
}

/// Renders a page with `man -l`, as a user would, with groff's warnings on.
fn man_render(page: &Path) -> String {
    let out = Process::new("man")
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("man runs (.ci/run installs man-db)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "man -l {}: {err}", page.display());
    assert!(err.is_empty(), "man -l {} warned: {err}", page.display());
    // man shows bold and underlined text by overstriking when it is not a terminal.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut plain = String::new();
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn man_page_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("tierform.1");
    let a = tierform().arg("man").assert().code(0);
    std::fs::write(&page, &a.get_output().stdout).unwrap();
    let text = man_render(&page);
    let words: Vec<&str> = text.split_whitespace().collect();
    assert!(
        words
            .join(" ")
            .contains("NAME tierform - One blueprint of services"),
        "{text}"
    );
    for expected in [
        "SYNOPSIS",
        "--color <WHEN>",
        "tierform-validate(1)",
        "EXAMPLES",
        // Examples keep their lines and spacing (no-fill).
        "tierform render app.yaml -o out             # every phase's configs into out/",
        "EXIT STATUS",
        "ENVIRONMENT",
        "NO_COLOR",
        "SEE ALSO",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let a = tierform()
        .args(["man", "templates", "eject"])
        .assert()
        .code(0);
    std::fs::write(&page, &a.get_output().stdout).unwrap();
    let text = man_render(&page);
    assert!(text.contains("tierform-templates-eject"), "{text}");
    assert!(
        text.contains("tierform templates eject nginx/nginx.conf.j2"),
        "{text}"
    );
    let a = tierform().args(["man", "nope"]).assert().code(2);
    assert!(stderr(&a).contains("no command `nope`"), "{}", stderr(&a));
}

#[test]
fn man_dir_writes_a_page_per_command() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tierform()
        .args(["man", "--dir"])
        .arg(tmp.path())
        .assert()
        .code(0);
    assert!(
        stderr(&a).contains("wrote 15 manual pages"),
        "{}",
        stderr(&a)
    );
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "tierform-completions.1",
            "tierform-diff.1",
            "tierform-explain.1",
            "tierform-fmt.1",
            "tierform-init.1",
            "tierform-man.1",
            "tierform-plan.1",
            "tierform-render.1",
            "tierform-schema.1",
            "tierform-templates-eject.1",
            "tierform-templates-list.1",
            "tierform-templates.1",
            "tierform-validate.1",
            "tierform-version.1",
            "tierform.1",
        ]
    );
    for n in &names {
        let text = man_render(&tmp.path().join(n));
        assert!(text.contains("EXAMPLES"), "{n} has no examples:\n{text}");
    }
}

/// Every command's `--help` ends with examples of it.
#[test]
fn every_command_has_examples_in_its_help() {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p.clone(), out);
            out.push(p);
        }
    }
    let mut commands = vec![Vec::new()];
    walk(&tierform::command(), Vec::new(), &mut commands);
    assert!(commands.len() >= 12, "{commands:?}");
    for path in commands {
        let a = tierform().args(&path).arg("--help").assert().code(0);
        let help = stdout(&a);
        let examples = help
            .split_once("\nExamples:\n")
            .unwrap_or_else(|| panic!("`tierform {} --help` has no examples", path.join(" ")))
            .1;
        let first = examples.lines().next().unwrap_or_default().trim();
        let shown = format!("tierform {}", path.join(" "));
        assert!(
            first.starts_with("tierform ")
                || first.starts_with("source <(tierform")
                || first.starts_with("cat "),
            "`{shown} --help`: the first example is not a command: {first}"
        );
        if !path.is_empty() {
            assert!(
                examples.contains(shown.trim()),
                "`{shown} --help` has no example of itself:\n{examples}"
            );
        }
    }
}

const INVALID_FIXTURE: &str = "tests/fixtures/invalid/08-unknown-field-typo.yaml";
const PATCH_FIXTURE: &str = "tests/fixtures/invalid/36-patch-min-above-max.yaml";
const WARNING_FIXTURE: &str = "tests/fixtures/invalid/65-secret-in-env.yaml";

#[test]
fn validate_github_annotations() {
    let a = tierform()
        .args(["validate", "--format", "github"])
        .args([INVALID_FIXTURE, PATCH_FIXTURE, WARNING_FIXTURE])
        .arg("tests/fixtures/missing, really.yaml")
        .assert()
        .code(2);
    let lines: Vec<&str> = std::str::from_utf8(&a.get_output().stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(
        lines,
        [
            "::error file=tests/fixtures/invalid/08-unknown-field-typo.yaml,line=10,col=7,title=unknown-field::unknown field `replica`%0Aat: /services/api/scaling/replica%0Aexpected: one of `replicas`, `min`, `max`, `target`, `scale_up`, `scale_down`%0Ahint: did you mean `replicas`?",
            "tests/fixtures/invalid/08-unknown-field-typo.yaml: invalid, 1 error, 0 warnings",
            "::error file=tests/fixtures/invalid/36-patch-min-above-max.yaml,line=18,col=18,title=min-above-max::`min` (9) is larger than `max` (3)%0Aat: /phases/1/patch/services/api/scaling/min%0Aphases: large%0Ahint: swap them, or raise `max`",
            "tests/fixtures/invalid/36-patch-min-above-max.yaml: invalid, 1 error, 0 warnings",
            "::warning file=tests/fixtures/invalid/65-secret-in-env.yaml,line=10,col=7,title=secret-in-env::`API_TOKEN` looks like a secret, but its value is written in the blueprint%0Aat: /services/api/env/API_TOKEN%0Ahint: move `API_TOKEN` to `secrets`; the value then comes from an env file or a Secret at run time",
            "tests/fixtures/invalid/65-secret-in-env.yaml: valid (1 phase), 1 warning",
            // A file name's `,` would end the property: escaped.
            "::error file=tests/fixtures/missing%2C really.yaml::cannot read tests/fixtures/missing, really.yaml: No such file or directory (os error 2)",
        ]
    );
    // Only findings exit 1; --quiet leaves out the lines of valid files.
    let a = tierform()
        .args(["validate", "-q", "--format", "github"])
        .args([INVALID_FIXTURE, "blueprints/showcase.yaml"])
        .assert()
        .code(1);
    assert_eq!(
        stdout(&a).lines().count(),
        2,
        "annotation and invalid summary only: {}",
        stdout(&a)
    );
    // Standard input has no file to annotate: the position stays, without `file=`.
    let text = std::fs::read_to_string(INVALID_FIXTURE).unwrap();
    let a = tierform()
        .args(["validate", "--format", "github", "-"])
        .write_stdin(text)
        .assert()
        .code(1);
    assert!(
        stdout(&a).starts_with("::error line=10,col=7,title=unknown-field::unknown field"),
        "{}",
        stdout(&a)
    );
}

/// Runs a command on a pseudo-terminal (util-linux `script`), so `auto` colour sees one.
fn on_terminal(args: &str, no_color: Option<&str>) -> String {
    let mut cmd = Process::new("script");
    cmd.args([
        "-qec",
        &format!("'{}' {args}", bin().display()),
        "/dev/null",
    ]);
    cmd.env_remove("NO_COLOR");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let out = cmd.output().expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn colour_on_a_terminal_unless_no_color_or_never() {
    let red = "\x1b[1;31merror[unknown-field]\x1b[0m";
    let args = format!("validate {INVALID_FIXTURE}");
    assert!(on_terminal(&args, None).contains(red));
    // An empty NO_COLOR does not count.
    assert!(on_terminal(&args, Some("")).contains(red));
    assert!(!on_terminal(&args, Some("1")).contains('\x1b'));
    assert!(!on_terminal(&format!("--color never {args}"), None).contains('\x1b'));
    assert!(on_terminal(&format!("--color always {args}"), Some("1")).contains(red));
    // Piped: no colour, unless asked for.
    let a = tierform()
        .args(["validate", INVALID_FIXTURE])
        .assert()
        .code(1);
    assert!(!stdout(&a).contains('\x1b'));
    let a = tierform()
        .args(["validate", "--color=always", INVALID_FIXTURE])
        .assert()
        .code(1);
    assert!(stdout(&a).contains(red));
    // The diff of a stale folder, and errors on standard error.
    let tmp = tempfile::tempdir().unwrap();
    let a = tierform()
        .args([
            "render",
            "blueprints/showcase.yaml",
            "--check",
            "--color",
            "always",
            "-o",
        ])
        .arg(tmp.path())
        .assert()
        .code(1);
    assert!(
        stdout(&a).contains("\x1b[32m+# generated by tierform"),
        "{}",
        stdout(&a)
    );
    let a = tierform()
        .args(["--color", "always", "render", "nope.yaml"])
        .assert()
        .code(2);
    assert!(stderr(&a).starts_with("\x1b[1;31merror\x1b[0m: cannot read nope.yaml"));
    tierform()
        .args(["--color", "sometimes", "validate", INVALID_FIXTURE])
        .assert()
        .code(2);
}

#[test]
fn quiet_and_verbose() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let render = |extra: &[&str]| {
        tierform()
            .args(["render", "blueprints/showcase.yaml", "-o"])
            .arg(&out)
            .args(extra)
            .assert()
    };
    // Verbose: each file, then the summary.
    let a = render(&["-v", "--phase", "nginx", "--platform", "compose"]).code(0);
    let err = stderr(&a);
    assert!(
        err.contains("  + nginx/compose/nginx/nginx.conf\n"),
        "{err}"
    );
    assert!(
        err.contains("  + nginx/compose/docker-compose.yml\n"),
        "{err}"
    );
    assert!(err.lines().last().unwrap().starts_with("wrote "), "{err}");
    // Quiet: nothing when all is well.
    let a = render(&["-q"]).code(0);
    assert_eq!(stderr(&a), "");
    assert_eq!(stdout(&a), "");
    let a = render(&["-q", "--check"]).code(0);
    assert_eq!(stderr(&a), "");
    let a = render(&["--check"]).code(0);
    assert!(stderr(&a).contains("is up to date"), "{}", stderr(&a));
    // A finding still prints with -q.
    let conf = out.join("nginx/compose/nginx/nginx.conf");
    std::fs::write(&conf, "edited\n").unwrap();
    let a = render(&["-q", "--check"]).code(1);
    assert!(
        stderr(&a).contains("is stale: 0 to add, 1 to change"),
        "{}",
        stderr(&a)
    );
    assert!(stdout(&a).contains("-edited"), "{}", stdout(&a));
    let a = render(&["-v", "--check"]).code(1);
    assert!(
        stderr(&a).contains("  ~ nginx/compose/nginx/nginx.conf\n"),
        "{}",
        stderr(&a)
    );
    // -q and -v together are a usage error; either works after the command too.
    render(&["-q", "-v"]).code(2);
    // validate: -q drops the lines of valid files, -v names their phases.
    let a = tierform()
        .args([
            "validate",
            "-q",
            "blueprints/showcase.yaml",
            INVALID_FIXTURE,
        ])
        .assert()
        .code(1);
    assert!(
        !stdout(&a).contains("showcase.yaml: valid"),
        "{}",
        stdout(&a)
    );
    assert!(
        stdout(&a).contains("08-unknown-field-typo.yaml: invalid"),
        "{}",
        stdout(&a)
    );
    let a = tierform()
        .args(["validate", "--verbose", "blueprints/showcase.yaml"])
        .assert()
        .code(0);
    assert_eq!(
        stdout(&a),
        "blueprints/showcase.yaml: valid (3 phases)\n  phases: nginx → haproxy → strict\n"
    );
    // init -q writes without a word; errors still print.
    let bp = tmp.path().join("app.yaml");
    let a = tierform().args(["-q", "init"]).arg(&bp).assert().code(0);
    assert_eq!(stderr(&a), "");
    assert!(bp.is_file());
    let a = tierform().args(["-q", "init"]).arg(&bp).assert().code(2);
    assert!(stderr(&a).contains("already exists"), "{}", stderr(&a));
}

#[test]
fn render_one_file_to_stdout_for_a_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    tierform()
        .args(["render", "blueprints/showcase.yaml", "-q", "-o"])
        .arg(tmp.path())
        .assert()
        .code(0);
    let file = "haproxy/compose/haproxy/haproxy.cfg";
    let written = std::fs::read_to_string(tmp.path().join(file)).unwrap();
    // From a file and from standard input: the same bytes as render writes.
    tierform()
        .args(["render", "blueprints/showcase.yaml", "--stdout", file])
        .assert()
        .code(0)
        .stdout(written.clone())
        .stderr("");
    tierform()
        .args(["render", "-", "--stdout", file])
        .write_stdin(std::fs::read("blueprints/showcase.yaml").unwrap())
        .assert()
        .code(0)
        .stdout(written);
    // Nothing is written anywhere; a near miss gets a suggestion.
    let a = tierform()
        .args(["render", "blueprints/showcase.yaml", "--stdout"])
        .arg("haproxy/compose/haproxy/haproxy.conf")
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("did you mean `haproxy/compose/haproxy/haproxy.cfg`?"),
        "{}",
        stderr(&a)
    );
    let a = tierform()
        .args(["render", "blueprints/showcase.yaml", "--stdout", "x"])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("nginx/compose/…"), "{}", stderr(&a));
    tierform()
        .args([
            "render",
            "blueprints/showcase.yaml",
            "--stdout",
            file,
            "--check",
        ])
        .assert()
        .code(2);
    tierform()
        .args([
            "render",
            "blueprints/showcase.yaml",
            "--stdout",
            file,
            "-o",
            "x",
        ])
        .assert()
        .code(2);
    // An invalid blueprint on standard input: its findings, exit 2, nothing on stdout.
    let a = tierform()
        .args(["render", "-", "--stdout", file])
        .write_stdin(std::fs::read(INVALID_FIXTURE).unwrap())
        .assert()
        .code(2)
        .stdout("");
    assert!(stderr(&a).contains("<stdin>:10:7"), "{}", stderr(&a));
}

#[test]
fn render_json() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        tierform()
            .args([
                "render",
                "blueprints/showcase.yaml",
                "--format",
                "json",
                "--phase",
                "nginx",
            ])
            .args(["--platform", "compose", "-o"])
            .arg(tmp.path())
            .args(extra)
            .assert()
    };
    let json = |a: &assert_cmd::assert::Assert| -> serde_json::Value {
        serde_json::from_slice(&a.get_output().stdout).unwrap()
    };
    let a = run(&["--check"]).code(1);
    let doc = json(&a);
    assert_eq!(doc["stale"], true);
    assert!(doc["added"]
        .as_array()
        .unwrap()
        .contains(&"nginx/compose/docker-compose.yml".into()));
    assert!(doc["diff"]
        .as_str()
        .unwrap()
        .contains("+++ b/nginx/compose/docker-compose.yml"));
    let a = run(&[]).code(0);
    assert_eq!(
        stderr(&a),
        "",
        "json goes to stdout, without the summary line"
    );
    let doc = json(&a);
    assert_eq!(doc["check"], false);
    let added = doc["added"].as_array().unwrap().len();
    assert!(added >= 3, "{doc}");
    assert_eq!(doc["changed"], serde_json::json!([]));
    let doc = json(&run(&["--check"]).code(0));
    assert_eq!(doc["stale"], false);
    assert_eq!(doc["unchanged"], added);
}
