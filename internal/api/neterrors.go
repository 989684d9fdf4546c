package api

import (
	"bytes"
	"net"
	"strconv"

	"workqueue/internal/respond"
)

// netHTTPErrorHeaders is how net/http heads the answers it writes itself,
// before any handler runs, to a request it cannot parse (net/http's
// server.go, conn.serve): a status line, then exactly these headers. A
// handler's answer never has them in this order, since net/http writes a
// handler's headers sorted by name.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// JSONErrors returns ln, whose connections turn the plain-text answers
// net/http writes itself, for a request it cannot parse, into JSON errors
// like every other answer: 400 for a malformed request, 431 for a request
// line and headers over the limit, 501 for a transfer coding other than
// chunked (RFC 9112 section 6.1). Each says what to send instead. Every
// other write passes through unchanged.
func JSONErrors(ln net.Listener) net.Listener { return jsonErrorsListener{ln} }

type jsonErrorsListener struct{ net.Listener }

// Accept returns the next connection, wrapped.
func (l jsonErrorsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorsConn{Conn: c}, nil
}

// jsonErrorsConn is a connection whose writes of net/http's own error
// answers are rewritten as JSON.
type jsonErrorsConn struct{ net.Conn }

// Write writes p, or its JSON form if p is one of net/http's own error
// answers, which net/http writes with one Write each.
func (c *jsonErrorsConn) Write(p []byte) (int, error) {
	if b, ok := asJSONError(p); ok {
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// CloseWrite shuts down the writing side, as net/http does after a 431,
// when the connection can.
func (c *jsonErrorsConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// asJSONError returns the JSON form of p if p is an error answer net/http
// wrote itself: "HTTP/1.1 CODE TEXT" + netHTTPErrorHeaders + body.
func asJSONError(p []byte) ([]byte, bool) {
	if len(p) < 13 || !bytes.HasPrefix(p, []byte("HTTP/1.1 ")) || (p[9] != '4' && p[9] != '5') {
		return nil, false
	}
	eol := bytes.IndexByte(p, '\r')
	if eol < 0 || !bytes.HasPrefix(p[eol:], []byte(netHTTPErrorHeaders)) {
		return nil, false
	}
	status, body := p[:eol], string(p[eol+len(netHTTPErrorHeaders):])
	code, _ := strconv.Atoi(string(p[9:12]))
	msg := body + ": the request is not well-formed HTTP/1.1; nothing was done"
	switch code {
	case 431:
		msg = "the request line and headers are over 64 KiB: send fewer or shorter headers; nothing was done"
	case 501:
		msg = "unsupported Transfer-Encoding: the only transfer coding taken is chunked; send the body as it is, " +
			"with Content-Length or Transfer-Encoding: chunked; nothing was done"
	}
	b := append([]byte(nil), status...)
	b = append(b, "\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"error\":"...)
	b = respond.AppendString(b, msg)
	return append(b, "}\n"...), true
}
