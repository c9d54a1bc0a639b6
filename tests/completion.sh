#!/usr/bin/env bash
# tests/completion.sh LORASCOPE BASH-COMPLETION GEN-SAMPLES: the generated bash completion, run in a
# non-interactive bash as bash runs it at Tab (COMP_WORDS / COMP_CWORD, then COMPREPLY): commands, options,
# an option's choices, adapter names from a test catalog (through `lorascope __complete`), layer names after
# --layers, paths where a command takes a path. Also checks zsh's and fish's files parse when those shells
# are installed.
set -u
bin=$1 comp=$2 gen=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp/s" >/dev/null 2>&1 || { echo "gen-samples failed"; exit 1; }
cat=$tmp/c.db
"$bin" --catalog "$cat" import "$tmp/s/llama-tiny-f32" --name alpha >/dev/null || exit 1
"$bin" --catalog "$cat" import "$tmp/s/llama-tiny-bf16" --name beta >/dev/null || exit 1
# shellcheck source=/dev/null
source "$comp"
checks=0 failures=0
words() {
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _lorascope
    [ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | tr '\n' ' '
}
expect() {
    local want=$1
    shift
    local got
    got=$(words "$@")
    checks=$((checks + 1))
    if [ "$got" != "$want" ]; then
        echo "FAIL: [${*:2}] gave '$got', expected '$want'"
        failures=$((failures + 1))
    else
        echo "ok: [${*:2}] -> $got"
    fi
}
expect "prune " "$bin" pru
expect "rebudget redo rename retrain rm run " "$bin" r
expect "--catalog " "$bin" --cat
expect "cat dare_linear dare_ties linear magnitude svd ties " "$bin" merge a b --method ""
expect "dare_linear dare_ties " "$bin" merge a b --method da
expect "--energy " "$bin" prune alpha --ene
expect "alpha beta " "$bin" --catalog "$cat" show ""
expect "alpha " "$bin" --catalog "$cat" show al
expect "beta " "$bin" --catalog "$cat" diff alpha b
expect "alpha beta " "$bin" --catalog "$cat" merge alpha beta ""  # NAME... repeats
expect "model.layers.1.mlp.down_proj " "$bin" --catalog "$cat" prune alpha --energy 0.9 --layers model.layers.1.mlp.d
expect "model.layers.0.self_attn.q_proj " "$bin" --catalog "$cat" spectrum alpha model.layers.0.self_attn.q
expect "" "$bin" --catalog "$cat" prune alpha --rank ""          # a number: nothing to offer
expect "$tmp/s/llama-tiny-f32 " "$bin" --catalog "$cat" import "$tmp/s/llama-tiny-f3"
expect "$tmp/s/llama-tiny-f32 " "$bin" --catalog "$cat" spectrum alpha --svg "$tmp/s/llama-tiny-f3"
expect "" "$bin" --catalog "$tmp/none.db" show ""                  # no catalog: no names, no error
expect "merge " "$bin" help mer
checks=$((checks + 1))
if [ "$(complete -p lorascope)" != "complete -F _lorascope lorascope" ]; then
    echo "FAIL: complete -p lorascope: $(complete -p lorascope)"
    failures=$((failures + 1))
fi
dir=$(dirname "$comp")
for sh in zsh fish; do
    f=$dir/_lorascope
    [ "$sh" = fish ] && f=$dir/lorascope.fish
    if command -v "$sh" >/dev/null; then
        checks=$((checks + 1))
        "$sh" -n "$f" || { echo "FAIL: $sh -n $f"; failures=$((failures + 1)); }
    fi
done
echo "completion: Checks: $checks, Failures: $failures, Errors: 0"
[ "$failures" -eq 0 ]
