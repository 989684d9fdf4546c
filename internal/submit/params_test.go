package submit

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"workqueue/internal/respond"
)

// TestTakeFormMatchesParseQuery checks that takeForm, which reads a plain
// form in place, makes of every form what url.ParseQuery and take make of
// it: the same name and delay, or the same error.
func TestTakeFormMatchesParseQuery(t *testing.T) {
	forms := []string{
		"", "name=bench&delay=0s", "name=Alice", "delay=1s&name=Bob", "name=a&name=b",
		"delay=1s&delay=2s", "name=&delay=", "name", "=x", "&&name=x&&", "name=a=b",
		"other=1&name=x&other=2", "name=x&delay=1s&name=y&delay=2s", "Name=x",
		"name=caf\u00e9", "name=a%20b", "name=a+b", "name=%zz", "name=x;delay=1s",
		"name=x&" + strings.Repeat("a=1&", 20), "name=x&" + strings.Repeat("&", 20),
		"name=x&queue=emails", "priority=high&name=x", "name=x&=y", "name=x&", "&name=x",
		"name=x&payload=1", "zeta=1&alpha=2&name=x", "name=a&name=b&other=1", "name=x&run_at",
	}
	for _, s := range forms {
		var fast, slow params
		gotErr := fast.takeForm(s, "the form body", "the form body")
		var wantErr error
		values, err := url.ParseQuery(s)
		if err != nil {
			wantErr = respond.BadRequest("the form body is malformed: %v", err)
		} else {
			wantErr = slow.take(values, "the form body")
		}
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || (wantErr == nil && fast != slow) {
			t.Errorf("takeForm(%q) = %+v, %v; url.ParseQuery and take make %+v, %v", s, fast, gotErr, slow, wantErr)
		}
		if plainForm(s) && strings.ContainsAny(s, "%+;") {
			t.Errorf("plainForm(%q) = true, but it has something to decode or refuse", s)
		}
	}
}
