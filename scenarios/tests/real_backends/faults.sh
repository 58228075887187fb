#!/bin/bash
# faults.sh SHARDSIM SUITE: runs faults.toml on Gloo (and SIGKILLs rank 1 at
# its 2nd collective of spec 6 through SHARDSIM_TEST_KILL). Every injected
# fault must end its spec with the expected outcome (crash, deadlock,
# timeout), promptly, and the spec after it must pass on a renewed or
# restarted world; no worker may be left behind.
. "$(dirname "$0")/common.sh"
shardsim=$1
suite=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The suite's own path in the workers' command lines tells them apart.
cp "$suite" "$dir/faults.toml"
marker="$dir/faults.toml"

SHARDSIM_TEST_KILL=rank=1,collective=2,spec=6 "$shardsim" run "$marker" > "$dir/out" 2> "$dir/err" ||
  { cat "$dir/out" "$dir/err"; fail "the faults suite did not meet its expectations"; }
cat "$dir/out"
expect_in "$dir/out" "8 passed, 0 failed"
# time= of the spec with data seed SEED.
spec_time() { grep -m1 " seed=$1 " "$dir/out" | sed 's/.*time=//'; }
# A failing rank aborts the world: the others do not wait out the 30 s timeout.
for seed in 1 3; do
  less_than "$(spec_time $seed)" 5 || fail "spec seed=$seed took $(spec_time $seed) s (no prompt abort)"
done
expect_in "$dir/out" "expected crash: rank 1: injected crash (crash:rank=1,collective=2)"
expect_in "$dir/out" "expected deadlock: rank 1: injected exit (exit:rank=1,collective=2)"
expect_in "$dir/out" "expected timeout: rank 2 did not report its result"
expect_in "$dir/out" "expected crash: rank 1 (pid "
expect_in "$dir/out" "was killed by signal 9 (SIGKILL)"
# Timeout 4 s, plus slack for a loaded machine.
less_than "$(spec_time 7)" 6 || fail "the killed rank took $(spec_time 7) s to report (timeout 4 s)"
expect_no_workers "$marker"
