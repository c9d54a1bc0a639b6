#!/usr/bin/env bash
# Build a sample catalog: generate the sample adapters into DEST/adapters, import each (PEFT folders, the
# multi-task folder, the kohya and GGUF files) into DEST/catalog.db, and extract a LoRA from the dense
# base/tuned pair. An existing catalog is never touched unless --reset is given (then it and the generated
# adapters are rebuilt from scratch): edits made in the workbench and their undo history live in it.
# The catalog is built under a temporary name and moved into place at the end, so an interrupted build
# leaves no half catalog behind. Progress goes to stderr.
# Usage: samples/make-catalog.sh BUILD_DIR [DEST (default BUILD_DIR/samples)] [--reset]
set -euo pipefail
reset=0
pos=()
for a in "$@"; do
  case "$a" in
    --reset) reset=1 ;;
    *) pos+=("$a") ;;
  esac
done
build=${pos[0]:-build}
dest=${pos[1]:-$build/samples}
out="$dest/adapters"
cat="$dest/catalog.db"
lsc="$build/app/lorascope"
say() { printf 'make-catalog: %s\n' "$*" >&2; }
if [ -f "$cat" ] && [ "$reset" = 0 ]; then
  say "'$cat' already exists (kept; give --reset to rebuild it)"
  exit 0
fi
mkdir -p "$dest"
new="$cat.new"
rm -rf "$out" "$new" "$new-wal" "$new-shm" "$new-pack"
say "generating the sample adapters into $out"
"$build/samples/gen-samples" "$out" >/dev/null
dirs=()
for d in "$out"/*; do
  case "$d" in
    */dense-pair) continue ;;
  esac
  dirs+=("$d")
done
i=0
for d in "${dirs[@]}"; do
  i=$((i + 1))
  say "importing $i/${#dirs[@]}: ${d##*/}"
  "$lsc" --catalog "$new" import "$d" >/dev/null
done
say "extracting a rank-6 LoRA from the dense base/tuned pair (100 steps)"
"$lsc" --catalog "$new" retrain dense-pair-extracted --base "$out/dense-pair/base.safetensors" \
  --tuned "$out/dense-pair/tuned.safetensors" --rank 6 --steps 100 >/dev/null
say "recording its base weights (the workbench's vs base figures: b in its layer table)"
"$lsc" --catalog "$new" base dense-pair-extracted "$out/dense-pair/base.safetensors" >/dev/null
rm -f "$cat" "$cat-wal" "$cat-shm" "$cat-pack"
# the pack (tensor bytes of 64 KiB and more, store/pack.h) moves with the catalog, before it
if [ -f "$new-pack" ]; then mv "$new-pack" "$cat-pack"; fi
mv "$new" "$cat"
say "sample catalog ready: $cat"
