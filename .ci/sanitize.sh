#!/usr/bin/env bash
# .ci/sanitize.sh: the whole test suite again in build-sanitize/, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc; -Db_lundef=false as meson needs for sanitizers). Leaks are reported
# (detect_leaks=1) and any UBSan finding halts the test, so every finding fails the run. The tui-smoke
# test needs tmux like the normal suite; the benchmarks are not run. Idempotent: reuses build-sanitize/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
dir=build-sanitize
if [ ! -f "$dir/build.ninja" ]; then
  CC=${CC:-gcc} meson setup "$dir" -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C "$dir" >/dev/null
# OpenBLAS and SQLite are not instrumented; LSan's default suppressions do not cover them, but nothing
# of theirs leaks per call here (checked). abort_on_error makes ASan findings look like crashes to Check.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
# CK_FORK=no: each suite runs in one process, so a leak anywhere in it is reported at its exit.
CK_FORK=no meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier 4 --no-suite bench
