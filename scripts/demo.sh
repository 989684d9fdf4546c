#!/usr/bin/env bash
# demo.sh sends bursts of concurrent job submissions to a running workqueue
# server and reports, after each burst, how many were accepted (201) and how
# many refused because the queue was full (503).
#
#   scripts/demo.sh [URL]        URL defaults to $WORKQUEUE_URL, then
#                                http://127.0.0.1:8000
#
# It exits non-zero if the server is unreachable, answers anything but 201 or
# 503, or never refuses a burst meant to overflow its queue. Its last line is
# "demo: accepted N refused M" over all bursts.
set -euo pipefail

url=${1:-${WORKQUEUE_URL:-http://127.0.0.1:8000}}
url=${url%/}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

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
echo "demo: following the flood's last job, $last_job, until it is done"
follow "$last_job"
burst after 30

echo "demo: what /metrics counted:"
curl --silent "$url/metrics" | grep -E '^workqueue_(jobs_|queue_length|workers_busy|job_wait_seconds_count)' | sed 's/^/  /'
echo "demo: accepted $total_accepted refused $total_refused canceled $canceled"
