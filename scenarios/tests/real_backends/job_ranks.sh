#!/bin/bash
# job_ranks.sh SHARDSIM: shardsim started as the ranks of a job, with the
# variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
# MASTER_PORT) and then the ones srun sets (SLURM_PROCID, SLURM_NTASKS,
# SLURM_LOCALID, SLURM_JOB_NODELIST). Each process is one rank: rank 0 prints
# every result (specs of another world SKIP with the reason) and the closing
# line; the other ranks print nothing. values= match the fiber backend's.
. "$(dirname "$0")/common.sh"
shardsim=$1
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null; rm -rf "$dir"' EXIT
args=(run --backend gloo --scenario 'gather_*' --world 2,3 --seeds 2 --timeout 30)
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
wait_ranks() {
  wait "${pids[0]}" || { cat "$dir/err0"; fail "rank 0 failed"; }
  wait "${pids[1]}" || { cat "$dir/err1"; fail "rank 1 failed"; }
}

check_report() {
  local out=$1
  cat "$out"
  expect_in "$out" "PASS gather_state_dict_dtensor backend=gloo world=2 mesh=2 seed=1 schedule=- trace=- values="
  expect_in "$out" "SKIP gather_state_dict_dtensor backend=gloo world=3 mesh=3 seed=1"
  expect_in "$out" "world 3 needs 3 ranks; this job has 2"
  expect_in "$out" "2 passed, 0 failed, 6 skipped"
  # The same values as on fibers.
  "$shardsim" run --backend fiber --scenario 'gather_*' --world 2 --seeds 2 > "$dir/fiber"
  for seed in 1 2; do
    want=$(grep -E "^PASS gather_state_dict_dtensor .* seed=$seed " "$dir/fiber" | grep -o 'values=[0-9a-f]*')
    grep -E "^PASS gather_state_dict_dtensor .* seed=$seed " "$out" | grep -q "$want" ||
      fail "seed $seed: values differ from the fiber backend's ($want)"
  done
}

# 1. torchrun's variables.
p=$(port)
for rank in 0 1; do
  RANK=$rank WORLD_SIZE=2 LOCAL_RANK=$rank LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p \
    "$shardsim" "${args[@]}" > "$dir/out$rank" 2> "$dir/err$rank" &
  pids[$rank]=$!
done
wait_ranks
check_report "$dir/out0"
[ -s "$dir/out1" ] && { cat "$dir/out1"; fail "rank 1 printed a report"; }
echo "torchrun variables: rank 0 reported, rank 1 was quiet"

# 2. srun's variables (the master is the first host of the node list).
p=$(port)
for rank in 0 1; do
  env -u RANK SLURM_PROCID=$rank SLURM_NTASKS=2 SLURM_LOCALID=$rank SLURM_JOB_ID=7 \
    SLURM_JOB_NODELIST=localhost MASTER_PORT=$p \
    "$shardsim" "${args[@]}" > "$dir/out$rank" 2> "$dir/err$rank" &
  pids[$rank]=$!
done
wait_ranks
check_report "$dir/out0"
[ -s "$dir/out1" ] && { cat "$dir/out1"; fail "rank 1 printed a report"; }
echo "srun variables: rank 0 reported, rank 1 was quiet"
