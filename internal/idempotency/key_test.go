package idempotency

import (
	"strings"
	"testing"

	"workqueue/internal/job"
)

// TestKeyClaimKey checks what a journal would record as a job's key: the
// key itself, unquoted, and "" for a request without one.
func TestKeyClaimKey(t *testing.T) {
	var none *Claim
	if got := none.Key(); got != "" {
		t.Errorf("nil claim: Key() = %q, want \"\"", got)
	}
	keys := New()
	claim, _ := keys.Check(nil, []string{`"k-1"`}, "Alice", 0, func(*job.Job) bool { return true }, func(uint64) *job.Job { return nil })
	if claim == nil || claim.Key() != "k-1" {
		t.Fatalf("claim of \"k-1\": %+v, want Key() = k-1", claim)
	}
	claim.Release()
	if n := keys.Len(); n != 0 {
		t.Errorf("after release, %d keys remembered, want 0", n)
	}
}

// FuzzIdempotencyKey checks the key parser never panics, takes only keys of
// 1 to 255 visible ASCII bytes, takes every such key bare (unless it begins
// or ends with a quote) and quoted alike, and parses its own quoting of a
// key it took back to that key.
func FuzzIdempotencyKey(f *testing.F) {
	for _, s := range []string{"k", `"k"`, `""`, `"`, `"a\"b"`, `\`, "a b", strings.Repeat("x", 256), "é", `"a\x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		key, err := ParseKey([]string{v})
		if err != nil {
			return
		}
		if len(key) < 1 || len(key) > maxKeyBytes {
			t.Fatalf("%q: key %q of %d bytes", v, key, len(key))
		}
		for i := range len(key) {
			if key[i] < 0x21 || key[i] > 0x7e {
				t.Fatalf("%q: key %q holds byte %#x", v, key, key[i])
			}
		}
		if key[0] != '"' && key[len(key)-1] != '"' {
			if bare, err := ParseKey([]string{key}); err != nil || bare != key {
				t.Fatalf("%q: key %q given bare parses to %q, %v", v, key, bare, err)
			}
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key) + `"`
		if again, err := ParseKey([]string{quoted}); err != nil || again != key {
			t.Fatalf("%q: key %q quoted as %s parses to %q, %v", v, key, quoted, again, err)
		}
	})
}
