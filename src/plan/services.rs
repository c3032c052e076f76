//! A service's plan: its defaults applied, its instances, and where each is reached
//! per platform.

use std::collections::BTreeMap;

use super::*;

pub(super) fn service_plan(
    name: &str,
    s: &Service,
    bp: &Blueprint,
    platforms: &[Platform],
    layout: &placement::HostsLayout,
) -> Result<ServicePlan, String> {
    let health = match &s.health {
        None => None,
        Some(h) => {
            let interval_ms = ms(h.interval.as_ref(), 10_000)?;
            let failure_threshold = h.failure_threshold.unwrap_or(3);
            let start_period_ms = ms(h.start_period.as_ref(), 0)?;
            Some(HealthPlan {
                path: h.path.clone().unwrap_or_default(),
                command: h.command.clone(),
                interval_ms,
                timeout_ms: ms(h.timeout.as_ref(), 3_000)?,
                failure_threshold,
                success_threshold: 2,
                start_period_ms,
                startup_failure_threshold: ((start_period_ms / interval_ms.max(1)) as u32
                    + failure_threshold)
                    .max(1),
            })
        }
    };
    let scaling = scaling_plan(s)?;
    let shutdown = shutdown_plan(s)?;
    let resources = resources_plan(s.resources.as_ref())?;
    let instances = s.fixed_instances();
    let port = s.port.map(port).transpose()?;
    let mut endpoints = BTreeMap::new();
    if let (Some(p), true) = (port, s.kind.is_routable()) {
        for platform in platforms {
            let list = platforms::service_endpoints(*platform, name, instances, p, bp, layout);
            endpoints.insert(*platform, list);
        }
    }
    Ok(ServicePlan {
        name: name.to_string(),
        kind: s.kind,
        description: s.description.clone(),
        tier: s.tier.clone(),
        image: s.image.clone(),
        command: s.command.clone(),
        port,
        host_port: s.host_port.map(self::port).transpose()?,
        health,
        resources: resources.clone(),
        reserved: resources.with_defaults(),
        run_as_user: APP_UID,
        env: s
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
        secrets: s.secrets.clone(),
        uses: s.uses.clone(),
        urls: s.urls.clone(),
        metrics: s
            .metrics
            .as_ref()
            .and_then(|m| super::watch::metrics_plan(m, port)),
        scrape_port: scrape_port(s, port, &scaling),
        queue: s.queue.as_ref().map(|q| QueuePlan {
            broker: q.broker.clone(),
            name: q.name.clone(),
        }),
        scaling,
        instances,
        endpoints,
        machines: layout.machines.get(name).cloned().unwrap_or_default(),
        containers: placement::instance_names(name, instances),
        stop_grace_ms: platforms
            .iter()
            .filter_map(|p| {
                let grace = match &shutdown {
                    Some(sd) => Some(sd.stop_grace_s(*p) * 1000),
                    None => stop_grace_ms(*p, s.kind),
                };
                Some((*p, grace?))
            })
            .collect(),
        shutdown,
        rollout: super::health::service_rollout(
            s.kind,
            s.resources.as_ref().is_some_and(|r| r.gpu.is_some()),
        ),
        after: s.after.clone(),
        gpu_devices: BTreeMap::new(),
        job: super::jobs::job_settings(s)?.map(|(retries, timeout_ms)| JobPlan {
            retries,
            timeout_ms,
            // Set once every job's content is known (`jobs::resolve_jobs`).
            hash: String::new(),
            kubernetes_name: String::new(),
        }),
        wait: None,
    })
}

/// `shutdown` in whole seconds, rounded up; the drain only where a balancer sends
/// traffic (a checked blueprint has none elsewhere).
fn shutdown_plan(s: &Service) -> Result<Option<ShutdownPlan>, String> {
    let Some(sd) = &s.shutdown else {
        return Ok(None);
    };
    let grace_s = ms(Some(&sd.grace), 0)?.div_ceil(1000);
    let drain_s = if s.kind.is_routable() {
        ms(sd.drain.as_ref(), 0)?.div_ceil(1000)
    } else {
        0
    };
    Ok(Some(ShutdownPlan {
        grace_s,
        drain_s,
        pre_stop_sleep_s: (drain_s > 0).then_some(drain_s),
    }))
}

impl ShutdownPlan {
    /// The time from the platform's stop to the kill: the grace, and on Kubernetes the
    /// drain before it too (the `preStop` hook's sleep counts in
    /// `terminationGracePeriodSeconds`).
    pub fn stop_grace_s(&self, platform: Platform) -> u64 {
        match platform {
            Platform::Kubernetes => self.grace_s + self.drain_s,
            Platform::Compose | Platform::Hosts => self.grace_s,
        }
    }
}

/// Where Prometheus scrapes the service: its own metrics port, else its port when an
/// autoscaler reads a per-pod metric of it (requests per second, connections), which
/// a Prometheus serves to the custom-metrics adapter.
fn scrape_port(s: &Service, port: Option<u16>, scaling: &ScalingPlan) -> Option<u16> {
    match &s.metrics {
        Some(m) => m.port.and_then(|p| u16::try_from(p).ok()).or(port),
        None if scaling.requests_per_second.is_some() || scaling.connections.is_some() => port,
        None => None,
    }
}

fn scaling_plan(s: &Service) -> Result<ScalingPlan, String> {
    let sc = s.scaling.clone().unwrap_or_default();
    let crate::model::InstanceRange {
        min,
        max,
        autoscaled,
    } = s.instance_range();
    let t = sc.target.clone().unwrap_or_default();
    let behavior = |p: &Option<crate::model::ScalePolicy>| -> Result<Option<BehaviorPlan>, String> {
        let Some(p) = p else { return Ok(None) };
        Ok(Some(BehaviorPlan {
            stabilization_ms: p
                .stabilization
                .as_ref()
                .map(|d| ms(Some(d), 0))
                .transpose()?,
            pods: p.pods,
            percent: p.percent,
            period_ms: ms(p.period.as_ref(), 60_000)?,
            select: match p.select {
                None | Some(crate::model::SelectPolicy::Max) => "max",
                Some(crate::model::SelectPolicy::Min) => "min",
                Some(crate::model::SelectPolicy::Disabled) => "disabled",
            }
            .to_string(),
        }))
    };
    let fewest = if autoscaled { min } else { s.fixed_instances() };
    Ok(ScalingPlan {
        autoscaled,
        min,
        max,
        spread: max > 1,
        disruption_budget: fewest >= 2,
        cpu_percent: t.cpu,
        memory_percent: t.memory,
        requests_per_second: t.requests_per_second,
        queue_depth: t.queue_depth,
        connections: t.connections,
        scale_up: behavior(&sc.scale_up)?,
        scale_down: behavior(&sc.scale_down)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(kind: &str, shutdown: &str) -> Service {
        serde_json::from_str(&format!(
            r#"{{"kind": "{kind}", "image": "demo:1", "port": 8000, "shutdown": {shutdown}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn shutdown_is_whole_seconds_with_the_drain_only_where_traffic_comes() {
        let api = shutdown_plan(&service("http", r#"{"grace": "30s", "drain": "4500ms"}"#))
            .unwrap()
            .unwrap();
        assert_eq!(
            api,
            ShutdownPlan {
                grace_s: 30,
                drain_s: 5,
                pre_stop_sleep_s: Some(5)
            }
        );
        assert_eq!(api.stop_grace_s(Platform::Kubernetes), 35);
        assert_eq!(api.stop_grace_s(Platform::Compose), 30);
        assert_eq!(api.stop_grace_s(Platform::Hosts), 30);
        let worker = shutdown_plan(&service("worker", r#"{"grace": "2m"}"#))
            .unwrap()
            .unwrap();
        assert_eq!((worker.grace_s, worker.drain_s), (120, 0));
        assert_eq!(worker.pre_stop_sleep_s, None);
        assert_eq!(worker.stop_grace_s(Platform::Kubernetes), 120);
        let none = shutdown_plan(&service("http", r#"{"grace": "10s", "drain": "0s"}"#))
            .unwrap()
            .unwrap();
        assert_eq!(none.pre_stop_sleep_s, None);
    }
}
