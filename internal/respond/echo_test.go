package respond

import (
	"strings"
	"testing"
)

// TestClip checks Clip cuts long input at a character boundary.
func TestClip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{strings.Repeat("a", maxEcho), strings.Repeat("a", maxEcho)},
		{strings.Repeat("a", maxEcho+1), strings.Repeat("a", maxEcho) + "…"},
		{strings.Repeat("a", maxEcho-1) + "é", strings.Repeat("a", maxEcho-1) + "…"},
		{strings.Repeat("a", maxEcho-2) + "😀", strings.Repeat("a", maxEcho-2) + "…"},
	}
	for _, tt := range tests {
		if got := Clip(tt.in); got != tt.want {
			t.Errorf("Clip(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
