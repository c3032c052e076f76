//! Dynamic completion (`source <(tierform completions bash)`): the shell asks the
//! binary for candidates, so phase names come from the blueprint being typed (or
//! $TIERFORM_BLUEPRINT, or ./blueprint.yaml) and template names from the embedded set.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap_complete::engine::{
    ArgValueCompleter, CompletionCandidate, PathCompleter, ValueCompleter,
};

/// The environment variable the shell sets when it asks for candidates.
pub const COMPLETE_ENV: &str = "COMPLETE";

/// Answers the shell and exits when it is asking for candidates (`COMPLETE` set);
/// otherwise returns at once.
pub fn answer_shell() {
    clap_complete::CompleteEnv::with_factory(crate::cli::command)
        .var(COMPLETE_ENV)
        .complete();
}

/// Writes the script that registers completion in `shell`, calling this binary as it
/// was invoked (`tierform` on PATH, or its path).
pub fn registration(
    shell: clap_complete::Shell,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let name = shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(&name)
        .expect("every shell clap_complete generates for has a dynamic completer");
    let invoked = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .map(|p| {
            // A relative path with folders in it is relative to here, not to where
            // the shell later completes.
            if p.components().count() > 1 && p.is_relative() {
                let p: PathBuf = p
                    .components()
                    .filter(|c| *c != std::path::Component::CurDir)
                    .collect();
                std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
            } else {
                p
            }
        })
        .unwrap_or_else(|| PathBuf::from("tierform"));
    completer.write_registration(
        COMPLETE_ENV,
        "tierform",
        "tierform",
        &invoked.to_string_lossy(),
        out,
    )
}

/// The words of the command line being completed: the shell passes them after `--`.
fn words() -> Vec<OsString> {
    let args: Vec<OsString> = std::env::args_os().collect();
    match args.iter().position(|a| a == "--") {
        Some(i) => args[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// The blueprint the command line names: a word that is a YAML file (not the word being
/// completed, the last), else what every command falls back to ($TIERFORM_BLUEPRINT,
/// else ./blueprint.yaml).
fn blueprint() -> Option<PathBuf> {
    let words = words();
    let typed = words
        .iter()
        .take(words.len().saturating_sub(1))
        .map(PathBuf::from)
        .find(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml") && p.is_file());
    // Never standard input: the shell's completion must not wait on it.
    crate::cli::input::blueprint_path(typed)
        .ok()
        .filter(|p| p != Path::new("-"))
}

/// The phase names of a blueprint (with their descriptions), read as far as it loads:
/// an invalid blueprint still completes its phases.
fn phases(path: &Path) -> Vec<(String, Option<String>)> {
    // Held to the size limit as every command's input is.
    let Some(text) = crate::cli::input::read_input(path)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return Vec::new();
    };
    let Ok(node) = crate::source::yaml::load(&text) else {
        return Vec::new();
    };
    let json = node.to_json();
    json.get("phases")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.to_string();
            let about = p
                .get("description")
                .and_then(|d| d.as_str())
                .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "));
            Some((name, about))
        })
        .collect()
}

fn phase_candidates(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    blueprint()
        .map(|p| phases(&p))
        .unwrap_or_default()
        .into_iter()
        .filter(|(name, _)| name.starts_with(current.as_ref()))
        .map(|(name, about)| CompletionCandidate::new(name).help(about.map(Into::into)))
        .collect()
}

/// `--phase`: the blueprint's phase names.
pub fn phase() -> ArgValueCompleter {
    ArgValueCompleter::new(phase_candidates)
}

/// `diff [BLUEPRINT] FROM TO`: the phase names, and YAML files while no blueprint is
/// known yet.
pub fn diff_args() -> ArgValueCompleter {
    struct DiffArgs;
    impl ValueCompleter for DiffArgs {
        fn complete(&self, current: &OsStr) -> Vec<CompletionCandidate> {
            let mut out = phase_candidates(current);
            // Files only while no blueprint is known (none on the line, in
            // $TIERFORM_BLUEPRINT or ./blueprint.yaml).
            let named = blueprint().is_some();
            if !named {
                let files = PathCompleter::file().filter(|p| {
                    p.is_dir() || p.extension().is_some_and(|e| e == "yaml" || e == "yml")
                });
                out.extend(files.complete(current));
            }
            out
        }
    }
    ArgValueCompleter::new(DiffArgs)
}

/// `templates eject NAME`: the embedded templates' names.
pub fn template() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let current = current.to_string_lossy();
        crate::render::templates::EMBEDDED
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| name.starts_with(current.as_ref()))
            .map(CompletionCandidate::new)
            .collect()
    })
}
