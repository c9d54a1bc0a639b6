#!/usr/bin/env bash
# Set up and run every test: install missing packages, build with warnings as errors, run all Check
# suites verbosely (each prints Check's "Checks: N, Failures: 0, Errors: 0" summary).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
if [ ! -f build-test/build.ninja ]; then
  meson setup build-test -Dwerror=true -Dbuildtype=debugoptimized
fi
ninja -C build-test
meson test -C build-test -v --print-errorlogs --num-processes 2
