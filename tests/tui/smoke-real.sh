#!/bin/sh
# smoke-real.sh: the real lorascope binary as a user meets it. Builds a small catalog from the generated
# samples, runs the workbench in tmux (tests/tui/smoke.sh: keys, resize to 20x5 and back, quit, SIGTERM,
# terminal modes restored), an edit session (prune panel, apply, save the session, undo), the kind panel and
# a retrain run from its panel, then checks the refusals without a terminal: stdout a pipe, TERM unset,
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

# An edit session on the real catalog: the prune panel's live preview, apply (name, confirm), save the
# session as a script, undo (confirm), quit.
T="tmux -L lsc-edit-$$ -f /dev/null"
efail() { echo "smoke-real: FAIL: $*"; $T capture-pane -p -t edit 2>/dev/null; $T kill-server >/dev/null 2>&1; exit 1; }
ewait() { # TEXT: poll the pane for up to 10 s
  n=0
  while [ $n -lt 100 ]; do
    $T capture-pane -p -t edit 2>/dev/null | grep -q -- "$1" && return 0
    sleep 0.1; n=$((n + 1))
  done
  return 1
}
$T new-session -d -x 100 -y 30 -s edit "cd '$tmp' && env -u NO_COLOR TERM=xterm-256color '$bin' --catalog '$tmp/cat.db'; echo \$? > '$tmp/edit-rc'; sleep 5" ||
  efail "tmux did not start"
ewait '? help  : cmd' || efail "the workbench did not start"
$T send-keys -t edit Enter; ewait 'row 1/' || efail "no layer table"
$T send-keys -t edit p; ewait 'threshold --energy 0.9 ' || efail "p did not open the prune panel"
$T send-keys -t edit Right; ewait 'threshold --energy 0.91' || efail "Right did not move the threshold"
$T send-keys -t edit Enter; ewait 'name of the pruned adapter: llama-tiny-bf16-energy0.91' || efail "no name prompt"
$T send-keys -t edit Enter; ewait 'no (the default)' || efail "no confirmation"
$T send-keys -t edit y; ewait "created 'llama-tiny-bf16-energy0.91'" || efail "the prune did not run"
$T send-keys -t edit W; ewait 'save the session' || efail "W did not ask for a file"
$T send-keys -t edit Enter; ewait 'saved 1 edit' || efail "the session was not saved"
grep -q '^prune llama-tiny-bf16 --energy 0.91 --as llama-tiny-bf16-energy0.91$' "$tmp/lorascope-session.lsc" ||
  efail "the session script lacks the prune: $(cat "$tmp/lorascope-session.lsc")"
$T send-keys -t edit u; ewait 'undo #4 prune?' || efail "u did not ask"
$T send-keys -t edit y; ewait 'undid #4' || efail "undo did not run"
$T send-keys -t edit Q
n=0
while [ ! -s "$tmp/edit-rc" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ "$(cat "$tmp/edit-rc" 2>/dev/null)" = 0 ] || efail "the workbench did not quit cleanly"
"$bin" --catalog "$tmp/cat.db" ls | grep -q 'energy0.91' && efail "the undone prune is still listed"
$T kill-server >/dev/null 2>&1

# The kind panel of a layer-wise adapter, then a retrain run from its panel (target typed, 30 steps).
T="tmux -L lsc-kind-$$ -f /dev/null" # a server of its own: the one above may still be exiting
rm -f "$tmp/edit-rc"
$T new-session -d -x 100 -y 30 -s edit "cd '$tmp' && env -u NO_COLOR TERM=xterm-256color '$bin' --catalog '$tmp/cat.db'; echo \$? > '$tmp/edit-rc'; sleep 5" ||
  efail "tmux did not start"
ewait '? help  : cmd' || efail "the workbench did not start"
$T send-keys -t edit G Enter; ewait 'row 1/' || efail "no layer table"
$T send-keys -t edit K; ewait 'layer-wise: rank per layer x module' || efail "K did not open the kind panel"
$T send-keys -t edit Escape R; ewait 'Enter runs: retrain llama-tiny-patterns' || efail "R did not open the retrain panel"
$T send-keys -t edit e C-u llama-tiny-f32 Enter j j j e C-u 30 Enter; ewait '--target llama-tiny-f32 --kind static --steps 30' ||
  efail "the retrain fields did not take"
$T send-keys -t edit Enter; ewait 'name of the retrained adapter: llama-tiny-patterns-retrained' || efail "no name prompt"
$T send-keys -t edit Enter; ewait 'no (the default)' || efail "no confirmation"
$T send-keys -t edit y; ewait 'created llama-tiny-patterns-retrained' || efail "the retrain did not run"
$T send-keys -t edit Q
n=0
while [ ! -s "$tmp/edit-rc" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ "$(cat "$tmp/edit-rc" 2>/dev/null)" = 0 ] || efail "the workbench did not quit cleanly"
"$bin" --catalog "$tmp/cat.db" ls | grep -q 'llama-tiny-patterns-retrained' || efail "the retrained adapter is not listed"
$T kill-server >/dev/null 2>&1

# The `:` line (issue #15): Tab completes, Ctrl-C cancels the prompt and a question instead of killing
# the program (it used to exit 130), the line comes back with Up in the next run (history in
# $XDG_STATE_HOME), and Ctrl-C twice at rest quits cleanly.
T="tmux -L lsc-prompt-$$ -f /dev/null"
prompt_run() {
  rm -f "$tmp/edit-rc"
  $T new-session -d -x 100 -y 30 -s edit "cd '$tmp' && env -u NO_COLOR XDG_STATE_HOME='$tmp/state' TERM=xterm-256color '$bin' --catalog '$tmp/cat.db'; echo \$? > '$tmp/edit-rc'; sleep 5" ||
    efail "tmux did not start"
  ewait '? help  : cmd' || efail "the workbench did not start"
}
prompt_quit() { # $1: keys that quit
  $T send-keys -t edit $1
  n=0
  while [ ! -s "$tmp/edit-rc" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
  [ "$(cat "$tmp/edit-rc" 2>/dev/null)" = 0 ] || efail "the workbench did not quit cleanly (rc $(cat "$tmp/edit-rc" 2>/dev/null))"
  $T kill-server >/dev/null 2>&1
}
prompt_run
$T send-keys -t edit : s h o Tab; ewait ':show' || efail "Tab did not complete 'sho'"
$T send-keys -t edit C-c; sleep 0.5
[ -s "$tmp/edit-rc" ] && efail "Ctrl-C in the prompt ended the program (rc $(cat "$tmp/edit-rc"))"
$T capture-pane -p -t edit | grep -q ':show' && efail "Ctrl-C did not close the prompt"
$T send-keys -t edit : l s Enter; ewait 'ls' || efail "the line did not run"
sleep 0.5; $T send-keys -t edit Escape
$T send-keys -t edit : r m Space l l a m a - t i n y - f 3 2 Enter; ewait 'run .rm llama-tiny-f32' || efail ":rm did not ask"
$T send-keys -t edit C-c; sleep 0.5
[ -s "$tmp/edit-rc" ] && efail "Ctrl-C in a question ended the program (rc $(cat "$tmp/edit-rc"))"
ewait 'nothing changed' || efail "Ctrl-C did not cancel the question"
prompt_quit Q
"$bin" --catalog "$tmp/cat.db" ls | grep -q 'llama-tiny-f32' || efail "the cancelled rm removed the adapter"
prompt_run
$T send-keys -t edit : Up; ewait ':rm llama-tiny-f32' || efail "Up did not recall the last line of the previous run"
$T send-keys -t edit Up; ewait ':ls' || efail "Up did not walk back"
$T send-keys -t edit C-c; sleep 0.3
$T send-keys -t edit C-c; ewait 'Ctrl-C again' || efail "Ctrl-C at rest did not say how to quit"
prompt_quit C-c

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
