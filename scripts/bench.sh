#!/usr/bin/env bash
# bench.sh measures workqueue against its performance targets. Every figure
# is a ratio against a baseline measured in the same run, since the machines
# it runs on are shared and noisy.
#
#   scripts/bench.sh            (make bench)
#
# Environment: BENCH_RUNS (default 5) rounds of the Go benchmarks, of which
# the median ratio counts; BENCH_TIME (default 1s) per benchmark; WRK_TIME
# (default 10s) per wrk run. With wrk installed (apt-get install wrk) it also
# drives the real binary and a bare net/http server (scripts/bare) over
# loopback. It exits 0 whether or not the targets are met: it reports.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-5}
benchtime=${BENCH_TIME:-1s}
wrktime=${WRK_TIME:-10s}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3), $(uname -r)"
echo
echo "== Go benchmarks: $runs rounds of -benchtime $benchtime, each target the median of its per-round ratios"
for i in $(seq 1 "$runs"); do
	go test -run '^$' -bench 'Ingest|Dispatch|Schedule|Refuse' -benchtime "$benchtime" -count 1 . >"$tmp/round$i.txt"
	cat "$tmp/round$i.txt" >>"$tmp/all.txt"
done

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
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "meets" : "falls short" }'
}

for i in $(seq 1 "$runs"); do
	f="$tmp/round$i.txt"
	awk -v a="$(field "$f" BenchmarkIngestBare ns/op)" -v b="$(field "$f" BenchmarkIngest ns/op)" 'BEGIN { print a / b }' >>"$tmp/ingest"
	awk -v a="$(field "$f" BenchmarkDispatch ns/op)" -v b="$(field "$f" BenchmarkDispatchBaseline ns/op)" 'BEGIN { print a / b }' >>"$tmp/dispatch"
	field "$f" BenchmarkSchedule efficiency >>"$tmp/schedule"
	field "$f" BenchmarkSchedule bare-efficiency >>"$tmp/schedule-bare"
	field "$f" BenchmarkIngest B/op >>"$tmp/ingestB"
	field "$f" BenchmarkIngestBare B/op >>"$tmp/bareB"
	field "$f" BenchmarkRefuse ns/op >>"$tmp/refuse"
done
ingest=$(median <"$tmp/ingest")
dispatch=$(median <"$tmp/dispatch")
schedule=$(median <"$tmp/schedule")
printf '%-62s %6.3f  target >= 0.90  %s\n' "ingest, in process: throughput ratio to a bare handler" "$ingest" "$(verdict "$ingest" '>=' 0.90)"
printf '%-62s %6.3f  target <= 1.50  %s\n' "dispatch: ns per no-op job, ratio to a bare pipeline" "$dispatch" "$(verdict "$dispatch" '<=' 1.5)"
printf '%-62s %6.3f  target >= 0.95  %s\n' "scheduling: 400 jobs of 10ms on 4 workers, ideal 1s / taken" "$schedule" "$(verdict "$schedule" '>=' 0.95)"
printf '%-62s %6.3f  (4 goroutines sleeping 100 x 10ms: what timers allow here)\n' "scheduling baseline: bare sleeps, ideal / taken" "$(median <"$tmp/schedule-bare")"
printf '%-62s %6s  (bare handler %s; both include the Go client)\n' "bytes allocated per POST /work" "$(median <"$tmp/ingestB")" "$(median <"$tmp/bareB")"
printf '%-62s %6s  (the handler alone, no network)\n' "ns to refuse a submission to a full queue with 503" "$(median <"$tmp/refuse")"
echo "ratios per round: ingest $(paste -sd' ' "$tmp/ingest"); dispatch $(paste -sd' ' "$tmp/dispatch"); scheduling $(paste -sd' ' "$tmp/schedule")"

if ! command -v wrk >/dev/null; then
	echo
	echo "wrk is not installed: skipping the real-binary comparisons (apt-get install wrk)"
	exit 0
fi

echo
echo "== wrk -t2 -c64 -d$wrktime, POST /work with a form body, client and server on this machine"
go build -o "$tmp/workqueue" .
go build -o "$tmp/bare" ./scripts/bare
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

# wrk_run URL SCRIPT OUT: runs wrk, saving its report in OUT.
wrk_run() {
	wrk -t2 -c64 -d"$wrktime" --latency -s "$2" "$1/work" >"$3"
}
rps() { awk '/^Requests\/sec/ { print $2 }' "$1"; }
pct() { awk -v p="$2%" '$1 == p { print $2 }' "$1"; }
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) print v / 1000; else if (v ~ /ms$/) print v + 0; else print v * 1000 }'; }
rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1/metrics" && return 0; sleep 0.05; done; return 1; }

"$tmp/bare" 127.0.0.1:18081 2>/dev/null &
bare_pid=$!
"$tmp/workqueue" -http 127.0.0.1:18082 >/dev/null 2>&1 &
wq_pid=$!
curl -s -o /dev/null --retry 20 --retry-delay 0 --retry-connrefused http://127.0.0.1:18081/ || true
wait_up http://127.0.0.1:18082
# Alternate the two servers, twice, so drift in the machine hits both.
for round in 1 2; do
	wrk_run http://127.0.0.1:18081 "$tmp/post.lua" "$tmp/bare$round"
	wrk_run http://127.0.0.1:18082 "$tmp/post.lua" "$tmp/wq$round"
done
bare_rps=$(cat "$tmp/bare1" "$tmp/bare2" | awk '/^Requests\/sec/ { s += $2 } END { print s / 2 }')
wq_rps=$(cat "$tmp/wq1" "$tmp/wq2" | awk '/^Requests\/sec/ { s += $2 } END { print s / 2 }')
ratio=$(awk -v a="$wq_rps" -v b="$bare_rps" 'BEGIN { print a / b }')
p99ratio=$(awk -v a="$(ms "$(pct "$tmp/wq2" 99)")" -v b="$(ms "$(pct "$tmp/bare2" 99)")" 'BEGIN { print a / b }')
printf '%-40s %9.0f req/s  p50 %-8s p99 %-8s RSS %s MiB\n' "bare net/http handler" "$bare_rps" "$(pct "$tmp/bare2" 50)" "$(pct "$tmp/bare2" 99)" "$(rss $bare_pid)"
printf '%-40s %9.0f req/s  p50 %-8s p99 %-8s RSS %s MiB, %s goroutines\n' "workqueue, 0s jobs" "$wq_rps" "$(pct "$tmp/wq2" 50)" "$(pct "$tmp/wq2" 99)" "$(rss $wq_pid)" "$(metric http://127.0.0.1:18082 workqueue_goroutines)"
printf '%-62s %6.3f  target >= 0.90  %s\n' "ingest, wrk: throughput ratio to the bare server" "$ratio" "$(verdict "$ratio" '>=' 0.90)"
printf '%-62s %6.3f  target <= 1.50  %s\n' "ingest, wrk: p99 latency ratio to the bare server" "$p99ratio" "$(verdict "$p99ratio" '<=' 1.5)"
kill $bare_pid
kill -TERM $wq_pid
wait $wq_pid || true

echo
echo "== flood: 1s jobs, default queue (100), 4 workers, wrk for $wrktime"
"$tmp/workqueue" -http 127.0.0.1:18083 >"$tmp/flood.out" 2>"$tmp/flood.err" &
wq_pid=$!
wait_up http://127.0.0.1:18083
g0=$(metric http://127.0.0.1:18083 workqueue_goroutines)
wrk_run http://127.0.0.1:18083 "$tmp/flood.lua" "$tmp/flood" &
wrk_pid=$!
sleep "$(awk -v t="${wrktime%s}" 'BEGIN { print t / 2 }')"
g1=$(metric http://127.0.0.1:18083 workqueue_goroutines)

wait $wrk_pid
rss_after=$(rss $wq_pid)
accepted=$(metric http://127.0.0.1:18083 workqueue_jobs_accepted_total)
refused=$(curl -s http://127.0.0.1:18083/metrics | awk '$1 == "workqueue_jobs_rejected_total{reason=\"full\"}" { print $2 }')
sleep 1
g2=$(metric http://127.0.0.1:18083 workqueue_goroutines)
kill -TERM $wq_pid
status=0
wait $wq_pid || status=$?
ran=$(wc -l <"$tmp/flood.out")
distinct=$(sed 's/^worker[0-9]*: //' "$tmp/flood.out" | sort -u | wc -l)
printf 'wrk: %s req/s, %s accepted, %s refused with 503; p50 %s, p99 %s (64 connections queueing on 2 cores)\n' \
	"$(rps "$tmp/flood")" "$accepted" "$refused" "$(pct "$tmp/flood" 50)" "$(pct "$tmp/flood" 99)"
printf '%-62s %6s  target < 32 MiB  %s\n' "resident memory after the flood, MiB" "$rss_after" "$(verdict "$rss_after" '<=' 32)"
printf '%-62s %s → %s → %s  (before, during: + wrk'"'"'s 64 connections, after)\n' "goroutines" "$g0" "$g1" "$g2"
flood_p50=$(ms "$(pct "$tmp/flood" 50)")
bare_p50=$(ms "$(pct "$tmp/bare2" 50)")
printf '%-62s %6s  (the bare server'"'"'s under the same wrk load: %s ms)\n' "median latency in the flood, ms" "$flood_p50" "$bare_p50"
printf '%-62s %6s  target well under 1 ms  %s\n' "time to answer one excess request 503, ms (BenchmarkRefuse)" "$(awk -v n="$(median <"$tmp/refuse")" 'BEGIN { print n / 1e6 }')" "$(verdict "$(median <"$tmp/refuse")" '<=' 500000)"
echo "drained: exit status $status; $accepted accepted, $ran greetings printed, $distinct distinct names"
if [ "$status" -ne 0 ] || [ "$ran" -ne "$accepted" ] || [ "$distinct" -ne "$accepted" ]; then
	echo "flood: FAILED: every accepted job must run exactly once" >&2
	exit 1
fi
