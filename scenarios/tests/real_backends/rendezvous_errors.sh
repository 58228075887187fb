#!/bin/bash
# rendezvous_errors.sh SHARDSIM: a busy port and an unreachable master are
# clear errors within the timeout, not hangs, and leave no worker behind.
. "$(dirname "$0")/common.sh"
shardsim=$1
dir=$(mktemp -d)
holder=
trap '[ -n "$holder" ] && kill "$holder" 2> /dev/null; rm -rf "$dir"' EXIT
timeout_s=5

# 1. The launcher is told to serve the store on a port another process holds.
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("", 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(120)
' > "$dir/port" &
holder=$!
for i in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")
[ -n "$port" ] || fail "no port held"
seed=$((1000 + $$ % 100000))
start=$(now)
"$shardsim" run --backend gloo --scenario complicated_dict --world 2 --seed "$seed" \
  --master-port "$port" --timeout "$timeout_s" > "$dir/out" 2> "$dir/err"
status=$?
took=$(elapsed "$start")
cat "$dir/out"
[ "$status" -eq 1 ] || { cat "$dir/err"; fail "exit status $status with a busy port, expected 1"; }
expect_in "$dir/out" "did not start"
expect_in "$dir/out" "could not serve the rendezvous store on 127.0.0.1:$port (is the port busy?)"
less_than "$took" "$((timeout_s + 10))" || fail "a busy port took $took s to report"
expect_no_workers "--seed $seed"
echo "busy port: reported in $took s"

# 2. One rank of a torchrun-style job whose master is not there.
free=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(now)
RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT="$free" \
  "$shardsim" run --backend gloo --scenario complicated_dict --timeout 2 > "$dir/out" 2> "$dir/err"
status=$?
took=$(elapsed "$start")
cat "$dir/err"
[ "$status" -eq 1 ] || fail "exit status $status with no master, expected 1"
[ -s "$dir/out" ] && { cat "$dir/out"; fail "rank 1 printed a report"; }
expect_in "$dir/err" "could not reach the rendezvous store at 127.0.0.1:$free"
less_than "$took" 10 || fail "an unreachable master took $took s to report (timeout 2 s)"
echo "unreachable master: reported in $took s"
