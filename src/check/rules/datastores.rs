//! Datastores: PostgreSQL names, replication and pools; Redis modes and sizes.

use super::{store_ptr, Checker};
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::cron::Cron;
use crate::model::units::{format_bytes, Measure};
use crate::model::{Datastore, Platform, RedisMode, Replication};

/// The smallest volume a PostgreSQL server can run on: its write-ahead log between
/// checkpoints, an eighth of the volume, must hold two 16 MB segments (the plan
/// derives the log's budget from the size).
const MIN_POSTGRES_VOLUME_BYTES: u64 = 256 * 1024 * 1024;

impl Checker<'_> {
    pub(super) fn datastore(&mut self, name: &str, store: &Datastore) {
        let ptr = store_ptr(name);
        if store.managed().is_some() {
            self.managed(name, store);
            return;
        }
        self.tier_ref(ptr.child("tier"), store.tier().map(str::to_string).as_ref());
        if let Some(r) = store.resources() {
            self.resources(&ptr.child("resources"), r);
        }
        if let Some(st) = store.storage() {
            let size_ptr = ptr.child("storage").child("size");
            let bytes = self.quantity(&size_ptr, &st.size, Measure::Memory);
            let floor = match store {
                Datastore::Postgres(_) => Some(MIN_POSTGRES_VOLUME_BYTES),
                Datastore::Redis(_) | Datastore::Rabbitmq(_) => None,
            };
            if let (Some(bytes), Some(floor)) = (bytes, floor) {
                if bytes < floor {
                    self.push(
                        Diagnostic::error(
                            Code::StorageTooSmall,
                            size_ptr,
                            format!(
                                "PostgreSQL `{name}` needs at least {} of storage, not {}",
                                format_bytes(floor),
                                st.size
                            ),
                        )
                        .expected(format!("at least {}", format_bytes(floor)))
                        .hint("its write-ahead log between checkpoints alone takes two 16 MB segments, an eighth of the volume; give it `size: 1Gi` or more"),
                    );
                }
            }
        }
        match store {
            Datastore::Postgres(pg) => {
                // Names PostgreSQL, PgBouncer or tierform itself already use.
                let reserved_db = ["postgres", "template0", "template1", "pgbouncer"];
                if reserved_db.contains(&pg.database.as_str()) {
                    self.push(
                        Diagnostic::error(
                            Code::ReservedName,
                            ptr.child("database"),
                            format!(
                                "`{}` is a database PostgreSQL or PgBouncer already has",
                                pg.database
                            ),
                        )
                        .hint("name the application's database after the application"),
                    );
                }
                let user = pg.user.as_deref().unwrap_or(&pg.database);
                if [
                    "postgres",
                    "replicator",
                    "pgbouncer",
                    crate::model::POSTGRES_MONITOR_ROLE,
                ]
                .contains(&user)
                {
                    self.push(
                        Diagnostic::error(
                            Code::ReservedName,
                            ptr.child(if pg.user.is_some() { "user" } else { "database" }),
                            format!("`{user}` is a role tierform or PostgreSQL already creates (the superuser, the replication role, PgBouncer's console, postgres_exporter's)"),
                        )
                        .hint("set `user:` to the application's own role name"),
                    );
                }
                if pg.replication == Replication::Sync && pg.replicas == 0 {
                    self.push(
                        Diagnostic::error(
                            Code::SyncWithoutReplica,
                            ptr.child("replication"),
                            "synchronous replication needs at least one replica: every commit would wait forever",
                        )
                        .hint("add `replicas: 1` (or more), or use `replication: async`"),
                    );
                }
                if let Some(pool) = &pg.pooler {
                    let server = pool.default_pool_size + pool.reserve_pool_size;
                    // Keep a few connections for superuser and replication.
                    let budget = pg.max_connections.saturating_sub(5);
                    if server > budget {
                        self.push(
                            Diagnostic::error(
                                Code::PoolExceedsConnections,
                                ptr.child("pooler").child("default_pool_size"),
                                format!(
                                    "the pool may open {server} server connections, but `max_connections` is {} (5 kept for administration)",
                                    pg.max_connections
                                ),
                            )
                            .hint("lower `default_pool_size` + `reserve_pool_size`, or raise `max_connections`"),
                        );
                    }
                    if pool.max_client_conn < pool.default_pool_size {
                        self.push(Diagnostic::warning(
                            Code::PoolTooLarge,
                            ptr.child("pooler").child("max_client_conn"),
                            format!(
                                "`max_client_conn` ({}) is below `default_pool_size` ({}): part of the pool can never be used",
                                pool.max_client_conn, pool.default_pool_size
                            ),
                        ));
                    }
                }
            }
            Datastore::Redis(r) => {
                match (r.mode, &r.cluster) {
                    (RedisMode::Cluster, None) => self.push(
                        Diagnostic::error(
                            Code::MissingField,
                            ptr.clone(),
                            "a Redis Cluster needs its shape: `cluster: { masters: 3, replicas_per_master: 1 }`",
                        ),
                    ),
                    (RedisMode::Cluster, Some(shape)) if shape.masters < 3 => self.push(
                        Diagnostic::error(
                            Code::ClusterTooSmall,
                            ptr.child("cluster").child("masters"),
                            format!("a Redis Cluster needs at least 3 masters, not {}", shape.masters),
                        )
                        .hint("with fewer than 3 masters no majority survives a failure; use `mode: standalone` for one node"),
                    ),
                    (RedisMode::Cluster, Some(shape)) if shape.replicas_per_master == 0 => self.push(
                        Diagnostic::warning(
                            Code::ClusterWithoutReplicas,
                            ptr.child("cluster").child("replicas_per_master"),
                            "a Redis Cluster without replicas cannot fail over: losing one master loses its share of the keys",
                        )
                        .hint("use `replicas_per_master: 1`"),
                    ),
                    (RedisMode::Standalone, Some(_)) => self.push(
                        Diagnostic::error(
                            Code::ConflictingFields,
                            ptr.child("cluster"),
                            "`cluster` is set but `mode` is `standalone`",
                        )
                        .at_key()
                        .hint("add `mode: cluster`, or remove `cluster`"),
                    ),
                    _ => {}
                }
                let limit = r
                    .resources
                    .as_ref()
                    .and_then(|res| res.memory_limit.as_ref().or(res.memory.as_ref()));
                if limit.is_none() {
                    self.push(
                        Diagnostic::warning(
                            Code::RedisUnbounded,
                            ptr.clone(),
                            format!("Redis `{name}` has no memory size, so `maxmemory` cannot be set"),
                        )
                        .hint("add `resources: { memory: 512Mi }`; without it Redis grows until the kernel kills it"),
                    );
                }
            }
            Datastore::Rabbitmq(r) if r.nodes == 2 => self.push(
                Diagnostic::error(
                    Code::ClusterTooSmall,
                    ptr.child("nodes"),
                    "a RabbitMQ cluster of 2 brokers stops when either is lost (its quorum queues need both, and the survivor pauses as a minority): worse than one broker",
                )
                .hint("use `nodes: 3`, or `nodes: 1`"),
            ),
            Datastore::Rabbitmq(r) => {
                if r.nodes > 1 && r.nodes % 2 == 0 {
                    self.push(
                        Diagnostic::warning(
                            Code::ClusterTooSmall,
                            ptr.child("nodes"),
                            format!(
                                "a RabbitMQ cluster of {} brokers needs {} of them up for its quorum queues: it survives {} lost, no more than {} brokers would",
                                r.nodes,
                                r.nodes / 2 + 1,
                                r.nodes - (r.nodes / 2 + 1),
                                r.nodes - 1
                            ),
                        )
                        .hint(format!("use an odd number: `nodes: {}`", r.nodes + 1)),
                    );
                }
            }
        }
    }
}

impl Checker<'_> {
    /// A datastore a provider runs: what would shape its servers here shapes nothing,
    /// and its address is the provider's.
    fn managed(&mut self, name: &str, store: &Datastore) {
        let ptr = store_ptr(name);
        let Some(m) = store.managed() else {
            return;
        };
        let mut unused: Vec<&str> = Vec::new();
        if store.tier().is_some() {
            unused.push("tier");
        }
        if store.resources().is_some() {
            unused.push("resources");
        }
        if store.storage().is_some() {
            unused.push("storage");
        }
        match store {
            Datastore::Postgres(pg) => {
                if pg.replicas > 0 {
                    unused.push("replicas");
                }
                if pg.pooler.is_some() {
                    unused.push("pooler");
                }
                if pg.replication != Replication::default() {
                    unused.push("replication");
                }
                if pg.backup.is_some() {
                    unused.push("backup");
                }
                if pg.ha != crate::model::Ha::Manual {
                    unused.push("ha");
                }
                if pg.image.is_some() {
                    unused.push("image");
                }
            }
            // `mode: cluster` tells the clients; the cluster's shape is the provider's.
            Datastore::Redis(r) => {
                if r.cluster.is_some() {
                    unused.push("cluster");
                }
                if r.maxmemory_percent != 80 {
                    unused.push("maxmemory_percent");
                }
            }
            Datastore::Rabbitmq(r) => {
                if r.nodes != 1 {
                    unused.push("nodes");
                }
            }
        }
        if let Datastore::Postgres(pg) = store {
            if pg.max_connections != 100 {
                unused.push("max_connections");
            }
        }
        for field in unused {
            self.push(
                Diagnostic::warning(
                    Code::UnusedSetting,
                    ptr.child(field),
                    format!("datastore `{name}` is managed (at {}): tierform runs no server for it, so its `{field}` shapes nothing", m.host),
                )
                .at_key()
                .hint(format!("set its {field} with the provider, and remove it here")),
            );
        }
        // An address with a port would read `host:port:port` in every URL.
        if m.host.contains(':') && m.host.parse::<std::net::Ipv6Addr>().is_err() {
            self.push(
                Diagnostic::error(
                    Code::InvalidHost,
                    ptr.child("managed").child("host"),
                    format!("`{}` is not an address: a port goes in `port`", m.host),
                )
                .hint("write the host alone, and its port as `port:`"),
            );
        }
        if m.read_host.is_some() && !matches!(store, Datastore::Postgres(_)) {
            self.push(
                Diagnostic::error(
                    Code::UnusedSetting,
                    ptr.child("managed").child("read_host"),
                    format!(
                        "only PostgreSQL has a read-only endpoint; `{name}` is {}",
                        store.engine()
                    ),
                )
                .at_key()
                .hint("remove `read_host`"),
            );
        }
        if m.user.is_some() && !matches!(store, Datastore::Rabbitmq(_)) {
            let hint = match store {
                Datastore::Postgres(_) => {
                    "PostgreSQL's user is the datastore's `user`: set it there"
                }
                _ => "Redis is reached as its default user: remove `user`",
            };
            self.push(
                Diagnostic::error(
                    Code::UnusedSetting,
                    ptr.child("managed").child("user"),
                    format!(
                        "`managed.user` is RabbitMQ's; `{name}` is {}",
                        store.engine()
                    ),
                )
                .at_key()
                .hint(hint),
            );
        }
    }
}

impl Checker<'_> {
    /// Automatic failover: a replica to promote, and platforms it is rendered for.
    pub(super) fn failover(&mut self, name: &str, store: &Datastore, targets: &[Platform]) {
        let Datastore::Postgres(pg) = store else {
            return;
        };
        if pg.managed.is_some() {
            return;
        }
        let kubernetes = targets.contains(&Platform::Kubernetes);
        if pg.image.is_some() && (pg.ha != crate::model::Ha::Auto || !kubernetes) {
            self.push(
                Diagnostic::warning(
                    Code::UnusedSetting,
                    store_ptr(name).child("image"),
                    format!("`{name}`'s `image` is the Patroni image Kubernetes runs with `ha: auto`: this phase {}", if kubernetes { "does not fail over automatically" } else { "builds it from the bundle's Dockerfile (compose, hosts)" }),
                )
                .at_key()
                .hint("remove it here, or keep it for the Kubernetes phases with `ha: auto`"),
            );
        }
        if pg.ha != crate::model::Ha::Auto {
            return;
        }
        let ptr = store_ptr(name).child("ha");
        if pg.replicas == 0 {
            self.push(
                Diagnostic::error(
                    Code::TooFew,
                    ptr.clone(),
                    format!("`{name}` has no replica for Patroni to promote"),
                )
                .hint("add `replicas: 1` (or 2, with `replication: sync`)"),
            );
        }
        if pg.backup.is_some() {
            self.push(
                Diagnostic::error(
                    Code::ConflictingFields,
                    ptr.clone(),
                    format!("`{name}`'s backups follow a fixed primary: tierform does not yet render them under Patroni, whose primary moves"),
                )
                .hint("keep `backup` with `ha: manual` for now, or drop `backup` in the phases with `ha: auto`"),
            );
        }
        if kubernetes && pg.image.is_none() {
            self.push(
                Diagnostic::error(
                    Code::MissingField,
                    ptr,
                    format!("on Kubernetes `{name}`'s servers need an image with Patroni in it"),
                )
                .expected("`image: registry.example.com/shop-db:17-patroni` beside `ha`")
                .hint(format!("build the bundle's `images/{name}/Dockerfile`, push it, and name it in `image`")),
            );
        }
    }

    /// PostgreSQL's backups: one repository, schedules that mean one thing, and on
    /// Kubernetes a bucket and an image to run.
    pub(super) fn backup(&mut self, name: &str, store: &Datastore, targets: &[Platform]) {
        let Datastore::Postgres(pg) = store else {
            return;
        };
        let (Some(b), None) = (&pg.backup, &pg.managed) else {
            return;
        };
        let ptr = store_ptr(name).child("backup");
        match (&b.path, &b.s3) {
            (Some(_), Some(_)) => self.push(
                Diagnostic::error(
                    Code::ConflictingFields,
                    ptr.child("s3"),
                    format!("`{name}`'s backups go to one repository: `path` and `s3` are both set"),
                )
                .at_key()
                .hint("keep `s3` (off the machine) or `path`, and remove the other (`path: null` in a phase's patch)"),
            ),
            (None, None) => self.push(
                Diagnostic::error(
                    Code::MissingField,
                    ptr.clone(),
                    format!("`{name}`'s backups need a repository: `path` or `s3`"),
                )
                .at_key()
                .expected("`path: /var/lib/pgbackrest` or `s3: { bucket, endpoint, region }`")
                .hint("a folder on the primary's machine (`path`) or an S3-compatible bucket (`s3`)"),
            ),
            _ => {}
        }
        // The repository must not be where a restore empties the data, or the
        // read-only configuration.
        if let Some(path) = &b.path {
            let inside = |dir: &str| path == dir || path.starts_with(&format!("{dir}/"));
            if path == "/" || inside("/var/lib/postgresql") || inside("/etc/tierform") {
                self.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        ptr.child("path"),
                        format!("`{path}` is inside the server's data or configuration: a restore empties the data folder first, and the configuration is read-only"),
                    )
                    .hint("use a folder of its own, like `/var/lib/pgbackrest`, ideally on another disk"),
                );
            }
        }
        if let Some(s3) = &b.s3 {
            if s3.bucket.contains('.') && s3.uri_style == crate::model::UriStyle::Host {
                self.push(
                    Diagnostic::warning(
                        Code::InvalidValue,
                        ptr.child("s3").child("bucket"),
                        format!("in host style the bucket `{}` is addressed as `{}.{}`, which the endpoint's wildcard certificate does not cover", s3.bucket, s3.bucket, s3.endpoint),
                    )
                    .hint("use `uri_style: path`, or a bucket name without dots"),
                );
            }
        }
        for field in ["full", "differential"] {
            let text = if field == "full" {
                &b.full
            } else {
                &b.differential
            };
            if let Err(e) = Cron::parse(text) {
                self.push(
                    Diagnostic::error(Code::InvalidValue, ptr.child(field), e)
                        .expected("a cron schedule: minute hour day-of-month month day-of-week")
                        .hint("like `0 1 * * 0` (Sundays at 01:00 UTC)"),
                );
            }
        }
        if let (Ok(full), Ok(diff)) = (Cron::parse(&b.full), Cron::parse(&b.differential)) {
            if full.may_coincide(&diff) {
                self.push(
                    Diagnostic::warning(
                        Code::InvalidValue,
                        ptr.child("differential"),
                        format!("the differential backups (`{}`) run at the same minute as the full ones (`{}`) on some days: that day's differential finds the full one running and fails", b.differential, b.full),
                    )
                    .hint("run them on other days, like full `0 1 * * 0` and differential `0 1 * * 1-6`"),
                );
            }
        }
        if targets.contains(&Platform::Kubernetes) {
            if b.path.is_some() {
                self.push(
                    Diagnostic::error(
                        Code::NotOnPlatform,
                        ptr.child("path"),
                        format!("on Kubernetes `{name}`'s backups cannot go to a folder: a pod's folder is on whichever node it runs"),
                    )
                    .at_key()
                    .hint("use `s3: { bucket, endpoint, region }` in this phase"),
                );
            }
            if b.image.is_none() {
                self.push(
                    Diagnostic::error(
                        Code::MissingField,
                        ptr.clone(),
                        format!("on Kubernetes `{name}`'s servers need an image with pgBackRest in it"),
                    )
                    .at_key()
                    .expected("`image: registry.example.com/db-postgres:17-pgbackrest`")
                    .hint(format!("build the bundle's `images/{name}/Dockerfile`, push it, and name it in `backup.image`")),
                );
            }
        } else if b.image.is_some() {
            self.push(
                Diagnostic::warning(
                    Code::UnusedSetting,
                    ptr.child("image"),
                    format!("compose and hosts build `{name}`'s image from the bundle's Dockerfile: `image` is read on Kubernetes only"),
                )
                .at_key()
                .hint("remove it here, or keep it for the phases on Kubernetes"),
            );
        }
    }
}
