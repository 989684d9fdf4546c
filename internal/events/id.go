package events

import (
	"fmt"
	"strconv"
	"strings"
)

// An event's SSE id is the life of the hub that published it and its
// number in that life: "3f9a0c1e5b7d2468-42", 16 hex digits, a hyphen, the
// number in decimal. The life is a random 64-bit value drawn when the hub
// is made, so that a restarted server, which numbers its events from 1
// again, never gives an id a client saw before, and a client's Last-Event-ID
// from another life reads as such rather than as a number of this one.
// To clients the id is opaque (as the WHATWG HTML standard has it).
const lifeDigits = 16

// Why a stream starts with a reset: the "reason" of its "event: reset".
const (
	resetOtherLife = "another life" // the id is of this server's form, but of another life of it: a restart
	resetNotKept   = "not kept"     // of this life, but older than the oldest job event the ring keeps
	resetNever     = "never given"  // not of this server's form, or of this life but a number not reached yet
)

// lifePrefix returns the start of every id of the life life: its hex
// digits and the hyphen.
func lifePrefix(life uint64) string { return fmt.Sprintf("%0*x-", lifeDigits, life) }

// appendID appends the SSE id of this hub's job event n to b.
func (e *Hub) appendID(b []byte, n uint64) []byte {
	return strconv.AppendUint(append(b, e.life...), n, 10)
}

// parseID reads a client's Last-Event-ID v. It returns the number of the
// job event v names and "" if v is an id of this hub's life, else why the
// stream must reset: v is of another life, or not an id this server gives.
// Whether the ring still holds what follows n, or n was ever reached, is
// for subscribe to say.
func (e *Hub) parseID(v string) (n uint64, reset string) {
	if rest, ok := strings.CutPrefix(v, e.life); ok {
		if n, ok := parseNumber(rest); ok {
			return n, ""
		}
		return 0, resetNever
	}
	if isID(v) {
		return 0, resetOtherLife
	}
	return 0, resetNever
}

// isID reports whether v has the form of an id of some life.
func isID(v string) bool {
	if len(v) <= lifeDigits || v[lifeDigits] != '-' {
		return false
	}
	for _, c := range []byte(v[:lifeDigits]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	_, ok := parseNumber(v[lifeDigits+1:])
	return ok
}

// parseNumber reads s as an event's number as appendID writes it: decimal
// digits, no sign and no leading zero, within a uint64.
func parseNumber(s string) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
