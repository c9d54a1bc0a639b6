#!/bin/sh
# smoke-real.sh: the real lorascope binary as a user meets it. Builds a small catalog from the generated
# samples, runs the workbench in tmux (tests/tui/smoke.sh: keys, resize to 20x5 and back, quit, SIGTERM,
# terminal modes restored), then checks the refusals without a terminal: stdout a pipe, TERM unset,
# TERM=dumb each exit 1 with a one-line reason and a pointer to the CLI, and write no escape codes.
# usage: smoke-real.sh LORASCOPE GEN_SAMPLES
set -u
bin=$1
gen=$2
here=$(dirname "$0")
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp/samples" >/dev/null || { echo "cannot generate samples"; exit 1; }
for s in llama-tiny-f32 llama-tiny-bf16 llama-tiny-patterns; do
  "$bin" --catalog "$tmp/cat.db" import "$tmp/samples/$s" >/dev/null || { echo "import $s failed"; exit 1; }
done
sh "$here/smoke.sh" "$bin" --catalog "$tmp/cat.db" || exit $?

check_refusal() { # $1: description; the command's output is in $tmp/out and $tmp/err, rc in $2
  [ "$2" = 1 ] || { echo "smoke-real: FAIL: $1: exit $2 (want 1)"; exit 1; }
  grep -q "cannot open the workbench" "$tmp/err" || { echo "smoke-real: FAIL: $1: no reason given"; exit 1; }
  grep -q "lorascope ls" "$tmp/err" || { echo "smoke-real: FAIL: $1: no pointer to the CLI"; exit 1; }
  if grep -q "$(printf '\033')" "$tmp/out" "$tmp/err"; then echo "smoke-real: FAIL: $1: escape codes written"; exit 1; fi
}
"$bin" --catalog "$tmp/cat.db" >"$tmp/out" 2>"$tmp/err" </dev/null; check_refusal "stdout a pipe" $?
# on a real pseudo-terminal (script), so only TERM is wrong
script -qec "env -u TERM '$bin' --catalog '$tmp/cat.db' 2>'$tmp/err'; echo \$? >'$tmp/rc'" /dev/null >"$tmp/out" 2>&1 </dev/null
grep -q 'TERM is not set' "$tmp/err" || { echo "smoke-real: FAIL: TERM unset: $(cat "$tmp/err")"; exit 1; }
check_refusal "TERM unset" "$(cat "$tmp/rc")"
script -qec "TERM=dumb '$bin' --catalog '$tmp/cat.db' 2>'$tmp/err'; echo \$? >'$tmp/rc'" /dev/null >"$tmp/out" 2>&1 </dev/null
grep -q 'dumb' "$tmp/err" || { echo "smoke-real: FAIL: TERM=dumb: $(cat "$tmp/err")"; exit 1; }
check_refusal "TERM=dumb" "$(cat "$tmp/rc")"
echo "smoke-real: ok"
