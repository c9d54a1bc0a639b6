#!/usr/bin/env bash
# Open the workbench on the sample catalog: install missing packages, build, and the first time (or with
# --reset) generate the sample adapters and import them into samples/catalog/catalog.db; then open
# lorascope on it. The catalog is kept between runs (prunes, merges, retrains and their undo history stay);
# --reset rebuilds it from scratch. Each step says what it is doing on stderr.
# Other arguments go to lorascope. Environment (for tests): LSC_SAMPLE_HOME replaces samples/catalog;
# LSC_WORKBENCH_BUILD names an existing build folder to use as it is (no install, no build);
# LSC_NO_TUI=1 stops after preparing the catalog, printing its path.
set -euo pipefail
cd "$(dirname "$0")/.."
reset=()
args=()
for a in "$@"; do
  case "$a" in
    --reset) reset=(--reset) ;;
    *) args+=("$a") ;;
  esac
done
home=${LSC_SAMPLE_HOME:-samples/catalog}
say() { printf 'workbench: %s\n' "$*" >&2; }
if [ -n "${LSC_WORKBENCH_BUILD:-}" ]; then
  build=$LSC_WORKBENCH_BUILD
else
  build=build
  say "checking the packages lorascope needs"
  bash .ci/install-deps.sh
  if [ ! -f build/build.ninja ]; then
    say "configuring build/ (release)"
    meson setup build -Dbuildtype=release >/dev/null
  fi
  say "building (ninja -C build)"
  ninja -C build >&2
fi
bash samples/make-catalog.sh "$build" "$home" "${reset[@]}"
if [ -n "${LSC_NO_TUI:-}" ]; then
  echo "$home/catalog.db"
  exit 0
fi
exec "$build/app/lorascope" --catalog "$home/catalog.db" "${args[@]}"
