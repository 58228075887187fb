# Helpers for the real-backend tests (sourced). Each test runs the shardsim
# executable given as its first argument.
set -u

fail() {
  echo "FAILED: $*" >&2
  exit 1
}

now() { date +%s.%N; }
# elapsed START: seconds since START, with millisecond precision.
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# less_than A B: A < B as numbers.
less_than() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# worker_pids MARKER: the shardsim worker processes whose command line holds
# MARKER (tests give each run a unique --seed).
worker_pids() {
  local pid
  for pid in $(pgrep -f -- "$1"); do
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- '--worker-specs' && echo "$pid"
  done
}

# expect_no_workers MARKER: fails when any worker of that run is left.
expect_no_workers() {
  local left
  left=$(worker_pids "$1")
  [ -z "$left" ] || { ps -o pid,ppid,stat,args -p $left >&2; fail "worker processes left behind: $left"; }
}

# rank_pid MARKER RANK: the pid of that run's worker of rank RANK.
rank_pid() {
  local pid
  for pid in $(worker_pids "$1"); do
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "RANK=$2" && { echo "$pid"; return; }
  done
}

# expect_in FILE TEXT: FILE holds TEXT (fixed string).
expect_in() { grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "'$2' not in $1"; }; }

# wait_for_sockets PID N: until process PID holds N sockets (at most 60 s):
# a Gloo rank holds one to the store and, once its world group is built, one
# per peer.
wait_for_sockets() {
  local i
  for i in $(seq 600); do
    [ "$(ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'socket:')" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "process $1 did not open $2 sockets"
}
