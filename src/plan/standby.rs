//! A standby region (`standby`): the phase resolved again on the region's machines,
//! its PostgreSQL servers linked to the phase's, the rest held back until promotion.

use serde::Serialize;

use super::{resolve, Plan, PlanError};
use crate::check::validate::ResolvedPhase;
use crate::model::{Platform, Standby};
use crate::plan::datastores::postgres::net;
use crate::plan::{EnginePlan, StandbyLink};

/// A standby region's plan.
#[derive(Debug, Clone, Serialize)]
pub struct StandbyPlan {
    pub name: String,
    /// Its folder in the hosts bundle: `standby-<name>`.
    pub dir: String,
    /// The DNS name that promotion moves to the region (READMEs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<String>,
    /// The phase on the region's machines, for `hosts` alone: each PostgreSQL
    /// primary streams from the phase's (`PostgresPlan::standby`).
    pub plan: Plan,
}

/// What a standby region's own plan knows of itself.
#[derive(Debug, Clone, Serialize)]
pub struct StandbyRegion {
    pub name: String,
    /// The DNS name that promotion moves to the region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<String>,
}

/// The standby region of `phase`, resolved, and the phase's own `plan` given the other
/// end of each PostgreSQL stream.
pub(super) fn link(
    blueprint_name: &str,
    phase: &ResolvedPhase,
    standby: &Standby,
    plan: &mut Plan,
) -> Result<StandbyPlan, PlanError> {
    let mut copy = phase.clone();
    copy.targets = vec![Platform::Hosts];
    copy.blueprint.standby = None;
    for (tier, hosts) in &standby.hosts {
        if let Some(t) = copy.blueprint.tiers.get_mut(tier) {
            t.hosts.clone_from(hosts);
        }
    }
    let mut region = resolve(blueprint_name, &copy)?;
    region.standby_region = Some(StandbyRegion {
        name: standby.name.clone(),
        dns: standby.dns.clone(),
    });
    for (name, store) in &mut plan.datastores {
        let primary = store.primary_on(Platform::Hosts).cloned();
        let leader = region
            .datastores
            .get(name)
            .and_then(|d| d.primary_on(Platform::Hosts).cloned());
        let (EnginePlan::Postgres(pg), Some(primary), Some(leader)) =
            (&mut store.engine, primary, leader)
        else {
            continue;
        };
        let link = StandbyLink {
            region: standby.name.clone(),
            upstream_host: primary.host.clone(),
            upstream_port: primary.port,
            machine: leader.machine.clone(),
            slot: format!("{}_standby", name.replace('-', "_")),
            application_name: format!("{name}-standby"),
        };
        // Two more senders and slots on both sides: the stream between the regions
        // and the copy that starts it (a standby's settings must be at least its
        // primary's).
        pg.max_wal_senders += 2;
        if let Some(hba) = pg.hba.get_mut(&Platform::Hosts) {
            let from = net(&leader.machine);
            if !hba.replication.contains(&from) {
                hba.replication.push(from);
                hba.replication.sort();
            }
        }
        if let Some(EnginePlan::Postgres(theirs)) =
            region.datastores.get_mut(name).map(|d| &mut d.engine)
        {
            theirs.max_wal_senders += 2;
            theirs.upstream = Some(link.clone());
        }
        pg.standby = Some(link);
    }
    Ok(StandbyPlan {
        name: standby.name.clone(),
        dir: format!("standby-{}", standby.name),
        dns: standby.dns.clone(),
        plan: region,
    })
}
