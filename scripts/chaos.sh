#!/usr/bin/env bash
# chaos.sh: every fault-finding test at length, then one summary.
#
#   1. the seeded simulator:       SIM_SEEDS seeds (default 1000), and as many
#      with membership changes in the nemesis
#   2. the in-process chaos test:  CHAOS_RUNS runs of CHAOS_DURATION (3 x 30s)
#   3. the process chaos test:     PCHAOS_RUNS runs of PCHAOS_DURATION (2 x 90s)
#   4. the power-loss test:        POWER_CUTS whole-cluster power cuts (default 50)
#
# Each part runs even if an earlier one failed; the full output of each goes
# to $CHAOS_LOG_DIR (default bin/chaos), and the script exits 1 if any part
# failed. The figures come from fixed-shape lines the tests print:
# "violations: N failing runs" (sim), "chaos-figures: k=v ..." (node) and
# "pchaos-figures: k=v ..." (cmd/node), "power-figures: k=v ..." (node).
set -u

GO=${GO:-go}
SIM_SEEDS=${SIM_SEEDS:-1000}
CHAOS_RUNS=${CHAOS_RUNS:-3}
CHAOS_DURATION=${CHAOS_DURATION:-30s}
PCHAOS_RUNS=${PCHAOS_RUNS:-2}
PCHAOS_DURATION=${PCHAOS_DURATION:-90s}
POWER_CUTS=${POWER_CUTS:-50}
LOGS=${CHAOS_LOG_DIR:-bin/chaos}
mkdir -p "$LOGS"

failed=0
# run NAME CMD...: runs one part with its output shown and kept in $LOGS/NAME.log.
run() {
	local name=$1
	shift
	echo "== $name: $*"
	local start=$SECONDS
	"$@" 2>&1 | tee "$LOGS/$name.log"
	local rc=${PIPESTATUS[0]}
	echo "$rc $((SECONDS - start))" >"$LOGS/$name.rc"
	[ "$rc" -eq 0 ] || failed=1
}

run sim env RSML_SIM_SEEDS="$SIM_SEEDS" RSML_SIM_RECONFIG_SEEDS="$SIM_SEEDS" "$GO" test -count=1 -run 'TestSimSeeds|TestSimReconfig' -timeout 30m -v ./sim
run actor env RSML_CHAOS_DURATION="$CHAOS_DURATION" "$GO" test -count="$CHAOS_RUNS" -timeout 60m \
	-run TestChaosLinearizable -v ./node
run process env RSML_PCHAOS_DURATION="$PCHAOS_DURATION" "$GO" test -count="$PCHAOS_RUNS" -timeout 60m \
	-run TestProcessChaosLinearizable -v ./cmd/node
run power env RSML_POWER_ROUNDS="$POWER_CUTS" "$GO" test -count=1 -timeout 30m \
	-run TestPowerLossKeepsAcknowledgedWrites -v ./node

# figures PREFIX LOG: sums the k=v fields of every "PREFIX: k=v ..." line,
# in the order they first appear (ops by outcome, faults, then by kind).
figures() {
	awk -v p="$1:" '
		{ for (i = 1; i <= NF; i++) if ($i == p) for (j = i + 1; j <= NF; j++) {
			split($j, kv, "="); if (!(kv[1] in s)) order[n++] = kv[1]; s[kv[1]] += kv[2] } }
		END { for (i = 0; i < n; i++) printf "%s%s=%d", (i ? " " : ""), order[i], s[order[i]]; printf "\n" }' "$2"
}
status() { read -r rc secs <"$LOGS/$1.rc"; [ "$rc" -eq 0 ] && echo "ok in ${secs}s" || echo "FAILED (exit $rc) in ${secs}s"; }
fails() { grep -c -- '^    --- FAIL\|^--- FAIL' "$1" || true; }

echo
echo "== chaos summary (logs in $LOGS/)"
sim=$LOGS/sim.log
echo "simulator:  $(status sim); $SIM_SEEDS seeds"
grep -h -m1 ' runs in ' "$sim" | sed 's/^ *sim_test.go:[0-9]*: /            /'
grep -h -m1 'faults: {' "$sim" | sed 's/^ *sim_test.go:[0-9]*: /            /'
grep -h -m1 'messages: ' "$sim" | sed 's/^ *sim_test.go:[0-9]*: /            /'
echo "            violations: $(grep -h -m1 -o 'violations: [0-9]*' "$sim" | cut -d' ' -f2) failing seeds"
echo "simulator with membership changes (3 replicas, 2 spares): $SIM_SEEDS seeds"
grep -h 'membership changes: ' "$sim" | sed 's/^ *sim_test.go:[0-9]*: /            /'
echo "            violations: $(grep -h -o 'violations: [0-9]*' "$sim" | sed -n 2p | cut -d' ' -f2) failing seeds"
for part in actor process; do
	log=$LOGS/$part.log
	prefix=chaos-figures runs=$CHAOS_RUNS dur=$CHAOS_DURATION
	[ "$part" = process ] && prefix=pchaos-figures runs=$PCHAOS_RUNS dur=$PCHAOS_DURATION
	passed=$(grep -c "$prefix:" "$log")
	printf '%-11s %s; %d runs of %s, %d passed the checks, %d failed\n' "$part:" "$(status "$part")" "$runs" "$dur" "$passed" "$(fails "$log")"
	echo "            figures: $(figures "$prefix" "$log" | fold -s -w 100 | sed '2,$s/^/                     /')"
	echo "            violations: $(grep -c 'is Illegal' "$log") non-linearizable histories"
	grep -h -- '--- FAIL\|Illegal\|inconclusive' "$log" | sed 's/^ */            /' | head -10
done
log=$LOGS/power.log
printf '%-11s %s; %s\n' "power:" "$(status power)" "$(figures power-figures "$log")"
grep -h -- '--- FAIL\|lost acknowledged\|differs from' "$log" | sed 's/^ */            /' | head -10
if [ "$failed" -ne 0 ]; then
	echo "chaos: FAILED (see the logs above)"
	exit 1
fi
echo "chaos: no violations"
