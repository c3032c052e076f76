//! Datastores: PostgreSQL (with replicas and a PgBouncer pool), Redis and RabbitMQ.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::service::Resources;
use super::units::Quantity;
use super::versions::{PostgresVersion, RabbitmqVersion, RedisVersion};
use super::{
    BUCKET_PATTERN, CRON_PATTERN, FILE_PATH_PATTERN, HOST_PATTERN, IMAGE_PATTERN, NAME_PATTERN,
    REGION_PATTERN, SQL_IDENT_PATTERN, STORAGE_CLASS_PATTERN,
};

/// A database, cache or message broker.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "engine", rename_all = "snake_case")]
pub enum Datastore {
    /// PostgreSQL, with optional streaming replicas and a PgBouncer pool.
    Postgres(Postgres),
    /// Redis, standalone or as a Redis Cluster.
    Redis(Redis),
    /// RabbitMQ, as a message broker.
    Rabbitmq(Rabbitmq),
}

impl Datastore {
    pub fn engine(&self) -> &'static str {
        match self {
            Datastore::Postgres(_) => "postgres",
            Datastore::Redis(_) => "redis",
            Datastore::Rabbitmq(_) => "rabbitmq",
        }
    }

    /// Where it is run for you, when it is not run here.
    pub fn managed(&self) -> Option<&Managed> {
        match self {
            Datastore::Postgres(p) => p.managed.as_ref(),
            Datastore::Redis(r) => r.managed.as_ref(),
            Datastore::Rabbitmq(r) => r.managed.as_ref(),
        }
    }

    /// Whether tierform runs its servers (not a managed service's).
    pub fn runs_here(&self) -> bool {
        self.managed().is_none()
    }

    pub fn tier(&self) -> Option<&str> {
        match self {
            Datastore::Postgres(p) => p.tier.as_deref(),
            Datastore::Redis(r) => r.tier.as_deref(),
            Datastore::Rabbitmq(r) => r.tier.as_deref(),
        }
    }

    pub fn storage(&self) -> Option<&Storage> {
        match self {
            Datastore::Postgres(p) => p.storage.as_ref(),
            Datastore::Redis(r) => r.storage.as_ref(),
            Datastore::Rabbitmq(r) => r.storage.as_ref(),
        }
    }

    pub fn resources(&self) -> Option<&Resources> {
        match self {
            Datastore::Postgres(p) => p.resources.as_ref(),
            Datastore::Redis(r) => r.resources.as_ref(),
            Datastore::Rabbitmq(r) => r.resources.as_ref(),
        }
    }

    /// Whether the datastore can broker a queue.
    pub fn is_broker(&self) -> bool {
        matches!(self, Datastore::Redis(_) | Datastore::Rabbitmq(_))
    }
}

/// A datastore run elsewhere, by a provider (Amazon RDS, Cloud SQL, Supabase,
/// ElastiCache, Memorystore, Amazon MQ, CloudAMQP): tierform renders no server for it
/// and gives the services that use it the same variables, with its address.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Managed {
    /// The address the provider gives: its endpoint's DNS name, or an IP address.
    #[schemars(regex(pattern = HOST_PATTERN), example = &"shop.c8xk2.eu-west-1.rds.amazonaws.com")]
    pub host: String,
    /// Its port. Default: the engine's (5432, 6379, 5672).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u32>,
    /// PostgreSQL: a read-only endpoint (an RDS reader endpoint, a read replica's
    /// address), given as `<NAME>_READ_HOST`. Default: `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = HOST_PATTERN))]
    pub read_host: Option<String>,
    /// Whether connections are encrypted (`rediss://`, `amqps://`, PostgreSQL's
    /// `sslmode`), as providers expect. Default: true.
    #[serde(default = "default_true")]
    pub tls: bool,
    /// With `tls`: whether clients check the provider's certificate and name against
    /// the CAs the system trusts (PostgreSQL `sslmode=verify-full` with
    /// `sslrootcert=system`, libpq 16 or newer; Redis `ssl_cert_reqs=required`).
    /// Providers whose certificates come from a CA of their own (Amazon RDS, Cloud
    /// SQL) need that CA installed in the image, or `false`: encrypted, unchecked
    /// (`sslmode=require`, `ssl_cert_reqs=none`). Default: true.
    #[serde(default = "default_true")]
    pub verify: bool,
    /// RabbitMQ: the user the provider created. Default: `app`. (PostgreSQL's is
    /// `user`; Redis's is its default user.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SQL_IDENT_PATTERN))]
    pub user: Option<String>,
    /// What the provider charges per month, counted in `plan`'s monthly cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000000))]
    pub cost_per_month: Option<f64>,
}

fn default_true() -> bool {
    true
}

/// The disk a datastore's servers keep their data on: one volume per server.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// Each server's volume, like `20Gi`.
    pub size: Quantity,
    /// Kubernetes: the StorageClass its volumes are claimed from. Default: the
    /// cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = STORAGE_CLASS_PATTERN), example = &"fast-ssd")]
    pub class: Option<String>,
}

/// PostgreSQL.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    /// The PostgreSQL major version. Default: the newest supported, `"17"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<PostgresVersion>,
    /// The tier the database servers run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub tier: Option<String>,
    /// The application database's name.
    #[schemars(regex(pattern = SQL_IDENT_PATTERN), example = &"bet_intel")]
    pub database: String,
    /// The application role's name. Default: the database name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SQL_IDENT_PATTERN))]
    pub user: Option<String>,
    /// CPU and memory of each server; they drive the memory settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// The disk each server keeps its data on. Its size bounds the write-ahead log the
    /// primary keeps (for a replica that is away, and between checkpoints). Default:
    /// 10Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// Streaming read replicas. Default: 0.
    #[serde(default)]
    #[schemars(range(min = 0, max = 15))]
    pub replicas: u32,
    /// `async` (the primary does not wait) or `sync` (a commit waits for one replica).
    /// Default: `async`.
    #[serde(default)]
    pub replication: Replication,
    /// Who promotes a replica when the primary is lost: `manual` (an operator, by the
    /// bundle README's steps) or `auto` (Patroni on every server, with a three-member
    /// etcd holding the primary's lease: a replica is promoted within about 25 s, and a
    /// router sends the clients to it). Needs a replica. Default: `manual`.
    #[serde(default, skip_serializing_if = "Ha::is_manual")]
    pub ha: Ha,
    /// The servers' image on Kubernetes with `ha: auto`: PostgreSQL with Patroni,
    /// built from the bundle's `images/<name>/Dockerfile` and pushed (compose and
    /// hosts build it themselves). Read on Kubernetes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = IMAGE_PATTERN), example = &"registry.example.com/shop-db:17-patroni")]
    pub image: Option<String>,
    /// Most client connections the server accepts. Default: 100.
    #[serde(default = "default_max_connections")]
    #[schemars(range(min = 10, max = 10000))]
    pub max_connections: u32,
    /// A connection pooler in front of the primary (and replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooler: Option<Pooler>,
    /// Continuous archiving of the write-ahead log and scheduled base backups, with
    /// pgBackRest, and the way back: a restore procedure in the bundle's README.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<Box<Backup>>,
    /// Run by a provider, not here: its address. No server is rendered; the services
    /// that use it get the same variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<Managed>,
}

/// Backups with pgBackRest: every write-ahead log segment is archived as the primary
/// fills it (at the latest each minute), full and differential backups run on a
/// schedule, and the oldest are expired. Give exactly one of `path` and `s3`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    /// A folder on the primary's machine the repository lives in (the same path
    /// inside its container). It protects from mistakes, not from losing the
    /// machine: mount another disk there, or use `s3`. Not on Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = FILE_PATH_PATTERN), example = &"/var/lib/pgbackrest")]
    pub path: Option<String>,
    /// An S3-compatible bucket (AWS S3, MinIO, R2, …), encrypted by pgBackRest. Its
    /// key, secret key and encryption passphrase are secrets:
    /// `<NAME>_BACKUP_S3_KEY`, `<NAME>_BACKUP_S3_KEY_SECRET` and
    /// `<NAME>_BACKUP_CIPHER_PASS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<BackupS3>,
    /// Full backups kept; older ones, the differentials on them and the write-ahead
    /// log only they need are expired. Default: 2.
    #[serde(default = "default_retention_full")]
    #[schemars(range(min = 1, max = 100))]
    pub retention_full: u32,
    /// When full backups run: a cron schedule in UTC (minute hour day-of-month month
    /// day-of-week). Default: `0 1 * * 0`, Sundays at 01:00.
    #[serde(default = "default_full_schedule")]
    #[schemars(regex(pattern = CRON_PATTERN), example = &"0 1 * * 0")]
    pub full: String,
    /// When differential backups (what changed since the last full) run. Default:
    /// `0 1 * * 1-6`, the other days at 01:00.
    #[serde(default = "default_differential_schedule")]
    #[schemars(regex(pattern = CRON_PATTERN), example = &"0 1 * * 1-6")]
    pub differential: String,
    /// Kubernetes: the PostgreSQL image with pgBackRest in it, built from the
    /// bundle's `images/<name>/Dockerfile` and pushed where the cluster pulls from.
    /// Compose and hosts build it themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = IMAGE_PATTERN), example = &"registry.example.com/db-postgres:17-pgbackrest")]
    pub image: Option<String>,
}

fn default_retention_full() -> u32 {
    2
}

fn default_full_schedule() -> String {
    "0 1 * * 0".into()
}

fn default_differential_schedule() -> String {
    "0 1 * * 1-6".into()
}

/// An S3-compatible bucket for backups.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupS3 {
    /// The bucket.
    #[schemars(regex(pattern = BUCKET_PATTERN), example = &"acme-db-backups")]
    pub bucket: String,
    /// The S3 endpoint, without a scheme (HTTPS is used).
    #[schemars(regex(pattern = HOST_PATTERN), example = &"s3.eu-west-1.amazonaws.com")]
    pub endpoint: String,
    /// The bucket's region.
    #[schemars(regex(pattern = REGION_PATTERN), example = &"eu-west-1")]
    pub region: String,
    /// The folder in the bucket. Default: `/<blueprint>/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = FILE_PATH_PATTERN))]
    pub path: Option<String>,
    /// `host` (`bucket.endpoint`, AWS) or `path` (`endpoint/bucket`, MinIO and most
    /// others). Default: `host`.
    #[serde(default)]
    pub uri_style: UriStyle,
}

/// How an S3 bucket is addressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UriStyle {
    /// `bucket.endpoint`.
    #[default]
    Host,
    /// `endpoint/bucket`.
    Path,
}

fn default_max_connections() -> u32 {
    100
}

/// Streaming replication mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Replication {
    /// The primary commits without waiting for replicas.
    #[default]
    Async,
    /// A commit waits until one replica has it.
    Sync,
}

/// Who promotes a replica when the primary is lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ha {
    /// An operator, by the bundle README's steps.
    #[default]
    Manual,
    /// Patroni, with etcd holding the primary's lease.
    Auto,
}

impl Ha {
    pub fn is_manual(&self) -> bool {
        *self == Ha::Manual
    }
}

/// A PgBouncer connection pool.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pooler {
    /// The pooler. Only `pgbouncer`.
    pub engine: PoolerEngine,
    /// When a server connection returns to the pool: after each `transaction`
    /// (default), `session` or `statement`.
    #[serde(default)]
    pub pool_mode: PoolMode,
    /// Most client connections PgBouncer accepts. Default: 500.
    #[serde(default = "default_max_client_conn")]
    #[schemars(range(min = 1, max = 100000))]
    pub max_client_conn: u32,
    /// Server connections per database and user. Default: 20.
    #[serde(default = "default_pool_size")]
    #[schemars(range(min = 1, max = 10000))]
    pub default_pool_size: u32,
    /// Extra server connections allowed when the pool is exhausted. Default: 0.
    #[serde(default)]
    #[schemars(range(max = 10000))]
    pub reserve_pool_size: u32,
}

fn default_max_client_conn() -> u32 {
    500
}

fn default_pool_size() -> u32 {
    20
}

/// A connection pooler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolerEngine {
    /// PgBouncer.
    Pgbouncer,
}

/// PgBouncer pool mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// A server connection per client connection.
    Session,
    /// A server connection per transaction.
    #[default]
    Transaction,
    /// A server connection per statement (no multi-statement transactions).
    Statement,
}

/// Redis.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    /// The Redis version. Default: the newest supported, `"8.0"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<RedisVersion>,
    /// The tier the Redis servers run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub tier: Option<String>,
    /// `standalone` (one server) or `cluster` (a Redis Cluster). Default: `standalone`.
    #[serde(default)]
    pub mode: RedisMode,
    /// The cluster's shape; required when `mode` is `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterShape>,
    /// `cache` (evicts least recently used keys when full) or `broker` (never evicts:
    /// a queue must not lose messages). Default: `cache`, or `broker` when a service's
    /// queue uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RedisRole>,
    /// Memory (and CPU) per node; `maxmemory` is computed from the memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// The disk each node keeps its data on (a cluster's node identities, an
    /// append-only broker's log, snapshots). Default: 10Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// Share of the memory limit Redis may fill with data. Default: 80.
    #[serde(default = "default_maxmemory_percent")]
    #[schemars(range(min = 1, max = 100))]
    pub maxmemory_percent: u32,
    /// Run by a provider, not here: its address. No server is rendered; the services
    /// that use it get the same variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<Managed>,
}

fn default_maxmemory_percent() -> u32 {
    80
}

/// How Redis runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedisMode {
    /// One server.
    #[default]
    Standalone,
    /// A Redis Cluster of masters and their replicas.
    Cluster,
}

/// What Redis is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedisRole {
    /// A cache: evict least recently used keys when full.
    Cache,
    /// A message broker: never evict.
    Broker,
}

/// The shape of a Redis Cluster.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterShape {
    /// Master nodes (hash slots are spread over them). At least 3.
    #[schemars(range(min = 1, max = 100))]
    pub masters: u32,
    /// Replicas of each master. Default: 1.
    #[serde(default = "default_replicas_per_master")]
    #[schemars(range(min = 0, max = 5))]
    pub replicas_per_master: u32,
}

fn default_replicas_per_master() -> u32 {
    1
}

/// RabbitMQ.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rabbitmq {
    /// The RabbitMQ version. Default: the newest supported, `"4.0"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<RabbitmqVersion>,
    /// The tier the broker runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub tier: Option<String>,
    /// Brokers: one, or a cluster of three or more (one per machine of its tier)
    /// whose queues are quorum queues, replicated over the brokers: losing one of
    /// three loses no message. Default: 1.
    #[serde(default = "default_rabbitmq_nodes")]
    #[schemars(range(min = 1, max = 7))]
    pub nodes: u32,
    /// CPU and memory of each broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// The disk its queues are kept on. Default: 10Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// Run by a provider, not here: its address. No server is rendered; the services
    /// that use it get the same variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<Managed>,
}

fn default_rabbitmq_nodes() -> u32 {
    1
}

/// The prefix of the connection variables a datastore gives the services that use it:
/// `db` → `DB`, `cache-eu` → `CACHE_EU`. (Validation refuses an `env` entry that one of
/// them would overwrite; the plan names them.)
pub fn env_prefix(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}
