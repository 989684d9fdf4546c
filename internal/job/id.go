package job

import (
	"strconv"
	"strings"
)

// FormatID returns the id of the job numbered seq on the server named node
// (-node): seq in decimal, after node and a '-' unless node is "", as in
// 17 or a-17. Instances with distinct nodes give distinct ids.
func FormatID(node string, seq uint64) string {
	if node == "" {
		return strconv.FormatUint(seq, 10)
	}
	return node + "-" + strconv.FormatUint(seq, 10)
}

// SeqOf returns the number of the job whose id is id, as FormatID made it
// on any node: the decimal number after the last '-', or the whole id if it
// has none. ok is false for an id FormatID never makes ("007", "+7", "a-",
// "-7", "x"). Whether id is of this server's node is the caller's to check,
// against the job it finds.
func SeqOf(id string) (seq uint64, ok bool) {
	n := id
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		if i == 0 {
			return 0, false
		}
		n = id[i+1:]
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	if err != nil || strconv.FormatUint(seq, 10) != n {
		return 0, false
	}
	return seq, true
}
