//! The render pipeline after validation: select phases and platforms, resolve each
//! phase into a plan, and render every plan into one in-memory [`OutputSet`].

/// A JSON object from `"key" => value` pairs, each value moved in with
/// `Value::from`. (`serde_json::json!` serializes an interpolated `Value` again: a deep
/// copy at every level of nesting, which made a manifest cost more to build than to
/// write.)
macro_rules! object {
    ($($k:expr => $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut map = serde_json::Map::new();
        $(map.insert(String::from($k), serde_json::Value::from($v));)*
        serde_json::Value::Object(map)
    }};
}

pub mod apm;
pub mod architecture;
pub mod balancer;
pub mod bundle;
pub mod compose;
pub mod compose_file;
pub mod dashboard;
pub mod datastores;
pub mod files;
pub mod hosts;
pub mod kubernetes;
pub mod monitoring;
pub mod overrides;
pub mod parallel;
pub mod templates;
pub mod yaml_emit;

pub use bundle::render_plan;

use std::collections::BTreeSet;

use self::bundle::RenderError as TargetError;
use self::files::{OutputSet, Scope};
use crate::check::budget::thousands;
use crate::check::diagnostic::{Code, Diagnostic};
use crate::check::validate::ResolvedPhase;
use crate::model::limits::{MAX_OUTPUT_BYTES, MAX_OUTPUT_FILES};
use crate::model::Platform;
use crate::plan::{self, Plan, PlanError};
use crate::render::templates::Templates;

/// Which phases and platforms to render; empty lists select everything.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub phases: Vec<String>,
    pub platforms: Vec<Platform>,
}

/// Why a render produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the blueprint has no phase `{name}` (its phases: {known}){}", did_you_mean(.suggestion))]
    UnknownPhase {
        name: String,
        known: String,
        suggestion: Option<String>,
    },
    #[error("no selected phase is rendered for {platforms}: check the phases' `targets`")]
    NothingSelected { platforms: String },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The files rendered so far pass an output limit: a finding, located at the phase.
    #[error("{}{}", .0.message, .0.line.map(|l| format!(" (line {l}, at {})", .0.pointer)).unwrap_or_default())]
    TooLarge(Box<Diagnostic>),
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!("; {}", crate::check::suggest::did_you_mean_hint(s)))
        .unwrap_or_default()
}

/// Resolves the selected phases into plans, in the blueprint's order.
pub fn plans(phases: &[ResolvedPhase], selection: &Selection) -> Result<Vec<Plan>, RenderError> {
    check_selection(phases, selection)?;
    phases
        .iter()
        .filter(|p| selection.phases.is_empty() || selection.phases.contains(&p.name))
        .map(|p| plan::resolve(&p.blueprint.name, p).map_err(RenderError::from))
        .collect()
}

/// Every phase the selection names exists.
fn check_selection(phases: &[ResolvedPhase], selection: &Selection) -> Result<(), RenderError> {
    for name in &selection.phases {
        if !phases.iter().any(|p| &p.name == name) {
            let names: Vec<String> = phases.iter().map(|p| p.name.clone()).collect();
            return Err(RenderError::UnknownPhase {
                name: name.clone(),
                known: names.join(", "),
                suggestion: crate::check::suggest::did_you_mean(name, &names),
            });
        }
    }
    Ok(())
}

/// The finding when the files rendered up to the `index`th phase pass an output limit.
fn too_large(
    phase: &ResolvedPhase,
    index: usize,
    out: &OutputSet,
    limits: OutputLimits,
) -> Diagnostic {
    let (what, found, limit, unit) = if out.len() > limits.files {
        ("files", out.len(), limits.files, "files")
    } else {
        ("bytes", out.bytes(), limits.bytes, "bytes")
    };
    let pointer = match phase.name_at {
        Some(_) => format!("/phases/{index}/name"),
        None => String::new(),
    };
    let d = Diagnostic::error(
        Code::TooMany,
        pointer,
        format!(
            "up to phase `{}`, the render comes to {} {what}; one render may write {} (nothing was written)",
            phase.name,
            thousands(found),
            thousands(limit)
        ),
    )
    .expected(format!("at most {} {unit} in one render", thousands(limit)))
    .hint("render fewer phases at once (`--phase NAME`) or platforms (`--platform NAME`), or ask for fewer routes, hosts and services per phase");
    match phase.name_at {
        Some(span) => d.at(span),
        None => d,
    }
}

/// How many files and bytes one render may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub files: usize,
    pub bytes: usize,
}

impl Default for OutputLimits {
    /// [`MAX_OUTPUT_FILES`] and [`MAX_OUTPUT_BYTES`].
    fn default() -> Self {
        OutputLimits {
            files: MAX_OUTPUT_FILES,
            bytes: MAX_OUTPUT_BYTES,
        }
    }
}

/// Renders the selected phases and platforms; returns the files and the part of the
/// output folder they own. Each phase is resolved and rendered, its plan kept only for
/// the next phase's picture to compare with (the phase before a selected one is
/// resolved for it when it is not selected); when the files so far pass [`MAX_OUTPUT_FILES`] or [`MAX_OUTPUT_BYTES`],
/// rendering stops with a finding at the phase that passed them.
pub fn render(
    phases: &[ResolvedPhase],
    selection: &Selection,
    templates: &Templates,
) -> Result<(OutputSet, Scope), RenderError> {
    render_limited(phases, selection, templates, OutputLimits::default())
}

/// [`render`] with other output limits.
pub fn render_limited(
    phases: &[ResolvedPhase],
    selection: &Selection,
    templates: &Templates,
    limits: OutputLimits,
) -> Result<(OutputSet, Scope), RenderError> {
    check_selection(phases, selection)?;
    let platforms: Vec<Platform> = if selection.platforms.is_empty() {
        Platform::ALL.to_vec()
    } else {
        selection.platforms.clone()
    };
    let mut out = OutputSet::new();
    let mut any = false;
    // The plan of the phase rendered last, with its index: the next phase's picture
    // marks what changed from it.
    let mut last: Option<(usize, Plan)> = None;
    for (index, phase) in phases.iter().enumerate() {
        if !(selection.phases.is_empty() || selection.phases.contains(&phase.name)) {
            continue;
        }
        let plan = plan::resolve(&phase.blueprint.name, phase)?;
        any |= plan.platforms.iter().any(|x| platforms.contains(x));
        bundle::render_plan(&plan, &platforms, templates, &mut out)?;
        // The phase's picture belongs to no platform: written when all are rendered.
        if selection.platforms.is_empty() {
            let previous = match (index.checked_sub(1), last.take()) {
                (Some(i), Some((j, p))) if i == j => Some(p),
                (Some(i), _) => Some(plan::resolve(&phases[i].blueprint.name, &phases[i])?),
                (None, _) => None,
            };
            let around = architecture::Around {
                previous: previous.as_ref(),
            };
            out.insert(
                format!("{}/ARCHITECTURE.md", plan.phase),
                architecture::render(&plan, around),
            )
            .map_err(|e| RenderError::Target(e.into()))?;
        }
        last = Some((index, plan));
        if out.len() > limits.files || out.bytes() > limits.bytes {
            return Err(RenderError::TooLarge(Box::new(too_large(
                phase, index, &out, limits,
            ))));
        }
    }
    if !any {
        return Err(RenderError::NothingSelected {
            platforms: platforms
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let scope = Scope {
        phases: (!selection.phases.is_empty())
            .then(|| selection.phases.iter().cloned().collect::<BTreeSet<_>>()),
        platforms: (!selection.platforms.is_empty()).then(|| {
            selection
                .platforms
                .iter()
                .map(|p| p.as_str().to_string())
                .collect()
        }),
    };
    Ok((out, scope))
}

/// A host as it stands before `:port` in an address or a URL: an IPv6 address in
/// brackets (`[::1]`), anything else as it is.
pub(crate) fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// What a Docker host (compose's, a hosts machine) needs installed for a vendor's GPUs,
/// for the READMEs and ARCHITECTURE.md.
pub(crate) fn docker_gpu_needs(vendor: crate::model::GpuVendor) -> &'static str {
    match vendor {
        crate::model::GpuVendor::Nvidia => "NVIDIA's driver and the NVIDIA Container Toolkit (`nvidia-ctk runtime configure --runtime=docker`, then restart Docker; `docker run --rm --gpus all ubuntu nvidia-smi` lists the GPUs)",
        crate::model::GpuVendor::Amd => "AMD's ROCm kernel driver (`/dev/kfd` and `/dev/dri` present), the container's user in the groups that own them",
        crate::model::GpuVendor::Intel => "Intel's GPU driver (`/dev/dri` present), the container's user in the group that owns it",
    }
}
