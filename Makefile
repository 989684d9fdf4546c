# workqueue: make run starts the server, make test runs what CI runs.

BIN := ./workqueue
GO  ?= go

# How long make test fuzzes the Collector, and how long make stress does.
FUZZTIME        ?= 10s
STRESS_FUZZTIME ?= 5m
STRESS_RUNS     ?= 20

.PHONY: all build run test stress demo bench clean

all: build

build:
	$(GO) build -o $(BIN) .

run: build
	$(BIN)

# test is exactly what CI runs: formatting, vet, the race-enabled tests, and
# a short fuzz of the Collector.
test:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(GO) test -run '^$$' -fuzz FuzzCollector -fuzztime $(FUZZTIME) .

# stress runs the long forms: the whole suite STRESS_RUNS times in a row with
# -race, stopping at the first failure, then the fuzzer for STRESS_FUZZTIME.
stress:
	@for i in $$(seq 1 $(STRESS_RUNS)); do \
		echo "suite run $$i of $(STRESS_RUNS)"; \
		$(GO) test -race -count=1 ./... || exit 1; \
	done
	$(GO) test -run '^$$' -fuzz FuzzCollector -fuzztime $(STRESS_FUZZTIME) .

# demo builds the server, starts it, sends bursts of jobs, then drains it.
demo: build
	scripts/demo-server.sh $(BIN)

# bench measures the performance targets as ratios to baselines run alongside.
bench:
	scripts/bench.sh

clean:
	rm -f $(BIN)
	$(GO) clean -testcache
