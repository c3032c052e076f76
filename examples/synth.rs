//! Writes a synthetic blueprint (see `benches/synth.rs`) to standard output:
//! `cargo run --release --example synth -- SERVICES [SEED] > synth.yaml`.

#[path = "../benches/synth.rs"]
mod synth;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: synth SERVICES [SEED]";
    let services: usize = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let seed: u64 = args.next().map_or(1, |a| a.parse().expect(usage));
    print!("{}", synth::blueprint(services, seed));
}
