//! The pipeline, stage by stage, on synthetic blueprints of 10 to 10,000 services
//! (`benches/synth.rs`): load + validate, resolve one phase into a plan, render each
//! platform to memory, write a rendered phase to disk, and diff two phases.
//!
//! `cargo bench --bench pipeline` runs it all; `cargo bench --bench pipeline -- render`
//! one stage. Sizes: `TIERFORM_BENCH_SIZES=10,1000` (default 10,100,1000,10000).
//! Whole-process figures (CPU time, peak memory) come from `bench/run.sh`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use tierform::Plan;
use tierform::Platform;
use tierform::Templates;
use tierform::{plans, Selection};
use tierform::{validate_bytes, ResolvedPhase};
use tierform::{OutputSet, Scope};

#[path = "synth.rs"]
mod synth;

// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn sizes() -> Vec<usize> {
    std::env::var("TIERFORM_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 100, 1000, 10_000])
}

struct Case {
    services: usize,
    text: String,
    phases: Vec<ResolvedPhase>,
}

fn cases() -> Vec<Case> {
    sizes()
        .into_iter()
        .map(|services| {
            let text = synth::blueprint(services, 1);
            let v = validate_bytes(text.as_bytes());
            assert_eq!(
                v.errors(),
                0,
                "the synthetic blueprint of {services} is invalid"
            );
            Case {
                services,
                text,
                phases: v.phases,
            }
        })
        .collect()
}

/// The plan of the phase rendered for `platform`.
fn plan_for(case: &Case, platform: Platform) -> Plan {
    plans(&case.phases, &Selection::default())
        .unwrap()
        .into_iter()
        .find(|p| p.platforms.contains(&platform))
        .expect("a phase per platform")
}

/// Fewer samples for the large sizes, so the suite stays minutes long.
fn tune<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g
}

fn stages(c: &mut Criterion) {
    let cases = cases();
    let templates = Templates::embedded().unwrap();

    let mut g = tune(c, "validate");
    for case in &cases {
        g.throughput(Throughput::Elements(case.services as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(case.services),
            &case.text,
            |b, text| b.iter(|| validate_bytes(black_box(text.as_bytes()))),
        );
    }
    g.finish();

    let mut g = tune(c, "resolve");
    for case in &cases {
        let phase = case.phases.iter().find(|p| p.name == "kubernetes").unwrap();
        g.throughput(Throughput::Elements(case.services as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(case.services),
            phase,
            |b, phase| {
                b.iter(|| tierform::resolve(&phase.blueprint.name, black_box(phase)).unwrap())
            },
        );
    }
    g.finish();

    for platform in Platform::ALL {
        let mut g = tune(c, &format!("render/{}", platform.as_str()));
        for case in &cases {
            let plan = plan_for(case, platform);
            g.throughput(Throughput::Elements(case.services as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(case.services),
                &plan,
                |b, plan| {
                    b.iter(|| {
                        let mut out = OutputSet::new();
                        tierform::render_plan(black_box(plan), &[platform], &templates, &mut out)
                            .unwrap();
                        out
                    })
                },
            );
        }
        g.finish();
    }

    // Writing to disk: a fresh folder each time (what a first render does), then a
    // render over its own output (compare only, nothing written).
    let mut g = tune(c, "write");
    for case in &cases {
        let plan = plan_for(case, Platform::Kubernetes);
        let mut set = OutputSet::new();
        tierform::render_plan(&plan, &[Platform::Kubernetes], &templates, &mut set).unwrap();
        g.throughput(Throughput::Elements(case.services as u64));
        g.bench_with_input(BenchmarkId::new("fresh", case.services), &set, |b, set| {
            b.iter_batched(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    tierform::write(&dir.path().join("out"), set, &Scope::everything()).unwrap();
                    dir
                },
                BatchSize::PerIteration,
            )
        });
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        tierform::write(&out, &set, &Scope::everything()).unwrap();
        g.bench_with_input(
            BenchmarkId::new("unchanged", case.services),
            &set,
            |b, set| b.iter(|| tierform::write(&out, set, &Scope::everything()).unwrap()),
        );
    }
    g.finish();

    let mut g = tune(c, "diff");
    for case in &cases {
        let all = plans(&case.phases, &Selection::default()).unwrap();
        let (a, b) = (&all[0], &all[1]);
        let mut set = OutputSet::new();
        for plan in [a, b] {
            tierform::render_plan(plan, &Platform::ALL, &templates, &mut set).unwrap();
        }
        g.throughput(Throughput::Elements(case.services as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(case.services),
            &set,
            |bench, set| {
                bench.iter(|| {
                    let changes = tierform::diff::summarize(a, b);
                    let notes = tierform::diff::notes(a, b);
                    let files = tierform::diff::file_changes(set, &a.phase, &b.phase, 3);
                    (changes, notes, files)
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
