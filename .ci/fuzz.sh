#!/usr/bin/env bash
# .ci/fuzz.sh [SECONDS]: build the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) in
# build-fuzz/ and run each for a fixed number of inputs from a fixed seed (LSC_FUZZ_SEED, default 1) and a
# fresh working corpus, so that CI explores exactly what was explored before a commit (about 30 s per
# target here); SECONDS (default 30) times 4 bounds each run. LSC_FUZZ_RANDOM=1 fuzzes for SECONDS from a
# random seed with a growing working corpus (build-fuzz/fuzz-work/, not committed) to look for new bugs.
# Fails on any crash, leak, sanitizer report or broken oracle; each crashing input is copied into
# tests/fuzz/corpus/<target>/regress-<hash> so it replays in the normal suite from then on (commit it
# with the fix). Installs clang if missing (root).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
targets=(safetensors peft-config script import gguf export diffusers lycoris basenames)
declare -A runs=([safetensors]=500000 [peft-config]=150000 [script]=500000 [import]=3000 [gguf]=500000 [export]=1200 [diffusers]=100000 [lycoris]=100000 [basenames]=100000)
seed=${LSC_FUZZ_SEED:-1}
dir=build-fuzz

bash .ci/install-deps.sh
probe() {
  local t; t=$(mktemp -d)
  printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n){(void)d;(void)n;return 0;}\n' >"$t/p.c"
  clang -fsanitize=fuzzer,address,undefined "$t/p.c" -o "$t/p" >/dev/null 2>&1; local rc=$?
  rm -rf "$t"; return $rc
}
if ! command -v clang >/dev/null || ! probe; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
  probe || { echo "fuzz.sh: clang cannot build libFuzzer targets" >&2; exit 1; }
fi

if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
ninja -C "$dir" $(printf 'tests/fuzz-%s ' "${targets[@]}") >/dev/null

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
fail=0
summary=()
for t in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/$t work=$dir/fuzz-work/$t art=$dir/fuzz-artifacts/$t
  mkdir -p "$work" "$art"
  log=$dir/fuzz-$t.log
  # -timeout: one input taking 10 s is a hang; the outer timeout bounds the whole run.
  set +e
  if [ -n "${LSC_FUZZ_RANDOM:-}" ]; then
    budget=(-max_total_time="$secs")
  else
    budget=(-runs="${runs[$t]}" -seed="$seed" -max_total_time=$((secs * 4)))
    rm -rf "$work" && mkdir -p "$work" # the same start every time
  fi
  timeout --kill-after=10 $((secs * 4 + 120)) "$dir/tests/fuzz-$t" "${budget[@]}" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  set -e
  n_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  summary+=("$t: $n_runs inputs, exit $rc")
  if [ $rc -ne 0 ]; then
    fail=1
    tail -40 "$log" >&2
    for c in "$art"/*; do
      [ -f "$c" ] || continue
      h=$(sha1sum "$c" | cut -c1-12)
      cp "$c" "$seeds/regress-$h"
      echo "fuzz.sh: $t: crashing input saved as $seeds/regress-$h" >&2
    done
  fi
done
printf 'fuzz.sh: %s\n' "${summary[@]}"
exit $fail
