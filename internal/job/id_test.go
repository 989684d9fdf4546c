package job

import "testing"

// TestIDs checks FormatID and SeqOf undo each other, and that SeqOf
// refuses what FormatID never makes.
func TestIDs(t *testing.T) {
	for _, tt := range []struct {
		node string
		seq  uint64
		id   string
	}{{"", 17, "17"}, {"a", 17, "a-17"}, {"eu-1", 3, "eu-1-3"}, {"", 18446744073709551615, "18446744073709551615"}} {
		if got := FormatID(tt.node, tt.seq); got != tt.id {
			t.Errorf("FormatID(%q, %d) = %q, want %q", tt.node, tt.seq, got, tt.id)
		}
		if seq, ok := SeqOf(tt.id); !ok || seq != tt.seq {
			t.Errorf("SeqOf(%q) = %d, %v; want %d, true", tt.id, seq, ok, tt.seq)
		}
	}
	for _, id := range []string{"", "007", "+7", "a-", "-7", "x", "a-07", "a-1x", "a--", "18446744073709551616"} {
		if seq, ok := SeqOf(id); ok {
			t.Errorf("SeqOf(%q) = %d, true; want false", id, seq)
		}
	}
}
