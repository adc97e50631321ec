# rsml — make targets. `make test` is what CI runs.
GO        ?= go
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build test test-short lint fmt clean

all: build

## build: bin/rsml-node
build:
	$(GO) build -o bin/rsml-node ./cmd/node

## test: the whole suite with the race detector (what CI runs)
test:
	$(GO) test -race -count=1 -timeout 15m ./...

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
