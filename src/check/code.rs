//! Diagnostic codes: the stable identifier of each kind of finding (`unknown-field`,
//! `port-conflict`, …). The text is part of tierform's output (the text and GitHub
//! formats, the JSON report, the snapshots), so [`Code::as_str`] must never change for
//! an existing code; code compares codes as values, never as text.

use std::cmp::Ordering;
use std::fmt;

use serde::{Serialize, Serializer};

macro_rules! codes {
    ($($(#[$comment:meta])* $variant:ident = $text:literal,)*) => {
        /// The kind of a finding. Ordered (and compared with text) by its text.
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$comment])* $variant,)*
        }

        impl Code {
            /// Every code, in the order declared.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as it is written in every output.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    // Loading the YAML text.
    YamlSyntax = "yaml-syntax",
    DuplicateKey = "duplicate-key",
    ComplexKey = "complex-key",
    TooDeep = "too-deep",
    AliasBomb = "alias-bomb",
    UnknownAnchor = "unknown-anchor",
    UnsupportedTag = "unsupported-tag",
    MultipleDocuments = "multiple-documents",
    EmptyFile = "empty-file",
    TooLarge = "too-large",
    NotUtf8 = "not-utf8",
    ControlCharacter = "control-character",
    // The schema, the phases and the semantic rules.
    BurstBelowBrowser = "burst-below-browser",
    /// nginx's `max_fails`: crashing requests can take every instance out.
    CrashesEmptyPool = "crashes-empty-pool",
    CacheAsBroker = "cache-as-broker",
    ClusterBroker = "cluster-broker",
    ClusterTooSmall = "cluster-too-small",
    ClusterWithoutReplicas = "cluster-without-replicas",
    ConflictingFields = "conflicting-fields",
    CountMismatch = "count-mismatch",
    DuplicateItem = "duplicate-item",
    DuplicateName = "duplicate-name",
    DuplicateRoute = "duplicate-route",
    EnvConflict = "env-conflict",
    HostsWithoutHosts = "hosts-without-hosts",
    /// Tiers that list their hosts in a phase that renders no `hosts` bundle.
    HostsNotRendered = "hosts-not-rendered",
    /// A queue consumed in the phase before that nothing consumes in this one.
    QueueWithoutConsumer = "queue-without-consumer",
    Invalid = "invalid",
    InvalidDuration = "invalid-duration",
    InvalidFormat = "invalid-format",
    InvalidHost = "invalid-host",
    InvalidImage = "invalid-image",
    InvalidName = "invalid-name",
    InvalidPath = "invalid-path",
    InvalidQuantity = "invalid-quantity",
    InvalidValue = "invalid-value",
    /// Jobs that wait for each other (`after`) in a circle, or a service for itself.
    JobCycle = "job-cycle",
    /// `retries` or `timeout` on a service that is not a job.
    JobOnly = "job-only",
    MinAboveMax = "min-above-max",
    MissingField = "missing-field",
    NameCollision = "name-collision",
    /// A signal whose metric the phase that watches it does not have (no `metrics` on
    /// the service, no replica to lag, not a Redis).
    NoSignalSource = "no-signal-source",
    /// `resources.gpu` on a service whose tier's machines have no such GPUs.
    NoGpuOnTier = "no-gpu-on-tier",
    /// GPUs that compose and hosts cannot reserve by count (AMD's, Intel's): the
    /// container sees every one on the machine.
    GpuNotCounted = "gpu-not-counted",
    /// More GPUs taken on a Docker machine (compose's one host, a hosts machine) than
    /// it has: instances would share one.
    GpuShared = "gpu-shared",
    /// A Kubernetes phase whose services and datastores sit on several tiers, some
    /// without a node pool: on Kubernetes their pods land on any node.
    TiersWithoutPools = "tiers-without-pools",
    NoEffectOnKubernetes = "no-effect-on-kubernetes",
    /// A setting a platform the phase renders cannot carry out (a backup folder on
    /// Kubernetes).
    NotOnPlatform = "not-on-platform",
    /// `monitoring.notify` on a phase that also renders platforms with no Alertmanager
    /// (Kubernetes, hosts): their alerts reach none of its receivers.
    NoReceiver = "no-receiver",
    NotABroker = "not-a-broker",
    /// `after` names a service that is not a job (it never completes).
    NotAJob = "not-a-job",
    /// A field a job cannot have (`port`, `scaling`, `health`, …).
    NotForJobs = "not-for-jobs",
    NotRoutable = "not-routable",
    OutOfRange = "out-of-range",
    OverCapacity = "over-capacity",
    /// What runs on a tier fits at its autoscalers' minimum but not their maximum.
    MaxOverCapacity = "max-over-capacity",
    PoolExceedsConnections = "pool-exceeds-connections",
    PoolTooLarge = "pool-too-large",
    PortConflict = "port-conflict",
    RedisUnbounded = "redis-unbounded",
    ReplicasOnOneMachine = "replicas-on-one-machine",
    RequestAboveLimit = "request-above-limit",
    ReservedName = "reserved-name",
    SchedulerReplicas = "scheduler-replicas",
    Schema = "schema",
    SecretInEnv = "secret-in-env",
    SecretValue = "secret-value",
    ShadowedRoute = "shadowed-route",
    StorageTooSmall = "storage-too-small",
    /// On `hosts`, the `storage` of the datastore servers placed on one machine adds
    /// up to more than its tier's `disk`.
    StorageOverDisk = "storage-over-disk",
    SyncWithoutReplica = "sync-without-replica",
    TimeoutExceedsInterval = "timeout-exceeds-interval",
    TooFew = "too-few",
    TooMany = "too-many",
    UnknownField = "unknown-field",
    UnknownReference = "unknown-reference",
    Unpatchable = "unpatchable",
    Unplaced = "unplaced",
    /// The blueprint language's `version`.
    UnsupportedVersion = "unsupported-version",
    /// A phase condition written as text: no metric measures it, nothing alerts on it.
    Unmeasured = "unmeasured",
    /// A condition no phase watches (`enter_when` of the first phase, `leave_when`
    /// with no phase before it), or that a platform the watching phase renders gets no
    /// alert for.
    Unwatched = "unwatched",
    /// A server's `version` that tierform does not render (its tests do not boot it).
    UnsupportedServerVersion = "unsupported-server-version",
    UnusedSetting = "unused-setting",
    WebsocketNotSticky = "websocket-not-sticky",
    WrongShape = "wrong-shape",
    WrongType = "wrong-type",
    ZeroWeights = "zero-weights",
}

impl Ord for Code {
    fn cmp(&self, other: &Code) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Code) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shown as its text, so a list of codes in a message reads as it always did.
impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

macro_rules! eq_text {
    ($($text:ty),*) => {
        $(impl PartialEq<$text> for Code {
            fn eq(&self, other: &$text) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        })*
    };
}

eq_text!(str, &str, String, &String);

#[cfg(test)]
mod tests {
    use super::Code;
    use std::collections::BTreeSet;

    #[test]
    fn texts_are_unique_and_compare_as_text() {
        let texts: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(texts.len(), Code::ALL.len());
        assert_eq!(Code::UnknownField, "unknown-field");
        assert!(Code::PortConflict < Code::UnknownField);
        assert_eq!(format!("{:?}", [Code::TooLarge]), r#"["too-large"]"#);
    }
}
