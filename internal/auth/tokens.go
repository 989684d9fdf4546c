// Package auth refuses, with 401 Unauthorized, every request but GET
// /healthz that does not carry one of the server's tokens (-token-file),
// as a bearer token (RFC 6750 §2.1) or as the password of HTTP Basic
// (RFC 7617), and reads the token file.
package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
)

// MinLen is the shortest token a token file may hold, in bytes: 16 random
// bytes of base64 or hex are 96 bits or more, beyond guessing over a network.
const MinLen = 16

// maxFileBytes bounds a token file: far more than any real list of tokens.
const maxFileBytes = 1 << 20

// Tokens are the tokens of one token file, kept only as their SHA-256
// sums: comparing sums of equal length in constant time leaks neither a
// token nor its length, and no token is left in memory to be logged.
type Tokens struct {
	sums [][sha256.Size]byte
}

// Load reads the token file at path. Like ssh with a private key, it refuses
// a file that anyone but its owner may read or write (mode & 077 != 0). The
// file holds one token a line; leading and trailing spaces and tabs are
// trimmed, and blank lines and lines starting with # are skipped. A token is
// MinLen to 4096 bytes of printable ASCII without spaces (what an
// Authorization header carries unquoted). A file with no token is refused.
// No error quotes a token: they name the line. The caller names the file.
func Load(path string) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("others may read or write the file (mode %#o), and its tokens are secrets: chmod 600 %s", perm, path)
	}
	if fi.Size() > maxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes: not a token file", maxFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse reads tokens from data, the content of a token file, as Load
// describes it.
func Parse(data []byte) (*Tokens, error) {
	t := &Tokens{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxFileBytes)
	for n := 1; sc.Scan(); n++ {
		line := bytes.Trim(sc.Bytes(), " \t\r")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if err := check(line); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		t.sums = append(t.sums, sha256.Sum256(line))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.sums) == 0 {
		return nil, errors.New("no token in it: want one token a line, at least 16 bytes each (such as the output of openssl rand -hex 32)")
	}
	return t, nil
}

// check reports what is wrong with token, a trimmed line of a token file,
// without quoting it.
func check(token []byte) error {
	if len(token) < MinLen {
		return fmt.Errorf("a token of %d bytes is too short: want at least %d (such as the output of openssl rand -hex 32)", len(token), MinLen)
	}
	if len(token) > 4096 {
		return errors.New("a token longer than 4096 bytes")
	}
	for _, c := range token {
		if c <= ' ' || c > '~' {
			return errors.New("a token may hold only printable ASCII, without spaces")
		}
	}
	return nil
}

// Valid reports whether token is one of t's. Its time depends only on how
// many tokens t holds, not on token nor on which one matched.
func (t *Tokens) Valid(token string) bool {
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for i := range t.sums {
		ok |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	return ok == 1
}
