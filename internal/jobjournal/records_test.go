package jobjournal

import (
	"reflect"
	"testing"
	"time"

	"workqueue/internal/job"
)

func TestRecordRoundTrip(t *testing.T) {
	at := time.Unix(1_800_000_000, 123456789)
	tests := []struct {
		name string
		typ  byte
		rec  jobRecord
	}{
		{"accepted", recAccepted, jobRecord{Name: "Alice 👩‍💻", Delay: 1500 * time.Millisecond, EnqueuedAt: at, Key: "k-1"}},
		{"accepted without key", recAccepted, jobRecord{Name: "Bob", EnqueuedAt: at}},
		{"accepted with retries and timeout", recAccepted, jobRecord{Name: "Eve", EnqueuedAt: at, Policy: job.Policy{Retries: 0, SetRetries: true, Timeout: 5 * time.Second}}},
		{"accepted with a timeout only", recAccepted, jobRecord{Name: "Eve", EnqueuedAt: at, Policy: job.Policy{Timeout: time.Minute}}},
		{"accepted with a run_at", recAccepted, jobRecord{Name: "Ann", EnqueuedAt: at, RunAt: at.Add(time.Hour)}},
		{"accepted with a payload", recAccepted, jobRecord{Name: "Ann", EnqueuedAt: at, Payload: []byte(`{"w": 640, "t": "<i>é</i>\u2028"}`)}},
		{"accepted with all", recAccepted, jobRecord{Name: "Ann", EnqueuedAt: at, Key: "k", Policy: job.Policy{Retries: 2, SetRetries: true},
			RunAt: at.Add(time.Minute), Payload: []byte(`[1,{"a":null}]`)}},
		{"started", recStarted, jobRecord{Attempts: 2, Worker: 7, StartedAt: at}},
		{"retry", recRetry, jobRecord{Attempts: 1, RetryAt: at, Err: "exit status 3"}},
		{"done", recFinished, jobRecord{State: job.Done, Attempts: 1, Worker: 3, StartedAt: at, FinishedAt: at.Add(time.Second)}},
		{"failed with output", recFinished, jobRecord{State: job.Failed, Attempts: 4, Worker: 1, StartedAt: at, FinishedAt: at, Err: "exit status 1", Output: "oops\n", Truncated: true}},
		{"canceled while queued", recFinished, jobRecord{State: job.Canceled, FinishedAt: at}},
		{"refused", recRefused, jobRecord{}},
		{"retried", recRetried, jobRecord{Attempts: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := appendRecord(nil, tt.typ, &tt.rec)
			got, err := decodeRecord(tt.typ, data)
			if err != nil {
				t.Fatalf("decodeRecord(%d, %x): %v", tt.typ, data, err)
			}
			if !reflect.DeepEqual(got, tt.rec) {
				t.Errorf("decodeRecord = %+v, want %+v", got, tt.rec)
			}
			// An acceptance from before policies decodes, and one from
			// before run_at and payloads, if it had a policy.
			old := tt.rec
			old.RunAt, old.Payload = time.Time{}, nil
			beforeWork := len(appendRecord(nil, tt.typ, &old))
			old.Policy = job.Policy{}
			before := len(appendRecord(nil, tt.typ, &old))
			for n := range len(data) {
				if n == before && (tt.rec.Policy != (job.Policy{}) || tt.rec.Payload != nil || !tt.rec.RunAt.IsZero()) ||
					n == beforeWork && tt.rec.Policy != (job.Policy{}) && (tt.rec.Payload != nil || !tt.rec.RunAt.IsZero()) {
					continue
				}
				if _, err := decodeRecord(tt.typ, data[:n]); err == nil {
					t.Errorf("decodeRecord of the first %d of %d bytes: no error", n, len(data))
				}
			}
			if _, err := decodeRecord(tt.typ, append(data, 0)); err == nil {
				t.Errorf("decodeRecord with a byte too many: no error")
			}
		})
	}
}

func TestRecordBadInput(t *testing.T) {
	tests := []struct {
		name string
		typ  byte
		data []byte
	}{
		{"unknown type", 99, nil},
		{"finished in a state that is not final", recFinished, appendRecord(nil, recFinished, &jobRecord{State: job.Running})},
		{"string longer than the record", recAccepted, []byte{0x7f, 'a'}},
		{"overlong varint", recStarted, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	}
	for _, tt := range tests {
		if _, err := decodeRecord(tt.typ, tt.data); err == nil {
			t.Errorf("%s: decodeRecord(%d, %x) = nil error, want errBadRecord", tt.name, tt.typ, tt.data)
		}
	}
}

func FuzzRecord(f *testing.F) {
	f.Add(recAccepted, appendRecord(nil, recAccepted, &jobRecord{Name: "Alice", Key: "k"}))
	f.Add(recAccepted, appendRecord(nil, recAccepted, &jobRecord{Name: "Alice", Policy: job.Policy{Retries: 3, SetRetries: true, Timeout: time.Second}}))
	f.Add(recAccepted, appendRecord(nil, recAccepted, &jobRecord{Name: "Alice", RunAt: time.Unix(1798135200, 0)}))
	f.Add(recAccepted, appendRecord(nil, recAccepted, &jobRecord{Name: "Alice", Payload: []byte(`{"w":640,"s":"<b>é</b>"}`)}))
	f.Add(recAccepted, appendRecord(nil, recAccepted, &jobRecord{Name: "Alice", Key: "k", Policy: job.Policy{Retries: 1, SetRetries: true},
		RunAt: time.Unix(0, 1), Payload: []byte(`[1]`)}))
	f.Add(recFinished, appendRecord(nil, recFinished, &jobRecord{State: job.Done, Output: "x"}))
	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		rec, err := decodeRecord(typ, data)
		if err != nil {
			return
		}
		// What decodes re-encodes to a record that decodes the same.
		again, err := decodeRecord(typ, appendRecord(nil, typ, &rec))
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("re-decoding %+v: %+v, %v", rec, again, err)
		}
	})
}
