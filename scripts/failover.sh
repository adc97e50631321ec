#!/usr/bin/env bash
# failover.sh: time from SIGKILL of the leader of a three-replica cluster of
# rsml-node run processes (nutsdb, loopback) until another replica reports
# that it leads, TRIALS times (default 10); prints each and the median.
# Usage: scripts/failover.sh [TRIALS]   (make failover)
set -euo pipefail
TRIALS=${1:-10}
GO=${GO:-go}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'kill -9 "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$GO" build -o "$WORK/rsml-node" "$ROOT/cmd/node"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
declare -a CONS HTTP PIDS
for i in 1 2 3; do CONS[$i]=127.0.0.1:$(port); HTTP[$i]=127.0.0.1:$(port); done
PEERS="1=${CONS[1]},2=${CONS[2]},3=${CONS[3]}"
start() {
	"$WORK/rsml-node" run --id "$1" --peers "$PEERS" --http "${HTTP[$1]}" --data-dir "$WORK/d$1" \
		--log-level error >>"$WORK/log$1" 2>&1 &
	PIDS[$1]=$!
	disown # no "Killed" report from the shell
}
leader() {
	for i in 1 2 3; do
		if curl -fs --max-time 0.2 "http://${HTTP[$i]}/v1/status" 2>/dev/null | grep -q '"is_leader":true'; then
			echo "$i"; return
		fi
	done
	echo 0
}
now_ms() { date +%s%3N; }
for i in 1 2 3; do start "$i"; done
results=()
for t in $(seq 1 "$TRIALS"); do
	until [ "$(leader)" != 0 ]; do sleep 0.05; done
	# some writes, so that the cluster is in use
	for k in $(seq 1 20); do curl -fs -X PUT --data v "http://${HTTP[1]}/v1/kv/k$k" >/dev/null || true; done
	l=$(leader)
	t0=$(now_ms)
	kill -9 "${PIDS[$l]}"
	while :; do
		n=$(leader)
		if [ "$n" != 0 ] && [ "$n" != "$l" ]; then break; fi
		sleep 0.005
	done
	ms=$(( $(now_ms) - t0 ))
	results+=("$ms")
	echo "trial $t: leader $l killed; replica $n leads after ${ms} ms"
	while kill -0 "${PIDS[$l]}" 2>/dev/null; do sleep 0.01; done
	start "$l"
	until curl -fs --max-time 0.2 "http://${HTTP[$l]}/v1/status" >/dev/null 2>&1; do sleep 0.05; done
done
sorted=$(printf '%s\n' "${results[@]}" | sort -n)
median=$(echo "$sorted" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
echo "failover after SIGKILL of the leader, $TRIALS trials: median ${median} ms, min $(echo "$sorted" | head -1) ms, max $(echo "$sorted" | tail -1) ms"
