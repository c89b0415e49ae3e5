#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer harnesses fuzz/fuzz_*.cpp (clang, ASan + UBSan, every finding
# fatal) and runs each for HADW_FUZZ_SECONDS (default 60) from its seed corpus fuzz/corpus/<name>/.
# The harnesses run side by side (2 cores in CI: about one minute of wall time for all of them).
# Prints each harness's execution count; fails on any crash, leak, timeout, sanitizer report or
# FUZZ_CHECK property violation, printing the end of that harness's log and the reproducer path.
set -euo pipefail
out="${HADW_FUZZ_BUILD_DIR:-build-fuzz}"
seconds="${HADW_FUZZ_SECONDS:-60}"
bash fuzz/build.sh "$out"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
pids=()
names=()
for bin in "$out"/fuzz_*; do
  [ -x "$bin" ] || continue
  name="$(basename "$bin")"
  work="$out/corpus/$name"  # new inputs go here; the committed seeds are only read
  mkdir -p "$work"
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/$name-" "$work" "fuzz/corpus/$name" >"$out/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
done
status=0
for i in "${!pids[@]}"; do
  name="${names[$i]}"
  if wait "${pids[$i]}"; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$name.log")"
    echo "fuzz: $name: $runs executions in ${seconds} s ($rate/s), no crash, leak or sanitizer report"
  else
    status=1
    echo "fuzz: $name FAILED; end of $out/$name.log:"
    tail -n 40 "$out/$name.log"
    ls "$out/$name-"* 2>/dev/null | sed 's/^/fuzz: reproducer: /' || true
  fi
done
exit "$status"
