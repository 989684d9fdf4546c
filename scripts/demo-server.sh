#!/usr/bin/env bash
# demo-server.sh is make demo: it starts the workqueue binary given as its
# argument in the background, runs scripts/demo.sh against it, sends it
# SIGTERM and shows the drain. It exits non-zero if the demo fails, the
# server does not exit 0, or the jobs run differ from the jobs accepted.
#
#   scripts/demo-server.sh ./workqueue      (address: $DEMO_ADDR, default 127.0.0.1:8000)
#
# If something already listens on that address, or the server cannot listen
# there, it fails at once, naming the address and the cause.
set -euo pipefail

bin=${1:?usage: demo-server.sh path/to/workqueue}
addr=${DEMO_ADDR:-127.0.0.1:8000}
pid=
dir=$(mktemp -d)
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT

# If something already listens on addr, the bursts would go to it: refuse.
host=${addr%:*}
host=${host#[}
host=${host%]}
port=${addr##*:}
if timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "${host:-127.0.0.1}" "$port" 2>/dev/null; then
	echo "demo: $addr is already in use: something listens there (another workqueue, or make run?)." >&2
	echo "demo: stop it, or choose another address: DEMO_ADDR=127.0.0.1:8001 make demo" >&2
	exit 1
fi

# Wait for the server's own "listening" line: a health check alone could be
# answered by another process that took the port meanwhile.
"$bin" -http "$addr" >"$dir/stdout" 2>"$dir/stderr" &
pid=$!
for _ in $(seq 1 100); do
	grep -q 'msg=listening' "$dir/stderr" && break
	if ! kill -0 "$pid" 2>/dev/null; then
		pid=
		echo "demo: the server could not start on $addr:" >&2
		cat "$dir/stderr" >&2
		exit 1
	fi
	sleep 0.1
done
if ! grep -q 'msg=listening' "$dir/stderr"; then
	echo "demo: the server did not listen on $addr within 10 s:" >&2
	cat "$dir/stderr" >&2
	exit 1
fi

scripts/demo.sh "http://$addr" | tee "$dir/demo"
accepted=$(sed -n 's/^demo: accepted \([0-9]*\) .*/\1/p' "$dir/demo")
canceled=$(sed -n 's/^demo: accepted .* canceled \([0-9]*\)$/\1/p' "$dir/demo")
want=$((accepted - canceled))

echo "demo: sending SIGTERM; the server drains what it accepted"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
echo "--- server log (stderr), without the per-job debug lines:"
cat "$dir/stderr"
echo "--- the last greetings on stdout:"
tail -n 3 "$dir/stdout"
ran=$(wc -l <"$dir/stdout")
distinct=$(sed "s/^worker[0-9]*: //" "$dir/stdout" | sort -u | wc -l)
echo "demo: server exited $status; $accepted jobs accepted, $canceled canceled, $ran greetings printed, $distinct distinct"
if [ "$status" -ne 0 ] || [ "$ran" -ne "$want" ] || [ "$distinct" -ne "$want" ]; then
	echo "demo: FAILED: want exit 0 and every accepted job not canceled run exactly once" >&2
	exit 1
fi
