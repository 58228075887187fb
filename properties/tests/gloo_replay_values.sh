#!/bin/sh
# Replays the saved cases on Gloo (worlds up to 8; larger ones are SKIP) and
# on fibers: nothing fails on Gloo, and every case that ran there gives the
# same values= as on fibers.
# usage: gloo_replay_values.sh SHARDSIM CASES_DIR
set -eu
shardsim=$1
cases=$2
gloo=$("$shardsim" replay "$cases" --backend gloo --max-procs 8 --timeout 120) || {
  echo "$gloo"
  exit 1
}
fiber=$("$shardsim" replay "$cases")
echo "$gloo"
ran=$(echo "$gloo" | grep -c '^PASS ' || true)
[ "$ran" -gt 0 ] || { echo "no case ran on gloo"; exit 1; }
echo "$gloo" | grep '^PASS ' | while read -r _ path rest; do
  got=$(echo "$rest" | tr ' ' '\n' | grep '^values=')
  want=$(echo "$fiber" | grep "^PASS $path " | tr ' ' '\n' | grep '^values=')
  if [ "$got" != "$want" ]; then
    echo "$path: gloo $got, fiber $want"
    exit 1
  fi
done
echo "$ran cases give the same values on gloo and on fibers"
