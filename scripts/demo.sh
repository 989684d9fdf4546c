#!/usr/bin/env bash
# demo.sh sends bursts of concurrent job submissions to a running workqueue
# server and reports, after each burst, how many were accepted (201) and how
# many refused because the queue was full (503).
#
#   scripts/demo.sh [URL]        URL defaults to $WORKQUEUE_URL, then
#                                http://127.0.0.1:8000
#
# During the flood it resizes the pool (PUT /workers up, then back down,
# printing GET /workers after each), and it prints each /events event of the
# job it follows as the event arrives.
#
# It exits non-zero if the server is unreachable, answers anything but 201 or
# 503, never refuses a burst meant to overflow its queue, or refuses a
# resize. Its last line is "demo: accepted N refused M canceled C" over all
# bursts.
set -euo pipefail

url=${1:-${WORKQUEUE_URL:-http://127.0.0.1:8000}}
url=${url%/}
tmp=$(mktemp -d)
events_pid=
# On exit, end the /events stream if it is still open, then clean up.
trap 'stop_curl; rm -rf "$tmp"' EXIT

total_accepted=0
total_refused=0

# burst NAME COUNT: submits COUNT jobs at once, 100 connections in parallel,
# named NAME-1..NAME-COUNT with delays from 100 to 500ms.
burst() {
	local name=$1 count=$2 cfg="$tmp/$1.curl" codes="$tmp/$1.codes"
	: >"$cfg"
	for i in $(seq 1 "$count"); do
		printf 'url = "%s/work?name=%s-%d&delay=%dms"\noutput = "/dev/null"\n' \
			"$url" "$name" "$i" $(((i * 37) % 5 * 100 + 100)) >>"$cfg"
	done
	curl --silent --show-error --no-progress-meter --parallel --parallel-max 100 --request POST \
		--write-out '%{http_code} %header{location}\n' --config "$cfg" >"$codes" || true
	local accepted refused other
	accepted=$(grep -c '^201 ' "$codes" || true)
	refused=$(grep -c '^503 ' "$codes" || true)
	other=$((count - accepted - refused))
	printf '%-10s %4d sent: %4d accepted (201), %4d refused (503)\n' "$name" "$count" "$accepted" "$refused"
	total_accepted=$((total_accepted + accepted))
	total_refused=$((total_refused + refused))
	if [ "$other" -ne 0 ]; then
		echo "demo: $other requests got neither 201 nor 503:" >&2
		grep -v -e '^201 ' -e '^503 ' "$codes" | sort | uniq -c >&2
		exit 1
	fi
	last_refused=$refused
	# The two jobs accepted last, as /work/<id>: those with the highest ids.
	awk '$1 == 201 { sub("\r", "", $2); print $2 }' "$codes" | sort -t/ -k3 -n | tail -n 2 >"$tmp/last"
	last_job=$(tail -n 1 "$tmp/last")
	next_to_last_job=$(head -n 1 "$tmp/last")
}

# state JOB: prints the state of JOB (a path such as /work/17).
state() {
	curl --silent "$url$1" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'
}

# follow JOB: prints each state JOB goes through until it finishes (60s at
# most), as "queued → running → done".
follow() {
	local seen="" now
	for _ in $(seq 1 3000); do
		now=$(state "$1")
		[ "$now" = "${seen##* }" ] || seen="${seen:+$seen → }$now"
		case $now in
		done | canceled | failed)
			echo "demo: job $1: $seen"
			return 0
			;;
		esac
		sleep 0.02
	done
	echo "demo: job $1 did not finish within 60s: $seen" >&2
	exit 1
}

# pool: prints GET /workers, the pool's workers, busy ones and target.
pool() {
	curl --silent "$url/workers"
}

# resize N: asks for N workers with PUT /workers, then prints GET /workers.
resize() {
	local answer
	answer=$(curl --silent --request PUT --write-out ' %{http_code}' "$url/workers?workers=$1")
	case $answer in
	*' 200') echo "demo: PUT /workers?workers=$1: 200; GET /workers: $(pool)" ;;
	*) echo "demo: PUT /workers?workers=$1 answered $answer, want 200" >&2 && exit 1 ;;
	esac
}

# events JOB: prints, in the background, a line for each /events event of
# JOB (a path such as /work/17) as it arrives, until JOB's final state. It
# asks the stream to replay from event 0 (Last-Event-ID), so that the events
# before it connected come first: the server keeps the newest 10,000.
events() {
	local id=${1##*/}
	(
		curl --silent --no-buffer --header 'Last-Event-ID: 0' "$url/events" &
		echo $! >"$tmp/curl.pid"
		wait
	) | awk -v id="$id" '
		/^id: / { ev = $2 }
		/^data: / && index($0, "\"id\":\"" id "\"") {
			state = $0; sub(/.*"state":"/, "", state); sub(/".*/, "", state)
			worker = ""
			if (match($0, /"worker":[0-9]+/)) worker = " on worker" substr($0, RSTART + 9, RLENGTH - 9)
			printf "demo: /events id %s: job %s %s%s\n", ev, id, state, worker
			fflush()
			if (state == "done" || state == "canceled" || state == "failed") exit
		}' &
	events_pid=$!
}

# stop_events waits a little for the events of the job followed to end (the
# last event may come just after GET shows the final state), then closes the
# stream: curl -N keeps it open for ever otherwise.
stop_events() {
	for _ in $(seq 1 250); do
		kill -0 "$events_pid" 2>/dev/null || break
		sleep 0.02
	done
	stop_curl
	wait "$events_pid" 2>/dev/null || true
	events_pid=
}

# stop_curl ends the /events stream's curl, if it runs.
stop_curl() {
	if [ -s "$tmp/curl.pid" ]; then
		kill "$(cat "$tmp/curl.pid")" 2>/dev/null || true
		rm -f "$tmp/curl.pid"
	fi
}

if ! curl --silent --fail "$url/healthz" >/dev/null; then
	echo "demo: no workqueue server answers at $url (start one with: make run)" >&2
	exit 1
fi
echo "demo: sending bursts to $url"

burst small 20
burst flood 400
if [ "$last_refused" -eq 0 ]; then
	echo "demo: a burst of 400 overflowed nothing; is the queue larger than the default 100?" >&2
	exit 1
fi
canceled=0
echo "demo: canceling $next_to_last_job, which waits in the queue"
answer=$(curl --silent --request DELETE --write-out ' %{http_code}' "$url$next_to_last_job")
case $answer in
*'"state":"canceled"'*' 200') canceled=1 && echo "demo: DELETE $next_to_last_job: 200 canceled" ;;
*) echo "demo: DELETE $next_to_last_job answered $answer, want 200 and the job canceled" >&2 && exit 1 ;;
esac
echo "demo: following the flood's last job, $last_job, until it is done; its events:"
events "$last_job"
echo "demo: growing the pool while the flood runs"
resize 16
sleep 1
echo "demo: shrinking it back: idle workers retire at once, busy ones when their job ends"
resize 4
follow "$last_job"
stop_events
echo "demo: GET /workers once the flood is done: $(pool)"
burst after 30

echo "demo: what /metrics counted:"
curl --silent "$url/metrics" | grep -E '^workqueue_(jobs_|queue_length|workers|job_wait_seconds_count)' | sed 's/^/  /'
echo "demo: accepted $total_accepted refused $total_refused canceled $canceled"
