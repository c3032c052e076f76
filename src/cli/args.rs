//! The command line's definition: every command, option and value, for clap to parse
//! and for completions, the manual page and the help to be generated from.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::Platform;

#[derive(Parser, Debug)]
#[command(
    name = "tierform",
    version,
    about = "One blueprint of services, tiers and datastores → the configs that run it, phase by phase.",
    long_about = None,
    after_help = "Examples:\n  tierform init app.yaml                      # a starter blueprint\n  tierform validate app.yaml                  # every finding, with file:line:col\n  tierform render app.yaml -o out             # every phase's configs into out/\n  tierform render app.yaml -o out --check     # in CI: is out/ current?\n  tierform fmt --check app.yaml               # in CI: is it in canonical order and layout?\n  tierform templates eject nginx/nginx.conf.j2\n  source <(tierform completions bash)         # tab completion in this shell\n\nExit codes: 0 ok · 1 a finding (invalid, stale) · 2 an error\n\nColour is used on a terminal unless NO_COLOR is set or TERM=dumb; FORCE_COLOR or\nCLICOLOR_FORCE colour a pipe too; --color overrides them all."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// When to colour the output: `auto` on a terminal unless NO_COLOR is set or
    /// TERM=dumb (FORCE_COLOR or CLICOLOR_FORCE colour even a pipe).
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorWhen::Auto
    )]
    pub color: ColorWhen,
    /// Print only findings and errors: no "wrote …", "valid" or "up to date" lines.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: each file written, changed or removed, each phase validated.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Whether to colour a stream that is (or is not) a terminal. `auto`: yes when
    /// FORCE_COLOR or CLICOLOR_FORCE is set (and not `0`), else no when NO_COLOR is set
    /// or TERM is `dumb`, else on a terminal.
    pub fn colour(self, terminal: bool) -> bool {
        self.colour_with(terminal, |name| std::env::var(name).ok())
    }

    /// [`ColorWhen::colour`], reading the environment through `env`.
    pub fn colour_with(self, terminal: bool, env: impl Fn(&str) -> Option<String>) -> bool {
        let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                let forced = ["FORCE_COLOR", "CLICOLOR_FORCE"]
                    .iter()
                    .any(|n| env(n).is_some_and(|v| !v.is_empty() && v != "0"));
                forced || (terminal && !set("NO_COLOR") && env("TERM").is_none_or(|t| t != "dumb"))
            }
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check blueprints against the schema and the semantic rules; report every finding.
    #[command(
        after_help = "Examples:\n  tierform validate blueprints/*.yaml\n  tierform validate --format json app.yaml\n  tierform validate --format github blueprints/*.yaml   # in GitHub Actions: annotations\n  cat app.yaml | tierform validate -\n\nExit codes: 0 valid · 1 invalid · 2 usage or I/O error"
    )]
    Validate {
        /// Blueprint files (`-` reads standard input). Default: $TIERFORM_BLUEPRINT, else
        /// ./blueprint.yaml.
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        /// `text` for people; `json` for machines; `github`: GitHub Actions workflow
        /// commands (`::error file=…,line=…,col=…::…`) that annotate the pull request.
        #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
        format: ValidateFormat,
        /// Fail (exit 1) on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Render every phase's bundles (nginx/HAProxy configs, …) into a folder.
    #[command(
        after_help = "Examples:\n  tierform render blueprints/bet-intel.yaml\n  tierform render app.yaml -o deploy --phase horizontal --platform hosts\n  tierform render app.yaml --check   # in CI: is the committed output current?\n  tierform render app.yaml --stdout single/compose/nginx/nginx.conf | less\n  cat app.yaml | tierform render - --stdout single/compose/docker-compose.yml\n  tierform render app.yaml -o - --phase kubernetes --platform kubernetes | kubectl apply -f -\n  tierform render app.yaml --templates my-templates --lint   # nginx -t / haproxy -c each config\n\nWrites DIR/<phase>/<platform>/…; files it wrote before and no longer renders are\nremoved, files it did not write are never touched (DIR/.tierform-manifest lists them).\n\nExit codes: 0 written or up to date · 1 stale (--check) or a config refused or unchecked (--lint) ·\n2 invalid blueprint or other error"
    )]
    Render {
        /// The blueprint file (`-` reads standard input). Default: $TIERFORM_BLUEPRINT,
        /// else ./blueprint.yaml.
        #[arg(value_name = "BLUEPRINT")]
        blueprint: Option<PathBuf>,
        /// The output folder. `-` writes every file to standard output as one stream
        /// instead: one Kubernetes bundle (`--phase P --platform kubernetes`, or `--phase
        /// P` of a phase rendered only for Kubernetes) as the YAML stream `kubectl
        /// kustomize` builds from its folder, each object after a
        /// `# Source: PATH` comment (for `kubectl apply -f -`); anything else as each
        /// file after a line `==> PATH (N bytes) <==`, then exactly its N bytes.
        #[arg(
            short,
            long,
            value_name = "DIR",
            env = "TIERFORM_OUTPUT",
            default_value = "out"
        )]
        output: PathBuf,
        /// Render only this phase (repeatable).
        #[arg(long = "phase", value_name = "PHASE", add = crate::cli::complete::phase())]
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
        /// and removed (and the diff with `--check`) on standard output, or an invalid
        /// blueprint's findings as `validate --format json` prints them (docs/json.md).
        #[arg(long, value_enum, default_value_t = RenderFormat::Text)]
        format: RenderFormat,
        /// Refuse warnings too: print them and exit 2 without rendering, as an invalid
        /// blueprint does.
        #[arg(long)]
        deny_warnings: bool,
        /// Then check each balancer config with the real `nginx -t` / `haproxy -c`
        /// installed here (or $TIERFORM_NGINX, $TIERFORM_HAPROXY), in a private network
        /// namespace where its addresses and upstream names exist; exit 1 if one is
        /// refused, warned about or cannot be checked. For `--templates` overrides above all.
        #[arg(long, conflicts_with = "stdout")]
        lint: bool,
    },
    /// What changes between two phases: a summary, operational notes, and file diffs.
    #[command(
        after_help = "Examples:\n  tierform diff blueprints/bet-intel.yaml load-balancer read-replicas\n  tierform diff app.yaml single horizontal --format summary\n  tierform diff single horizontal     # ./blueprint.yaml, or $TIERFORM_BLUEPRINT\n  tierform diff app.yaml single kubernetes --platform kubernetes --format json\n\nExit codes (like kubectl diff): 0 no change · 1 changes · 2 error"
    )]
    Diff {
        /// [BLUEPRINT] FROM TO: the blueprint file (`-` reads standard input; default:
        /// $TIERFORM_BLUEPRINT, else ./blueprint.yaml), the phase to compare from and the
        /// phase to compare to.
        #[arg(
            value_name = "ARGS",
            num_args = 2..=3,
            required = true,
            add = crate::cli::complete::diff_args()
        )]
        args: Vec<String>,
        /// Compare only this platform's files (repeatable).
        #[arg(long = "platform", value_enum, value_name = "PLATFORM")]
        platforms: Vec<PlatformArg>,
        /// `text`: summary, notes and unified diffs; `summary`: without the diffs;
        /// `json`: the summary (each change's values before and after), notes and file
        /// list, or an invalid blueprint's findings, for machines (docs/json.md).
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Lines of context around each change in the diffs.
        #[arg(long, default_value_t = 3, value_name = "N")]
        context: usize,
        /// Use templates from this folder where it has one by the same relative path.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Rewrite blueprints in canonical key order and layout, keeping every comment.
    #[command(
        after_help = "Examples:\n  tierform fmt                               # ./blueprint.yaml, or $TIERFORM_BLUEPRINT\n  tierform fmt blueprints/*.yaml\n  tierform fmt --check app.yaml              # in CI: exit 1 if it is not formatted\n  tierform fmt --check -v app.yaml           # and show the diff\n  cat app.yaml | tierform fmt - > tidy.yaml\n\nKeys follow the schema's order (`tierform explain`); services, datastores, tiers, env\nand a patch's maps keep yours. The result must load as the same blueprint, or the\nfile is left as it is. fmt does not validate: an invalid blueprint is formatted too.\n\nExit codes: 0 formatted (or already) · 1 would change (--check) · 2 error"
    )]
    Fmt {
        /// Blueprint files (`-` reads standard input and writes standard output).
        /// Default: $TIERFORM_BLUEPRINT, else ./blueprint.yaml.
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Write nothing: print the files that would change (with -v, a diff) and exit
        /// 1 if any would.
        #[arg(long)]
        check: bool,
        /// `text` for people; `json`: each file and whether it changes (docs/json.md).
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Per phase: instances, CPU and memory, machines and monthly cost, throughput
    /// ceiling, and when to move on.
    #[command(
        after_help = "Examples:\n  tierform plan blueprints/bet-intel.yaml\n  tierform plan app.yaml --format markdown > CAPACITY.md\n  tierform plan app.yaml --format json"
    )]
    Plan {
        /// The blueprint file (`-` reads standard input). Default: $TIERFORM_BLUEPRINT,
        /// else ./blueprint.yaml.
        #[arg(value_name = "BLUEPRINT")]
        blueprint: Option<PathBuf>,
        /// `text` for a terminal, `markdown` for a document, `json` for machines
        /// (numbers in the units their names say, or an invalid blueprint's findings;
        /// docs/json.md).
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
    /// Explain one field of the blueprint: its type, what it means and the fields under it,
    /// from the schema's descriptions.
    #[command(
        after_help = "Examples:\n  tierform explain services\n  tierform explain services.*.scaling.target\n  tierform explain /balancer/rate_limit\n  tierform explain services.*.health --format json\n\nA name in a map (a service's, a tier's) or an index in a list may be anything, `*` included."
    )]
    Explain {
        /// The field: dotted (`services.api.scaling`) or a JSON pointer
        /// (`/services/api/scaling`); none: the top level.
        #[arg(value_name = "PATH", default_value = "")]
        path: String,
        /// `text` for people, `json` for machines and editors (docs/json.md).
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
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
    /// Write a starter blueprint, or a bundled example (and the schema beside it, for
    /// editors).
    #[command(
        after_help = "Examples:\n  tierform init\n  tierform init --example showcase\n  tierform init infra/app.yaml --force\n  tierform init - --example bet-intel | less"
    )]
    Init {
        /// Where to write the blueprint (`-` prints it).
        #[arg(default_value = "blueprint.yaml", value_name = "FILE")]
        file: PathBuf,
        /// Write this bundled example instead of the starter: a real team's growth plan
        /// (`aqi-monitor`, `bet-intel`, `fastapi-celery`, `medhasakthi`) or `showcase`.
        #[arg(long, value_enum, value_name = "NAME")]
        example: Option<Example>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print tierform's version (and, as JSON, the versions of its formats).
    #[command(after_help = "Examples:\n  tierform version\n  tierform version --format json")]
    Version {
        /// `text` for people, `json` for machines.
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Print a shell completion script (it completes phase and template names too).
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
pub enum TemplatesAction {
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
        #[arg(add = crate::cli::complete::template())]
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
pub enum PlanFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Summary,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlatformArg {
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
pub enum ValidateFormat {
    Text,
    Json,
    Github,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    Text,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

/// The bundled example blueprints `init --example` writes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Example {
    AqiMonitor,
    BetIntel,
    FastapiCelery,
    Medhasakthi,
    Showcase,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    Json,
    Markdown,
}

/// The colour clap uses for help and usage errors: `--color` as given, read before
/// parsing (a usage error may come before it); `auto` honours NO_COLOR and the terminal.
pub fn clap_colour(args: &[std::ffi::OsString]) -> clap::ColorChoice {
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

#[cfg(test)]
mod tests {
    use super::ColorWhen;

    /// `auto` colours a terminal unless NO_COLOR or TERM=dumb says not to; FORCE_COLOR
    /// and CLICOLOR_FORCE (not `0`) colour anything; `always` and `never` win.
    #[test]
    fn colour_follows_the_environment() {
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let auto = ColorWhen::Auto;
        assert!(auto.colour_with(true, with(&[])));
        assert!(!auto.colour_with(false, with(&[])));
        assert!(!auto.colour_with(true, with(&[("TERM", "dumb")])));
        assert!(!auto.colour_with(true, with(&[("NO_COLOR", "1")])));
        assert!(auto.colour_with(true, with(&[("NO_COLOR", "")])));
        assert!(auto.colour_with(false, with(&[("FORCE_COLOR", "1")])));
        assert!(auto.colour_with(false, with(&[("CLICOLOR_FORCE", "1"), ("TERM", "dumb")])));
        assert!(!auto.colour_with(false, with(&[("CLICOLOR_FORCE", "0")])));
        assert!(ColorWhen::Always.colour_with(false, with(&[("TERM", "dumb")])));
        assert!(!ColorWhen::Never.colour_with(true, with(&[("FORCE_COLOR", "1")])));
    }
}
