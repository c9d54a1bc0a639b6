#!/usr/bin/env bash
# scenario.sh: the real lorascope binary driven through every view at 80x24 and 200x60 in tmux (issue
# #15). For each view: capture the screen it was opened from, open it, act (a key that changes something),
# leave, and check that no word shown only by the view (title, headings, hints, chart glyphs: the words of
# its captures that the screen it came from did not have) is left on the screen it returned to; then open it
# again and check that no word of the screen it came from shows through. Then every layer name the layer
# table shows is typed back: at 200 columns the displayed name itself (`f NAME` in the workbench and
# `show ADAPTER --layers NAME` in the CLI each match exactly that layer); at 80 columns, where long names
# are cut in the middle with an ellipsis, each displayed text must be the start and end of a name from
# `show --json`, and typing that full name shows exactly the row with that text. Last, after Q (once
# straight, once after enlarging the window) the shell shows only its prompt and the command line, and
# `stty -a` is the same before and after.
# usage: scenario.sh LORASCOPE GEN_SAMPLES          Exit 0 pass, 1 fail, 77 skip (no tmux).
set -u
export LANG=C.UTF-8 LC_ALL=C.UTF-8 # the workbench draws Unicode (ellipsis, breadcrumbs) and tmux shows it
command -v tmux >/dev/null 2>&1 || { echo "scenario: tmux not installed: skipped"; exit 77; }
bin=$1
gen=$2
tmp=$(mktemp -d) || exit 1
T=""
cleanup() { [ -n "$T" ] && $T kill-server >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
size=""
fail() {
    echo "scenario [$size]: FAIL: $*"
    echo "--- screen ---"
    [ -n "$T" ] && $T capture-pane -p -t s 2>/dev/null
    exit 1
}

"$gen" "$tmp/samples" >/dev/null || { echo "scenario: cannot generate samples"; exit 1; }
for s in gpt2-tiny-conv1d llama-tiny-f32 llama-tiny-patterns llama-tiny-attn.gguf sd-tiny-dylora.safetensors tasks; do
    "$bin" --catalog "$tmp/cat.db" import "$tmp/samples/$s" >/dev/null || { echo "scenario: import $s failed"; exit 1; }
done
# a training run (issue 16): two checkpoints, the first the sample already imported (stored once)
mkdir -p "$tmp/run"
cp -r "$tmp/samples/llama-tiny-f32" "$tmp/run/checkpoint-10" && cp -r "$tmp/samples/llama-tiny-bf16" "$tmp/run/checkpoint-20"
"$bin" --catalog "$tmp/cat.db" import "$tmp/run" >/dev/null || { echo "scenario: import of a training run failed"; exit 1; }
# the catalog's rows in its order (by name), to walk to an adapter with g and j
"$bin" --catalog "$tmp/cat.db" ls | awk 'NR > 1 { print $1 }' > "$tmp/adapters"

cap() { $T capture-pane -p -t s > "$tmp/$1"; }
# settle FILE: capture until two captures 20 ms apart agree (the frame is drawn completely), at most 5 s
settle() {
    local n=0
    $T capture-pane -p -t s > "$tmp/$1"
    while [ $n -lt 250 ]; do
        sleep 0.02
        $T capture-pane -p -t s > "$tmp/$1.next"
        cmp -s "$tmp/$1" "$tmp/$1.next" && return 0
        mv "$tmp/$1.next" "$tmp/$1"
        n=$((n + 1))
    done
    return 1
}
# has TEXT: the pane shows TEXT (a fixed string; an extended regular expression when it starts with ^)
has() {
    case "$1" in
    ^*) $T capture-pane -p -t s | grep -qE -- "$1" ;;
    *) $T capture-pane -p -t s | grep -qF -- "$1" ;;
    esac
}
# wait_for TEXT: poll the pane for up to 10 s; wait_gone TEXT: until it is gone
wait_for() {
    local n=0
    while [ $n -lt 500 ]; do
        has "$1" && return 0
        sleep 0.02; n=$((n + 1))
    done
    return 1
}
wait_gone() {
    local n=0
    while [ $n -lt 500 ]; do
        has "$1" || return 0
        sleep 0.02; n=$((n + 1))
    done
    return 1
}
keys() { $T send-keys -t s "$@"; }
# the words of a capture; a position "3/28" is left out (an act that moves the view's cursor moves the
# table's too: the same counter with a new number is no leftover)
words() { tr -s ' \t' '\n\n' < "$tmp/$1" | grep -Ev '^$|^[0-9]+/[0-9]+$' | LC_ALL=C sort -u; }
comm() { LC_ALL=C command comm "$@"; }
# the row counter of the status line ("row 3/28")
counter() { $T capture-pane -p -t s | tail -n 2 | head -n 1 | grep -o 'row [0-9]*/[0-9]*' | tail -n 1; }

# visit NAME OPEN_KEYS MARK ACT_KEYS LEAVE_KEYS BACK_MARK [STILL]: the screen now (base) -> open (view,
# must show MARK) -> act (view2, must differ unless the view shows STILL) -> leave (after, BACK_MARK
# shown, MARK gone) -> open again (again).
visit() {
    local name=$1 open=$2 mark=$3 act=$4 leave=$5 back=$6 still=${7:-} w
    settle base || fail "$name: the screen does not settle"
    keys $open; wait_for "$mark" || fail "$name: '$open' did not open it (no '$mark')"
    settle view || fail "$name: the view does not settle"
    keys $act
    local n=0
    while [ $n -lt 250 ]; do
        $T capture-pane -p -t s | cmp -s - "$tmp/view" || break
        [ -n "$still" ] && [ $n -ge 25 ] && break
        sleep 0.02; n=$((n + 1))
    done
    settle view2 || fail "$name: the view does not settle after '$act'"
    if cmp -s "$tmp/view" "$tmp/view2"; then
        [ -n "$still" ] && grep -qF -- "$still" "$tmp/view" || fail "$name: '$act' changed nothing"
    fi
    keys $leave; wait_gone "$mark" || fail "$name: '$leave' did not leave it"
    wait_for "$back" || fail "$name: '$leave' did not go back (no '$back')"
    settle after || fail "$name: the screen does not settle after leaving"
    cat "$tmp/view" "$tmp/view2" > "$tmp/views"
    words views > "$tmp/w-view"
    words base > "$tmp/w-base"
    words after > "$tmp/w-after"
    # words only the view showed, still on the screen after leaving it
    w=$(comm -23 "$tmp/w-view" "$tmp/w-base" | comm -12 - "$tmp/w-after" | tr '\n' ' ')
    [ -z "$w" ] || { cat "$tmp/view2"; echo "--- after leaving ---"; cat "$tmp/after"; fail "$name: left behind after '$leave': $w"; }
    keys $open; wait_for "$mark" || fail "$name: '$open' did not open it again"
    settle again || fail "$name: the view does not settle when opened again"
    words again > "$tmp/w-again"
    w=$(comm -23 "$tmp/w-after" "$tmp/w-view" | comm -12 - "$tmp/w-again" | tr '\n' ' ')
    [ -z "$w" ] || { cat "$tmp/after"; echo "--- opened again ---"; cat "$tmp/again"; fail "$name: the screen it came from shows through when opened again: $w"; }
    keys $leave; wait_gone "$mark" || fail "$name: '$leave' did not leave it the second time"
    wait_for "$back" || fail "$name: no '$back' after leaving it the second time"
}

# to_adapter NAME: from the catalog, put the cursor on NAME and open its layer table
to_adapter() {
    local i
    i=$(grep -nx -- "$1" "$tmp/adapters" | cut -d: -f1)
    [ -n "$i" ] || fail "no adapter $1 in the catalog"
    keys g
    [ "$i" -gt 1 ] && keys -N $((i - 1)) j
    wait_for "row $i/" || fail "cannot walk to $1"
    keys Enter; wait_for "catalog › $1" || fail "Enter did not open $1"
    wait_for "row 1/" || fail "$1: no layer table"
}

# the name column of the layer table on screen FILE: the header's "name" gives where it starts (the #
# column of layer numbers is left out where no name has one)
table_names() {
    awk '/^ +(# )?name / { c = index($0, " name ") + 1; next }
         c && length($0) > c && substr($0, 1, c - 1) ~ /^[>* ] *[0-9]* *$/ {
             s = substr($0, c); sub(/ .*/, "", s); if (s != "") print s }' "$tmp/$1"
}
json_names() { # ADAPTER: the layer names of `show --json` (lorascope's own two-space indentation)
    "$bin" --catalog "$tmp/cat.db" show "$1" --json |
        awk '/^  "layers": \[/ { on = 1; next } on && /^  \]/ { exit }
             on && /^      "name": "/ { s = $0; sub(/^      "name": "/, "", s); sub(/",?$/, "", s); print s }'
}

# the filter prompt, which keeps the end of a long line in sight (its start cut to an ellipsis)
fprompt='^(filter \(glob\):|…)'
# filter_one TEXT FULL: `f` TEXT Enter shows exactly one row, whose name column reads FULL, or at 80
# columns FULL cut in the middle (its start and end around an ellipsis)
filter_one() {
    keys f; wait_for "$fprompt" || fail "f did not ask for a filter"
    keys C-u; keys -l -- "$1"; keys Enter
    wait_gone "$fprompt" || fail "the filter prompt did not close"
    local n=0 c d
    while [ $n -lt 250 ]; do
        cap filt; c=$(tail -n 2 "$tmp/filt" | head -n 1 | grep -o 'row [0-9]*/[0-9]*' | tail -n 1)
        d=$(table_names filt)
        [ "$c" = "row 1/1" ] && shows "$d" "$2" && break
        sleep 0.02; n=$((n + 1))
    done
    settle filt || fail "the filtered table does not settle"
    c=$(tail -n 2 "$tmp/filt" | head -n 1 | grep -o 'row [0-9]*/[0-9]*' | tail -n 1)
    [ "$c" = "row 1/1" ] || fail "the filter '$1' does not show exactly one row (${c:-no rows})"
    d=$(table_names filt)
    shows "$d" "$2" || fail "the filter '$1' shows the row '$d', which is not '$2'"
}
# shows D FULL: the table's text D is FULL, or (not at 200 columns) FULL cut in the middle
shows() {
    [ "$1" = "$2" ] && return 0
    case "$1" in *…*) ;; *) return 1;; esac
    [ "$size" = 200x60 ] && return 1
    local pre=${1%%…*} suf=${1#*…}
    [ ${#2} -gt $((${#pre} + ${#suf})) ] || return 1
    case "$2" in "$pre"*"$suf") return 0;; esac
    return 1
}

# names_check ADAPTER: every name the layer table shows can be typed back (the table is open, unfiltered)
names_check() {
    local ad=$1 total pages=0 d pre suf hit full first cur line hdr
    json_names "$ad" > "$tmp/json"
    [ -s "$tmp/json" ] || fail "$ad: show --json lists no layers"
    total=$(wc -l < "$tmp/json")
    keys g; wait_for "row 1/$total" || fail "$ad: the table does not hold $total rows"
    : > "$tmp/shown"
    while :; do
        settle page || fail "$ad: the table does not settle"
        # the row number of the first row on screen: the cursor's row (status line) minus its place
        cur=$(tail -n 2 "$tmp/page" | head -n 1 | grep -o 'row [0-9]*/' | tail -n 1 | tr -dc 0-9)
        line=$(grep -n '^>' "$tmp/page" | head -n 1 | cut -d: -f1)
        hdr=$(grep -nE '^ +(# )?name ' "$tmp/page" | head -n 1 | cut -d: -f1)
        [ -n "$cur" ] && [ -n "$line" ] && [ -n "$hdr" ] || fail "$ad: cannot place the rows on screen"
        first=$((cur - (line - hdr) + 1))
        head -n $((first - 1)) "$tmp/shown" > "$tmp/shown.k"
        table_names page >> "$tmp/shown.k"
        mv "$tmp/shown.k" "$tmp/shown"
        [ "$(wc -l < "$tmp/shown")" -ge "$total" ] && break
        pages=$((pages + 1)); [ $pages -lt 20 ] || fail "$ad: paging does not reach the end"
        keys NPage
        local n=0; while [ $n -lt 250 ] && [ "$(counter)" = "row $cur/$total" ]; do sleep 0.02; n=$((n + 1)); done
    done
    [ "$(wc -l < "$tmp/shown")" = "$total" ] || fail "$ad: the table showed $(wc -l < "$tmp/shown") names, show --json has $total"
    keys g; wait_for "row 1/" || fail "$ad: g did not go to the top"
    while IFS= read -r d; do
        case "$d" in
        *…*)
            [ "$size" = 200x60 ] && fail "$ad: '$d' is cut at 200 columns"
            pre=${d%%…*}; suf=${d#*…}
            hit=$(awk -v p="$pre" -v s="$suf" 'length($0) > length(p) + length(s) && index($0, p) == 1 &&
                  substr($0, length($0) - length(s) + 1) == s' "$tmp/json")
            [ -n "$hit" ] || fail "$ad: '$d' is the start and end of no layer name of show --json"
            ;;
        *)
            grep -qxF -- "$d" "$tmp/json" || fail "$ad: '$d' is no layer name of show --json"
            [ "$("$bin" --catalog "$tmp/cat.db" show "$ad" --json --layers "$d" | json_count)" = 1 ] ||
                fail "$ad: show --layers '$d' does not match exactly one layer"
            filter_one "$d" "$d"
            ;;
        esac
    done < "$tmp/shown"
    # where names are cut: each full name typed shows exactly its row, as the table showed it
    while IFS= read -r full; do
        grep -qxF -- "$full" "$tmp/shown" && continue
        filter_one "$full" "$full"
        d=$(table_names filt)
        grep -qxF -- "$d" "$tmp/shown" || fail "$ad: typing '$full' shows '$d', which the table did not show"
    done < "$tmp/json"
    keys f; wait_for "$fprompt" || fail "f did not ask for a filter"
    keys C-u Enter; wait_for "^.*row [0-9]+/$total( |$)" || fail "$ad: an empty filter does not bring back all $total rows"
}
json_count() { grep -c '^      "name": "'; }

# start_workbench WxH: a shell in tmux, then the workbench with stty -a recorded around it
start_workbench() {
    size=$1
    local w=${1%x*} h=${1#*x}
    T="tmux -L lsc-scn-$$-$1-$2 -f /dev/null"
    $T new-session -d -x "$w" -y "$h" -s s "env -u NO_COLOR TERM=xterm-256color PS1='scn\$ ' sh" || fail "tmux did not start"
    $T resize-window -t s -x "$w" -y "$h" >/dev/null 2>&1
    wait_for 'scn$' || fail "no shell prompt"
    rm -f "$tmp/rc" "$tmp/stty-before" "$tmp/stty-after"
    cmdline="stty -a > $tmp/stty-before; '$bin' --catalog $tmp/cat.db; echo \$? > $tmp/rc; stty -a > $tmp/stty-after"
    keys "clear; $cmdline" Enter
    wait_for '? help' || fail "the workbench did not start"
    wait_for 'row 1/' || fail "no catalog table"
}
# quit_clean: Q, exit 0, the same terminal modes, and the shell shows its prompt and nothing of the workbench
quit_clean() {
    keys Q
    local n=0
    while [ ! -s "$tmp/stty-after" ] && [ $n -lt 250 ]; do sleep 0.02; n=$((n + 1)); done
    [ -s "$tmp/stty-after" ] || fail "the workbench did not exit on Q"
    [ "$(cat "$tmp/rc")" = 0 ] || fail "exit code $(cat "$tmp/rc")"
    # the modes, not the size (the window may have been enlarged meanwhile)
    sed -i 's/rows [0-9]*; columns [0-9]*;//' "$tmp/stty-before" "$tmp/stty-after"
    cmp -s "$tmp/stty-before" "$tmp/stty-after" || fail "terminal modes changed: $(diff "$tmp/stty-before" "$tmp/stty-after")"
    $T send-keys -t s "echo done-$1" Enter
    wait_for "done-$1" || fail "the shell does not answer after quitting"
    sleep 0.1
    $T capture-pane -p -J -t s > "$tmp/shell"
    # every word on the screen comes from the shell (the command line was cleared): its prompt and the echo
    printf 'scn$ echo done-%s\ndone-%s\n' "$1" "$1" > "$tmp/expect"
    local w
    w=$(comm -23 <(words shell) <(words expect) | tr '\n' ' ')
    [ -z "$w" ] || fail "after quitting ($1) the shell shows workbench text: $w"
    $T kill-server >/dev/null 2>&1
}

catalog='^ lorascope +catalog *$' # the catalog's title line
run_size() {
    start_workbench "$1" a
    local n_ad
    n_ad=$(wc -l < "$tmp/adapters")
    wait_for "row 1/$n_ad" || fail "the catalog does not list $n_ad adapters"
    # catalog -> layers (Enter), act j, leave q
    keys g
    visit layers Enter 'catalog › gpt2-tiny-conv1d' j q 'row 1/'
    to_adapter llama-tiny-patterns
    visit grid v '› grid' j Escape '# name'
    visit spectrum Enter 'singular values' j Escape '# name'
    keys g; wait_for 'row 1/' || fail "g did not go to the top"
    visit history H '› history' j Escape '# name'
    visit prune p 'threshold --energy' Right Escape '# name'
    visit kind K '(layer-wise)' j Escape '# name'
    visit retrain R 'Enter runs: retrain' j Escape '# name'
    # the whole help fits at 200x60: there j has nothing to scroll (its hint then says no 'j/k scroll')
    visit help '?' 'keys: layers view' j Escape '# name' '? or Esc closes  (F-keys'
    visit prompt : '^:$' 'l s' Escape '# name'
    visit ls-output ': l s Enter' '› :ls' j Escape '# name'
    names_check llama-tiny-patterns
    keys q; wait_for "$catalog" || fail "q did not go back to the catalog"
    for ad in gpt2-tiny-conv1d llama-tiny-attn sd-tiny-dylora; do
        to_adapter "$ad"
        names_check "$ad"
        keys q; wait_for "$catalog" || fail "q did not go back to the catalog"
    done
    # tag two adapters, then diff and merge them
    local i
    i=$(grep -nx llama-tiny-f32 "$tmp/adapters" | cut -d: -f1)
    keys g; keys -N $((i - 1)) j; wait_for "row $i/" || fail "cannot walk to llama-tiny-f32"; keys t t # t tags and moves down
    wait_for '2 tagged' || fail "t did not tag two adapters"
    visit diff d 'catalog › diff llama-tiny-f32..llama-tiny-patterns' j Escape '2 tagged'
    visit merge m 'catalog › merge llama-tiny-f32 + llama-tiny-patterns' Right Escape '2 tagged'
    keys T; wait_gone '2 tagged' || fail "T did not clear the tags"
    i=$(grep -nx tasks "$tmp/adapters" | cut -d: -f1)
    keys g; keys -N $((i - 1)) j; wait_for "row $i/" || fail "cannot walk to tasks"
    visit tasks Enter 'tasks (2 tasks)' j Escape "row $i/$n_ad"
    i=$(grep -nx run "$tmp/adapters" | cut -d: -f1)
    keys g; keys -N $((i - 1)) j; wait_for "row $i/" || fail "cannot walk to the series"
    visit series Enter 'run (series, 2 checkpoints)' h Escape "row $i/$n_ad"
    quit_clean "$1"
    # enlarged while running, then quit from a layer table: still nothing of the workbench left
    start_workbench "$1" b
    to_adapter llama-tiny-f32
    $T resize-window -t s -x $((${1%x*} + 40)) -y $((${1#*x} + 12))
    n=0
    while [ $n -lt 250 ]; do
        [ "$($T display -p -t s '#{window_width}')" = $((${1%x*} + 40)) ] && break
        sleep 0.02; n=$((n + 1))
    done
    sleep 0.2
    wait_for '? help' || fail "no redraw after the resize"
    settle resized || fail "the workbench does not settle after the resize"
    quit_clean "$1-resized"
}

run_size 200x60
run_size 80x24
echo "scenario: ok"
exit 0
