#!/bin/sh
# flaky.sh: a job that fails about half the time, to show retries.
#
#   make run ARGS='-retries 3 -- scripts/examples/flaky.sh'
#   curl -d name=Alice http://127.0.0.1:8000/work
#   curl 'http://127.0.0.1:8000/work/1?wait=10s'   # done or failed, and "attempts"
#
# (from the repository's root; make run builds the server and starts it on
# its default address, 127.0.0.1:8000.)
#
# A failed attempt exits 1 and says why on standard error; workqueue keeps
# that as the job's output and tries again after 1 s, 2 s, 4 s. Like every
# command workqueue runs, it learns of its job only from its environment
# (WORKQUEUE_JOB_ID, WORKQUEUE_NAME, WORKQUEUE_ATTEMPT) and standard input.
set -eu

coin=$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')
if [ $((coin % 2)) -eq 1 ]; then
	printf 'job %s, attempt %s: failed (the coin said so)\n' "$WORKQUEUE_JOB_ID" "$WORKQUEUE_ATTEMPT" >&2
	exit 1
fi
printf 'job %s, attempt %s: Hello, %s!\n' "$WORKQUEUE_JOB_ID" "$WORKQUEUE_ATTEMPT" "$WORKQUEUE_NAME"
