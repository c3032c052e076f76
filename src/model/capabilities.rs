//! What each platform can do, stated once. Code that depends on a platform's abilities
//! (whether an autoscaler owns the instance count, whether things run on listed
//! machines) asks these methods instead of naming a platform, so a new platform
//! declares its abilities here and nowhere else.

use super::{BalancerEngine, Platform};

impl Platform {
    /// Whether the platform runs an autoscaler, so an autoscaled service moves between
    /// its `min` and `max`. Elsewhere it runs its fewest instances.
    pub fn autoscales(self) -> bool {
        match self {
            Platform::Kubernetes => true,
            Platform::Compose | Platform::Hosts => false,
        }
    }

    /// Whether everything runs on the machines the tiers list (`tiers.*.hosts`), so the
    /// plan places each instance and node on a machine and port, and a tier change
    /// moves it to other machines.
    pub fn has_machines(self) -> bool {
        match self {
            Platform::Hosts => true,
            Platform::Compose | Platform::Kubernetes => false,
        }
    }

    /// Whether the balancer, run by `engine`, reaches each instance of a service by its
    /// own address (compose names every instance, `hosts` places each one; on
    /// Kubernetes the engine resolves a headless Service into every pod's address at
    /// run time), rather than through one address in front of them all. nginx does so
    /// on Kubernetes only for a pool it does not hash (`sticky`): its consistent hash
    /// places every address of one resolved name at the same points, so it would not
    /// keep a client on one pod; a hashed pool goes through the Service's virtual IP.
    pub fn addresses_instances(self, engine: BalancerEngine, hashed: bool) -> bool {
        match self {
            Platform::Compose | Platform::Hosts => true,
            Platform::Kubernetes => engine == BalancerEngine::Haproxy || !hashed,
        }
    }
}

/// The headless Service of a balanced service `name` on Kubernetes, where the balancer
/// addresses every pod: its DNS name answers with each ready pod's address.
pub fn pod_service_name(name: &str) -> String {
    format!("{name}-pods")
}

/// Whether any of `platforms` runs an autoscaler.
pub fn any_autoscales(platforms: &[Platform]) -> bool {
    platforms.iter().any(|p| p.autoscales())
}

/// Whether any of `platforms` runs things on the machines the tiers list.
pub fn any_has_machines(platforms: &[Platform]) -> bool {
    platforms.iter().any(|p| p.has_machines())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kubernetes_autoscales_and_only_hosts_has_machines() {
        let autoscaling: Vec<Platform> = Platform::ALL
            .into_iter()
            .filter(|p| p.autoscales())
            .collect();
        assert_eq!(autoscaling, [Platform::Kubernetes]);
        let placing: Vec<Platform> = Platform::ALL
            .into_iter()
            .filter(|p| p.has_machines())
            .collect();
        assert_eq!(placing, [Platform::Hosts]);
        assert!(any_autoscales(&[Platform::Compose, Platform::Kubernetes]));
        assert!(!any_has_machines(&[
            Platform::Compose,
            Platform::Kubernetes
        ]));
    }
}
