# workqueue: make run starts the server, make test runs what CI runs.

BIN := ./workqueue
GO  ?= go

# How long make test fuzzes the Collector and the job records, and how long
# make stress runs each fuzzer.
FUZZTIME        ?= 10s
RECORD_FUZZTIME ?= 5s
STRESS_FUZZTIME ?= 5m
STRESS_RUNS     ?= 20

.PHONY: all build run test stress demo bench clean

all: build

build:
	$(GO) build -o $(BIN) .

# run builds the server and starts it; ARGS passes it flags, and a command for
# its jobs after --: make run ARGS='-n 8 -journal data -- ./job.sh'.
run: build
	$(BIN) $(ARGS)

# test is exactly what CI runs: formatting, vet, the race-enabled tests, and
# short fuzzes of the Collector and of the journal's job records.
test:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(GO) test -run '^$$' -fuzz FuzzCollector -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz FuzzRecord -fuzztime $(RECORD_FUZZTIME) ./internal/jobjournal

# stress runs the long forms: the whole suite STRESS_RUNS times in a row with
# -race, stopping at the first failure; once, the long form of the journal's
# bound (WORKQUEUE_LONG=1: 300,000 jobs, about 4 minutes), and 20 cycles of
# kill -9 under load; then each fuzzer (the Collector, the journal's reader,
# the job records, Idempotency-Key, the listing's query) for STRESS_FUZZTIME.
stress:
	@for i in $$(seq 1 $(STRESS_RUNS)); do \
		echo "suite run $$i of $(STRESS_RUNS)"; \
		$(GO) test -race -count=1 ./... || exit 1; \
	done
	WORKQUEUE_LONG=1 $(GO) test -race -count=1 -run 'TestJournalBounded' -v .
	$(GO) test -race -count=10 -run 'TestJournalKill9' .
	$(GO) test -run '^$$' -fuzz FuzzCollector -fuzztime $(STRESS_FUZZTIME) .
	$(GO) test -run '^$$' -fuzz FuzzJournal -fuzztime $(STRESS_FUZZTIME) ./internal/journal
	$(GO) test -run '^$$' -fuzz FuzzRestarts -fuzztime $(STRESS_FUZZTIME) ./internal/journal
	$(GO) test -run '^$$' -fuzz FuzzTornLastBatch -fuzztime $(STRESS_FUZZTIME) ./internal/journal
	$(GO) test -run '^$$' -fuzz FuzzRecord -fuzztime $(STRESS_FUZZTIME) ./internal/jobjournal
	$(GO) test -run '^$$' -fuzz FuzzIdempotencyKey -fuzztime $(STRESS_FUZZTIME) ./internal/idempotency
	$(GO) test -run '^$$' -fuzz FuzzListQuery -fuzztime $(STRESS_FUZZTIME) ./internal/query

# demo builds the server, starts it, sends bursts of jobs, then drains it.
demo: build
	scripts/demo-server.sh $(BIN)

# bench measures the performance targets as ratios to baselines run alongside.
bench:
	scripts/bench.sh

clean:
	rm -f $(BIN)
	$(GO) clean -testcache
