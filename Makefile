# rsml — make targets. `make test` is what CI runs.
GO        ?= go
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run test test-short chaos lint fmt clean

all: build

## build: bin/rsml-node
build:
	$(GO) build -o bin/rsml-node ./cmd/node

## run: build, then start a 3-replica dev cluster in one process (Ctrl-C stops it)
run: build
	./bin/rsml-node dev

## test: the whole suite with the race detector, then the tests that run
## several TCP replicas in one process, which cannot run under it (each
## Proto.Actor remote start sets gRPC's process-wide logger)
test:
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -count=1 -timeout 10m -run 'TCP' ./node

## chaos: the linearizability chaos test of the in-process cluster, CHAOS_RUNS
## runs of CHAOS_DURATION each (default 8 x 30s, each with its own seeds);
## CI runs one 8s run as part of make test
CHAOS_DURATION ?= 30s
CHAOS_RUNS ?= 8
chaos:
	RSML_CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -count=$(CHAOS_RUNS) -timeout 60m -run TestChaosLinearizable -v ./node

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
