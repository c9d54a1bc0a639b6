#!/bin/sh
# smoke.sh: run the real workbench in a tmux pseudo-terminal, press keys, resize, quit, and check that
# the terminal comes back sane (same stty modes, normal screen, exit code 0).
# usage: tests/tui/smoke.sh BINARY [ARGS...]     e.g. smoke.sh build/lorascope tui
#        (build/tests/lsc-tui-demo runs the same TUI over the fake model)
# Exit 0 pass, 1 fail, 77 skip (no tmux).
set -u
[ $# -ge 1 ] || { echo "usage: $0 BINARY [ARGS...]" >&2; exit 2; }
command -v tmux >/dev/null 2>&1 || { echo "smoke: tmux not installed: skipped"; exit 77; }
bin=$1; shift
[ -x "$bin" ] || { echo "smoke: '$bin' is not executable" >&2; exit 1; }
tmp=$(mktemp -d) || exit 1
sock="lsc-smoke-$$"
T="tmux -L $sock -f /dev/null"
cleanup() { $T kill-server >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
fail() { echo "smoke: FAIL: $*"; echo "--- last screen ---"; cat "$tmp/screen" 2>/dev/null; exit 1; }

cap() { $T capture-pane -p -t smoke > "$tmp/screen"; }
# wait_for TEXT [SECONDS]: poll the pane until TEXT shows up
wait_for() {
    n=0
    while [ $n -lt $((${2:-10} * 10)) ]; do
        cap
        grep -q -- "$1" "$tmp/screen" && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

$T new-session -d -x 100 -y 30 -s smoke "env -u NO_COLOR TERM=xterm-256color PS1='smoke\$ ' sh" || fail "tmux did not start"
$T resize-window -t smoke -x 100 -y 30 >/dev/null 2>&1
wait_for 'smoke\$' 5 || fail "no shell prompt"
args=""
for a in "$@"; do args="$args '$a'"; done
$T send-keys -t smoke "stty -g > $tmp/before; '$bin'$args; echo \$? > $tmp/rc; stty -g > $tmp/after; clear" Enter
wait_for 'lorascope' 10 || fail "the workbench did not draw its title"
wait_for '? help  : cmd' 2 || fail "no key bar"

$T send-keys -t smoke j
$T send-keys -t smoke Enter
wait_for 'row 1/' 5 || fail "Enter did not open an adapter's layer table"
$T send-keys -t smoke '?'
wait_for 'keys: ' 5 || fail "? did not open the help overlay"
$T send-keys -t smoke Escape
sleep 0.3
cap
grep -q 'keys: ' "$tmp/screen" && fail "Esc did not close the help overlay"

$T resize-window -t smoke -x 20 -y 5
wait_for 'too small' 5 || fail "no 'terminal too small' message at 20x5"
$T resize-window -t smoke -x 100 -y 30
wait_for '? help  : cmd' 5 || fail "the workbench did not come back after resizing to 100x30"

$T send-keys -t smoke q   # back to the catalog
sleep 0.3
$T send-keys -t smoke Q   # quit
n=0
while [ ! -s "$tmp/after" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ -s "$tmp/after" ] || fail "the program did not exit on Q"
[ "$(cat "$tmp/rc")" = 0 ] || fail "exit code $(cat "$tmp/rc")"
cmp -s "$tmp/before" "$tmp/after" || fail "terminal modes changed: $(cat "$tmp/before") -> $(cat "$tmp/after")"
wait_for 'smoke\$' 5 || fail "no shell prompt after quitting"
grep -q '? help  : cmd' "$tmp/screen" && fail "the workbench is still on screen after quitting"

# Enlarged while running, then quit: the shell shows none of the workbench's rows (issue #15: tmux put
# the last frame's rows back into the shell after a resize; the workbench now blanks the screen first)
$T send-keys -t smoke "clear; '$bin'$args; echo \$? > $tmp/rc3" Enter
wait_for '? help  : cmd' 10 || fail "the workbench did not start again"
$T send-keys -t smoke Enter
wait_for 'row 1/' 5 || fail "Enter did not open an adapter's layer table"
$T resize-window -t smoke -x 140 -y 45
sleep 0.5
wait_for '? help  : cmd' 5 || fail "the workbench did not redraw at 140x45"
$T send-keys -t smoke Q   # straight from the layer table: its rows are the last frame
n=0
while [ ! -s "$tmp/rc3" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ -s "$tmp/rc3" ] || fail "the program did not exit on Q after the resize"
wait_for 'smoke\$' 5 || fail "no shell prompt after quitting"
sleep 0.3
cap
grep -q -e '? help  : cmd' -e 'row 1/' -e 'layers\.' "$tmp/screen" && fail "rows of the workbench left in the shell after enlarging and quitting"
$T resize-window -t smoke -x 100 -y 30

# SIGTERM restores the terminal too: the program runs in the foreground, the signal comes from outside
$T send-keys -t smoke "stty -g > $tmp/before2; sh -c 'echo \$\$ > $tmp/pid; exec \"\$0\" \"\$@\"' '$bin'$args; echo \$? > $tmp/rc2; stty -g > $tmp/after2" Enter
wait_for '? help  : cmd' 10 || fail "the workbench did not start a second time"
kill -TERM "$(cat "$tmp/pid")" || fail "cannot signal the workbench"
n=0
while [ ! -s "$tmp/after2" ] && [ $n -lt 80 ]; do sleep 0.1; n=$((n + 1)); done
[ -s "$tmp/after2" ] || fail "the program did not stop on SIGTERM"
[ "$(cat "$tmp/rc2")" = 143 ] || fail "exit code $(cat "$tmp/rc2") after SIGTERM (want 143)"
cmp -s "$tmp/before2" "$tmp/after2" || fail "terminal modes changed after SIGTERM"
wait_for 'smoke\$' 5 || fail "no shell prompt after SIGTERM"
echo "smoke: ok"
exit 0
