//! The command line: argument parsing, the commands, and the one place that prints
//! errors and picks exit codes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::check::diagnostic::{render_github, render_text_styled, FileReport};
use crate::check::validate::validate_bytes;
use crate::model::schema::blueprint_schema;
use crate::model::Platform;
use crate::output::{self, write_atomic};
use crate::render::templates::{self, Templates};
use crate::render::Selection;

/// The starter blueprint written by `tierform init`.
pub const STARTER: &str = include_str!("../../templates/starter.yaml");
/// Where `init` writes the schema for editors, beside the blueprint.
const STARTER_SCHEMA_NAME: &str = "tierform.schema.json";

/// Exit codes, as documented in the README.
pub mod exit {
    /// Success: valid, up to date, no change.
    pub const OK: u8 = 0;
    /// A finding: invalid blueprint, stale output, changes.
    pub const FINDING: u8 = 1;
    /// A usage or I/O error.
    pub const ERROR: u8 = 2;
}

#[derive(Parser, Debug)]
#[command(
    name = "tierform",
    version,
    about = "One blueprint of services, tiers and datastores → the configs that run it, phase by phase.",
    long_about = None,
    after_help = "Examples:\n  tierform init app.yaml                      # a starter blueprint\n  tierform validate app.yaml                  # every finding, with file:line:col\n  tierform render app.yaml -o out             # every phase's configs into out/\n  tierform render app.yaml -o out --check     # in CI: is out/ current?\n  tierform templates eject nginx/nginx.conf.j2\n  source <(tierform completions bash)         # tab completion in this shell\n\nExit codes: 0 ok · 1 a finding (invalid, stale) · 2 an error\n\nColour is used on a terminal unless NO_COLOR is set; --color overrides both."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Args, Debug)]
struct GlobalArgs {
    /// When to colour the output: `auto` on a terminal unless NO_COLOR is set.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorWhen::Auto
    )]
    color: ColorWhen,
    /// Print only findings and errors: no "wrote …", "valid" or "up to date" lines.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Say more: each file written, changed or removed, each phase validated.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Whether to colour a stream that is (or is not) a terminal.
    fn colour(self, terminal: bool) -> bool {
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// How chatty to be and where to colour: what every command prints goes through this.
struct Ui {
    quiet: bool,
    verbose: bool,
    /// Colour standard output / standard error.
    colour_out: bool,
    colour_err: bool,
}

impl Ui {
    fn new(global: &GlobalArgs) -> Self {
        use std::io::IsTerminal;
        Ui {
            quiet: global.quiet,
            verbose: global.verbose,
            colour_out: global.color.colour(std::io::stdout().is_terminal()),
            colour_err: global.color.colour(std::io::stderr().is_terminal()),
        }
    }

    /// A progress or success line on standard error; silent with `--quiet`.
    fn status(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// A detail line on standard error; only with `--verbose`.
    fn detail(&self, line: &str) {
        if self.verbose {
            eprintln!("{line}");
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check blueprints against the schema and the semantic rules; report every finding.
    #[command(
        after_help = "Examples:\n  tierform validate blueprints/*.yaml\n  tierform validate --format json app.yaml\n  tierform validate --format github blueprints/*.yaml   # in GitHub Actions: annotations\n  cat app.yaml | tierform validate -\n\nExit codes: 0 valid · 1 invalid · 2 usage or I/O error"
    )]
    Validate {
        /// Blueprint files (`-` reads standard input).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// `text` for people; `json` for machines; `github`: GitHub Actions workflow
        /// commands (`::error file=…,line=…,col=…::…`) that annotate the pull request.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Fail (exit 1) on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Render every phase's bundles (nginx/HAProxy configs, …) into a folder.
    #[command(
        after_help = "Examples:\n  tierform render blueprints/bet-intel.yaml\n  tierform render app.yaml -o deploy --phase horizontal --platform hosts\n  tierform render app.yaml --check   # in CI: is the committed output current?\n  tierform render app.yaml --stdout single/compose/nginx/nginx.conf | less\n  cat app.yaml | tierform render - --stdout single/compose/docker-compose.yml\n\nWrites DIR/<phase>/<platform>/…; files it wrote before and no longer renders are\nremoved, files it did not write are never touched (DIR/.tierform-manifest lists them).\n\nExit codes: 0 written or up to date · 1 stale (--check) · 2 invalid blueprint or other error"
    )]
    Render {
        /// The blueprint file (`-` reads standard input).
        #[arg(value_name = "BLUEPRINT")]
        blueprint: PathBuf,
        /// The output folder.
        #[arg(short, long, value_name = "DIR", default_value = "out")]
        output: PathBuf,
        /// Render only this phase (repeatable).
        #[arg(long = "phase", value_name = "PHASE")]
        phases: Vec<String>,
        /// Render only this platform (repeatable).
        #[arg(long = "platform", value_enum, value_name = "PLATFORM")]
        platforms: Vec<PlatformArg>,
        /// Use templates from this folder where it has one by the same relative path.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
        /// Write nothing; exit 1 with a unified diff if DIR is not what render would write.
        #[arg(long, conflicts_with = "stdout")]
        check: bool,
        /// Write nothing; print this one rendered file (its path under DIR, like
        /// `single/compose/nginx/nginx.conf`) to standard output, for a pipe.
        #[arg(long, value_name = "FILE", conflicts_with = "output")]
        stdout: Option<String>,
        /// `text`: a summary line on standard error; `json`: the files added, changed
        /// and removed (and the diff with `--check`) on standard output.
        #[arg(long, value_enum, default_value_t = RenderFormat::Text)]
        format: RenderFormat,
    },
    /// What changes between two phases: a summary, operational notes, and file diffs.
    #[command(
        after_help = "Examples:\n  tierform diff blueprints/bet-intel.yaml load-balancer read-replicas\n  tierform diff app.yaml single horizontal --format summary\n  tierform diff app.yaml single kubernetes --platform kubernetes --format json\n\nExit codes (like terraform plan -detailed-exitcode): 0 no change · 1 changes · 2 error"
    )]
    Diff {
        /// The blueprint file (`-` reads standard input).
        #[arg(value_name = "BLUEPRINT")]
        blueprint: PathBuf,
        /// The phase to compare from.
        from: String,
        /// The phase to compare to.
        to: String,
        /// Compare only this platform's files (repeatable).
        #[arg(long = "platform", value_enum, value_name = "PLATFORM")]
        platforms: Vec<PlatformArg>,
        /// `text`: summary, notes and unified diffs; `summary`: without the diffs;
        /// `json`: the summary, notes and file list for machines.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Lines of context around each change in the diffs.
        #[arg(long, default_value_t = 3, value_name = "N")]
        context: usize,
        /// Use templates from this folder where it has one by the same relative path.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Per phase: instances, CPU and memory, machines and monthly cost, throughput
    /// ceiling, and when to move on.
    #[command(
        after_help = "Examples:\n  tierform plan blueprints/bet-intel.yaml\n  tierform plan app.yaml --format markdown > CAPACITY.md\n  tierform plan app.yaml --format json"
    )]
    Plan {
        /// The blueprint file (`-` reads standard input).
        #[arg(value_name = "BLUEPRINT")]
        blueprint: PathBuf,
        /// `text` for a terminal, `markdown` for a document, `json` for machines.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
    /// List the embedded templates, or copy one out to start an override.
    #[command(
        after_help = "Examples:\n  tierform templates list\n  tierform templates eject nginx/nginx.conf.j2 --dir my-templates\n  tierform render app.yaml --templates my-templates"
    )]
    Templates {
        #[command(subcommand)]
        action: TemplatesAction,
    },
    /// Print the blueprint JSON Schema (the one committed as schema/blueprint.schema.json).
    #[command(
        after_help = "Examples:\n  tierform schema > blueprint.schema.json\n  tierform schema -o schema/blueprint.schema.json\n  tierform schema --format markdown -o docs/blueprint.md   # the field reference"
    )]
    Schema {
        /// Write to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// `json`: the JSON Schema; `markdown`: the reference of every field, generated
        /// from it (committed as docs/blueprint.md).
        #[arg(long, value_enum, default_value_t = SchemaFormat::Json)]
        format: SchemaFormat,
    },
    /// Write a starter blueprint (and the schema beside it, for editors).
    #[command(after_help = "Examples:\n  tierform init\n  tierform init infra/app.yaml --force")]
    Init {
        /// Where to write the blueprint (`-` prints it).
        #[arg(default_value = "blueprint.yaml", value_name = "FILE")]
        file: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  source <(tierform completions bash)                  # this shell; add it to ~/.bashrc\n  tierform completions bash > ~/.local/share/bash-completion/completions/tierform\n  tierform completions zsh > \"${fpath[1]}/_tierform\"\n  tierform completions fish > ~/.config/fish/completions/tierform.fish\n  tierform completions powershell >> $PROFILE"
    )]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a folder.
    #[command(
        after_help = "Examples:\n  tierform man | man -l -\n  tierform man render | man -l -\n  tierform man > ~/.local/share/man/man1/tierform.1\n  tierform man --dir /usr/local/share/man/man1   # tierform.1 and tierform-<command>.1"
    )]
    Man {
        /// The command whose page to print (`render`, `templates eject`); none: tierform's.
        #[arg(value_name = "COMMAND", conflicts_with = "dir")]
        command: Vec<String>,
        /// Write tierform.1 and a page for each command (tierform-render.1, …) here.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum TemplatesAction {
    /// List every embedded template, by the name an override uses.
    #[command(
        after_help = "Examples:\n  tierform templates list\n  tierform templates list | grep nginx"
    )]
    List,
    /// Copy an embedded template to DIR/NAME, to edit and pass with `render --templates DIR`.
    #[command(
        after_help = "Examples:\n  tierform templates eject nginx/nginx.conf.j2\n  tierform templates eject redis/redis.conf.j2 --dir ops/templates --force"
    )]
    Eject {
        /// The template's name, as `templates list` prints it.
        name: String,
        /// The folder of overrides.
        #[arg(long, value_name = "DIR", default_value = "templates")]
        dir: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum PlanFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    Text,
    Summary,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum PlatformArg {
    Compose,
    Hosts,
    Kubernetes,
}

impl From<PlatformArg> for Platform {
    fn from(p: PlatformArg) -> Self {
        match p {
            PlatformArg::Compose => Platform::Compose,
            PlatformArg::Hosts => Platform::Hosts,
            PlatformArg::Kubernetes => Platform::Kubernetes,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Github,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum RenderFormat {
    Text,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum SchemaFormat {
    Json,
    Markdown,
}

/// The command line's definition: what completions, the manual page and the help
/// are generated from.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = command()
        .color(clap_colour(&args))
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout (exit 0) and usage errors to stderr.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            });
        }
    };
    let ui = Ui::new(&cli.global);
    match run(cli.command, &ui) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            let top = e.to_string();
            let _ = writeln!(stderr, "{}: {top}", paint("error", "1;31", ui.colour_err));
            for cause in e.chain().skip(1) {
                // Errors that already print their cause are not repeated.
                let cause = cause.to_string();
                if !top.contains(&cause) {
                    let _ = writeln!(stderr, "  caused by: {cause}");
                }
            }
            ExitCode::from(exit::ERROR)
        }
    }
}

/// The colour clap uses for help and usage errors: `--color` as given, read before
/// parsing (a usage error may come before it); `auto` honours NO_COLOR and the terminal.
fn clap_colour(args: &[std::ffi::OsString]) -> clap::ColorChoice {
    let mut choice = clap::ColorChoice::Auto;
    let mut rest = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = rest.next() {
        if arg == "--" {
            break;
        }
        let value = match arg.strip_prefix("--color=") {
            Some(v) => Some(v.to_string()),
            None if arg == "--color" => rest.next().map(|v| v.to_string()),
            None => None,
        };
        choice = match value.as_deref() {
            Some("always") => clap::ColorChoice::Always,
            Some("never") => clap::ColorChoice::Never,
            Some("auto") => clap::ColorChoice::Auto,
            _ => choice,
        };
    }
    choice
}

fn run(cmd: Command, ui: &Ui) -> Result<u8> {
    match cmd {
        Command::Validate {
            files,
            format,
            deny_warnings,
        } => validate(&files, format, deny_warnings, ui),
        Command::Schema { output, format } => {
            let text = match format {
                SchemaFormat::Json => schema_text(),
                SchemaFormat::Markdown => reference_text(),
            };
            match output {
                Some(path) => write_atomic(&path, text.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
            Ok(exit::OK)
        }
        Command::Init { file, force } => init(&file, force, ui),
        Command::Render {
            blueprint,
            output,
            phases,
            platforms,
            templates,
            check,
            stdout,
            format,
        } => {
            let selection = Selection {
                phases,
                platforms: platforms.into_iter().map(Platform::from).collect(),
            };
            match stdout {
                Some(file) => render_one(&blueprint, &file, selection, templates.as_deref()),
                None => render(
                    &blueprint,
                    &output,
                    selection,
                    templates.as_deref(),
                    check,
                    format,
                    ui,
                ),
            }
        }
        Command::Templates { action } => templates_command(action, ui),
        Command::Plan { blueprint, format } => plan_command(&blueprint, format, ui),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command(), "tierform", &mut out);
            std::io::stdout().lock().write_all(&out)?;
            Ok(exit::OK)
        }
        Command::Man { command: path, dir } => man(&path, dir.as_deref(), ui),
        Command::Diff {
            blueprint,
            from,
            to,
            platforms,
            format,
            context,
            templates,
        } => diff(
            &blueprint,
            (&from, &to),
            platforms.into_iter().map(Platform::from).collect(),
            format,
            context,
            templates.as_deref(),
            ui,
        ),
    }
}

/// The schema as committed: pretty JSON with a final newline.
pub fn schema_text() -> String {
    let mut text =
        serde_json::to_string_pretty(&blueprint_schema()).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// The blueprint reference (docs/blueprint.md): every schema field as Markdown.
pub fn reference_text() -> String {
    crate::report::reference::markdown(&blueprint_schema())
}

/// Reads at most one byte past the size limit, from a file, a pipe or a device alike,
/// so an endless input is refused instead of exhausting memory.
fn read_input(path: &Path) -> Result<Vec<u8>> {
    let limit = crate::source::yaml::MAX_INPUT_BYTES as u64 + 1;
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        return Ok(buf);
    }
    if path.is_dir() {
        bail!("{} is a directory, not a blueprint file", path.display());
    }
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut buf))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(buf)
}

fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

fn validate(files: &[PathBuf], format: Format, deny_warnings: bool, ui: &Ui) -> Result<u8> {
    let mut reports = Vec::with_capacity(files.len());
    let mut unreadable = Vec::new();
    let mut out = String::new();
    let mut failed = false;
    for path in files {
        let name = display_name(path);
        let bytes = match read_input(path) {
            Ok(b) => b,
            Err(e) => {
                // Report it, check the other files, and exit 2 at the end.
                let message = format!("{e:#}");
                match format {
                    Format::Text => {
                        eprintln!("{}: {message}", paint("error", "1;31", ui.colour_err));
                    }
                    Format::Github => {
                        let file = (path != Path::new("-")).then_some(name.as_str());
                        out.push_str(&github_error(file, &message));
                    }
                    Format::Json => {}
                }
                unreadable.push(serde_json::json!({ "file": name, "error": message }));
                continue;
            }
        };
        let v = validate_bytes(&bytes);
        let report = FileReport::new(name.clone(), v.diagnostics);
        let file_failed = report.errors > 0 || (deny_warnings && report.warnings > 0);
        failed |= file_failed;
        if format != Format::Json {
            if format == Format::Github {
                let file = (path != Path::new("-")).then_some(name.as_str());
                out.push_str(&render_github(file, &report.diagnostics));
            } else {
                out.push_str(&render_text_styled(
                    &name,
                    v.source.as_deref(),
                    &report.diagnostics,
                    ui.colour_out,
                ));
            }
            // The summary is chatter when the file is valid, a finding when it is not.
            if file_failed || !ui.quiet {
                out.push_str(&summary_line(&report, v.phases.len(), file_failed));
            }
            if ui.verbose && !file_failed {
                let names: Vec<&str> = v.phases.iter().map(|p| p.name.as_str()).collect();
                out.push_str(&format!("  phases: {}\n", names.join(" → ")));
            }
        }
        reports.push(report);
    }
    let io_failed = !unreadable.is_empty();
    if format == Format::Json {
        let mut doc = serde_json::json!({
            "valid": !failed && !io_failed,
            "files": reports,
        });
        if io_failed {
            doc["unreadable"] = serde_json::Value::Array(unreadable);
        }
        out = serde_json::to_string_pretty(&doc)?;
        out.push('\n');
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(if io_failed {
        exit::ERROR
    } else if failed {
        exit::FINDING
    } else {
        exit::OK
    })
}

/// A GitHub workflow command for an error that is not about a line of a blueprint.
fn github_error(file: Option<&str>, message: &str) -> String {
    let file = file.map_or_else(String::new, |f| {
        format!(" file={}", crate::check::diagnostic::escape_property(f))
    });
    format!(
        "::error{file}::{}\n",
        crate::check::diagnostic::escape_data(message)
    )
}

fn summary_line(report: &FileReport, phases: usize, failed: bool) -> String {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    if failed && report.errors == 0 {
        format!(
            "{}: invalid (warnings denied), {}\n",
            report.file,
            count(report.warnings, "warning")
        )
    } else if report.errors == 0 {
        let mut line = format!("{}: valid ({})", report.file, count(phases, "phase"));
        if report.warnings > 0 {
            line.push_str(&format!(", {}", count(report.warnings, "warning")));
        }
        line + "\n"
    } else {
        format!(
            "{}: invalid, {}, {}\n",
            report.file,
            count(report.errors, "error"),
            count(report.warnings, "warning")
        )
    }
}

fn init(file: &Path, force: bool, ui: &Ui) -> Result<u8> {
    if file == Path::new("-") {
        std::io::stdout().lock().write_all(STARTER.as_bytes())?;
        return Ok(exit::OK);
    }
    if file.is_dir() {
        bail!(
            "{} is a directory; give the blueprint a file name",
            file.display()
        );
    }
    if file.exists() && !force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            file.display()
        );
    }
    let dir = file.parent().filter(|p| !p.as_os_str().is_empty());
    let schema_path = dir.map_or_else(
        || PathBuf::from(STARTER_SCHEMA_NAME),
        |d| d.join(STARTER_SCHEMA_NAME),
    );
    let starter = STARTER.replacen(
        "$schema=../schema/blueprint.schema.json",
        &format!("$schema={STARTER_SCHEMA_NAME}"),
        1,
    );
    write_atomic(file, starter.as_bytes())
        .with_context(|| format!("cannot write {}", file.display()))?;
    let wrote_schema = if !schema_path.exists() || force {
        write_atomic(&schema_path, schema_text().as_bytes())
            .with_context(|| format!("cannot write {}", schema_path.display()))?;
        true
    } else {
        false
    };
    ui.status(&format!("wrote {}", file.display()));
    if wrote_schema {
        ui.status(&format!(
            "wrote {} (for editor completion and hover)",
            schema_path.display()
        ));
    }
    ui.status(&format!("next: tierform validate {}", file.display()));
    Ok(exit::OK)
}

/// Lists each file of `changes` on standard error, with `--verbose`.
fn list_changes(changes: &output::Changes, ui: &Ui) {
    let marks = [
        ("+", "32", &changes.added),
        ("~", "33", &changes.changed),
        ("-", "31", &changes.removed),
    ];
    for (mark, code, files) in marks {
        for f in files {
            ui.detail(&format!("  {} {f}", paint(mark, code, ui.colour_err)));
        }
    }
}

/// The files `render` added, changed and removed, for `--format json`.
fn changes_json(out_dir: &Path, check: bool, changes: &output::Changes) -> serde_json::Value {
    serde_json::json!({
        "output": out_dir.display().to_string(),
        "check": check,
        "added": changes.added,
        "changed": changes.changed,
        "removed": changes.removed,
        "unchanged": changes.unchanged,
    })
}

fn write_json(doc: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(doc)?;
    text.push('\n');
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

fn render(
    blueprint: &Path,
    out_dir: &Path,
    selection: Selection,
    templates_dir: Option<&Path>,
    check: bool,
    format: RenderFormat,
    ui: &Ui,
) -> Result<u8> {
    let name = display_name(blueprint);
    // An invalid blueprint renders nothing: exit 2, so CI tells it from stale output (1).
    let v = match load_valid(blueprint, ui)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let templates = load_templates(templates_dir)?;
    let (set, scope) = crate::render::render(&v.phases, &selection, &templates)?;
    let dir_name = out_dir.display();
    let json = format == RenderFormat::Json;
    if check {
        let changes = output::compare(out_dir, &set, &scope)?;
        if changes.is_empty() {
            if json {
                let mut doc = changes_json(out_dir, true, &changes);
                doc["stale"] = false.into();
                write_json(&doc)?;
            } else {
                ui.status(&format!(
                    "{dir_name} is up to date ({})",
                    plural(set.len(), "file")
                ));
            }
            return Ok(exit::OK);
        }
        let diff = output::diff(out_dir, &set, &changes, 3);
        if json {
            let mut doc = changes_json(out_dir, true, &changes);
            doc["stale"] = true.into();
            doc["diff"] = diff.into();
            write_json(&doc)?;
            return Ok(exit::FINDING);
        }
        list_changes(&changes, ui);
        let shown = if ui.colour_out {
            paint_diff(&diff)
        } else {
            diff
        };
        std::io::stdout().lock().write_all(shown.as_bytes())?;
        let mut again = format!("tierform render {name} -o {dir_name}");
        for p in &selection.phases {
            again.push_str(&format!(" --phase {p}"));
        }
        for p in &selection.platforms {
            again.push_str(&format!(" --platform {}", p.as_str()));
        }
        if let Some(t) = templates_dir {
            again.push_str(&format!(" --templates {}", t.display()));
        }
        eprintln!(
            "{dir_name} is stale: {} to add, {} to change, {} to remove; run `{again}`",
            changes.added.len(),
            changes.changed.len(),
            changes.removed.len()
        );
        return Ok(exit::FINDING);
    }
    let changes = output::write(out_dir, &set, &scope)?;
    if json {
        return write_json(&changes_json(out_dir, false, &changes)).map(|()| exit::OK);
    }
    list_changes(&changes, ui);
    ui.status(&format!(
        "wrote {dir_name}: {} added, {} changed, {} removed, {} unchanged",
        changes.added.len(),
        changes.changed.len(),
        changes.removed.len(),
        changes.unchanged
    ));
    Ok(exit::OK)
}

/// `render --stdout FILE`: renders in memory and prints one file, for a pipe.
fn render_one(
    blueprint: &Path,
    file: &str,
    selection: Selection,
    templates_dir: Option<&Path>,
) -> Result<u8> {
    let quiet = Ui {
        quiet: true,
        verbose: false,
        colour_out: false,
        colour_err: false,
    };
    let v = match load_valid(blueprint, &quiet)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let templates = load_templates(templates_dir)?;
    let (set, _) = crate::render::render(&v.phases, &selection, &templates)?;
    let wanted = file.trim_start_matches("./");
    if let Some(text) = set.get(wanted) {
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(exit::OK);
    }
    let paths: Vec<String> = set.iter().map(|(p, _)| p.to_string()).collect();
    let hint = match crate::check::suggest::did_you_mean(wanted, &paths) {
        Some(close) => format!("did you mean `{close}`?"),
        None => {
            // Each phase's bundle folders (and files of its own, like ARCHITECTURE.md).
            let tops: std::collections::BTreeSet<String> = paths
                .iter()
                .map(|p| match p.splitn(3, '/').collect::<Vec<_>>()[..] {
                    [phase, platform, _] => format!("{phase}/{platform}/…"),
                    _ => p.clone(),
                })
                .collect();
            format!(
                "paths are under DIR as render writes them: {}",
                tops.into_iter().collect::<Vec<_>>().join(", ")
            )
        }
    };
    bail!(
        "{} renders no file `{wanted}`; {hint}",
        display_name(blueprint)
    )
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn templates_command(action: TemplatesAction, ui: &Ui) -> Result<u8> {
    match action {
        TemplatesAction::List => {
            let mut out = std::io::stdout().lock();
            for (name, _) in templates::EMBEDDED {
                writeln!(out, "{name}")?;
            }
        }
        TemplatesAction::Eject { name, dir, force } => {
            let text = templates::embedded(&name)?;
            let path = templates::eject_path(&dir, &name)?;
            if path.exists() && !force {
                bail!(
                    "{} already exists; pass --force to overwrite it",
                    path.display()
                );
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            write_atomic(&path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            ui.status(&format!(
                "wrote {}; render with `--templates {}` to use it",
                path.display(),
                dir.display()
            ));
        }
    }
    Ok(exit::OK)
}

/// Reads and validates a blueprint for a command that needs it whole: findings go to
/// stderr; errors end the command with exit 2.
fn load_valid(blueprint: &Path, ui: &Ui) -> Result<Result<crate::check::validate::Validated, u8>> {
    let name = display_name(blueprint);
    let bytes = read_input(blueprint)?;
    let v = validate_bytes(&bytes);
    let report = FileReport::new(name.clone(), v.diagnostics.clone());
    // Warnings are chatter to a command that renders; errors always print.
    if report.errors > 0 || (!report.diagnostics.is_empty() && !ui.quiet) {
        let mut text = render_text_styled(
            &name,
            v.source.as_deref(),
            &report.diagnostics,
            ui.colour_err,
        );
        if report.errors > 0 {
            text.push_str(&summary_line(&report, 0, true));
        }
        std::io::stderr().lock().write_all(text.as_bytes())?;
    }
    Ok(if report.errors > 0 {
        Err(exit::ERROR)
    } else {
        Ok(v)
    })
}

/// The embedded templates, or those with `--templates DIR`'s overrides.
fn load_templates(dir: Option<&Path>) -> Result<Templates> {
    Ok(match dir {
        Some(dir) => Templates::with_overrides(dir)?,
        None => Templates::embedded()?,
    })
}

fn paint(text: &str, code: &str, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// A unified diff in colour: headers bold, additions green, removals red, hunks cyan.
fn paint_diff(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len());
    for line in diff.lines() {
        let code = if line.starts_with("+++") || line.starts_with("---") {
            "1"
        } else if line.starts_with('+') {
            "32"
        } else if line.starts_with('-') {
            "31"
        } else if line.starts_with("@@") {
            "36"
        } else {
            ""
        };
        if code.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(&paint(line, code, true));
        }
        out.push('\n');
    }
    out
}

fn diff(
    blueprint: &Path,
    (from, to): (&str, &str),
    platforms: Vec<Platform>,
    format: DiffFormat,
    context: usize,
    templates_dir: Option<&Path>,
    ui: &Ui,
) -> Result<u8> {
    let v = match load_valid(blueprint, ui)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let templates = load_templates(templates_dir)?;
    let selection = Selection {
        phases: vec![from.to_string(), to.to_string()],
        platforms: platforms.clone(),
    };
    let plans = crate::render::plans(&v.phases, &selection)?;
    if !platforms.is_empty()
        && !plans
            .iter()
            .any(|p| p.platforms.iter().any(|x| platforms.contains(x)))
    {
        bail!(
            "neither `{from}` nor `{to}` is rendered for {}: check the phases' `targets`",
            platforms
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let find = |name: &str| plans.iter().find(|p| p.phase == name).expect("selected");
    let (a, b) = (find(from), find(to));
    let changes = crate::report::diff::summarize(a, b);
    let notes = crate::report::diff::notes(a, b);
    let all = if platforms.is_empty() {
        Platform::ALL.to_vec()
    } else {
        platforms
    };
    let mut set = crate::output::OutputSet::new();
    for plan in [a, b] {
        if from == to && std::ptr::eq(plan, b) {
            break;
        }
        crate::render::bundle::render_plan(plan, &all, &templates, &mut set)?;
    }
    let files = crate::report::diff::file_changes(&set, from, to, context);
    let changed = !changes.is_empty() || !files.is_empty();
    let mut out = String::new();
    match format {
        DiffFormat::Json => {
            let doc = serde_json::json!({
                "from": from,
                "to": to,
                "changed": changed,
                "changes": changes,
                "notes": notes,
                "files": files,
            });
            out = serde_json::to_string_pretty(&doc)?;
            out.push('\n');
        }
        DiffFormat::Text | DiffFormat::Summary => {
            let on = ui.colour_out;
            if !changed {
                out.push_str(&format!("no changes from `{from}` to `{to}`\n"));
            } else {
                out.push_str(&format!("Changes from `{from}` to `{to}`:\n"));
                let mut subject = "";
                for c in &changes {
                    if c.subject != subject {
                        out.push_str(&format!("\n  {}\n", paint(&c.subject, "1", on)));
                        subject = &c.subject;
                    }
                    let code = match c.mark {
                        crate::report::diff::Mark::Added => "32",
                        crate::report::diff::Mark::Removed => "31",
                        crate::report::diff::Mark::Changed => "33",
                    };
                    out.push_str(&format!(
                        "    {} {}\n",
                        paint(&c.mark.symbol().to_string(), code, on),
                        c.text
                    ));
                }
                if !notes.is_empty() {
                    out.push_str("\nOperational notes, in order:\n");
                    for (i, n) in notes.iter().enumerate() {
                        out.push_str(&format!("  {}. {n}\n", i + 1));
                    }
                }
                out.push_str(&format!("\nFiles that differ ({}):\n", files.len()));
                for f in &files {
                    let mark = match f.status {
                        "added" => paint("+", "32", on),
                        "removed" => paint("-", "31", on),
                        _ => paint("~", "33", on),
                    };
                    out.push_str(&format!("  {mark} {}\n", f.path));
                }
                if format == DiffFormat::Text {
                    for f in &files {
                        out.push('\n');
                        if on {
                            out.push_str(&paint_diff(&f.diff));
                        } else {
                            out.push_str(&f.diff);
                        }
                        if !f.diff.ends_with('\n') {
                            out.push('\n');
                        }
                    }
                }
            }
        }
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(if changed { exit::FINDING } else { exit::OK })
}

fn plan_command(blueprint: &Path, format: PlanFormat, ui: &Ui) -> Result<u8> {
    let v = match load_valid(blueprint, ui)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let plans = crate::render::plans(&v.phases, &Selection::default())?;
    let phases: Vec<crate::report::capacity::PhaseCapacity> = plans
        .iter()
        .map(crate::report::capacity::capacity)
        .collect();
    let name = plans
        .first()
        .map(|p| p.blueprint.clone())
        .unwrap_or_default();
    let out = match format {
        PlanFormat::Json => {
            let mut text = serde_json::to_string_pretty(&serde_json::json!({
                "blueprint": name,
                "phases": phases,
            }))?;
            text.push('\n');
            text
        }
        PlanFormat::Markdown => {
            let mut text = format!("# Capacity plan: {name}\n");
            for p in &phases {
                text.push('\n');
                text.push_str(&crate::report::capacity::markdown(p, "## Phase"));
            }
            text
        }
        PlanFormat::Text => {
            let mut text = format!("Capacity plan: {name}\n");
            for p in &phases {
                text.push('\n');
                text.push_str(&aligned(&crate::report::capacity::markdown(p, "== Phase")));
            }
            text
        }
    };
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(exit::OK)
}

/// `tierform man`: a command's manual page on standard output, or with `--dir` one
/// page per command, as `clap_mangen` names them (`tierform-templates-eject.1`).
fn man(path: &[String], dir: Option<&Path>, ui: &Ui) -> Result<u8> {
    let mut root = command().disable_help_subcommand(true);
    root.build();
    let Some(dir) = dir else {
        let mut cmd = &root;
        for word in path {
            cmd = cmd.find_subcommand(word).with_context(|| {
                let known: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
                format!(
                    "no command `{}`; the commands are {}",
                    path.join(" "),
                    known.join(", ")
                )
            })?;
        }
        std::io::stdout().lock().write_all(&man_page(cmd)?)?;
        return Ok(exit::OK);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![&root];
    let mut i = 0;
    while i < pages.len() {
        pages.extend(pages[i].get_subcommands().filter(|c| !c.is_hide_set()));
        i += 1;
    }
    for cmd in &pages {
        let name = format!("{}.1", cmd.get_display_name().unwrap_or(cmd.get_name()));
        let file = dir.join(&name);
        write_atomic(&file, &man_page(cmd)?)
            .with_context(|| format!("cannot write {}", file.display()))?;
        ui.detail(&format!("  + {name}"));
    }
    ui.status(&format!(
        "wrote {} manual pages to {}",
        pages.len(),
        dir.display()
    ));
    Ok(exit::OK)
}

/// One manual page: clap_mangen's sections, then the command's `after_help` as
/// EXAMPLES (verbatim), EXIT STATUS and NOTES, and for tierform itself ENVIRONMENT.
fn man_page(cmd: &clap::Command) -> Result<Vec<u8>> {
    use clap_mangen::roff::{bold, roman, Roff};
    let man = clap_mangen::Man::new(cmd.clone())
        .manual("tierform manual")
        .source(format!("tierform {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out)?;
    }
    let mut roff = Roff::new();
    let after = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let mut notes = Vec::new();
    for paragraph in after.split("\n\n") {
        if let Some(examples) = paragraph.strip_prefix("Examples:\n") {
            roff.control("SH", ["EXAMPLES"]);
            roff.control("nf", []);
            for line in examples.lines() {
                roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
            }
            roff.control("fi", []);
        } else if paragraph.starts_with("Exit codes") {
            roff.control("SH", ["EXIT STATUS"]);
            roff.text([roman(paragraph.replace('\n', " "))]);
        } else if !paragraph.trim().is_empty() {
            notes.push(paragraph.replace('\n', " "));
        }
    }
    if !notes.is_empty() {
        roff.control("SH", ["NOTES"]);
        for (i, n) in notes.iter().enumerate() {
            if i > 0 {
                roff.control("PP", []);
            }
            roff.text([roman(n.as_str())]);
        }
    }
    if cmd.get_display_name().is_none_or(|n| n == "tierform") {
        roff.control("SH", ["ENVIRONMENT"]);
        roff.control("TP", []);
        roff.text([bold("NO_COLOR")]);
        roff.text([roman(
            "When set to a non-empty value, output is not coloured (unless --color always).",
        )]);
        roff.control("SH", ["SEE ALSO"]);
        let pages: Vec<String> = cmd
            .get_subcommands()
            .map(|c| format!("tierform-{}(1)", c.get_name()))
            .collect();
        roff.text([roman(format!(
            "{}; the blueprint reference, docs/blueprint.md, and the schema, tierform schema.",
            pages.join(", ")
        ))]);
    }
    roff.to_writer(&mut out)?;
    if cmd.get_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    Ok(out)
}

/// Markdown tables as aligned plain-text columns; other lines unchanged.
fn aligned(markdown: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = markdown.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].starts_with('|') {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        }
        let mut rows: Vec<Vec<String>> = Vec::new();
        while i < lines.len() && lines[i].starts_with('|') {
            let cells: Vec<String> = lines[i]
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            if !cells.iter().all(|c| c.chars().all(|ch| ch == '-')) {
                rows.push(cells);
            }
            i += 1;
        }
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                rows.iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in rows {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, cell)| format!("{cell}{}", " ".repeat(widths[c] - cell.chars().count())))
                .collect();
            out.push_str("  ");
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
    }
    out
}
