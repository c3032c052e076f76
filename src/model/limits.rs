//! How much a blueprint may ask for. Each limit bounds what one small file can make
//! tierform hold in memory or write: a phase is a full copy of the blueprint, and a
//! route is written into the balancer config of every edge machine of every phase, so
//! a 1 MB file could otherwise ask for gigabytes. Validation refuses a blueprint over
//! a limit with a finding at the part that is too large (`too-many`); `render` stops
//! before writing anything when the files it renders pass the output limits.

/// The most phases a blueprint may have (each phase is a full copy of the blueprint).
pub const MAX_PHASES: usize = 50;
/// The most services in one phase.
pub const MAX_SERVICES: usize = 10_000;
/// The most datastores in one phase.
pub const MAX_DATASTORES: usize = 1_000;
/// The most datastore nodes in one phase (a Redis Cluster of 3 masters with a replica
/// each is 6; a Postgres primary with 2 replicas is 3).
pub const MAX_DATASTORE_NODES: usize = 1_000;
/// The most service instances in one phase: each service's replicas, or its
/// autoscaler's maximum.
pub const MAX_INSTANCES: usize = 200_000;
/// The most routes a balancer may have in one phase.
pub const MAX_ROUTES: usize = 1_000;
/// The most hosts one tier may list.
pub const MAX_HOSTS_PER_TIER: usize = 256;
/// The most hosts all tiers of one phase may list together.
pub const MAX_HOSTS: usize = 1_024;
/// The most balancer lines in one phase, counted once for each machine of the
/// balancer's tier (each gets a config with every route and a server line for each
/// instance of a routed service): 1,000 routes on 16 machines, or 64 on 256.
pub const MAX_ROUTE_COPIES: usize = 16_384;
/// The most bytes of blueprint text (names, values, commands) one phase copies into
/// its machines' bundles: a service's text counts once for each machine of its tier.
pub const MAX_COPIED_BYTES: usize = 16 << 20;
/// The most services and datastore nodes counted over every phase (a service in five
/// phases counts five times): 10,000 services in five phases, or 1,000 in fifty.
pub const MAX_PHASE_UNITS: usize = 50_000;
/// The most service instances counted over every phase.
pub const MAX_PHASE_INSTANCES: usize = 1_000_000;
/// The most YAML values (mappings, lists and scalars) counted over every phase's
/// resolved blueprint: what validation holds in memory (10,000 services of 34 values
/// each fill two phases and part of a third).
pub const MAX_PHASE_VALUES: usize = 1_000_000;
/// The most bytes of text counted over every phase's resolved blueprint.
pub const MAX_PHASE_BYTES: usize = 64 << 20;
/// The most files one render may write.
pub const MAX_OUTPUT_FILES: usize = 100_000;
/// The most bytes one render may write, all files together.
pub const MAX_OUTPUT_BYTES: usize = 256 << 20;
