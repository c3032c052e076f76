#!/usr/bin/env bash
# Runs one fuzz target for a while: fuzz/run.sh validate|render [SECONDS] [extra libFuzzer flags]
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# The seed corpus is every example blueprint, every render fixture and every invalid
# fixture; the dictionary is every property name of the committed schema plus YAML's
# own punctuation. Crashes land in fuzz/artifacts/<target>/ (cargo-fuzz's default); copy each into
# fuzz/regressions/ (the test tests/it/fuzz_regressions.rs replays them in CI).
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh validate|render [SECONDS]}
seconds=${2:-600}
shift $(( $# < 2 ? $# : 2 ))
corpus=corpus/$target
mkdir -p "$corpus" artifacts/"$target"
cp ../blueprints/*.yaml ../tests/fixtures/render/*.yaml ../tests/fixtures/invalid/*.yaml regressions/* "$corpus"/ 2>/dev/null || true
{
  grep -o '"[a-z_]*":' ../schema/blueprint.schema.json | sort -u | sed 's/"\(.*\)":/"\1: "/'
  printf '%s\n' '": "' '"- "' '"{ "' '" }"' '"[ "' '" ]"' '"&a "' '"*a"' '"<<: "' '"\x0a  "' '"---"' '"!!str "' '"\"\\u0000\""' '"|\x0a"'
} >blueprint.dict
exec cargo +nightly fuzz run "$target" "$corpus" -- \
  -dict=blueprint.dict -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 "$@"
