package main

import (
	"bufio"
	"strconv"
	"strings"
)

// redisKey is the list every redis client pushes its jobs onto, as a queue's
// producers would.
const redisKey = "loadgen:jobs"

// pushLoop is one redis client: on its own connection to addr it sends
// LPUSH redisKey <body> in RESP (the Redis protocol specification: a
// command is an array of bulk strings) and waits for its reply before the
// next, until the budget ends: no pipelining, a closed loop like wrk's. An
// integer reply (":<length>\r\n") counts as ok, any other (an error,
// "-...") as other.
func pushLoop(addr string, size, id int, t *tally) {
	closedLoop(addr, size, id, t, func(w *bufio.Writer, body string) {
		w.WriteString("*3\r\n$5\r\nLPUSH\r\n$" + strconv.Itoa(len(redisKey)) + "\r\n" + redisKey + "\r\n$" + strconv.Itoa(len(body)) + "\r\n" + body + "\r\n")
	}, ":")
}

// jobBody is client id's nth job, "lg-<id>-<n>", padded with dots to size
// bytes if it is shorter.
func jobBody(id, n, size int) string {
	body := "lg-" + strconv.Itoa(id) + "-" + strconv.Itoa(n)
	if len(body) < size {
		body += strings.Repeat(".", size-len(body))
	}
	return body
}
