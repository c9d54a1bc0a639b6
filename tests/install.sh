#!/usr/bin/env bash
# tests/install.sh BUILD-DIR: `meson install --destdir` into a temporary folder puts in place the binary,
# every manual page (lorascope.1, one lorascope-CMD.1 per command, lorascope-script.5) and the bash, zsh
# and fish completion files, where man and the shells look for them.
set -u
build=$1 bin=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --no-rebuild --quiet >"$tmp.log" 2>&1 || { cat "$tmp.log"; rm -f "$tmp.log"; exit 1; }
rm -f "$tmp.log"
checks=0 failures=0
has() {
    checks=$((checks + 1))
    local hit
    hit=$(cd "$tmp" && find . -path "*$1" | head -1)
    if [ -z "$hit" ]; then
        echo "FAIL: nothing installed at */$1"
        failures=$((failures + 1))
    else
        echo "ok: ${hit#.}"
    fi
}
has bin/lorascope
has man1/lorascope.1
has man5/lorascope-script.5
for c in $("$bin" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}'); do
    has "man1/lorascope-$c.1"
done
has bash-completion/completions/lorascope
has zsh/vendor-completions/_lorascope
has fish/vendor_completions.d/lorascope.fish
echo "install: Checks: $checks, Failures: $failures, Errors: 0"
[ "$failures" -eq 0 ]
