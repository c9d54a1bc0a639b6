#!/usr/bin/env bash
# Build the sample catalog from scratch: generate the sample adapters into BUILD/samples/out and import
# each into BUILD/samples/catalog.db. Usage: samples/make-catalog.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
out="$build/samples/out"
cat="$build/samples/catalog.db"
rm -rf "$out" "$cat" "$cat-wal" "$cat-shm"
"$build/samples/gen-samples" "$out" >/dev/null
for d in "$out"/*/; do
  "$build/app/lorascope" --catalog "$cat" import "${d%/}" >/dev/null
done
