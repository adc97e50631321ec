#!/usr/bin/env bash
# scripts/restart.sh BIN KEYS (run from the repository root): 3 nutsdb replicas, KEYS keys of 128 B loaded, then one
# follower SIGKILLed and restarted: time to serve a linearizable read, peak RSS.
BIN=$1; KEYS=$2
W=${W:-/tmp/rsml-restart}; rm -rf $W; mkdir -p $W
peers="1=127.0.0.1:17501,2=127.0.0.1:17502,3=127.0.0.1:17503"
declare -A PID
start() { $BIN run --id $1 --peers $peers --http 127.0.0.1:1760$1 --storage nutsdb --data-dir $W/r$1 --log-level ${LOGLEVEL:-warn} --pprof >>$W/log$1 2>&1 & PID[$1]=$!; }
for i in 1 2 3; do start $i; done
L=""
for _ in $(seq 100); do for i in 1 2 3; do curl -fs --max-time 0.2 http://127.0.0.1:1760$i/v1/status 2>/dev/null | grep -q '"is_leader":true' && L=$i; done; [ -n "$L" ] && break; sleep 0.1; done
(cd "$(dirname "$0")/.." && go run ./scripts/loadkeys http://127.0.0.1:1760$L $KEYS) 2>&1 | tail -1
sleep ${SETTLE:-5}
F=$(( L % 3 + 1 ))
echo "leader $L, restarting $F; data dir $(du -sm $W/r$F | cut -f1) MB; snapshots: $(ls -la $W/r$F/snapshots 2>/dev/null | awk '/snap-/{print $5}' | tr '\n' ' ')"
kill -9 ${PID[$F]}; wait ${PID[$F]} 2>/dev/null
t0=$(date +%s.%N); start $F
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://127.0.0.1:1760$F/v1/kv/key-$((KEYS-1)))" = 200 ]; do sleep 0.02; done
t1=$(date +%s.%N)
sleep 3
echo "serving after $(echo "$t1 - $t0" | bc) s; peak RSS $(awk '/VmHWM/{print int($2/1024)}' /proc/${PID[$F]}/status) MB, now $(awk '/VmRSS/{print int($2/1024)}' /proc/${PID[$F]}/status) MB; other replicas peak $(for i in 1 2 3; do [ $i != $F ] && awk '/VmHWM/{printf "%d ", $2/1024}' /proc/${PID[$i]}/status; done)MB"
curl -s -o $W/heap.prof http://127.0.0.1:1760$F/debug/pprof/heap 2>/dev/null
kill ${PID[@]}; wait 2>/dev/null
