#!/usr/bin/env bash
# Set up and open the workbench on the bundled sample catalog: install missing packages, build, generate
# the sample adapters (deterministically, into build/samples/out), import them into
# build/samples/catalog.db and open lorascope on it. Extra arguments go to lorascope.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
[ -f build/build.ninja ] || meson setup build -Dbuildtype=release >/dev/null
ninja -C build >/dev/null
bash samples/make-catalog.sh build
exec build/app/lorascope --catalog build/samples/catalog.db "$@"
