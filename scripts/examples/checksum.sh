#!/bin/sh
# checksum.sh: a job that does real work: it writes the SHA-256 of one file.
#
#   echo hello >/tmp/report.txt
#   CHECKSUM_DIR=/tmp make run ARGS='-n 4 -retries 2 -job-timeout 1m -- scripts/examples/checksum.sh'
#   curl -d name=report.txt http://127.0.0.1:8000/work
#   curl 'http://127.0.0.1:8000/work/1?wait=10s'   # "output": the line of /tmp/report.txt.sha256
#
# (from the repository's root; make run builds the server and starts it on
# its default address, 127.0.0.1:8000.)
#
# The job's name, read from standard input, is the name of a file in
# $CHECKSUM_DIR (workqueue passes its own environment on). The script writes
# NAME.sha256 beside the file, in sha256sum's format, and prints that line,
# which becomes the job's output. The name is data, never code or an option:
# it is always quoted, follows "--", and cannot leave the directory.
set -eu

dir=${CHECKSUM_DIR:?set CHECKSUM_DIR to the directory of the files}
IFS= read -r name # workqueue ends the name with a newline
case $name in
'' | . | .. | */*)
	printf 'checksum.sh: %s: not a file name in %s\n' "$name" "$dir" >&2
	exit 2
	;;
esac
cd -- "$dir"
sha256sum -- "$name" >"$name.sha256.tmp"
mv -- "$name.sha256.tmp" "$name.sha256" # readers never see half a line
cat -- "$name.sha256"
