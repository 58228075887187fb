#!/bin/bash
# values_match_fiber.sh SHARDSIM RUN-ARGS...: runs RUN-ARGS on the fiber
# backend and on Gloo, and checks that both pass and agree line for line on
# verdict, scenario, world, mesh, seed and values= (bit for bit), and that the
# Gloo lines say trace=- schedule=-.
. "$(dirname "$0")/common.sh"
shardsim=$1
shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$shardsim" run "$@" --backend fiber > "$dir/fiber" || { cat "$dir/fiber"; fail "the fiber run failed"; }
start=$(now)
"$shardsim" run "$@" --backend gloo --timeout 60 > "$dir/gloo" || { cat "$dir/gloo"; fail "the gloo run failed"; }
echo "gloo: $(tail -n 1 "$dir/gloo") in $(elapsed "$start") s"

# verdict scenario world mesh seed values
key() {
  grep -E '^(PASS|FAIL|SKIP) ' "$1" |
    awk '{ v = "?"; for (i = 3; i <= NF; ++i) if ($i ~ /^values=/) v = $i; print $1, $2, $4, $5, $6, v }'
}
key "$dir/fiber" > "$dir/fiber.keys"
key "$dir/gloo" > "$dir/gloo.keys"
runs=$(grep -c '^PASS' "$dir/gloo.keys")
[ "$runs" -gt 0 ] || fail "no run passed on gloo"
diff "$dir/fiber.keys" "$dir/gloo.keys" > "$dir/diff" || { cat "$dir/diff"; fail "gloo and fiber results differ"; }
if grep -E '^PASS ' "$dir/gloo" | grep -vq ' schedule=- trace=- '; then
  fail "a gloo line has a schedule or trace"
fi
tail -n 1 "$dir/gloo" | grep -q ' 0 failed' || fail "the gloo run failed something"
echo "values= of $runs runs agree with the fiber backend"
