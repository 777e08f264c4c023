#!/usr/bin/env bash
# A benchmark (BENCHMARKS.md, "A new phone"), not a test: `tests/benches/cli_join.sh`.
# Through the CLI, against a release relay on loopback: Ada writes N entries (3,000) and
# syncs (which uploads a snapshot); Ben's fresh home joins. Timed: join, + list the newest
# 50, + show the newest in full (target: all of it within 1 s).
set -euo pipefail
N=${N:-3000}
D=$(mktemp -d)
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cargo build --release --quiet -p duet-cli -p duet-server --manifest-path "$ROOT/Cargo.toml"
DUET="$ROOT/target/release/duet"
RELAY="$ROOT/target/release/duet-relay"
PORT=$((20000 + RANDOM % 20000))
$RELAY --listen 127.0.0.1:$PORT --data-dir $D/relay > $D/relay.log 2>&1 &
RP=$!
trap 'kill $RP 2>/dev/null; rm -rf $D' EXIT
sleep 1
export DUET_HOME=$D/ada
$DUET init --name Ada --relay http://127.0.0.1:$PORT > /dev/null
$DUET journal create --title Us > /dev/null
body="we walked to the lighthouse and talked about the garden, the rain, the morning, and what we need from each other this week; it was hard to say but good to hear. $(head -c 300 /dev/zero | tr '\0' 'x')"
t0=$(date +%s.%N)
for i in $(seq 1 $N); do
  $DUET entry new --journal Us --kind reflection --title "day $i" --body "$body $i" > /dev/null
done
t1=$(date +%s.%N)
$DUET sync > /dev/null 2>&1
t2=$(date +%s.%N)
code=$($DUET invite create --journal Us --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["uri"])')
echo "ada wrote $N in $(echo "$t1 - $t0" | bc) s, synced in $(echo "$t2 - $t1" | bc) s"
export DUET_HOME=$D/ben
$DUET init --name Ben > /dev/null
for run in 1; do
  rm -rf $D/ben; $DUET init --name Ben > /dev/null
  s=$(date +%s.%N)
  $DUET join "$code" > /dev/null
  j=$(date +%s.%N)
  newest=$($DUET entry list --journal Us --limit 50 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); items=d["entries"]; print(items[0]["id"]); assert len(items)==50')
  l=$(date +%s.%N)
  $DUET entry show "$newest" > /dev/null
  e=$(date +%s.%N)
  echo "cli: join $(echo "$j - $s" | bc) s; + list 50 $(echo "$l - $s" | bc) s; + show newest $(echo "$e - $s" | bc) s (target <= 1 s)"
done
