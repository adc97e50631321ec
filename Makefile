# rsml — make targets. `make test` is what CI runs.
GO        ?= go
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run test test-short chaos sim longrun bench bench-engine bench-e2e failover join lint fmt clean

all: build

## build: bin/rsml-node
build:
	$(GO) build -o bin/rsml-node ./cmd/node

## run: build, then start a 3-replica dev cluster in one process (Ctrl-C stops it)
run: build
	./bin/rsml-node dev

## test: the whole suite with the race detector, then the tests that cannot
## run under it: several TCP replicas in one process (each Proto.Actor remote
## start sets gRPC's process-wide logger), a short long-run check that disk,
## heap and goroutines stay flat, and the check that closing nutsdb leaves no
## goroutine (race builds keep it, see internal/nutsfix/stop.go); last, the waiter
## tests with Go's pre-1.23 timers, which a program embedding rsml may use
test:
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -count=1 -timeout 10m -run 'TCP|LongRun' ./node
	$(GO) test -count=1 -timeout 5m -run 'NoRace' ./storage ./internal/nutsfix
	GODEBUG=asynctimerchan=1 $(GO) test -count=1 -timeout 5m -run 'Waiter|Timer' ./node

## chaos: every fault-finding test at length, then a summary of the figures
## (runs, operations, faults injected, violations): SIM_SEEDS simulator seeds,
## CHAOS_RUNS runs of the in-process chaos test of CHAOS_DURATION each, and
## PCHAOS_RUNS runs of the process chaos test (SIGKILL/SIGSTOP of rsml-node
## processes) of PCHAOS_DURATION each, and POWER_CUTS simulated power cuts of
## the whole cluster; see scripts/chaos.sh. make test runs the short versions
## (100 seeds, one 8s and one 10s run, 4 cuts).
SIM_SEEDS ?= 1000
CHAOS_DURATION ?= 30s
CHAOS_RUNS ?= 3
PCHAOS_DURATION ?= 90s
PCHAOS_RUNS ?= 2
POWER_CUTS ?= 50
chaos:
	GO=$(GO) SIM_SEEDS=$(SIM_SEEDS) CHAOS_RUNS=$(CHAOS_RUNS) CHAOS_DURATION=$(CHAOS_DURATION) \
	  PCHAOS_RUNS=$(PCHAOS_RUNS) PCHAOS_DURATION=$(PCHAOS_DURATION) POWER_CUTS=$(POWER_CUTS) ./scripts/chaos.sh

## sim: SIM_SEEDS seeds of the deterministic simulator (make test runs 100)
sim:
	RSML_SIM_SEEDS=$(SIM_SEEDS) $(GO) test -count=1 -run TestSimSeeds -timeout 30m -v ./sim

## bench: the whole comparison, engine then end to end (bench-engine, then
## bench-e2e with ROUNDS = BENCH_RUNS). Leave the machine idle while it runs.
bench: bench-engine
	$(MAKE) --no-print-directory bench-e2e ROUNDS=$(BENCH_RUNS)

## bench-engine: rsml against hashicorp/raft (../shared/bench/hraft, built
## outside shared/), BENCH_RUNS rounds of every configuration below,
## BENCH_DURATION each, rsml and hraft back to back; the JSON lines go to
## BENCH_OUT and the medians to a table at the end.
BENCH_RUNS ?= 5
BENCH_DURATION ?= 5s
BENCH_OUT ?= bin/bench.jsonl
HRAFT_DIR ?= ../shared/bench/hraft
HRAFT_BIN ?= /tmp/hraft-bench
# Each configuration: the rsml-node bench flags and the matching hraft flags.
BENCH_CONFIGS := memory-64 tcp-64 tcp-1 durable-64
BENCH_RSML_memory-64   := --transport memory --storage memory --clients 64
BENCH_HRAFT_memory-64  := -transport inmem -store mem -clients 64
BENCH_RSML_tcp-64      := --transport tcp --storage memory --clients 64
BENCH_HRAFT_tcp-64     := -transport tcp -store mem -clients 64
BENCH_RSML_tcp-1       := --transport tcp --storage memory --clients 1
BENCH_HRAFT_tcp-1      := -transport tcp -store mem -clients 1
BENCH_RSML_durable-64  := --transport tcp --storage nutsdb --clients 64
BENCH_HRAFT_durable-64 := -transport tcp -store bolt -clients 64
# bench_one runs one benchmark, appends its JSON line to BENCH_OUT and shows it.
bench_one = $(1) >>$(BENCH_OUT) && tail -n 1 $(BENCH_OUT)
bench-engine: build
	cd $(HRAFT_DIR) && $(GO) build -o $(HRAFT_BIN) .
	$(GO) build -o bin/benchtable ./cmd/benchtable
	@: >$(BENCH_OUT)
	@for round in $$(seq $(BENCH_RUNS)); do \
	  echo "== round $$round of $(BENCH_RUNS)"; \
	  $(foreach c,$(BENCH_CONFIGS), \
	    $(call bench_one,./bin/rsml-node bench $(BENCH_RSML_$(c)) --duration $(BENCH_DURATION)) && \
	    $(call bench_one,$(HRAFT_BIN) $(BENCH_HRAFT_$(c)) -duration $(BENCH_DURATION)) || exit 1;) \
	done
	@./bin/benchtable $(BENCH_OUT)

## bench-e2e: what users run, against etcd: 3 rsml-node run processes loaded
## over HTTP by rsml-node bench --endpoints (leader only, and --spread), on
## nutsdb and in memory, against ../shared/bench/etcd with and without fsync;
## ROUNDS rounds alternating which system runs first (scripts/bench-e2e.sh)
ROUNDS ?= 5
bench-e2e:
	ROUNDS=$(ROUNDS) DURATION=$(BENCH_DURATION) GO=$(GO) scripts/bench-e2e.sh

## longrun: write to a durable 3-replica cluster for LONGRUN_DURATION and
## check that disk use, live heap and goroutines stay flat (make test runs 6s)
LONGRUN_DURATION ?= 5m
longrun:
	RSML_LONGRUN_DURATION=$(LONGRUN_DURATION) $(GO) test -count=1 -timeout 60m -run TestLongRunBounded -v ./node

## failover: FAILOVER_TRIALS times, SIGKILL the leader of three rsml-node run
## processes and time until another replica leads (scripts/failover.sh)
FAILOVER_TRIALS ?= 10
failover:
	GO=$(GO) scripts/failover.sh $(FAILOVER_TRIALS)

## join: a new replica joins a cluster holding JOIN_KEYS keys of 128 bytes;
## the time until it is added with every role, and until it caught up
JOIN_KEYS ?= 1000000
join:
	RSML_JOIN_KEYS=$(JOIN_KEYS) $(GO) test -count=1 -run XXX -bench JoinCatchUp -benchtime 1x -timeout 60m ./node

## test-short: the suite without the race detector, for a quick edit-test loop
test-short:
	$(GO) test -count=1 ./...

## lint: gofmt, go vet and staticcheck must all be clean
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fmt:
	gofmt -w .

clean:
	rm -rf bin
