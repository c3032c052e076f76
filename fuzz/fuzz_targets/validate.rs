//! Any bytes through load → schema → semantic checks → the text report. Nothing may
//! panic, an input with no error must have resolved phases, and what validates stays
//! within every limit of `tierform::limits` (what a blueprint may ask for).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tierform::limits::*;

fuzz_target!(|data: &[u8]| {
    let v = tierform::validate_bytes(data);
    let text = tierform::render_text("fuzz.yaml", v.source.as_deref(), &v.diagnostics);
    if v.errors() > 0 {
        assert!(!text.is_empty());
        return;
    }
    assert!(!v.phases.is_empty(), "valid without phases:\n{text}");
    assert!(v.phases.len() <= MAX_PHASES);
    let mut units = 0;
    for p in &v.phases {
        let b = &p.blueprint;
        assert!(b.services.len() <= MAX_SERVICES, "{} services", b.services.len());
        assert!(b.datastores.len() <= MAX_DATASTORES);
        units += b.services.len() + b.datastores.len();
        if let Some(lb) = &b.balancer {
            assert!(lb.routes.len() <= MAX_ROUTES, "{} routes", lb.routes.len());
        }
        let mut hosts = 0;
        for tier in b.tiers.values() {
            assert!(tier.hosts.len() <= MAX_HOSTS_PER_TIER);
            hosts += tier.hosts.len();
        }
        assert!(hosts <= MAX_HOSTS, "{hosts} hosts");
    }
    assert!(units <= MAX_PHASE_UNITS, "{units} services and datastores");
});
