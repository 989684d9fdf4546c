#!/usr/bin/env bash
# bench.sh measures workqueue against its performance targets. Every figure
# is a ratio against a baseline measured in the same run, since the machines
# it runs on are shared and noisy.
#
#   scripts/bench.sh            (make bench)
#
# Sections, each independent of the others (one that fails is reported and
# the rest still run; the script then exits 1):
#   go          the Go benchmarks, in process
#   ingest      in-memory ingest of the real binary vs a bare server (wrk)
#   flood       1 s jobs flooding the default queue: memory, goroutines, 503s,
#               and every accepted job run exactly once (wrk)
#   durable     ingest with -journal -fsync always vs without (wrk; issue 9),
#               and with a backlog (4 workers held, the queue filling) vs
#               without (issue 20)
#   beanstalkd  durable puts per second vs beanstalkd -f 0 (scripts/loadgen;
#               issue 9)
#   replay      restart on a journal of 100,000 unfinished jobs (issue 9)
#   batches     durable NDJSON batches of 100 jobs vs beanstalkd in memory
#   million     1,000,000 jobs queued: resident memory per job, in memory and
#               with -journal, and their replay after kill -9 (issue 20)
#   commands    jobs per second running `true` vs a plain Go loop (issue 10)
#   remote      jobs per second running `true` through one runner
#               (-remote, -n 4) vs 4 local workers, and claim-to-start
#               latency p50/p99 (issue 19)
#   peers       workqueue durable and in memory (wrk) beside Redis with
#               appendfsync always and beanstalkd in memory and -f 0
#               (scripts/loadgen), round by round, medians
# A section whose tool (wrk, beanstalkd, redis-server) or server flag
# (-journal, `-- COMMAND`) is missing says so and is skipped.
#
# Every server under test runs on core 0 (taskset -c 0) and its load client
# (wrk -t1 -c64, scripts/loadgen -c 64) on core 1 (taskset -c 1), so that
# neither takes the other's core; with one core (nproc 1), or without
# taskset, the script says so and runs them unpinned.
#
# Environment: BENCH_ONLY (default all) the sections to run, by name, space
# separated; BENCH_RUNS (default 5) rounds of the Go benchmarks, of which the
# median ratio counts; BENCH_TIME (default 1s) per benchmark; WRK_TIME
# (default 5s) per wrk or loadgen run; WRK_ROUNDS (default 5) rounds of the
# ingest, durable and peers sections, each running the server and its baseline
# one after the other, of which the median ratio counts (a ratio of two runs
# seconds apart, so that the drift of a shared machine hits both alike);
# EXEC_JOBS (default 5000) jobs per
# round of the commands section; BENCH_BIN (default: built from this tree) a
# workqueue binary to drive instead. It exits 0 whether or not the targets are
# met: it reports. Ports used: 18100-18199 and 18790-18791 on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-5}
benchtime=${BENCH_TIME:-1s}
wrktime=${WRK_TIME:-5s}
wrkrounds=${WRK_ROUNDS:-5}
only=${BENCH_ONLY:-go ingest flood durable beanstalkd batches replay million commands remote peers}
exec_jobs=${EXEC_JOBS:-5000}
tmp=$(mktemp -d)
# stop_tracked kills every process a section started (track), and forgets them.
stop_tracked() {
	if [ -s "$tmp/pids" ]; then
		while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$tmp/pids"
	fi
	: >"$tmp/pids"
}
trap 'stop_tracked; kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
# track PID: stop_tracked kills PID at the end of its section, if still alive.
track() { echo "$1" >>"$tmp/pids"; }

# field FILE BENCH UNIT: the value before UNIT on BENCH's line in FILE.
field() {
	awk -v b="^$2-[0-9]+\$" -v u="$3" '$1 ~ b { for (i = 3; i <= NF; i++) if ($i == u) print $(i-1) }' "$1"
}
# median: the median of the numbers on standard input.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'
}
# verdict VALUE OP TARGET: "meets" or "falls short".
verdict() {
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? v >= t : (op == "<") ? v < t : v <= t; print ok ? "meets" : "falls short" }'
}
# target LABEL VALUE OP TARGET: one line of a measured ratio, its target and
# the verdict.
target() {
	printf '%-62s %6.3f  target %-2s %-5s %s\n' "$1" "$2" "$3" "$4" "$(verdict "$2" "$3" "$4")"
}
# div A B: A / B, or 0 when B is 0.
div() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == 0) ? 0 : a / b }'; }
# mean, sum: the mean and the sum of the numbers on standard input.
mean() { awk '{ s += $1 } END { print (NR == 0) ? 0 : s / NR }'; }
sum() { awk '{ s += $1 } END { print s + 0 }'; }
# skip SECTION WHY: says why SECTION does not run.
skip() { echo "$1: skipped: $2"; }

# srv and cli prefix every server under test and every load client: the
# servers on core 0, the clients on core 1.
srv=() cli=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	srv=(taskset -c 0) cli=(taskset -c 1)
	pinning="servers pinned to core 0 (taskset -c 0), load clients to core 1 (taskset -c 1)"
elif [ "$(nproc)" -lt 2 ]; then
	pinning="UNPINNED: nproc is $(nproc), so servers and load clients share the one core"
else
	pinning="UNPINNED: taskset is not installed (util-linux), so servers and load clients share the cores"
fi

# wrk_run URL SCRIPT OUT: runs wrk, saving its report in OUT.
wrk_run() {
	"${cli[@]}" wrk -t1 -c64 -d"$wrktime" --latency -s "$2" "$1/work" >"$3"
}
# rps FILE: wrk's requests per second in FILE, or 0 if it has none (a run
# that failed), so that a round's columns never shift.
rps() { awk '/^Requests\/sec/ { v = $2 } END { print v + 0 }' "$1"; }
pct() { awk -v p="$2%" '$1 == p { print $2 }' "$1"; }
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) print v / 1000; else if (v ~ /ms$/) print v + 0; else print v * 1000 }'; }
# wrk_secs FILE: how long the wrk run of FILE took, in seconds.
wrk_secs() { awk '/ requests in / { v = $4; sub(/,$/, "", v); if (v ~ /ms$/) print v / 1000; else if (v ~ /m$/) print v * 60; else print v + 0 }' "$1"; }
# non2xx FILE: the answers of the wrk run of FILE that were not 2xx or 3xx.
non2xx() { awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1"; }
rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# metric URL NAME: the value of NAME (labels included) in URL's /metrics.
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
full503() { metric "$1" 'workqueue_jobs_rejected_total{reason="full"}'; }
# kv KEY FILE...: the value of KEY=value in loadgen's line in each FILE, one a line.
kv() {
	local k=$1
	shift
	awk -v k="$k" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$@"
}

# supports FLAG...: whether this workqueue accepts the flags (probed with -h).
supports() { "$tmp/workqueue" "$@" -h >/dev/null 2>&1; }

# start_wq PORT NAME ARG...: starts workqueue on 127.0.0.1:PORT with ARGs,
# its standard error in $tmp/NAME.err and its standard output in
# $wq_stdout (default /dev/null), and waits until it answers. It sets
# wq_pid. If the server exits or does not answer within 30 s, it returns 1
# and its standard error says why.
wq_stdout=/dev/null
start_wq() {
	local port=$1 name=$2
	shift 2
	"${srv[@]}" "$tmp/workqueue" -http "127.0.0.1:$port" "$@" >"$wq_stdout" 2>"$tmp/$name.err" &
	wq_pid=$!
	track $wq_pid
	for _ in $(seq 1 600); do
		curl -s -o /dev/null "http://127.0.0.1:$port/metrics" && return 0
		kill -0 $wq_pid 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# why NAME: the first line of what workqueue NAME said when it would not start.
why() { grep -v 'level=INFO' "$tmp/$1.err" | head -1; }

# start_bs PORT ARG...: starts beanstalkd on 127.0.0.1:PORT with ARGs and
# waits until it accepts connections. It sets bs_pid.
start_bs() {
	local port=$1
	shift
	"${srv[@]}" beanstalkd -l 127.0.0.1 -p "$port" "$@" 2>"$tmp/beanstalkd-$port.err" &
	bs_pid=$!
	track $bs_pid
	wait_port $bs_pid "$port"
}

# wait_port PID PORT: waits until 127.0.0.1:PORT accepts connections; 1 if
# PID exits first or 5 s pass.
wait_port() {
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# start_redis PORT DIR: starts redis-server on 127.0.0.1:PORT, appending
# every write to DIR/appendonlydir and fsyncing it before it answers
# (--appendfsync always), with no snapshots, and waits until it accepts
# connections. It sets redis_pid.
start_redis() {
	mkdir -p "$2"
	"${srv[@]}" redis-server --bind 127.0.0.1 --port "$1" --dir "$2" --appendonly yes --appendfsync always --save '' \
		--daemonize no --protected-mode no --logfile '' >"$tmp/redis-$1.log" 2>&1 &
	redis_pid=$!
	track $redis_pid
	wait_port $redis_pid "$1"
}

# loadgen OUT ARG...: runs scripts/loadgen with ARGs, its line in OUT.
loadgen() {
	local out=$1
	shift
	"${cli[@]}" "$tmp/loadgen" "$@" >"$out"
}

# section_go runs the Go benchmarks $runs times.
section_go() {
	echo "== Go benchmarks: $runs rounds of -benchtime $benchtime, each target the median of its per-round ratios"
	for i in $(seq 1 "$runs"); do
		go test -run '^$' -bench 'Ingest|Dispatch|Schedule|Refuse|Resize' -benchtime "$benchtime" -count 1 . >"$tmp/round$i.txt"
		cat "$tmp/round$i.txt" >>"$tmp/all.txt"
	done
	for i in $(seq 1 "$runs"); do
		f="$tmp/round$i.txt"
		div "$(field "$f" BenchmarkIngestBare ns/op)" "$(field "$f" BenchmarkIngest ns/op)" >>"$tmp/ingest"
		div "$(field "$f" BenchmarkDispatch ns/op)" "$(field "$f" BenchmarkDispatchBaseline ns/op)" >>"$tmp/dispatch"
		field "$f" BenchmarkSchedule efficiency >>"$tmp/schedule"
		field "$f" BenchmarkSchedule bare-efficiency >>"$tmp/schedule-bare"
		field "$f" BenchmarkIngest B/op >>"$tmp/ingestB"
		field "$f" BenchmarkIngestBare B/op >>"$tmp/bareB"
		field "$f" BenchmarkRefuse ns/op >>"$tmp/refuse"
		div "$(field "$f" BenchmarkIngestKeyPair/key=none ns/op)" "$(field "$f" BenchmarkIngestKeyPair/key=fresh ns/op)" >>"$tmp/key"
		div "$(field "$f" BenchmarkResize ns/op)" 2000000 >>"$tmp/resize" # one op grows and shrinks: ms per resize
	done
	target "ingest, in process: throughput ratio to a bare handler" "$(median <"$tmp/ingest")" '>=' 0.90
	target "dispatch: ns per no-op job, ratio to a bare pipeline" "$(median <"$tmp/dispatch")" '<=' 1.50
	target "scheduling: 400 jobs of 10ms on 4 workers, ideal 1s / taken" "$(median <"$tmp/schedule")" '>=' 0.95
	printf '%-62s %6.3f  (4 goroutines sleeping 100 x 10ms: what timers allow here)\n' "scheduling baseline: bare sleeps, ideal / taken" "$(median <"$tmp/schedule-bare")"
	printf '%-62s %6s  (bare handler %s; both include the Go client)\n' "bytes allocated per POST /work" "$(median <"$tmp/ingestB")" "$(median <"$tmp/bareB")"
	printf '%-62s %6s  (the handler alone, no network)\n' "ns to refuse a submission to a full queue with 503" "$(median <"$tmp/refuse")"
	target "ingest with an Idempotency-Key on every request, ratio to none" "$(median <"$tmp/key")" '>=' 0.85
	target "resize on an idle server: PUT /workers until GET shows it, ms" "$(median <"$tmp/resize")" '<=' 10
	echo "ratios per round: ingest $(paste -sd' ' "$tmp/ingest"); dispatch $(paste -sd' ' "$tmp/dispatch"); scheduling $(paste -sd' ' "$tmp/schedule")"
}

# section_ingest compares the binary's in-memory ingest with the bare server,
# round by round: the bare server, workqueue, the bare server sending
# workqueue's answer, and workqueue with one /events subscriber.
section_ingest() {
	echo "== in-memory ingest: $wrkrounds rounds of wrk -t1 -c64 -d$wrktime against each server in turn, POST /work with 0s jobs, -queue 10000, client and server on this machine"
	command -v wrk >/dev/null || { skip ingest "wrk is not installed (apt-get install wrk)"; return 0; }
	"${srv[@]}" "$tmp/bare" 127.0.0.1:18101 2>/dev/null &
	local bare_pid=$!
	track $bare_pid
	# Then a bare handler that answers as POST /work does (Location, the job
	# as JSON): the part of the gap that is the answer itself, not the queue.
	"${srv[@]}" "$tmp/bare" 127.0.0.1:18104 answer 2>/dev/null &
	track $!
	# -queue 10000, as users run it: at the default -queue 100 about 10 % of
	# a 0 s flood is refused (bursts of 64 connections overflow 100 slots),
	# and the ratio then counts cheap 503s as throughput (issue 9).
	start_wq 18102 ingest -queue 10000 || { echo "ingest: workqueue would not start: $(why ingest)"; return 1; }
	curl -s -o /dev/null --retry 20 --retry-delay 0 --retry-connrefused http://127.0.0.1:18101/ || true
	curl -s -o /dev/null --retry 20 --retry-delay 0 --retry-connrefused http://127.0.0.1:18104/ || true
	local round sub_pid sub_state="still connected at the end of every round: it kept up" b w a v
	for round in $(seq 1 "$wrkrounds"); do
		wrk_run http://127.0.0.1:18101 "$tmp/post.lua" "$tmp/bare$round"
		wrk_run http://127.0.0.1:18102 "$tmp/post.lua" "$tmp/wq$round"
		wrk_run http://127.0.0.1:18104 "$tmp/post.lua" "$tmp/answer$round"
		# One /events subscriber reading the whole stream.
		"${cli[@]}" curl -sN http://127.0.0.1:18102/events >/dev/null &
		sub_pid=$!
		track $sub_pid
		wrk_run http://127.0.0.1:18102 "$tmp/post.lua" "$tmp/wqsub$round"
		kill -0 $sub_pid 2>/dev/null || sub_state="DROPPED for falling behind in round $round: the figure is not the target's"
		kill $sub_pid 2>/dev/null || true
		b=$(rps "$tmp/bare$round") w=$(rps "$tmp/wq$round") a=$(rps "$tmp/answer$round") v=$(rps "$tmp/wqsub$round")
		echo "$b $w $a $v $(ms "$(pct "$tmp/bare$round" 99)") $(ms "$(pct "$tmp/wq$round" 99)")" >>"$tmp/ingest.rounds"
		printf '  round %d: bare %6.0f, workqueue %6.0f, bare with the answer %6.0f, workqueue with a subscriber %6.0f req/s\n' "$round" "$b" "$w" "$a" "$v"
	done
	# medcol EXPR: the median over the rounds of EXPR, an awk expression of
	# the round's columns ($1 bare, $2 workqueue, $3 answer, $4 subscriber,
	# $5 and $6 the p99s of bare and workqueue, ms).
	medcol() { awk "{ print ($1) }" "$tmp/ingest.rounds" | median; }
	local refused
	refused=$(full503 http://127.0.0.1:18102)
	printf '%-40s %9.0f req/s  p50 %-8s p99 %-8s RSS %s MiB\n' "bare net/http handler (median)" "$(medcol '$1')" "$(pct "$tmp/bare1" 50)" "$(pct "$tmp/bare1" 99)" "$(rss $bare_pid)"
	printf '%-40s %9.0f req/s  p50 %-8s p99 %-8s RSS %s MiB, %s goroutines\n' "workqueue -queue 10000, 0s jobs (median)" "$(medcol '$2')" "$(pct "$tmp/wq1" 50)" "$(pct "$tmp/wq1" 99)" "$(rss $wq_pid)" "$(metric http://127.0.0.1:18102 workqueue_goroutines)"
	target "ingest, wrk: throughput ratio to the bare server" "$(medcol '$2 / $1')" '>=' 0.90
	printf '%-62s %6.3f  (the answer alone: Location and the job as JSON)\n' "bare handler with the answer, ratio to the bare one" "$(medcol '$3 / $1')"
	printf '%-62s %6.3f  (what the queue behind the handler costs)\n' "workqueue, ratio to the bare handler with the answer" "$(medcol '$2 / $3')"
	echo "one /events subscriber: $sub_state"
	target "ingest with one /events subscriber, ratio to the bare server" "$(medcol '$4 / $1')" '>=' 0.80
	target "ingest, wrk: p99 latency ratio to the bare server" "$(medcol '$6 / $5')" '<=' 1.50
	echo "ratios per round (workqueue / bare): $(awk '{ printf "%.3f ", $2 / $1 }' "$tmp/ingest.rounds"); with a subscriber: $(awk '{ printf "%.3f ", $4 / $1 }' "$tmp/ingest.rounds")"
	local non2xx=0
	for round in $(seq 1 "$wrkrounds"); do non2xx=$((non2xx + $(non2xx "$tmp/wq$round") + $(non2xx "$tmp/wqsub$round"))); done
	echo "refused with 503 (queue full): $refused (must be 0 for the ratio to mean anything); non-2xx answers seen by wrk: $non2xx"
	[ "$refused" = 0 ] || echo "ingest: WARNING: $refused submissions were refused: the ratio counts cheap 503s"
}

# section_flood floods the default queue with 1 s jobs and checks that every
# accepted job ran exactly once.
section_flood() {
	echo "== flood: 1s jobs, default queue (100), 4 workers, wrk for $wrktime"
	command -v wrk >/dev/null || { skip flood "wrk is not installed (apt-get install wrk)"; return 0; }
	wq_stdout="$tmp/flood.out" start_wq 18103 flood || { echo "flood: workqueue would not start: $(why flood)"; return 1; }
	local u=http://127.0.0.1:18103 g0 g1 g2 wrk_pid rss_after accepted refused status ran distinct
	g0=$(metric $u workqueue_goroutines)
	wrk_run $u "$tmp/flood.lua" "$tmp/flood" &
	wrk_pid=$!
	sleep "$(awk -v t="${wrktime%s}" 'BEGIN { print t / 2 }')"
	g1=$(metric $u workqueue_goroutines)
	wait $wrk_pid
	rss_after=$(rss $wq_pid)
	accepted=$(metric $u workqueue_jobs_accepted_total)
	refused=$(full503 $u)
	sleep 1
	g2=$(metric $u workqueue_goroutines)
	kill -TERM $wq_pid
	status=0
	wait $wq_pid || status=$?
	ran=$(wc -l <"$tmp/flood.out")
	distinct=$(sed 's/^worker[0-9]*: //' "$tmp/flood.out" | sort -u | wc -l)
	printf 'wrk: %s req/s, %s accepted, %s refused with 503; p50 %s, p99 %s (64 connections queueing on one core)\n' \
		"$(rps "$tmp/flood")" "$accepted" "$refused" "$(pct "$tmp/flood" 50)" "$(pct "$tmp/flood" 99)"
	printf '%-62s %6s  target < 32 MiB  %s\n' "resident memory after the flood, MiB" "$rss_after" "$(verdict "$rss_after" '<=' 32)"
	printf '%-62s %s → %s → %s  (before, during: + wrk'"'"'s 64 connections, after)\n' "goroutines" "$g0" "$g1" "$g2"
	local bare_p50="n/a (the ingest section did not run)"
	[ -s "$tmp/bare2" ] && bare_p50=$(ms "$(pct "$tmp/bare2" 50)")
	printf '%-62s %6s  (the bare server'"'"'s under the same wrk load: %s ms)\n' "median latency in the flood, ms" "$(ms "$(pct "$tmp/flood" 50)")" "$bare_p50"
	if [ -s "$tmp/refuse" ]; then
		printf '%-62s %6s  target well under 1 ms  %s\n' "time to answer one excess request 503, ms (BenchmarkRefuse)" "$(awk -v n="$(median <"$tmp/refuse")" 'BEGIN { print n / 1e6 }')" "$(verdict "$(median <"$tmp/refuse")" '<=' 500000)"
	fi
	echo "drained: exit status $status; $accepted accepted, $ran greetings printed, $distinct distinct names"
	if [ "$status" -ne 0 ] || [ "$ran" -ne "$accepted" ] || [ "$distinct" -ne "$accepted" ]; then
		echo "flood: FAILED: every accepted job must run exactly once"
		return 1
	fi
}

# section_durable compares ingest with -journal -fsync always to ingest
# without the journal (issue 9: ≥ 0.60×).
section_durable() {
	echo "== durable ingest: $wrkrounds rounds of wrk -t1 -c64 -d$wrktime against each server in turn, 0s jobs, -queue 10000, -journal -fsync always vs no journal"
	command -v wrk >/dev/null || { skip durable "wrk is not installed (apt-get install wrk)"; return 0; }
	supports -journal "$tmp/probe" -fsync always || { skip durable "this workqueue has no -journal/-fsync flags yet (issue 9)"; return 0; }
	local j=http://127.0.0.1:18111 m=http://127.0.0.1:18112 jpid round f0 a0 s0 d r
	start_wq 18111 durable -queue 10000 -journal "$tmp/journal-durable" -fsync always || { echo "durable: workqueue would not start: $(why durable)"; return 1; }
	jpid=$wq_pid
	start_wq 18112 durable-mem -queue 10000 || { echo "durable: workqueue would not start: $(why durable-mem)"; return 1; }
	# durable with a backlog: its 4 workers held by jobs of an hour, so
	# that every job it accepts stays queued, and one wrk run beforehand to
	# start the backlog, which grows round by round (issue 20).
	local b=http://127.0.0.1:18113 bl
	start_wq 18113 durable-backlog -queue 1000000 -max-delay 1h -journal "$tmp/journal-backlog" -fsync always || { echo "durable: workqueue would not start: $(why durable-backlog)"; return 1; }
	for _ in 1 2 3 4; do curl -s -o /dev/null -d name=hold -d delay=1h "$b/work"; done
	wrk_run $b "$tmp/post.lua" "$tmp/durable-backlog0"
	for round in $(seq 1 "$wrkrounds"); do
		f0=$(metric $j workqueue_journal_fsync_seconds_count)
		s0=$(metric $j workqueue_journal_fsync_seconds_sum)
		a0=$(metric $j workqueue_jobs_accepted_total)
		wrk_run $j "$tmp/post.lua" "$tmp/durable$round"
		echo "$(awk -v a="$(metric $j workqueue_journal_fsync_seconds_count)" -v b="${f0:-0}" 'BEGIN { print a - b }')" \
			"$(awk -v a="$(metric $j workqueue_jobs_accepted_total)" -v b="$a0" 'BEGIN { print a - b }')" \
			"$(wrk_secs "$tmp/durable$round")" \
			"$(awk -v a="$(metric $j workqueue_journal_fsync_seconds_sum)" -v b="${s0:-0}" 'BEGIN { print a - b }')" >>"$tmp/durable.fsyncs"
		wrk_run $m "$tmp/post.lua" "$tmp/durable-mem$round"
		f0=$(metric $b workqueue_journal_fsync_seconds_count)
		a0=$(metric $b workqueue_jobs_accepted_total)
		wrk_run $b "$tmp/post.lua" "$tmp/durable-backlog$round"
		echo "$(awk -v a="$(metric $b workqueue_journal_fsync_seconds_count)" -v b="${f0:-0}" 'BEGIN { print a - b }')" \
			"$(awk -v a="$(metric $b workqueue_jobs_accepted_total)" -v b="$a0" 'BEGIN { print a - b }')" >>"$tmp/durable-backlog.fsyncs"
		d=$(rps "$tmp/durable$round") r=$(rps "$tmp/durable-mem$round") bl=$(rps "$tmp/durable-backlog$round")
		echo "$d $r $bl" >>"$tmp/durable.rounds"
		printf '  round %d: -journal -fsync always %6.0f, with a backlog %6.0f (%s queued), no journal %6.0f req/s: %.3f\n' "$round" "$d" "$bl" "$(metric $b workqueue_queue_length)" "$r" "$(div "$d" "$r")"
	done
	local fsyncs jobs secs fsync_secs
	read -r fsyncs jobs secs fsync_secs < <(awk '{ f += $1; j += $2; s += $3; t += $4 } END { print f, j, s, t }' "$tmp/durable.fsyncs")
	printf '%-40s %9.0f req/s  p50 %-8s p99 %-8s RSS %s MiB\n' "workqueue, no journal (median)" "$(awk '{ print $2 }' "$tmp/durable.rounds" | median)" "$(pct "$tmp/durable-mem1" 50)" "$(pct "$tmp/durable-mem1" 99)" "$(rss $wq_pid)"
	printf '%-40s %9.0f req/s  p50 %-8s p99 %-8s RSS %s MiB\n' "workqueue -journal -fsync always (median)" "$(awk '{ print $1 }' "$tmp/durable.rounds" | median)" "$(pct "$tmp/durable1" 50)" "$(pct "$tmp/durable1" 99)" "$(rss $jpid)"
	target "durable ingest: throughput ratio to no journal" "$(awk '{ print $1 / $2 }' "$tmp/durable.rounds" | median)" '>=' 0.60
	target "durable with a backlog: throughput ratio to durable" "$(awk '{ print ($1 == 0) ? 0 : $3 / $1 }' "$tmp/durable.rounds" | median)" '>=' 0.90
	local bfsyncs bjobs
	read -r bfsyncs bjobs < <(awk '{ f += $1; j += $2 } END { print f, j }' "$tmp/durable-backlog.fsyncs")
	printf '%-62s %6.1f  (%s jobs in %s fsyncs)\n' "jobs per fsync with a backlog" "$(div "$bjobs" "$bfsyncs")" "$bjobs" "$bfsyncs"
	printf '%-62s %6.0f  (%s fsyncs in %s s of wrk)\n' "fsyncs per second (workqueue_journal_fsync_seconds_count)" "$(div "$fsyncs" "$secs")" "$fsyncs" "$secs"
	printf '%-62s %6.1f  (%s jobs accepted: group commit)\n' "jobs per fsync" "$(div "$jobs" "$fsyncs")" "$jobs"
	printf '%-62s %6.2f  (this disk, now: durable throughput is about jobs per fsync / this)\n' "mean fsync, ms (workqueue_journal_fsync_seconds)" "$(div "$(awk -v t="$fsync_secs" 'BEGIN { print t * 1000 }')" "$fsyncs")"
	printf '%-62s %s B, %s compactions\n' "journal on disk after the runs" "$(metric $j workqueue_journal_bytes)" "$(metric $j workqueue_journal_compactions_total)"
	local r1 r2
	r1=$(full503 $j)
	r2=$(full503 $m)
	echo "refused with 503 (queue full): journal $r1, no journal $r2 (both must be 0 for the ratio to mean anything)"
	[ "$r1" = 0 ] && [ "$r2" = 0 ] || echo "durable: WARNING: submissions were refused: the ratio counts cheap 503s"
}

# section_beanstalkd compares durable puts per second with beanstalkd's,
# through the same client (issue 9: ≥ 3× beanstalkd -f 0).
section_beanstalkd() {
	echo "== against beanstalkd: scripts/loadgen -c 64 -d $wrktime, jobs put back to back, the same client for both"
	command -v beanstalkd >/dev/null || { skip beanstalkd "beanstalkd is not installed (apt-get install beanstalkd)"; return 0; }
	local durable=yes label="workqueue -journal -fsync always"
	local wq_args=(-queue 10000 -journal "$tmp/journal-bs" -fsync always)
	if ! supports -journal "$tmp/probe" -fsync always; then
		durable=no label="workqueue in memory (no -journal yet)"
		wq_args=(-queue 10000)
		echo "beanstalkd: this workqueue has no -journal/-fsync flags yet (issue 9): measuring it in memory, for context only"
	fi
	mkdir -p "$tmp/bs0" "$tmp/bs50"
	start_bs 18121 -b "$tmp/bs0" -f 0 || { echo "beanstalkd: beanstalkd would not start: $(head -1 "$tmp/beanstalkd-18121.err")"; return 1; }
	start_wq 18122 bs-wq "${wq_args[@]}" || { echo "beanstalkd: workqueue would not start: $(why bs-wq)"; return 1; }
	for round in 1 2; do
		loadgen "$tmp/bs-f0-$round" -proto beanstalk -addr 127.0.0.1:18121 -c 64 -d "$wrktime"
		loadgen "$tmp/bs-wq-$round" -proto http -url http://127.0.0.1:18122/work -c 64 -d "$wrktime"
	done
	local bs_rate wq_rate
	bs_rate=$(kv rate "$tmp"/bs-f0-? | mean)
	wq_rate=$(kv rate "$tmp"/bs-wq-? | mean)
	printf '%-50s %9.0f jobs/s  (rounds: %s)\n' "beanstalkd -b DIR -f 0 (fsync every put)" "$bs_rate" "$(kv rate "$tmp"/bs-f0-? | paste -sd' ')"
	printf '%-50s %9.0f jobs/s  (rounds: %s)\n' "$label" "$wq_rate" "$(kv rate "$tmp"/bs-wq-? | paste -sd' ')"
	if [ "$durable" = yes ]; then
		target "durable jobs per second, ratio to beanstalkd -f 0" "$(div "$wq_rate" "$bs_rate")" '>=' 3
	else
		printf '%-62s %6.3f  (not the target: this workqueue keeps no journal)\n' "jobs per second in memory, ratio to beanstalkd -f 0" "$(div "$wq_rate" "$bs_rate")"
	fi
	echo "answers other than INSERTED / 201: beanstalkd $(kv other "$tmp"/bs-f0-? | sum), workqueue $(kv other "$tmp"/bs-wq-? | sum) ($(full503 http://127.0.0.1:18122) refused as full)"
	# For context, one run each: beanstalkd with fsync at most every 50 ms, and
	# without a binlog; and, if the comparison above was durable, workqueue in
	# memory through the same client.
	start_bs 18123 -b "$tmp/bs50" -f 50 && loadgen "$tmp/bs-f50" -proto beanstalk -addr 127.0.0.1:18123 -c 64 -d "$wrktime"
	start_bs 18124 && loadgen "$tmp/bs-mem" -proto beanstalk -addr 127.0.0.1:18124 -c 64 -d "$wrktime"
	printf '%-50s %9.0f jobs/s  (context)\n' "beanstalkd -b DIR -f 50" "$(kv rate "$tmp/bs-f50")"
	printf '%-50s %9.0f jobs/s  (context)\n' "beanstalkd, no binlog" "$(kv rate "$tmp/bs-mem")"
	if [ "$durable" = yes ]; then
		start_wq 18125 bs-wq-mem -queue 10000 && loadgen "$tmp/bs-wq-mem" -proto http -url http://127.0.0.1:18125/work -c 64 -d "$wrktime"
		printf '%-50s %9.0f jobs/s  (context)\n' "workqueue in memory, -queue 10000" "$(kv rate "$tmp/bs-wq-mem")"
	fi
}

# section_replay times a restart on a journal of 100,000 unfinished jobs
# (issue 9: listening in < 1 s).
section_replay() {
	echo "== replay: restart on a journal of 100,000 unfinished jobs, kill -9 before"
	supports -journal "$tmp/probe" -fsync always || { skip replay "this workqueue has no -journal/-fsync flags yet (issue 9)"; return 0; }
	local q=200000 want=100000 u=http://127.0.0.1:18131 max
	local args=(-journal "$tmp/journal-replay" -n 1 -max-delay 1h)
	if ! start_wq 18131 replay-build "${args[@]}" -queue $q; then
		# -queue has an upper bound (SPEC.md, "Running it"): take the one
		# its message states, the largest number in it but ours.
		max=$(why replay-build | grep -o '[0-9]\+' | grep -vx $q | sort -n | tail -1 || true)
		[ -n "$max" ] || { echo "replay: workqueue would not start: $(why replay-build)"; return 1; }
		echo "replay: -queue $q refused ($(why replay-build)); using -queue $max, so at most $((max + 1)) jobs are unfinished"
		q=$max
		start_wq 18131 replay-build "${args[@]}" -queue "$q" || { echo "replay: workqueue would not start: $(why replay-build)"; return 1; }
	fi
	# -n 1 and 1h jobs: the first runs (sleeps) and every other one waits.
	loadgen "$tmp/replay-lg" -proto http -url $u/work -c 64 -n $want -d 300s -delay 1h
	local built
	built=$(kv ok "$tmp/replay-lg")
	echo "built: $(cat "$tmp/replay-lg"), journal $(metric $u workqueue_journal_bytes) B"
	kill -9 $wq_pid
	wait $wq_pid 2>/dev/null || true
	local t0 t1
	t0=$(date +%s.%N)
	"${srv[@]}" "$tmp/workqueue" -http 127.0.0.1:18131 "${args[@]}" -queue "$q" >/dev/null 2>"$tmp/replay.err" &
	wq_pid=$!
	track $wq_pid
	for _ in $(seq 1 6000); do
		grep -q 'msg=listening' "$tmp/replay.err" && break
		kill -0 $wq_pid 2>/dev/null || { echo "replay: workqueue exited on restart: $(why replay)"; return 1; }
		sleep 0.01
	done
	t1=$(date +%s.%N)
	grep -q 'msg=listening' "$tmp/replay.err" || { echo "replay: no \"listening\" within 60 s"; return 1; }
	local took
	took=$(grep -i 'replay' "$tmp/replay.err" | grep -oE ' (took|elapsed|duration)=[^ ]*' | head -1 || true)
	echo "the server's own line: $(grep -i 'replay' "$tmp/replay.err" | head -1)"
	echo "replayed (workqueue_jobs_replayed_total): $(metric $u workqueue_jobs_replayed_total) of $built accepted before the kill"
	target "replay: start to \"listening\", s (server's$took)" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" '<' 1
	kill -9 $wq_pid
	wait $wq_pid 2>/dev/null || true
}

# section_batches puts NDJSON batches of 100 jobs into workqueue -journal
# -fsync always (jobs accepted per second, from its own counter, so that no
# 503 counts), round by round beside beanstalkd in memory (issue 20's
# targets: >= 200,000 jobs/s, and >= 2x beanstalkd in memory).
section_batches() {
	echo "== batches: $wrkrounds rounds of wrk -t1 -c64 -d$wrktime posting NDJSON batches of 100 jobs to workqueue -journal -fsync always, beside beanstalkd in memory (scripts/loadgen -c 64, one job a put)"
	command -v wrk >/dev/null || { skip batches "wrk is not installed (apt-get install wrk)"; return 0; }
	supports -max-batch 100 || { skip batches "this workqueue takes no batches (-max-batch)"; return 0; }
	local u=http://127.0.0.1:18161 bs=yes round a0 a1 secs w b
	command -v beanstalkd >/dev/null || { bs=no; echo "batches: beanstalkd is not installed: its row is skipped"; }
	start_wq 18161 batches -queue 1000000 -max-batch 1000 -journal "$tmp/journal-batches" -fsync always || { echo "batches: workqueue would not start: $(why batches)"; return 1; }
	[ $bs = yes ] && { start_bs 18162 || { echo "batches: beanstalkd would not start"; return 1; }; }
	awk 'BEGIN { printf "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/x-ndjson\"\nwrk.body = \""; for (i = 1; i <= 100; i++) printf "{\\\"name\\\":\\\"b%d\\\"}\\n", i; print "\"" }' >"$tmp/batch.lua"
	: >"$tmp/batches.rounds"
	for round in $(seq 1 "$wrkrounds"); do
		a0=$(metric $u workqueue_jobs_accepted_total)
		wrk_run $u "$tmp/batch.lua" "$tmp/batches$round"
		a1=$(metric $u workqueue_jobs_accepted_total)
		secs=$(wrk_secs "$tmp/batches$round")
		w=$(awk -v a="$a0" -v b="$a1" -v s="$secs" 'BEGIN { print (s == 0) ? 0 : (b - a) / s }')
		b=0
		[ $bs = yes ] && { loadgen "$tmp/batches-bs$round" -proto beanstalk -addr 127.0.0.1:18162 -c 64 -d "$wrktime"; b=$(kv rate "$tmp/batches-bs$round"); }
		echo "$w $b" >>"$tmp/batches.rounds"
		printf '  round %d: workqueue durable, batches of 100: %8.0f jobs/s (%s answers not 2xx); beanstalkd in memory %7.0f jobs/s\n' "$round" "$w" "$(non2xx "$tmp/batches$round")" "$b"
	done
	target "batches: durable NDJSON batches of 100, jobs/s" "$(awk '{ print $1 }' "$tmp/batches.rounds" | median)" '>=' 200000
	[ $bs = yes ] && target "batches: durable batches vs beanstalkd in memory" "$(awk '{ print ($2 == 0) ? 0 : $1 / $2 }' "$tmp/batches.rounds" | median)" '>=' 2
	return 0
}

# section_million queues 1,000,000 jobs (-n 1 and 1 h jobs: the first runs,
# every other one waits) and reports resident memory per job, in memory and
# with -journal; then kill -9 and times the replay of the million unfinished
# jobs, restart to "listening" (issue 20's targets: <= 1 KiB a job, < 3 s).
section_million() {
	local n=${MILLION_JOBS:-1000000}
	echo "== million: $n jobs queued behind one 1 h job, resident memory per job; then kill -9 and the replay of them all"
	supports -journal "$tmp/probe" -fsync always || { skip million "this workqueue has no -journal flag"; return 0; }
	local u=http://127.0.0.1:18141 mode rss0 rss1 args
	for mode in memory journal; do
		args=(-n 1 -max-delay 1h -queue "$n")
		[ $mode = journal ] && args+=(-journal "$tmp/journal-million" -fsync always)
		start_wq 18141 million-$mode "${args[@]}" || { echo "million: workqueue would not start: $(why million-$mode)"; return 1; }
		rss0=$(awk '/^VmRSS/ { print $2 }' /proc/$wq_pid/status)
		loadgen "$tmp/million-lg" -proto http -url $u/work -c 64 -n "$n" -d 600s -delay 1h
		rss1=$(awk '/^VmRSS/ { print $2 }' /proc/$wq_pid/status)
		echo "$mode: $(cat "$tmp/million-lg"); queue_length $(metric $u workqueue_queue_length); resident $((rss0 / 1024)) MiB before, $((rss1 / 1024)) MiB after"
		target "million, $mode: resident bytes per queued job" "$(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { print (b - a) * 1024 / n }')" '<=' 1024
		[ $mode = journal ] || { kill -9 $wq_pid; wait $wq_pid 2>/dev/null || true; continue; }
		echo "journal: $(metric $u workqueue_journal_bytes) B on disk"
		kill -9 $wq_pid
		wait $wq_pid 2>/dev/null || true
		local t0 t1
		t0=$(date +%s.%N)
		"${srv[@]}" "$tmp/workqueue" -http 127.0.0.1:18141 "${args[@]}" >/dev/null 2>"$tmp/million-replay.err" &
		wq_pid=$!
		track $wq_pid
		for _ in $(seq 1 12000); do
			grep -q 'msg=listening' "$tmp/million-replay.err" && break
			kill -0 $wq_pid 2>/dev/null || { echo "million: workqueue exited on restart: $(why million-replay)"; return 1; }
			sleep 0.01
		done
		t1=$(date +%s.%N)
		grep -q 'msg=listening' "$tmp/million-replay.err" || { echo "million: no \"listening\" within 120 s"; return 1; }
		echo "the server's own line: $(grep -i 'replay' "$tmp/million-replay.err" | head -1)"
		echo "replayed (workqueue_jobs_replayed_total): $(metric $u workqueue_jobs_replayed_total); resident after replay $(($(awk '/^VmRSS/ { print $2 }' /proc/$wq_pid/status) / 1024)) MiB"
		target "million: replay, restart to \"listening\", s" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" '<' 3
		kill -9 $wq_pid
		wait $wq_pid 2>/dev/null || true
	done
}

# section_commands compares jobs per second running `true` through the queue
# with a plain Go loop running it on 4 goroutines (issue 10: ≥ 0.9×).
section_commands() {
	echo "== commands: $exec_jobs jobs of \`true\` on 4 workers vs exec.Command(\"true\").Run() on 4 goroutines"
	local u=http://127.0.0.1:18141 have=yes
	if ! start_wq 18141 commands -n 4 -queue 10000 -- true; then
		have=no
		skip commands "this workqueue does not run a command yet (issue 10): it said: $(why commands)"
		echo "commands: the baseline alone, for context:"
	fi
	for round in 1 2; do
		loadgen "$tmp/exec-base-$round" -proto exec -c 4 -n "$exec_jobs" -d 300s -- true
		[ $have = yes ] || break
		loadgen "$tmp/exec-wq-$round" -proto http -url $u/work -c 16 -n "$exec_jobs" -d 300s -wait-done
	done
	local base wq
	base=$(kv rate "$tmp"/exec-base-* | mean)
	printf '%-50s %9.0f runs/s  (rounds: %s)\n' "plain Go loop, 4 goroutines" "$base" "$(kv rate "$tmp"/exec-base-* | paste -sd' ')"
	[ $have = yes ] || return 0
	wq=$(kv rate "$tmp"/exec-wq-* | mean)
	printf '%-50s %9.0f jobs/s  (rounds: %s; first submission to last done)\n' "workqueue -n 4 -- true" "$wq" "$(kv rate "$tmp"/exec-wq-* | paste -sd' ')"
	target "commands: jobs per second, ratio to the plain loop" "$(div "$wq" "$base")" '>=' 0.90
	echo "finished: $(metric $u 'workqueue_jobs_finished_total{state="done"}') done, $(metric $u 'workqueue_jobs_finished_total{state="failed"}') failed (want $((2 * exec_jobs)) and 0)"
	if grep -q '^func BenchmarkCommandTrue' ./internal/command/*_test.go && grep -q '^func BenchmarkExecTrueBaseline' ./internal/command/*_test.go; then
		go test -run '^$' -bench '^Benchmark(CommandTrue|ExecTrueBaseline)$' -benchtime 2000x -count 1 ./internal/command >"$tmp/exec-bench.txt"
		printf '%-62s %6.3f  (in process, no queue: Command.Run vs exec.Command)\n' "BenchmarkExecTrueBaseline ns/op / BenchmarkCommandTrue ns/op" \
			"$(div "$(field "$tmp/exec-bench.txt" BenchmarkExecTrueBaseline ns/op)" "$(field "$tmp/exec-bench.txt" BenchmarkCommandTrue ns/op)")"
	fi
}

# section_remote compares jobs per second running `true` through one runner
# (workqueue -remote URL -n 4, on the servers' core, as local workers are)
# against the same through 4 local workers, two rounds each, and measures
# claim-to-start latency in process (BenchmarkClaimLatency: from a job's
# acceptance to a waiting claimant holding its 200, over loopback HTTP).
section_remote() {
	echo "== remote: $exec_jobs jobs of \`true\` through one runner -remote -n 4 (server -n 0) vs 4 local workers; loadgen -c 16 -wait-done"
	supports -remote http://127.0.0.1:1 || { skip remote "this workqueue has no -remote yet (issue 19)"; return 0; }
	local l=http://127.0.0.1:18790 r=http://127.0.0.1:18791
	start_wq 18790 remote-local -n 4 -queue 10000 -- true || { echo "remote: workqueue would not start: $(why remote-local)"; return 1; }
	start_wq 18791 remote-server -n 0 -queue 10000 || { echo "remote: workqueue would not start: $(why remote-server)"; return 1; }
	"${srv[@]}" "$tmp/workqueue" -remote $r -n 4 -- true 2>"$tmp/remote-runner.err" &
	track $!
	for round in 1 2; do
		loadgen "$tmp/remote-local-$round" -proto http -url $l/work -c 16 -n "$exec_jobs" -d 300s -wait-done
		loadgen "$tmp/remote-runner-$round" -proto http -url $r/work -c 16 -n "$exec_jobs" -d 300s -wait-done
	done
	local lo re
	lo=$(kv rate "$tmp"/remote-local-* | mean)
	re=$(kv rate "$tmp"/remote-runner-* | mean)
	printf '%-50s %9.0f jobs/s  (rounds: %s)\n' "workqueue -n 4 -- true" "$lo" "$(kv rate "$tmp"/remote-local-* | paste -sd' ')"
	printf '%-50s %9.0f jobs/s  (rounds: %s)\n' "workqueue -n 0 + -remote -n 4 -- true" "$re" "$(kv rate "$tmp"/remote-runner-* | paste -sd' ')"
	target "remote: jobs per second, ratio to local workers" "$(div "$re" "$lo")" '>=' 0.80
	echo "finished through the runner: $(metric $r 'workqueue_jobs_finished_total{state="done"}') done, $(metric $r 'workqueue_jobs_finished_total{state="failed"}') failed, $(metric $r workqueue_leases_expired_total) leases expired (want $((2 * exec_jobs)), 0, 0)"
	go test -run '^$' -bench '^BenchmarkClaimLatency$' -benchtime 2000x -count 3 . >"$tmp/claim-bench.txt"
	local p50 p99
	p50=$(awk '/^BenchmarkClaimLatency/ { for (i = 1; i <= NF; i++) if ($i == "p50-ms") print $(i-1) }' "$tmp/claim-bench.txt" | median)
	p99=$(awk '/^BenchmarkClaimLatency/ { for (i = 1; i <= NF; i++) if ($i == "p99-ms") print $(i-1) }' "$tmp/claim-bench.txt" | median)
	printf '%-50s %9.3f ms p50, %.3f ms p99  (median of 3 runs of 2000 claims)\n' "claim-to-start latency, loopback" "$p50" "$p99"
	target "remote: claim-to-start p99, ms" "$p99" '<' 5
}

# section_peers puts workqueue beside its peers, round by round, each round
# running in turn workqueue -journal -fsync always, Redis with appendfsync
# always, beanstalkd -b DIR -f 0, workqueue in memory, the bare server and
# beanstalkd in memory; the figures are the medians of the rounds (issue 9's
# targets: durable ≥ 1.0× Redis appendfsync always, in memory ≥ 0.90× the
# bare handler).
section_peers() {
	echo "== peers: $wrkrounds rounds, each running in turn: workqueue -journal -fsync always, Redis --appendfsync always, beanstalkd -b DIR -f 0, workqueue in memory, the bare server, beanstalkd in memory; workqueue and the bare server by wrk -t1 -c64 -d$wrktime (POST /work, 0s jobs, -queue 10000), the peers by scripts/loadgen -c 64 -d $wrktime -size 40 (one 40-byte job a command, each connection waiting for its reply)"
	command -v wrk >/dev/null || { skip peers "wrk is not installed (apt-get install wrk)"; return 0; }
	supports -journal "$tmp/probe" -fsync always || { skip peers "this workqueue has no -journal/-fsync flags yet (issue 9)"; return 0; }
	local redis=yes bs=yes
	command -v redis-server >/dev/null || { redis=no; echo "peers: redis-server is not installed (apt-get install redis-server): its rows are skipped"; }
	command -v beanstalkd >/dev/null || { bs=no; echo "peers: beanstalkd is not installed (apt-get install beanstalkd): its rows are skipped"; }
	local j=http://127.0.0.1:18151 m=http://127.0.0.1:18152 b=http://127.0.0.1:18153
	start_wq 18151 peers-durable -queue 10000 -journal "$tmp/journal-peers" -fsync always || { echo "peers: workqueue would not start: $(why peers-durable)"; return 1; }
	start_wq 18152 peers-mem -queue 10000 || { echo "peers: workqueue would not start: $(why peers-mem)"; return 1; }
	"${srv[@]}" "$tmp/bare" 127.0.0.1:18153 2>/dev/null &
	track $!
	wait_port $! 18153 || { echo "peers: the bare server would not start"; return 1; }
	if [ $redis = yes ]; then
		start_redis 18154 "$tmp/redis-peers" || { echo "peers: redis-server would not start: $(head -3 "$tmp/redis-18154.log")"; return 1; }
	fi
	if [ $bs = yes ]; then
		mkdir -p "$tmp/bs-peers"
		start_bs 18155 || { echo "peers: beanstalkd would not start: $(head -1 "$tmp/beanstalkd-18155.err")"; return 1; }
		start_bs 18156 -b "$tmp/bs-peers" -f 0 || { echo "peers: beanstalkd -f 0 would not start: $(head -1 "$tmp/beanstalkd-18156.err")"; return 1; }
	fi
	# peer NAME PROTO PORT: one loadgen run against a peer, its rate printed
	# (0 if the peer is not installed or the run failed).
	peer() {
		local out="$tmp/peers-$1-$round"
		if { [ "$2" = redis ] && [ $redis = yes ]; } || { [ "$2" = beanstalk ] && [ $bs = yes ]; }; then
			loadgen "$out" -proto "$2" -addr "127.0.0.1:$3" -c 64 -d "$wrktime" -size 40 || true
		fi
		[ -s "$out" ] && kv rate "$out" || echo 0
	}
	local round d r f w n e
	for round in $(seq 1 "$wrkrounds"); do
		wrk_run $j "$tmp/post.lua" "$tmp/peers-durable$round"
		r=$(peer redis redis 18154)
		f=$(peer bs-f0 beanstalk 18156)
		wrk_run $m "$tmp/post.lua" "$tmp/peers-mem$round"
		wrk_run $b "$tmp/post.lua" "$tmp/peers-bare$round"
		e=$(peer bs-mem beanstalk 18155)
		d=$(rps "$tmp/peers-durable$round") w=$(rps "$tmp/peers-mem$round") n=$(rps "$tmp/peers-bare$round")
		echo "$d $r $f $w $n $e" >>"$tmp/peers.rounds"
		printf '  round %d: workqueue durable %6.0f, Redis always %6.0f, beanstalkd -f 0 %6.0f; workqueue in memory %6.0f, bare %6.0f, beanstalkd in memory %6.0f jobs/s\n' "$round" "$d" "$r" "$f" "$w" "$n" "$e"
	done
	# pcol EXPR: the median over the rounds of EXPR, an awk expression of the
	# round's columns ($1 workqueue durable, $2 Redis, $3 beanstalkd -f 0, $4
	# workqueue in memory, $5 bare, $6 beanstalkd in memory), 0 where a
	# divisor is 0.
	pcol() { awk "{ print ($1) }" "$tmp/peers.rounds" | median; }
	ratio() { pcol "($2 == 0) ? 0 : $1 / $2"; }
	echo "durable, each job on disk (fsync) before it is acknowledged:"
	printf '  %-52s %9.0f jobs/s  p50 %-8s p99 %s\n' "workqueue -journal -fsync always (wrk)" "$(pcol '$1')" "$(pct "$tmp/peers-durable1" 50)" "$(pct "$tmp/peers-durable1" 99)"
	printf '  %-52s %9.0f jobs/s\n' "Redis 7 --appendonly yes --appendfsync always (LPUSH)" "$(pcol '$2')"
	printf '  %-52s %9.0f jobs/s\n' "beanstalkd -b DIR -f 0 (put)" "$(pcol '$3')"
	echo "in memory:"
	printf '  %-52s %9.0f jobs/s  p50 %-8s p99 %s\n' "workqueue, no journal (wrk)" "$(pcol '$4')" "$(pct "$tmp/peers-mem1" 50)" "$(pct "$tmp/peers-mem1" 99)"
	printf '  %-52s %9.0f req/s   p50 %-8s p99 %s\n' "bare net/http handler (wrk)" "$(pcol '$5')" "$(pct "$tmp/peers-bare1" 50)" "$(pct "$tmp/peers-bare1" 99)"
	printf '  %-52s %9.0f jobs/s\n' "beanstalkd, no binlog (put)" "$(pcol '$6')"
	if [ $redis = yes ]; then
		target "durable single-job ingest, ratio to Redis appendfsync always" "$(ratio '$1' '$2')" '>=' 1.0
	else
		skip "peers: durable vs Redis" "redis-server is not installed"
	fi
	target "in memory: workqueue's ingest, ratio to the bare handler" "$(ratio '$4' '$5')" '>=' 0.90
	if [ $bs = yes ]; then
		printf '%-62s %6.3f  (context; the beanstalkd section'"'"'s target is 3)\n' "durable, ratio to beanstalkd -f 0" "$(ratio '$1' '$3')"
		printf '%-62s %6.3f  (context)\n' "in memory, ratio to beanstalkd in memory" "$(ratio '$4' '$6')"
	fi
	echo "ratios per round: durable / Redis $(awk '{ printf "%.3f ", ($2 == 0) ? 0 : $1 / $2 }' "$tmp/peers.rounds"); in memory / bare $(awk '{ printf "%.3f ", ($5 == 0) ? 0 : $4 / $5 }' "$tmp/peers.rounds")"
	local non2xx=0
	for round in $(seq 1 "$wrkrounds"); do non2xx=$((non2xx + $(non2xx "$tmp/peers-durable$round") + $(non2xx "$tmp/peers-mem$round"))); done
	echo "refused with 503: durable $(full503 $j), in memory $(full503 $m); non-2xx seen by wrk: $non2xx; peers' answers other than ok: $(cat "$tmp"/peers-redis-* "$tmp"/peers-bs-* 2>/dev/null | kv other /dev/stdin | sum)"
	[ $redis = no ] || echo "Redis: $(redis-cli -p 18154 llen loadgen:jobs 2>/dev/null || echo '?') jobs in the list, $(du -sk "$tmp/redis-peers" | cut -f1) KiB of appendonly files"
}

# run_section NAME: runs section_NAME in a subshell with -e, so that its
# first failing command ends it and nothing else, then kills what it started.
failed=()
run_section() {
	case " $only " in *" $1 "*) ;; *) return 0 ;; esac
	echo
	set +e
	(
		set -e
		trap stop_tracked EXIT
		"section_$1"
	)
	local status=$?
	set -e
	if [ $status -ne 0 ]; then
		echo "$1: section FAILED (exit status $status); the others still run"
		failed+=("$1")
	fi
}

have() { command -v "$1" >/dev/null && echo yes || echo no; }
echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3), $(uname -r); tools: wrk $(have wrk), beanstalkd $(have beanstalkd), redis-server $(have redis-server)"
echo "pinning: $pinning"
if [ -n "${BENCH_BIN:-}" ]; then
	cp "$BENCH_BIN" "$tmp/workqueue"
else
	go build -o "$tmp/workqueue" .
fi
go build -o "$tmp/bare" ./scripts/bare
go build -o "$tmp/loadgen" ./scripts/loadgen
cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "name=bench&delay=0s"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
# The flood's jobs have unique names, thread by thread, so exactly-once can
# be checked name by name.
cat >"$tmp/flood.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "name=t" .. tid .. "-" .. n .. "&delay=1s")
end
LUA

for s in go ingest flood durable beanstalkd batches replay million commands remote peers; do
	run_section $s
done
if [ ${#failed[@]} -gt 0 ]; then
	echo
	echo "sections that failed: ${failed[*]}" >&2
	exit 1
fi
