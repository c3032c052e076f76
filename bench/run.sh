#!/usr/bin/env bash
# Whole-process figures for docs/performance.md's tables: wall time, CPU time
# (user + system) and peak resident memory of the release binary, on the synthetic
# blueprints of benches/synth.rs, from 10 to 10,000 services.
#
#   bench/run.sh                 # every size
#   SIZES="10 1000" bench/run.sh # some
#
# Each figure is the median of RUNS runs (default 3), by CPU time. "output current"
# renders every platform of a phase over its own earlier output: the whole pipeline
# with nothing to write (each file is read and compared). "fresh folder" writes every
# file (flushed with one syncfs). Needs GNU time (/usr/bin/time).
#
# Then the peer ratio: the same release binary against Helm's engine and C++ jsonnet on
# the peers' workload (../shared/perf-peers/compare.sh, hyperfine, fresh folder each
# run) at PEERS services (default 1000; PEERS= skips it, PEERS_DIR moves it).
# WORK, passed on to compare.sh, puts its scratch folder elsewhere: on this project's
# machine, WORK=/dev/shm/tfperf (tmpfs), for the reason docs/performance.md gives.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10 100 1000 10000"}
RUNS=${RUNS:-3}
cargo build -q --release --bin tierform --example synth
bin=target/release/tierform
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# median of RUNS runs of a command: prints "wall cpu rss_mb". With KEEP=1 the output
# folder stays as the previous run left it.
measure() {
  local i
  for ((i = 0; i < RUNS; i++)); do
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work/out"
    /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@" >/dev/null 2>&1 || true
    tail -n 1 "$work/t" | awk '{ printf "%.2f %.2f %.0f\n", $1, $2 + $3, $4 / 1024 }'
  done | sort -n -k2 | awk -v n="$RUNS" 'NR == int((n + 1) / 2)'
}

printf '| services | command | wall (s) | CPU (s) | peak RSS (MB) |\n|---:|---|---:|---:|---:|\n'
for n in $SIZES; do
  bp="$work/synth-$n.yaml"
  target/release/examples/synth "$n" >"$bp"
  row() {
    local label=$1
    shift
    read -r wall cpu rss < <(measure "$@")
    printf '| %s | %s | %s | %s | %s |\n' "$n" "$label" "$wall" "$cpu" "$rss"
  }
  row "validate" "$bin" validate "$bp"
  for phase in single horizontal kubernetes; do
    rm -rf "$work/out"
    "$bin" render "$bp" -o "$work/out" --phase "$phase" >/dev/null 2>&1
    KEEP=1 row "render --phase $phase (output current)" "$bin" render "$bp" -o "$work/out" --phase "$phase"
  done
  row "render --phase kubernetes (fresh folder)" "$bin" render "$bp" -o "$work/out" --phase kubernetes
  row "render, 3 phases (fresh folder)" "$bin" render "$bp" -o "$work/out"
  row "diff single horizontal" "$bin" diff "$bp" single horizontal
done

if [ -n "${PEERS-1000}" ]; then
  peers=${PEERS_DIR:-../shared/perf-peers}
  if [ -f "$peers/compare.sh" ]; then
    printf '\nPeers (%s, N=%s):\n' "$peers/compare.sh" "${PEERS-1000}"
    # Only the table and the ratio: hyperfine's own report goes to stderr.
    bash "$peers/compare.sh" "${PEERS-1000}" "$bin" 2>&1 | sed -n '/^N=/,$p'
  else
    printf '\nPeers: %s/compare.sh not found; no peer ratio\n' "$peers"
  fi
fi
