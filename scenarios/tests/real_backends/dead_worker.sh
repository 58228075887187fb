#!/bin/bash
# dead_worker.sh SHARDSIM: a worker killed from outside (SIGKILL) while its
# world waits in a collective: the launcher reports a crash naming the rank,
# its pid and the signal, exits non-zero within the timeout, and leaves no
# worker behind. Then the launcher itself is killed (SIGTERM, then SIGKILL):
# its workers go with it.
. "$(dirname "$0")/common.sh"
shardsim=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
timeout_s=20

# wait_for_workers MARKER N: until N workers of that run are up (at most 60 s).
wait_for_workers() {
  local i
  for i in $(seq 600); do
    [ "$(worker_pids "$1" | wc -l)" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "the workers of '$1' did not start"
}

# 1. Rank 2 is late (10 minutes) for its first collective, so the world waits
#    for it; rank 1 is then killed from outside.
seed=$((1000 + $$ % 100000))
marker="--seed $seed"
"$shardsim" run --backend gloo --scenario complicated_dict --world 3 --seed "$seed" \
  --fault delay:rank=2,collective=1,ms=600000 --timeout "$timeout_s" > "$dir/out" 2> "$dir/err" &
launcher=$!
wait_for_workers "$marker" 3
victim=$(rank_pid "$marker" 1)
[ -n "$victim" ] || fail "no worker of rank 1"
wait_for_sockets "$victim" 3  # the world is built: it waits in the first collective
sleep 0.5
kill -KILL "$victim"
killed=$(now)
wait "$launcher"
status=$?
took=$(elapsed "$killed")
cat "$dir/out"
[ "$status" -eq 1 ] || { cat "$dir/err"; fail "the launcher exited with $status, expected 1"; }
expect_in "$dir/out" "FAIL complicated_dict backend=gloo world=3"
expect_in "$dir/out" "rank 1 (pid $victim) was killed by signal 9 (SIGKILL)"
expect_in "$dir/out" "0 passed, 1 failed"
less_than "$took" "$timeout_s" || fail "the launcher took $took s after the kill (timeout $timeout_s s)"
echo "the launcher reported the dead rank and ended $took s after the kill"
expect_no_workers "$marker"

# 2. The launcher is stopped by SIGTERM, then by SIGKILL: no worker outlives it.
for signal in TERM KILL; do
  seed=$((seed + 1))
  marker="--seed $seed"
  "$shardsim" run --backend gloo --scenario complicated_dict --world 2 --seed "$seed" \
    --fault delay:rank=1,collective=1,ms=600000 --timeout "$timeout_s" > /dev/null 2>&1 &
  launcher=$!
  wait_for_workers "$marker" 2
  kill -"$signal" "$launcher"
  wait "$launcher" 2> /dev/null
  for i in $(seq 50); do
    [ -z "$(worker_pids "$marker")" ] && break
    sleep 0.1
  done
  expect_no_workers "$marker"
  echo "SIG$signal to the launcher: no worker left"
done
