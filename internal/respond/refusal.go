package respond

import (
	"fmt"
	"net/http"
)

// Refusal is a request refused, with the status to answer and a message the
// client can act on. Its Error is the message.
type Refusal struct {
	Status int    // the HTTP status to answer, such as http.StatusBadRequest
	Msg    string // what is wrong, and what to send instead
	// BodyUnread is set when the request was refused before its body was
	// read: its connection is then closed (see CloseUnread).
	BodyUnread bool
}

// Error returns e's message.
func (e *Refusal) Error() string { return e.Msg }

// BadRequest returns a *Refusal with status 400 Bad Request and the message
// fmt.Sprintf(format, args...).
func BadRequest(format string, args ...any) error {
	return &Refusal{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// Unread marks err, if it is a *Refusal, as given before the body was read,
// and returns it.
func Unread(err error) error {
	if e, ok := err.(*Refusal); ok {
		e.BodyUnread = true
	}
	return err
}
