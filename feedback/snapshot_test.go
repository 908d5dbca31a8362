package feedback

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func populated(t *testing.T) *Tracker {
	t.Helper()
	tr, err := NewTracker(TrackerOptions{Step: time.Minute, Season: 5 * time.Minute, Window: 50})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		for _, k := range []string{"a", "b"} {
			v := 50 + 10*r.NormFloat64()
			if i > 200 && k == "b" {
				v += 40
			}
			tr.Observe(k, at(i), v)
			tr.Record(k, time.Minute, at(i), 50, 40, 60)
			tr.Record(k, 5*time.Minute, at(i), 50, 35, 65)
		}
	}
	return tr
}

func state(tr *Tracker) map[string]any {
	out := map[string]any{}
	for _, k := range tr.Keys() {
		d, reason := tr.Drift(k)
		out[k+"/drift"] = []any{d, reason}
		out[k+"/scale"] = tr.Scale(k)
		for _, h := range tr.Horizons(k) {
			out[k+"/"+h.String()] = []any{tr.Scores(k, h), tr.Deviating(k, h), tr.ConsecutiveOutside(k, h)}
		}
	}
	return out
}

func TestSnapshotRoundTrip(t *testing.T) {
	tr := populated(t)
	var buf bytes.Buffer
	n, err := tr.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	restored, _ := NewTracker(tr.Options())
	if _, err := restored.ReadFrom(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(state(tr), state(restored), cmpopts.EquateNaNs()); diff != "" {
		t.Fatalf("restored state differs (-orig +restored):\n%s", diff)
	}
	// Both continue identically: pending predictions survived the restart.
	for i := 300; i < 310; i++ {
		for _, x := range []*Tracker{tr, restored} {
			x.Observe("a", at(i), float64(i))
		}
	}
	if diff := cmp.Diff(state(tr), state(restored), cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("state after more actuals differs (-orig +restored):\n%s", diff)
	}
}

func TestSnapshotCorrupt(t *testing.T) {
	var buf bytes.Buffer
	if _, err := populated(t).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorruptSnapshot},
		{"bad magic", flip(0), ErrCorruptSnapshot},
		{"unknown version", flip(5), ErrCorruptSnapshot},
		{"huge length", flip(6), ErrCorruptSnapshot},
		{"flipped payload byte", flip(len(good) / 2), ErrCorruptSnapshot},
		{"flipped checksum", flip(len(good) - 1), ErrCorruptSnapshot},
		{"truncated", good[:len(good)-10], ErrCorruptSnapshot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := NewTracker(TrackerOptions{Step: time.Minute, Season: 5 * time.Minute})
			tr.Observe("keep", at(0), 1)
			_, err := tr.ReadFrom(bytes.NewReader(tc.data))
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadFrom error = %v, want %v", err, tc.want)
			}
			if diff := cmp.Diff([]string{"keep"}, tr.Keys()); diff != "" {
				t.Errorf("state changed by a failed read (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("other step", func(t *testing.T) {
		tr, _ := NewTracker(TrackerOptions{Step: 30 * time.Second, Season: 5 * time.Minute})
		if _, err := tr.ReadFrom(bytes.NewReader(good)); !errors.Is(err, ErrIncompatibleSnapshot) {
			t.Errorf("ReadFrom error = %v, want ErrIncompatibleSnapshot", err)
		}
	})
}
