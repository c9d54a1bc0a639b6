#!/usr/bin/env bash
# Build the sample catalog from scratch: generate the sample adapters into BUILD/samples/out, import each
# (PEFT folders, the multi-task folder, the kohya and GGUF files) into BUILD/samples/catalog.db, and
# extract a LoRA from the dense base/tuned pair. Usage: samples/make-catalog.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
out="$build/samples/out"
cat="$build/samples/catalog.db"
lsc="$build/app/lorascope"
rm -rf "$out" "$cat" "$cat-wal" "$cat-shm"
"$build/samples/gen-samples" "$out" >/dev/null
for d in "$out"/*; do
  case "$d" in
    */dense-pair) continue ;;
  esac
  "$lsc" --catalog "$cat" import "$d" >/dev/null
done
"$lsc" --catalog "$cat" retrain dense-pair-extracted --base "$out/dense-pair/base.safetensors" \
  --tuned "$out/dense-pair/tuned.safetensors" --rank 6 --steps 100 >/dev/null 2>&1
