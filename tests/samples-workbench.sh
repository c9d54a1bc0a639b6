#!/bin/sh
# The Quick start keeps the sample catalog (issue #15, item 1): samples/workbench.sh run twice keeps an
# adapter made in between and its undo history; --reset rebuilds the catalog from scratch; the first run
# says what it is doing. Runs the script with LSC_NO_TUI=1 (prepare the catalog, then stop) on the build
# folder under test (LSC_WORKBENCH_BUILD: no install, no build) and a catalog in a temporary folder.
# Usage: samples-workbench.sh SOURCE_ROOT BUILD_ROOT
set -eu
src=$1
build=$2
tmp=$(mktemp -d /tmp/lsc-workbench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
wb() { LSC_SAMPLE_HOME="$tmp/home" LSC_WORKBENCH_BUILD="$build" LSC_NO_TUI=1 bash "$src/samples/workbench.sh" "$@"; }
lsc() { "$build/app/lorascope" --catalog "$tmp/home/catalog.db" "$@"; }

wb > "$tmp/out1" 2> "$tmp/err1" || { cat "$tmp/err1" >&2; fail "first run"; }
[ "$(cat "$tmp/out1")" = "$tmp/home/catalog.db" ] || fail "first run printed '$(cat "$tmp/out1")'"
grep -q "importing 1/" "$tmp/err1" || fail "first run shows no import progress"
grep -q "generating" "$tmp/err1" || fail "first run shows no generation step"
lsc show llama-tiny-f32 >/dev/null || fail "the sample catalog lacks llama-tiny-f32"
n_samples=$(lsc ls --json | grep -c '"name"')

# an edit in the workbench, then an undo and a redo so that undo history exists beyond the edit
lsc prune llama-tiny-f32 --rank 2 --as mine >/dev/null || fail "prune"
lsc rm mine >/dev/null && lsc undo >/dev/null || fail "rm/undo"
hist1=$(lsc log --json | grep -c '"command"')

wb > /dev/null 2> "$tmp/err2" || { cat "$tmp/err2" >&2; fail "second run"; }
lsc show mine >/dev/null || fail "the second run lost the adapter made in between"
hist2=$(lsc log --json | grep -c '"command"')
[ "$hist1" = "$hist2" ] || fail "history had $hist1 entries, $hist2 after the second run"
lsc log mine | grep -q prune || fail "the adapter's history is gone"
lsc redo >/dev/null 2>&1 || fail "the redo stack (the undone rm) did not survive"
lsc show mine >/dev/null 2>&1 && fail "redo of rm left 'mine' visible"
lsc undo >/dev/null || fail "undo after the second run"
lsc show mine >/dev/null || fail "undo of rm did not bring 'mine' back"

# --reset rebuilds from scratch: the edit and its history are gone, the samples are back
wb --reset > /dev/null 2> "$tmp/err3" || { cat "$tmp/err3" >&2; fail "--reset run"; }
lsc show mine >/dev/null 2>&1 && fail "--reset kept 'mine'"
[ "$(lsc ls --json | grep -c '"name"')" = "$n_samples" ] || fail "--reset did not rebuild every sample"
lsc log mine >/dev/null 2>&1 && fail "--reset kept the history of 'mine'"
[ ! -e "$tmp/home/catalog.db.new" ] || fail "a temporary catalog was left behind"
echo "ok"
