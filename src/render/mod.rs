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

pub mod architecture;
pub mod balancer;
pub mod bundle;
pub mod compose;
pub mod compose_file;
pub mod datastores;
pub mod files;
pub mod hosts;
pub mod kubernetes;
pub mod overrides;
pub mod templates;
pub mod yaml_emit;

pub use bundle::render_plan;

use std::collections::BTreeSet;

use self::bundle::RenderError as TargetError;
use self::files::{OutputSet, Scope};
use crate::check::validate::ResolvedPhase;
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
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!("; {}", crate::check::suggest::did_you_mean_hint(s)))
        .unwrap_or_default()
}

/// Resolves the selected phases into plans, in the blueprint's order.
pub fn plans(phases: &[ResolvedPhase], selection: &Selection) -> Result<Vec<Plan>, RenderError> {
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
    phases
        .iter()
        .filter(|p| selection.phases.is_empty() || selection.phases.contains(&p.name))
        .map(|p| plan::resolve(&p.blueprint.name, p).map_err(RenderError::from))
        .collect()
}

/// Renders the selected phases and platforms; returns the files and the part of the
/// output folder they own.
pub fn render(
    phases: &[ResolvedPhase],
    selection: &Selection,
    templates: &Templates,
) -> Result<(OutputSet, Scope), RenderError> {
    let plans = plans(phases, selection)?;
    let platforms: Vec<Platform> = if selection.platforms.is_empty() {
        Platform::ALL.to_vec()
    } else {
        selection.platforms.clone()
    };
    if !plans
        .iter()
        .any(|p| p.platforms.iter().any(|x| platforms.contains(x)))
    {
        return Err(RenderError::NothingSelected {
            platforms: platforms
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut out = OutputSet::new();
    for plan in &plans {
        bundle::render_plan(plan, &platforms, templates, &mut out)?;
        // The phase's picture belongs to no platform: written when all are rendered.
        if selection.platforms.is_empty() {
            out.insert(
                format!("{}/ARCHITECTURE.md", plan.phase),
                architecture::render(plan),
            )
            .map_err(|e| RenderError::Target(e.into()))?;
        }
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
