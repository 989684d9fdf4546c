package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// postLoop is one http client: on its own keep-alive connection to u's host
// it POSTs jobs to u until the budget ends, dialing again whenever the server
// closes the connection.
func postLoop(u *url.URL, delay string, id int, t *tally) {
	delay = url.QueryEscape(delay)
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var r *bufio.Reader
	var w *bufio.Writer
	for n := 1; t.next(); n++ {
		if conn == nil {
			var err error
			if conn, err = net.Dial("tcp", u.Host); err != nil {
				t.fail(err)
				return
			}
			r, w = bufio.NewReader(conn), bufio.NewWriter(conn)
		}
		body := "name=lg-" + strconv.Itoa(id) + "-" + strconv.Itoa(n) + "&delay=" + delay
		fmt.Fprintf(w, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
			u.RequestURI(), u.Host, len(body), body)
		status, closed, err := roundTrip(w, r)
		if err != nil {
			t.fail(err)
			return
		}
		if status == http.StatusCreated {
			t.ok.Add(1)
		} else {
			t.other.Add(1)
		}
		if closed {
			conn.Close()
			conn = nil
		}
	}
}

// roundTrip sends the request buffered in w and reads its response from r,
// body and all. It returns the status code and whether the server closes
// the connection after it.
func roundTrip(w *bufio.Writer, r *bufio.Reader) (status int, closed bool, err error) {
	if err := w.Flush(); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Close, err
}
