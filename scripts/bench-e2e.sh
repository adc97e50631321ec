#!/usr/bin/env bash
# bench-e2e.sh: what users run, against etcd. Three `rsml-node run`
# processes loaded over HTTP by `rsml-node bench --endpoints` (the leader
# only, or --spread over every replica), on nutsdb and in memory, and etcd
# v3.7 (../shared/bench/etcd: 3 members, its gRPC client) with and without
# WAL fsync, ROUNDS times. Each round alternates which system runs first,
# every run waits for an idle machine, and each JSON line gets
# "other_cpu_s" (CPU the rest of the machine used meanwhile) and, for rsml,
# "server_cpu_us" (the three processes' CPU per successful operation).
# Each round also runs rsml alone with transactions of 100 puts (durable,
# leader: keys_per_sec in its line). Both sides
# run their default settings. The lines go to OUT; the table at the end
# comes from benchtable.
# Usage: scripts/bench-e2e.sh   (make bench-e2e; ROUNDS, DURATION, CLIENTS, OUT)
set -euo pipefail
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CLIENTS=${CLIENTS:-64}
GO=${GO:-go}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/bin/bench-e2e.jsonl}
WORK=$(mktemp -d)
declare -a PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
"$GO" build -o "$WORK/rsml-node" "$ROOT/cmd/node"
"$GO" build -o "$WORK/benchtable" "$ROOT/cmd/benchtable"
(cd "$ROOT/../shared/bench/etcd" && "$GO" build -o "$WORK/etcd-bench" .)
mkdir -p "$(dirname "$OUT")"
: >"$OUT"
HZ=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# Wait (up to 2 minutes) until the machine has been nearly idle for a second.
wait_idle() {
	for _ in $(seq 120); do
		a=$(busy); sleep 1; [ $(($(busy) - a)) -lt $((HZ / 10)) ] && return
	done
}
# ports N: N distinct free loopback ports (all bound at once, so no two
# are the same).
ports() {
	python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

# rsml STORAGE TARGET [BENCH FLAGS...]: one run against three fresh processes.
rsml() {
	local storage=$1 target=$2 cons=() http=() urls=() leader="" i p
	shift 2
	read -r -a p <<<"$(ports 6)"
	for i in 1 2 3; do
		cons[$i]=127.0.0.1:${p[$((i - 1))]}; http[$i]=127.0.0.1:${p[$((i + 2))]}; urls[$i]=http://${http[$i]}
	done
	local peers="1=${cons[1]},2=${cons[2]},3=${cons[3]}"
	PIDS=()
	for i in 1 2 3; do
		"$WORK/rsml-node" run --id "$i" --peers "$peers" --http "${http[$i]}" --storage "$storage" \
			--data-dir "$WORK/r$i" --log-level error >>"$WORK/log$i" 2>&1 &
		PIDS+=($!)
	done
	for _ in $(seq 200); do
		for i in 1 2 3; do
			curl -fs --max-time 0.2 "${urls[$i]}/v1/status" 2>/dev/null | grep -q '"is_leader":true' && leader=$i
		done
		[ -n "$leader" ] && break
		sleep 0.05
	done
	[ -n "$leader" ] || { echo "bench-e2e: no leader among the rsml processes" >&2; tail -n 5 "$WORK"/log? >&2; exit 1; }
	local args=(--endpoints "${urls[$leader]}")
	[ "$target" = all ] && args=(--endpoints "${urls[1]},${urls[2]},${urls[3]}" --spread)
	wait_idle
	for p in "${PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || { echo "bench-e2e: an rsml process exited before the run" >&2; tail -n 5 "$WORK"/log? >&2; exit 1; }
	done
	local b0 s0=0 s1=0 line
	b0=$(busy)
	for p in "${PIDS[@]}"; do s0=$((s0 + $(ticks "$p"))); done
	line=$(/usr/bin/time -f '%U %S' -o "$WORK/time" "$WORK/rsml-node" bench "${args[@]}" \
		--clients "$CLIENTS" --duration "$DURATION" "$@" 2>/dev/null | tail -n 1)
	for p in "${PIDS[@]}"; do s1=$((s1 + $(ticks "$p"))); done
	local b1; b1=$(busy)
	read -r u sy <"$WORK/time"
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
	rm -rf "$WORK"/r?
	python3 - "$line" "$storage" "$((b1 - b0))" "$((s1 - s0))" "$HZ" "$u" "$sy" >>"$OUT" <<'PY'
import json, sys
line, storage, busy, server, hz, u, s = sys.argv[1:]
d = json.loads(line)
d["storage"] = storage
server_s = int(server) / int(hz)
d["other_cpu_s"] = round(int(busy) / int(hz) - server_s - float(u) - float(s), 2)
d["server_cpu_us"] = round(server_s * 1e6 / max(d["ops"], 1), 1)
print(json.dumps(d, separators=(",", ":")))
PY
	tail -n 1 "$OUT"
}

# etcd FSYNC TARGET: one run of the etcd reference.
etcd() {
	wait_idle
	local b0 b1 line
	b0=$(busy)
	line=$(/usr/bin/time -f '%U %S' -o "$WORK/time" "$WORK/etcd-bench" -clients "$CLIENTS" -conns 8 \
		-duration "$DURATION" -value 128 -keys 1000 -fsync="$1" -target "$2" 2>/dev/null | tail -n 1)
	b1=$(busy)
	read -r u sy <"$WORK/time"
	python3 - "$line" "$((b1 - b0))" "$HZ" "$u" "$sy" >>"$OUT" <<'PY'
import json, sys
line, busy, hz, u, s = sys.argv[1:]
d = json.loads(line)
d["other_cpu_s"] = round(int(busy) / int(hz) - float(u) - float(s), 2)
print(json.dumps(d, separators=(",", ":")))
PY
	tail -n 1 "$OUT"
}

for round in $(seq "$ROUNDS"); do
	echo "== round $round of $ROUNDS"
	for cfg in "nutsdb true leader" "memory false leader" "nutsdb true all" "memory false all"; do
		read -r storage fsync target <<<"$cfg"
		if [ $((round % 2)) = 1 ]; then
			rsml "$storage" "$target"; etcd "$fsync" "$target"
		else
			etcd "$fsync" "$target"; rsml "$storage" "$target"
		fi
	done
	# Transactions of 100 puts, durable (etcd's bench has no counterpart).
	rsml nutsdb leader --txn-size 100
done
echo "Both systems run their default settings (rsml-node run and bench's defaults; etcd's embed.NewConfig()); medians of $ROUNDS rounds:"
"$WORK/benchtable" "$OUT"
