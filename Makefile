# workqueue: make run starts the server, make test runs what CI runs.

BIN := ./workqueue
GO  ?= go

.PHONY: all build run test demo bench clean

all: build

build:
	$(GO) build -o $(BIN) .

run: build
	$(BIN)

# test is exactly what CI runs: formatting, vet, and the race-enabled tests.
test:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

# demo builds the server, starts it, sends bursts of jobs, then drains it.
demo: build
	scripts/demo-server.sh $(BIN)

# bench measures the performance targets as ratios to baselines run alongside.
bench:
	scripts/bench.sh

clean:
	rm -f $(BIN)
	$(GO) clean -testcache
