//! The tier-capacity warnings: `max-over-capacity` (autoscalers' maxima do not fit)
//! says both sides of each comparison in one unit, and points where the phase that
//! has the finding sets the maximum, not at the tier as first written.

use tierform::validate_bytes;

const BLUEPRINT: &str = "\
version: 1
name: demo
tiers:
  app: { machine: { cpu: 4, memory: 8Gi }, count: 2 }
services:
  api:
    kind: http
    tier: app
    image: 'demo:1.0'
    port: 8000
    resources: { cpu: 500m, memory: 1536Mi }
    scaling: { replicas: 2 }
phases:
  - name: small
  - name: big
    patch:
      services:
        api:
          scaling: { replicas: null, min: 2, max: 12, target: { cpu: 70 } }
";

#[test]
fn max_over_capacity_is_in_one_unit_and_at_the_phase_that_sets_max() {
    let v = validate_bytes(BLUEPRINT.as_bytes());
    let found: Vec<_> = v
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "max-over-capacity")
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", v.diagnostics);
    let d = found[0];
    // 12 × 1536Mi = 18Gi of 2 × 8Gi = 16Gi: one unit on both sides.
    assert!(d.message.contains("18Gi memory of 16Gi"), "{}", d.message);
    assert!(!d.message.contains("CPU of"), "{}", d.message);
    // The phase's patch sets `max`: the finding is there (line 19), in phase `big`.
    assert_eq!(d.phases, vec!["big".to_string()]);
    assert_eq!(d.line, Some(19), "{d:#?}");
}

#[test]
fn fractions_of_a_gibibyte_are_said_as_such() {
    // 7 × 1536Mi = 10.5Gi of 8Gi, not "10752Mi of 8Gi".
    let bp = BLUEPRINT
        .replace("count: 2", "count: 1")
        .replace("max: 12", "max: 7");
    let v = validate_bytes(bp.as_bytes());
    let d = v
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == "max-over-capacity")
        .expect("a finding");
    assert!(d.message.contains("10.5Gi memory of 8Gi"), "{}", d.message);
}

/// A phase patch's `targets` is applied like the rest of the patch (it was accepted
/// and silently ignored): the phase, and the phases after it, render for the patched
/// platforms; a phase's own `targets` still wins for that phase alone.
#[test]
fn a_patched_targets_is_applied() {
    let v = tierform::validate_str(
        "version: 1\nname: demo\ntargets: [compose]\nservices:\n  api: { kind: http, image: 'demo:1', port: 8000 }\nphases:\n  - name: one\n  - name: two\n    patch: { targets: [kubernetes] }\n  - name: three\n  - name: four\n    targets: [compose]\n",
    );
    assert_eq!(v.errors(), 0, "{:?}", v.diagnostics);
    let targets: Vec<(String, Vec<tierform::Platform>)> = v
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.targets.clone()))
        .collect();
    use tierform::Platform::{Compose, Kubernetes};
    assert_eq!(
        targets,
        vec![
            ("one".to_string(), vec![Compose]),
            ("two".to_string(), vec![Kubernetes]),
            ("three".to_string(), vec![Kubernetes]),
            ("four".to_string(), vec![Compose]),
        ]
    );
}
