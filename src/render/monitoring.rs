//! Monitoring: the Prometheus rules that say when to move between phases, from the
//! plan's alerts (`plan::watch`), and the health rules of what is scraped
//! (`plan::scrape`). One rules file per bundle that runs from a compose file (compose,
//! hosts), `monitoring/rules.yml`, in Prometheus's rule file format; where tierform
//! runs the Prometheus (compose), its `monitoring/prometheus.yml`, Alertmanager's
//! configuration and Grafana's provisioning; on Kubernetes the PrometheusRule, the
//! PodMonitors and the dashboard's ConfigMap, in `monitoring.yaml`.

use serde_json::{Map, Value};

use super::bundle::generated_header;
use super::templates::TemplateError;
use crate::model::signal::Unit;
use crate::model::{BalancerEngine, Platform};
use crate::plan::scrape::{NotifyPlan, ScrapePlan};
use crate::plan::watch::MeasuredCondition;
use crate::plan::{AlertPlan, EnginePlan, Move, Plan};

/// The HAProxy backend that answers the requests past a rate limit with 429.
pub const RATE_LIMITED_BACKEND: &str = "rate_limited";
/// The share of requests refused past a rate limit above which
/// `TooManyRequestsRefused` fires.
pub const REFUSED_RATIO: f64 = 0.05;

/// Where the rules file goes in a bundle.
pub const RULES_FILE: &str = "monitoring/rules.yml";

/// Where Prometheus's configuration goes in a bundle, beside the rules.
pub const CONFIG_FILE: &str = "monitoring/prometheus.yml";
/// Where Alertmanager's configuration goes, where one runs.
pub const ALERTMANAGER_FILE: &str = "monitoring/alertmanager.yml";

/// The file of the Kubernetes bundle that holds its PrometheusRule.
pub const KUBERNETES_FILE: &str = "monitoring.yaml";
/// The PrometheusRule's name.
pub const PROMETHEUS_RULE: &str = "phase-signals";

/// The rule groups of `platform`'s bundle (Prometheus's rule file format), when the
/// phase watches anything there.
fn groups(plan: &Plan, platform: Platform) -> Option<Value> {
    let rules: Vec<Value> = plan
        .watch
        .alerts
        .iter()
        .filter(|a| a.exprs.contains_key(&platform))
        .map(|a| rule(plan, a, platform))
        .collect();
    let mut groups = Vec::new();
    if !rules.is_empty() {
        groups.push(object! {
            "name" => format!("tierform-{}-{}", plan.blueprint, plan.phase),
            "rules" => rules,
        });
    }
    if let Some(scrape) = plan.scrape.get(&platform) {
        let health = health_rules(plan, scrape, platform);
        if !health.is_empty() {
            groups.push(object! {
                "name" => format!("tierform-{}-{}-health", plan.blueprint, plan.phase),
                "rules" => health,
            });
        }
    }
    (!groups.is_empty()).then(|| Value::from(groups))
}

/// The alerts that something scraped is down or broken, whatever the phase: each page
/// names what and where.
fn health_rules(plan: &Plan, scrape: &ScrapePlan, platform: Platform) -> Vec<Value> {
    let kubernetes = platform == Platform::Kubernetes;
    let labels = || {
        let mut l = Map::new();
        l.insert("severity".into(), Value::from("critical"));
        // Kept through the expressions below, which do not aggregate; said again so
        // that namespaced Alertmanager routes see it.
        if kubernetes {
            l.insert("namespace".into(), Value::from(plan.namespace.clone()));
        }
        l.insert("blueprint".into(), Value::from(plan.blueprint.clone()));
        l.insert("phase".into(), Value::from(plan.phase.clone()));
        Value::Object(l)
    };
    // The jobs of this bundle: on Kubernetes, in its namespace.
    let jobs_of = |jobs: &[&str]| {
        let ns = if kubernetes {
            format!("namespace=\"{}\",", plan.namespace)
        } else {
            String::new()
        };
        format!("{ns}job=~\"{}\"", jobs.join("|"))
    };
    let mut out = Vec::new();
    // Every job: the exporter, or the service's own endpoint, does not answer.
    let jobs: Vec<&str> = scrape.jobs.keys().map(String::as_str).collect();
    if jobs.is_empty() {
        return out;
    }
    out.push(object! {
        "alert" => "ScrapeTargetDown",
        "expr" => format!("up{{{}}} == 0", jobs_of(&jobs)),
        "for" => "2m",
        "labels" => labels(),
        "annotations" => object! {
            "summary" => "{{ $labels.job }} at {{ $labels.instance }} does not answer Prometheus",
            "description" => "Prometheus has not been able to scrape {{ $labels.instance }} (job {{ $labels.job }}) for 2 minutes: the process, or the exporter in front of it, is down or unreachable.",
        },
    });
    let redis = datastores_where(plan, |d| matches!(d.engine, EnginePlan::Redis(_)));
    if !redis.is_empty() {
        out.push(object! {
            "alert" => "RedisDown",
            "expr" => format!("redis_up{{{}}} == 0", jobs_of(&redis)),
            "for" => "1m",
            "labels" => labels(),
            "annotations" => object! {
                "summary" => "Redis {{ $labels.instance }} ({{ $labels.job }}) is down",
                "description" => "redis_exporter cannot reach {{ $labels.instance }} of datastore {{ $labels.job }}, or its password is refused.",
            },
        });
    }
    if let (Some(lb), true) = (&plan.balancer, scrape.jobs.contains_key("balancer")) {
        let (alert, metric, summary, description) = match lb.engine {
            BalancerEngine::Nginx => (
                "BalancerDown",
                "nginx_up",
                "nginx behind {{ $labels.instance }} is down",
                "nginx-prometheus-exporter at {{ $labels.instance }} cannot read nginx's stub_status: nginx is down, and with it every route.",
            ),
            BalancerEngine::Haproxy => (
                "BalancerBackendDown",
                "haproxy_backend_active_servers",
                "HAProxy backend {{ $labels.proxy }} has no server up",
                "Every server of backend {{ $labels.proxy }} fails its health check: HAProxy answers its routes with 503.",
            ),
        };
        // HAProxy's exporter reports every backend, the server-less ones too (the
        // rate limits' `rate_limited` and stick tables): only the pools have servers.
        let only = match lb.engine {
            BalancerEngine::Haproxy => format!(
                ",proxy=~\"{}\"",
                lb.pools.keys().cloned().collect::<Vec<_>>().join("|")
            ),
            BalancerEngine::Nginx => String::new(),
        };
        out.push(object! {
            "alert" => alert,
            "expr" => format!("{metric}{{{}{only}}} == 0", jobs_of(&["balancer"])),
            "for" => "1m",
            "labels" => labels(),
            "annotations" => object! { "summary" => summary, "description" => description },
        });
        // HAProxy refuses the requests past a rate limit from a backend of their own
        // (`rate_limited`), so its 4xx are the 429s. nginx's stub_status does not count
        // them apart.
        let limited = lb.rate_limit.is_some() || lb.routes.iter().any(|r| r.rate_limit.is_some());
        if lb.engine == BalancerEngine::Haproxy && limited {
            let mut l = labels();
            l["severity"] = Value::from("warning");
            let on = jobs_of(&["balancer"]);
            out.push(object! {
                "alert" => "TooManyRequestsRefused",
                "expr" => format!(
                    "sum by (job, instance) (rate(haproxy_backend_http_responses_total{{{on},proxy=\"{RATE_LIMITED_BACKEND}\",code=\"4xx\"}}[{w}])) / sum by (job, instance) (rate(haproxy_frontend_http_requests_total{{{on},proxy=\"http\"}}[{w}])) > {REFUSED_RATIO}",
                    w = crate::plan::watch::RATE_WINDOW,
                ),
                "for" => "10m",
                "labels" => l,
                "annotations" => object! {
                    "summary" => "HAProxy at {{ $labels.instance }} refuses {{ $value | humanizePercentage }} of its requests with 429",
                    "description" => format!("More than {}% of the requests HAProxy at {{{{ $labels.instance }}}} received in the last 10 minutes were past a rate limit: a client over its limit (its address is in HAProxy's log, backend {RATE_LIMITED_BACKEND}), or limits too tight for the traffic (`balancer.rate_limit`, a route's `rate_limit`).", REFUSED_RATIO * 100.0),
                },
            });
        }
    }
    let clusters = datastores_where(
        plan,
        |d| matches!(&d.engine, EnginePlan::Redis(r) if r.cluster),
    );
    if !clusters.is_empty() {
        out.push(object! {
            "alert" => "RedisClusterFailing",
            "expr" => format!("redis_cluster_state{{{}}} == 0", jobs_of(&clusters)),
            "for" => "1m",
            "labels" => labels(),
            "annotations" => object! {
                "summary" => "Redis Cluster {{ $labels.job }} is failing at {{ $labels.instance }}",
                "description" => "{{ $labels.instance }} reports cluster_state:fail: some hash slots have no reachable master, and commands on them fail.",
            },
        });
    }
    // A replica's stream that stopped: its slot on the primary goes inactive (the
    // replica's own lag reads 0 once it has replayed what it received).
    let replicated = datastores_where(plan, |d| {
        d.postgres()
            .is_some_and(|pg| pg.replicas > 0 || pg.standby.is_some())
    });
    if !replicated.is_empty() {
        out.push(object! {
            "alert" => "PostgresReplicaNotStreaming",
            "expr" => format!(
                "pg_replication_slot_slot_is_active{{{},slot_type=\"physical\"}} == 0",
                jobs_of(&replicated)
            ),
            "for" => "5m",
            "labels" => labels(),
            "annotations" => object! {
                "summary" => "Replication slot {{ $labels.slot_name }} of {{ $labels.job }} has no replica streaming",
                "description" => "No replica has streamed through slot {{ $labels.slot_name }} for 5 minutes: that replica serves ever older data and the primary keeps its WAL (up to max_slot_wal_keep_size).",
            },
        });
    }
    // A backed-up database whose archive_command keeps failing: nothing reaches the
    // repository, and pg_wal grows until the disk is full.
    let backed_up = datastores_where(plan, |d| d.backup().is_some());
    if !backed_up.is_empty() {
        out.push(object! {
            "alert" => "PostgresArchiveFailing",
            "expr" => format!(
                "rate(pg_stat_archiver_failed_count{{{}}}[5m]) > 0",
                jobs_of(&backed_up)
            ),
            "for" => "10m",
            "labels" => labels(),
            "annotations" => object! {
                "summary" => "PostgreSQL behind {{ $labels.instance }} ({{ $labels.job }}) cannot archive its write-ahead log",
                "description" => "archive_command (pgBackRest's archive-push) has failed for 10 minutes: nothing new reaches the backup repository, and the write-ahead log it keeps grows until the disk is full. `pgbackrest check` in the server's container says why (the repository's folder, the bucket's keys, its stanza).",
            },
        });
    }
    let postgres = datastores_where(plan, |d| matches!(d.engine, EnginePlan::Postgres(_)));
    if !postgres.is_empty() {
        out.push(object! {
            "alert" => "PostgresDown",
            "expr" => format!("pg_up{{{}}} == 0", jobs_of(&postgres)),
            "for" => "1m",
            "labels" => labels(),
            "annotations" => object! {
                "summary" => "PostgreSQL behind {{ $labels.instance }} ({{ $labels.job }}) is down",
                "description" => "postgres_exporter at {{ $labels.instance }} cannot connect to its server, or the monitoring role's password is refused.",
            },
        });
    }
    // The machines' filesystems (node_exporter), where Docker keeps the datastores'
    // volumes: nearly full, or filling up within four hours.
    if scrape.jobs.contains_key(crate::plan::scrape::NODE_JOB) {
        let fs = format!(
            "{},fstype!~\"tmpfs|overlay|squashfs|nsfs|ramfs|fuse.lxcfs\"",
            jobs_of(&[crate::plan::scrape::NODE_JOB])
        );
        let left = format!(
            "100 * node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}"
        );
        let writable = format!("node_filesystem_readonly{{{fs}}} == 0");
        out.push(object! {
            "alert" => "DiskAlmostFull",
            "expr" => format!("{left} < 10 and {writable}"),
            "for" => "5m",
            "labels" => labels(),
            "annotations" => object! {
                "summary" => "{{ $labels.mountpoint }} on {{ $labels.instance }} has {{ $value | printf \"%.1f\" }}% left",
                "description" => "The filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is more than 90% full. Docker keeps the datastores' volumes under /var/lib/docker: when it fills, PostgreSQL, Redis and RabbitMQ stop writing. Free space or grow the disk.",
            },
        });
        let mut l = labels();
        l["severity"] = Value::from("warning");
        out.push(object! {
            "alert" => "DiskFillingUp",
            "expr" => format!("predict_linear(node_filesystem_avail_bytes{{{fs}}}[6h], 4 * 3600) < 0 and {left} < 40 and {writable}"),
            "for" => "1h",
            "labels" => l,
            "annotations" => object! {
                "summary" => "{{ $labels.mountpoint }} on {{ $labels.instance }} fills up within 4 hours",
                "description" => "At the rate of the last 6 hours the filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is full within 4 hours.",
            },
        });
    }
    // Alertmanager cannot send the alerts on: a receiver's URL is wrong, or it
    // refuses them. Shown on Prometheus's alerts page, and sent to the receivers that
    // still work.
    if scrape.jobs.contains_key("alertmanager") {
        out.push(object! {
            "alert" => "AlertmanagerNotificationsFailing",
            // Alertmanager counts a failure once per flush of a group, every
            // `group_interval` (5m) at most: a window of three of them never reads a
            // broken receiver as a working one.
            "expr" => format!(
                "sum by (job, instance, integration) (increase(alertmanager_notifications_failed_total{{{}}}[15m])) > 0",
                jobs_of(&["alertmanager"]),
            ),
            "for" => "10m",
            "labels" => labels(),
            "annotations" => object! {
                "summary" => "Alertmanager fails to send alerts to {{ $labels.integration }}",
                "description" => "For 10 minutes Alertmanager's notifications to {{ $labels.integration }} have failed: the URL in its secret (monitoring.notify) is wrong, or the receiver refuses them. Alerts are not reaching you there.",
            },
        });
    }
    // cAdvisor answers but reports none of this blueprint's containers (Docker's
    // containerd image store, which cAdvisor 0.49 cannot read, is one cause): the CPU
    // and memory signals read nothing, and would never fire.
    if scrape.jobs.contains_key("cadvisor") && !kubernetes {
        let mut l = labels();
        l["severity"] = Value::from("warning");
        out.push(object! {
            "alert" => "ContainerMetricsMissing",
            "expr" => format!(
                "up{{{}}} == 1 unless on (instance) container_last_seen{{{}=\"{}\"}}",
                jobs_of(&["cadvisor"]),
                crate::plan::watch::BLUEPRINT_METRIC_LABEL,
                plan.blueprint
            ),
            "for" => "15m",
            "labels" => l,
            "annotations" => object! {
                "summary" => "cAdvisor at {{ $labels.instance }} reports none of the containers",
                "description" => format!("cAdvisor at {{{{ $labels.instance }}}} answers, but reports no container of {}, not even its own: the CPU and memory alerts of this machine read nothing. With Docker's containerd image store (the default of new Docker Engine 29 installs) cAdvisor cannot read the containers (google/cadvisor#3643): turn the store off in /etc/docker/daemon.json (\"features\": {{\"containerd-snapshotter\": false}}).", plan.blueprint),
            },
        });
    }
    // On Kubernetes a job can vanish (its PodMonitor not selected, its pods gone),
    // which `up == 0` cannot see.
    if kubernetes {
        for job in &jobs {
            let mut l = labels();
            l["job"] = Value::from(*job);
            out.push(object! {
                "alert" => "ScrapeTargetMissing",
                "expr" => format!("absent(up{{namespace=\"{}\",job=\"{job}\"}})", plan.namespace),
                "for" => "10m",
                "labels" => l,
                "annotations" => object! {
                    "summary" => format!("Prometheus scrapes nothing of {job}"),
                    "description" => format!("No target of job {job} in namespace {} for 10 minutes: its PodMonitor is not selected by the Prometheus (kube-prometheus-stack selects its Helm release's label: set it in `monitoring.labels`), or it has no pods.", plan.namespace),
                },
            });
        }
        // The datastores' volumes (`data-<StatefulSet>-<ordinal>`), from the kubelet's
        // volume statistics: nearly full, or filling up within four hours.
        let sets: Vec<String> = plan
            .datastores
            .values()
            .filter(|d| d.keeps_data)
            .flat_map(|d| {
                let k8s = &d.kubernetes;
                std::iter::once(k8s.workload.clone())
                    .chain(k8s.replicas.as_ref().map(|r| r.workload.clone()))
            })
            .collect();
        if !sets.is_empty() {
            let claims = format!(
                "namespace=\"{}\",persistentvolumeclaim=~\"data-({})-[0-9]+\"",
                plan.namespace,
                sets.join("|")
            );
            out.push(object! {
                "alert" => "VolumeAlmostFull",
                "expr" => format!("100 * kubelet_volume_stats_available_bytes{{{claims}}} / kubelet_volume_stats_capacity_bytes{{{claims}}} < 10"),
                "for" => "5m",
                "labels" => labels(),
                "annotations" => object! {
                    "summary" => "Volume {{ $labels.persistentvolumeclaim }} has {{ $value | printf \"%.1f\" }}% left",
                    "description" => "The datastore's volume {{ $labels.persistentvolumeclaim }} is more than 90% full: grow its `storage.size` in the blueprint (and the claim) before the server stops writing.",
                },
            });
            out.push(object! {
                "alert" => "VolumeFillingUp",
                "expr" => format!("predict_linear(kubelet_volume_stats_available_bytes{{{claims}}}[6h], 4 * 3600) < 0 and 100 * kubelet_volume_stats_available_bytes{{{claims}}} / kubelet_volume_stats_capacity_bytes{{{claims}}} < 40"),
                "for" => "1h",
                "labels" => labels(),
                "annotations" => object! {
                    "summary" => "Volume {{ $labels.persistentvolumeclaim }} fills up within 4 hours",
                    "description" => "At the rate of the last 6 hours the datastore's volume {{ $labels.persistentvolumeclaim }} is full within 4 hours.",
                },
            });
        }
    }
    out
}

/// The names of the plan's datastores that `keep` holds for, in name order.
fn datastores_where(plan: &Plan, keep: impl Fn(&crate::plan::DatastorePlan) -> bool) -> Vec<&str> {
    plan.datastores
        .values()
        .filter(|d| keep(d))
        .map(|d| d.name.as_str())
        .collect()
}

/// Prometheus's configuration for `platform`, where tierform runs the Prometheus:
/// every scrape job of the plan, and the rules file.
pub fn prometheus_config(plan: &Plan, platform: Platform) -> Result<Option<String>, TemplateError> {
    let Some(scrape) = plan.scrape.get(&platform) else {
        return Ok(None);
    };
    let Some(home) = &scrape.home else {
        return Ok(None);
    };
    let mut jobs = vec![object! {
        "job_name" => "prometheus",
        "static_configs" => vec![object! {
            "targets" => vec![home.prometheus_self()],
        }],
    }];
    for (name, job) in &scrape.jobs {
        let mut j = Map::new();
        j.insert("job_name".into(), Value::from(name.clone()));
        j.insert("metrics_path".into(), Value::from(job.path.clone()));
        if !job.params.is_empty() {
            let mut params = Map::new();
            for (k, v) in &job.params {
                params.insert(k.clone(), Value::from(vec![v.clone()]));
            }
            j.insert("params".into(), Value::Object(params));
        }
        j.insert(
            "static_configs".into(),
            Value::from(vec![object! { "targets" => job.targets.clone() }]),
        );
        jobs.push(Value::Object(j));
    }
    let mut doc = Map::new();
    doc.insert(
        "global".into(),
        object! {
            "scrape_interval" => crate::plan::scrape::INTERVAL,
            "evaluation_interval" => crate::plan::scrape::INTERVAL,
            "external_labels" => object! {
                "blueprint" => plan.blueprint.clone(),
                "phase" => plan.phase.clone(),
            },
        },
    );
    if groups(plan, platform).is_some() {
        doc.insert("rule_files".into(), Value::from(vec!["rules.yml"]));
    }
    if let (false, Some(home)) = (scrape.notify.is_empty(), &scrape.home) {
        doc.insert(
            "alerting".into(),
            object! { "alertmanagers" => vec![object! {
                "static_configs" => vec![object! {
                    "targets" => vec![home.alertmanager_address()],
                }],
            }] },
        );
    }
    doc.insert("scrape_configs".into(), Value::from(jobs));
    let header = generated_header(plan);
    let about = format!(
        "What Prometheus scrapes in phase {} of {}: each job is named after the service or datastore it reads, the `job` the rules select. Check it with `promtool check config`.",
        plan.phase, plan.blueprint
    );
    crate::render::yaml_emit::emit_checked(&[&header, "", &about], &Value::Object(doc))
        .map(Some)
        .map_err(|e| TemplateError::Template {
            name: CONFIG_FILE.into(),
            message: e.to_string(),
        })
}

/// The rules file of `platform`'s bundle, when the phase watches anything.
pub fn rules(plan: &Plan, platform: Platform) -> Result<Option<String>, TemplateError> {
    let Some(groups) = groups(plan, platform) else {
        return Ok(None);
    };
    let doc = object! { "groups" => groups };
    let header = generated_header(plan);
    let health = if plan.scrape.contains_key(&platform) {
        ", and when what it runs is down"
    } else {
        ""
    };
    let objectives = if plan.watch.objectives.is_empty() {
        ""
    } else {
        ", when it misses an objective"
    };
    let about = format!(
        "When phase {} of {} has outgrown its shape or is more than the load needs{objectives}{health}. Load it with `rule_files` in prometheus.yml; check it with `promtool check rules`.",
        plan.phase, plan.blueprint
    );
    crate::render::yaml_emit::emit_checked(&[&header, "", &about], &doc)
        .map(Some)
        .map_err(|e| TemplateError::Template {
            name: RULES_FILE.into(),
            message: e.to_string(),
        })
}

/// The labels of the objects the cluster's Prometheus selects (the PodMonitors, the
/// PrometheusRule): tierform's own, then `monitoring.labels`.
fn selected_labels(plan: &Plan) -> Value {
    let mut l = Map::new();
    l.insert(
        "app.kubernetes.io/part-of".into(),
        Value::from(plan.blueprint.clone()),
    );
    l.insert(
        "app.kubernetes.io/managed-by".into(),
        Value::from("tierform"),
    );
    for (k, v) in plan
        .scrape
        .get(&Platform::Kubernetes)
        .into_iter()
        .flat_map(|s| &s.labels)
    {
        l.insert(k.clone(), Value::from(v.clone()));
    }
    Value::Object(l)
}

/// The Kubernetes bundle's PodMonitors (prometheus-operator): one per service a
/// Prometheus scrapes (its own metrics, or the per-pod rate its autoscaler reads), on
/// the port the NetworkPolicies open to the monitoring namespace. Its job label is the
/// service's name (`jobLabel`), the `job` the alert rules select.
pub fn pod_monitors(plan: &Plan) -> Vec<Value> {
    plan.services
        .values()
        .filter_map(|s| {
            let port = s.scrape_port?;
            let path = s
                .metrics
                .as_ref()
                .map_or(crate::model::signal::DEFAULT_METRICS_PATH, |m| {
                    m.path.as_str()
                });
            Some(object! {
                "apiVersion" => "monitoring.coreos.com/v1",
                "kind" => "PodMonitor",
                "metadata" => object! {
                    "name" => s.name.clone(),
                    "labels" => selected_labels(plan),
                },
                "spec" => object! {
                    "jobLabel" => "app.kubernetes.io/name",
                    "selector" => object! { "matchLabels" => object! {
                        "app.kubernetes.io/name" => s.name.clone(),
                        "app.kubernetes.io/part-of" => plan.blueprint.clone(),
                    } },
                    "podMetricsEndpoints" => vec![object! {
                        "port" => if Some(port) == s.port { "http" } else { "metrics" },
                        "path" => path,
                    }],
                },
            })
        })
        .collect()
}

/// The Kubernetes bundle's PodMonitors of its balancer and datastores: one per
/// datastore, over every pod of it (a PostgreSQL primary's and its replicas'), on the
/// port named `metrics` (an exporter sidecar's, or the server's own: HAProxy,
/// RabbitMQ), its series under the job named after it (`balancer`, the datastore), the
/// `job` the rules select.
pub fn server_pod_monitors(plan: &Plan) -> Vec<Value> {
    let Some(scrape) = plan.scrape.get(&Platform::Kubernetes) else {
        return Vec::new();
    };
    // The balancer's pods first, as the job `balancer`.
    let balancer = plan
        .balancer
        .as_ref()
        .map(|_| ("balancer".to_string(), vec!["balancer".to_string()]));
    let datastores = plan.datastores.values().map(|d| {
        let k8s = &d.kubernetes;
        let mut sets = vec![k8s.workload.clone()];
        sets.extend(k8s.replicas.as_ref().map(|r| r.workload.clone()));
        (d.name.clone(), sets)
    });
    balancer
        .into_iter()
        .chain(datastores)
        .filter_map(|(name, sets)| {
            let job = scrape.jobs.get(&name)?;
            let mut endpoint = Map::new();
            endpoint.insert("port".into(), Value::from("metrics"));
            endpoint.insert("path".into(), Value::from(job.path.clone()));
            if !job.params.is_empty() {
                let mut params = Map::new();
                for (k, v) in &job.params {
                    params.insert(k.clone(), Value::from(vec![v.clone()]));
                }
                endpoint.insert("params".into(), Value::Object(params));
            }
            endpoint.insert(
                "relabelings".into(),
                Value::from(vec![object! {
                    "action" => "replace",
                    "targetLabel" => "job",
                    "replacement" => name.clone(),
                }]),
            );
            Some(object! {
                "apiVersion" => "monitoring.coreos.com/v1",
                "kind" => "PodMonitor",
                "metadata" => object! {
                    "name" => name.clone(),
                    "labels" => selected_labels(plan),
                },
                "spec" => object! {
                    "selector" => object! {
                        "matchLabels" => object! { "app.kubernetes.io/part-of" => plan.blueprint.clone() },
                        "matchExpressions" => vec![object! {
                            "key" => "app.kubernetes.io/name",
                            "operator" => "In",
                            "values" => sets,
                        }],
                    },
                    "podMetricsEndpoints" => vec![Value::Object(endpoint)],
                },
            })
        })
        .collect()
}

/// The Kubernetes bundle's PrometheusRule (prometheus-operator), when the phase
/// watches anything: the same rules, read by the operator's Prometheus.
pub fn prometheus_rule(plan: &Plan) -> Option<Value> {
    let groups = groups(plan, Platform::Kubernetes)?;
    Some(object! {
        "apiVersion" => "monitoring.coreos.com/v1",
        "kind" => "PrometheusRule",
        "metadata" => object! {
            "name" => PROMETHEUS_RULE,
            "labels" => selected_labels(plan),
        },
        "spec" => object! { "groups" => groups },
    })
}

fn rule(plan: &Plan, a: &AlertPlan, platform: Platform) -> Value {
    let mut labels = Map::new();
    // Both directions are decisions for people, not pages; `info` would be muted by
    // kube-prometheus-stack's InfoInhibitor.
    labels.insert("severity".into(), Value::from("warning"));
    // Aggregations drop the namespace: on Kubernetes it is set, so namespaced
    // Alertmanager routes and inhibitions see it.
    if platform == Platform::Kubernetes {
        labels.insert("namespace".into(), Value::from(plan.namespace.clone()));
    }
    labels.insert("blueprint".into(), Value::from(plan.blueprint.clone()));
    labels.insert("phase".into(), Value::from(plan.phase.clone()));
    if a.direction != Move::Hold {
        labels.insert("to_phase".into(), Value::from(a.to_phase.clone()));
    }
    let diff = format!("tierform diff BLUEPRINT {} {}", plan.phase, a.to_phase);
    let (summary, description) = match (a.direction, a.conditions.as_slice()) {
        (Move::Hold, [c]) => {
            let (kind, subject) = &c.subject;
            labels.insert("signal".into(), Value::from(c.signal.as_str()));
            labels.insert((*kind).into(), Value::from(subject.clone()));
            (
                format!("Objective missed in phase {}: {}", plan.phase, c.text),
                format!(
                    "{} of {kind} {subject}{} has been {} for {}, missing the objective the blueprint gives phase {}: {}. Now: {}. Look into it: an objective is what the phase should hold to, not a signal to change phase.",
                    c.signal,
                    averaged(c),
                    comparison(c),
                    prom_duration(a.for_ms),
                    plan.phase,
                    c.text,
                    current_value(c),
                ),
            )
        }
        (Move::Up, [c]) => {
            let (kind, subject) = &c.subject;
            labels.insert("signal".into(), Value::from(c.signal.as_str()));
            labels.insert((*kind).into(), Value::from(subject.clone()));
            (
                format!("Time for phase {}: {}", a.to_phase, c.text),
                format!(
                    "{} of {kind} {subject}{} has been {} for {}: the blueprint's signal for entering phase {}. Now: {}. See what changes with `{diff}`.",
                    c.signal,
                    averaged(c),
                    comparison(c),
                    prom_duration(a.for_ms),
                    a.to_phase,
                    current_value(c),
                ),
            )
        }
        (_, conditions) => {
            let all: Vec<String> = conditions.iter().map(|c| c.text.clone()).collect();
            (
                format!(
                    "Phase {} is more than the load needs: back to {}",
                    plan.phase, a.to_phase
                ),
                format!(
                    "Every condition the blueprint gives for moving back to phase {} has held for {}: {}. See what changes with `{diff}`.",
                    a.to_phase,
                    prom_duration(a.for_ms),
                    all.join("; "),
                ),
            )
        }
    };
    let annotations = match a.direction {
        Move::Hold => object! {
            "summary" => summary,
            "description" => description,
            "runbook" => format!("{}/ARCHITECTURE.md, section \"Objectives\"", plan.phase),
        },
        Move::Up | Move::Down => object! {
            "summary" => summary,
            "description" => description,
            "runbook" => format!("{}/ARCHITECTURE.md, section \"Leaving this phase\"", plan.phase),
            "tierform_diff" => diff,
        },
    };
    object! {
        "alert" => a.alert,
        "expr" => a.exprs[&platform].clone(),
        "for" => prom_duration(a.for_ms),
        "labels" => Value::Object(labels),
        "annotations" => annotations,
    }
}

/// The monitoring files of a bundle that runs its own Prometheus (compose, and the
/// monitoring machine's folder on hosts), by path in it: the rules, Prometheus's
/// configuration, Grafana's provisioning and dashboard, Alertmanager's configuration.
pub fn files(plan: &Plan, platform: Platform) -> Result<Vec<(String, String)>, TemplateError> {
    let mut files = Vec::new();
    if let Some(text) = rules(plan, platform)? {
        files.push((RULES_FILE.to_string(), text));
    }
    if let Some(text) = prometheus_config(plan, platform)? {
        files.push((CONFIG_FILE.to_string(), text));
    }
    files.extend(grafana_files(plan, platform)?);
    if let Some(text) = alertmanager_config(plan, platform)? {
        files.push((ALERTMANAGER_FILE.to_string(), text));
    }
    Ok(files)
}

/// Grafana's provisioning where tierform runs it: Prometheus as its data source, a
/// dashboard provider over the bundle's dashboards folder, and the phase's dashboard.
fn grafana_files(plan: &Plan, platform: Platform) -> Result<Vec<(String, String)>, TemplateError> {
    let Some(home) = plan.scrape.get(&platform).and_then(|s| s.home.as_ref()) else {
        return Ok(Vec::new());
    };
    let header = generated_header(plan);
    let emit = |name: &str, about: &str, doc: &Value| {
        crate::render::yaml_emit::emit_checked(&[&header, "", about], doc).map_err(|e| {
            TemplateError::Template {
                name: name.into(),
                message: e.to_string(),
            }
        })
    };
    let datasources = object! {
        "apiVersion" => 1,
        "datasources" => vec![object! {
            "name" => "Prometheus",
            "type" => "prometheus",
            "uid" => "prometheus",
            "access" => "proxy",
            "url" => format!("http://{}", home.prometheus_address()),
            "isDefault" => true,
            "editable" => false,
        }],
    };
    let dashboards = object! {
        "apiVersion" => 1,
        "providers" => vec![object! {
            "name" => "tierform",
            "type" => "file",
            "disableDeletion" => true,
            "allowUiUpdates" => false,
            "options" => object! { "path" => crate::render::compose_file::GRAFANA_DASHBOARDS },
        }],
    };
    Ok(vec![
        (
            "monitoring/grafana/datasources.yml".into(),
            emit(
                "datasources.yml",
                "Grafana's data source: the bundle's Prometheus.",
                &datasources,
            )?,
        ),
        (
            "monitoring/grafana/dashboards.yml".into(),
            emit(
                "dashboards.yml",
                "Grafana loads the dashboards of the folder beside this file, read-only.",
                &dashboards,
            )?,
        ),
        (
            format!(
                "{}/{}",
                crate::render::dashboard::COMPOSE_DIR,
                crate::render::dashboard::file_name(plan)
            ),
            crate::render::dashboard::json(plan, platform),
        ),
    ])
}

/// The Kubernetes bundle's dashboard: a ConfigMap labelled for the Grafana sidecar
/// (kube-prometheus-stack's loads every ConfigMap labelled `grafana_dashboard: "1"`).
pub fn dashboard_config_map(plan: &Plan) -> Option<Value> {
    if !plan.scrape.contains_key(&Platform::Kubernetes) {
        return None;
    }
    Some(object! {
        "apiVersion" => "v1",
        "kind" => "ConfigMap",
        "metadata" => object! {
            "name" => "dashboard",
            "labels" => object! {
                crate::render::dashboard::SIDECAR_LABEL => "1",
                "app.kubernetes.io/part-of" => plan.blueprint.clone(),
                "app.kubernetes.io/managed-by" => "tierform",
            },
        },
        "data" => object! {
            crate::render::dashboard::file_name(plan) => crate::render::dashboard::json(plan, Platform::Kubernetes),
        },
    })
}

/// Alertmanager's configuration for `platform`, where one runs: every alert to every
/// receiver of `monitoring.notify`, grouped per alert and phase. Nothing is inhibited:
/// the phase alerts and the health ones share no label that says which target a phase
/// alert reads, so any inhibition would mute too much.
pub fn alertmanager_config(
    plan: &Plan,
    platform: Platform,
) -> Result<Option<String>, TemplateError> {
    let Some(scrape) = plan.scrape.get(&platform) else {
        return Ok(None);
    };
    if scrape.notify.is_empty() {
        return Ok(None);
    }
    let mut webhooks = Vec::new();
    let mut slack = Vec::new();
    for n in &scrape.notify {
        match n {
            NotifyPlan::Webhook { .. } => webhooks.push(object! {
                "url_file" => n.secret_file(),
                "send_resolved" => true,
            }),
            NotifyPlan::Slack { channel, .. } => {
                let mut c = Map::new();
                c.insert("api_url_file".into(), Value::from(n.secret_file()));
                if let Some(channel) = channel {
                    c.insert("channel".into(), Value::from(channel.clone()));
                }
                c.insert("send_resolved".into(), Value::from(true));
                c.insert(
                    "title".into(),
                    // A group's alerts share their name, not their summary.
                    Value::from("[{{ .Status | toUpper }}] {{ .GroupLabels.alertname }} ({{ .Alerts.Firing | len }} firing)"),
                );
                c.insert(
                    "text".into(),
                    Value::from("{{ range .Alerts }}{{ .Annotations.description }}\n{{ end }}"),
                );
                slack.push(Value::Object(c));
            }
        }
    }
    let mut receiver = Map::new();
    receiver.insert("name".into(), Value::from("notify"));
    if !webhooks.is_empty() {
        receiver.insert("webhook_configs".into(), Value::from(webhooks));
    }
    if !slack.is_empty() {
        receiver.insert("slack_configs".into(), Value::from(slack));
    }
    let doc = object! {
        "route" => object! {
            "receiver" => "notify",
            "group_by" => vec!["alertname", "blueprint", "phase"],
            "group_wait" => "30s",
            "group_interval" => "5m",
            "repeat_interval" => "4h",
        },
        "receivers" => vec![Value::Object(receiver)],
    };
    let header = generated_header(plan);
    let about = format!(
        "Where the alerts of phase {} of {} go. The URLs are secrets, mounted as files under /run/secrets. Check it with `amtool check-config`.",
        plan.phase, plan.blueprint
    );
    crate::render::yaml_emit::emit_checked(&[&header, "", &about], &doc)
        .map(Some)
        .map_err(|e| TemplateError::Template {
            name: ALERTMANAGER_FILE.into(),
            message: e.to_string(),
        })
}

/// A rate is an average over the rate window: said where it applies.
fn averaged(c: &MeasuredCondition) -> String {
    let rate = c.signal.is_rate();
    if rate {
        format!(" (over the last {})", crate::plan::watch::RATE_WINDOW)
    } else {
        String::new()
    }
}

/// `above 70%`, `below 200ms`.
fn comparison(c: &MeasuredCondition) -> String {
    let t = c.threshold;
    let value = match c.signal.unit() {
        Unit::Percent => format!("{t}%"),
        Unit::Seconds => format!("{t}s"),
        Unit::PerSecond => format!("{t} requests/s"),
        Unit::Count => format!("{t} messages"),
    };
    format!("{} {value}", if c.above { "above" } else { "below" })
}

/// The alert's current value, formatted by Prometheus's template functions.
pub fn current_value(c: &MeasuredCondition) -> &'static str {
    match c.signal.unit() {
        Unit::Percent => "{{ $value | printf \"%.1f\" }}%",
        Unit::Seconds => "{{ $value | humanizeDuration }}",
        Unit::PerSecond => "{{ $value | printf \"%.1f\" }} requests/s",
        Unit::Count => "{{ $value | printf \"%.0f\" }} messages",
    }
}

/// Milliseconds as a Prometheus duration: `5m`, `1h30m`, `500ms`, `0s`.
pub fn prom_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::prom_duration;

    #[test]
    fn durations_read_as_prometheus_writes_them() {
        assert_eq!(prom_duration(0), "0s");
        assert_eq!(prom_duration(500), "500ms");
        assert_eq!(prom_duration(300_000), "5m");
        assert_eq!(prom_duration(5_400_000), "1h30m");
        assert_eq!(prom_duration(90_061_001), "1d1h1m1s1ms");
    }
}
