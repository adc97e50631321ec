#!/usr/bin/env bash
# scripts/memory.sh BIN KEYS DURATION [extra run flags...]: 3 nutsdb run processes, 64 HTTP clients
# to the leader (TO=follower: to a follower, which forwards every request); prints per replica the
# mean RSS over the second half and the peak RSS; * marks the replica the clients write to. The
# replicas' CPU time per operation is steadier than ops/s on a shared machine.
BIN=$1; KEYS=$2; DUR=$3; shift 3
W=${W:-/tmp/rsml-memory}; rm -rf $W; mkdir -p $W
peers="1=127.0.0.1:17301,2=127.0.0.1:17302,3=127.0.0.1:17303"
PIDS=()
for i in 1 2 3; do
  $BIN run --id $i --peers $peers --http 127.0.0.1:1740$i --storage nutsdb --data-dir $W/r$i --log-level error --pprof "$@" >>$W/log$i 2>&1 &
  PIDS+=($!)
done
L=""
for _ in $(seq 100); do
  for i in 1 2 3; do
    curl -fs --max-time 0.2 http://127.0.0.1:1740$i/v1/status 2>/dev/null | grep -q '"is_leader":true' && L=$i
  done
  [ -n "$L" ] && break
  sleep 0.1
done
if [ "${TO:-leader}" = follower ]; then L=$(( L % 3 + 1 )); fi
( while true; do for i in 0 1 2; do echo "$i $(awk '/VmRSS/{print $2}' /proc/${PIDS[$i]}/status 2>/dev/null)"; done; sleep 1; done ) > $W/rss &
SP=$!
( sleep $(( ${DUR%s} - 5 )); for i in 1 2 3; do curl -s -o $W/mid$i.prof http://127.0.0.1:1740$i/debug/pprof/heap; curl -s -o $W/midm$i http://127.0.0.1:1740$i/metrics; done ) &
$BIN bench --endpoints http://127.0.0.1:1740$L --clients 64 --duration $DUR --keys $KEYS 2>/dev/null | tail -1 > $W/bench.json
kill $SP
for i in 1 2 3; do curl -s -o $W/heap$i.prof http://127.0.0.1:1740$i/debug/pprof/heap; curl -s -o $W/metrics$i http://127.0.0.1:1740$i/metrics; done
for i in 0 1 2; do echo "r$((i+1)) hwm $(awk '/VmHWM/{print $2}' /proc/${PIDS[$i]}/status)"; done > $W/hwm
# CPU seconds (user+system) of the three replicas together.
cpu=0; for p in ${PIDS[@]}; do cpu=$(( cpu + $(awk '{print $14+$15}' /proc/$p/stat) )); done
echo $cpu $(getconf CLK_TCK) > $W/cpu
kill ${PIDS[@]}; wait ${PIDS[@]} 2>/dev/null
python3 - $W $L <<'PY'
import sys, json
W, L = sys.argv[1], int(sys.argv[2])
rows = [l.split() for l in open(W+'/rss') if len(l.split())==2]
b = json.loads(open(W+'/bench.json').read())
hwm = {l.split()[0]: int(l.split()[2]) for l in open(W+'/hwm')}
out = []
for i in range(3):
    v = [int(r[1]) for r in rows if int(r[0])==i]
    half = v[len(v)//2:]
    out.append("r%d%s mean2h %.0f MB peak %.0f MB" % (i+1, '*' if i+1==L else '', sum(half)/len(half)/1024, hwm['r%d'%(i+1)]/1024))
ticks, hz = map(int, open(W+'/cpu').read().split())
print(int(b['ops_per_sec']), 'ops/s | %.0f replica CPU-µs/op |' % (ticks/hz*1e6/max(b['ops'], 1)), ' | '.join(out))
PY
