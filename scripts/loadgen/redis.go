package main

import (
	"bufio"
	"net"
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
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.fail(err)
		return
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	for n := 1; t.next(); n++ {
		body := jobBody(id, n, size)
		w.WriteString("*3\r\n$5\r\nLPUSH\r\n$" + strconv.Itoa(len(redisKey)) + "\r\n" + redisKey + "\r\n$" + strconv.Itoa(len(body)) + "\r\n" + body + "\r\n")
		if err := w.Flush(); err != nil {
			t.fail(err)
			return
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.fail(err)
			return
		}
		if strings.HasPrefix(line, ":") {
			t.ok.Add(1)
		} else {
			t.other.Add(1)
		}
	}
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
