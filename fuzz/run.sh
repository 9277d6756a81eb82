#!/usr/bin/env bash
# Fuzzes every target in turn with cargo fuzz (nightly, libFuzzer, AddressSanitizer), starting from
# the committed seeds in fuzz/seeds/<target>; what libFuzzer finds is kept in fuzz/corpus/<target>
# (ignored by git), crashes in fuzz/artifacts/<target>. A crash stops the script with status 1:
# turn the artifact into a regression test, then fix.
#
#   bash fuzz/run.sh            # 600 s per target: the long run of docs/RELIABILITY.md
#   bash fuzz/run.sh 30         # the smoke run of .ci/run
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
targets=(configuration overrides certificate token_answer www_authenticate url)

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain installed; cargo fuzz needs one" >&2
  exit 2
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked --quiet cargo-fuzz

cargo +nightly fuzz build --release --debug-assertions 2>&1 | tail -n 3
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "== fuzz $target (${seconds} s)"
  log=$(mktemp)
  status=0
  cargo +nightly fuzz run --release --debug-assertions "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
  # The executions and peak memory, for the record.
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz $target failed (status $status); a crash is saved in fuzz/artifacts/$target" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
done
echo "fuzz: no crash in ${#targets[@]} targets"
