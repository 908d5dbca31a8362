package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
)

func TestReadCSV(t *testing.T) {
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	tests := []struct {
		name    string
		in      string
		want    []Sample
		wantErr string
	}{
		{
			name: "NAB format with header",
			in:   "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:01:00,2.5\n",
			want: []Sample{{t0, 1}, {t0 + 60000, 2.5}},
		},
		{
			name: "RFC 3339 with zone, no header, blank lines, CRLF",
			in:   "2020-01-01T01:00:00+01:00,1\r\n\r\n2020-01-01T00:01:00Z,2\r\n",
			want: []Sample{{t0, 1}, {t0 + 60000, 2}},
		},
		{
			name: "unix seconds, quoted, NaN skipped",
			in:   "\"ts\",\"v\"\n1577836800,1\n1577836860.5,NaN\n\"1577836920\",\"3\"\n",
			want: []Sample{{t0, 1}, {t0 + 120000, 3}},
		},
		{name: "bad value", in: "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:01:00,abc\n", wantErr: `line 3 "2020-01-01 00:01:00,abc": invalid value`},
		{name: "bad timestamp", in: "timestamp,value\n2020-01-01 00:00:00,1\n2020-13-01 00:01:00,2\n", wantErr: `line 3 "2020-13-01 00:01:00,2": invalid timestamp`},
		{name: "one field", in: "timestamp,value\n2020-01-01 00:00:00\n", wantErr: `line 2 "2020-01-01 00:00:00": want 2 fields`},
		{name: "three fields", in: "2020-01-01 00:00:00,1,2\n", wantErr: `line 1 "2020-01-01 00:00:00,1,2": want 2 fields`},
		{name: "time goes back", in: "1577836860,1\n1577836800,2\n", wantErr: `line 2 "1577836800,2": timestamp does not increase`},
		{name: "header only", in: "timestamp,value\n", wantErr: "no valid rows"},
		{name: "empty", in: "", wantErr: "no valid rows"},
		{name: "only NaN", in: "1577836800,NaN\n", wantErr: "no valid rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("samples (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// minutesCSV returns n rows one minute apart from 2020-01-01, value = row index.
func minutesCSV(n int) string {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	t := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(&b, "%s,%d\n", t.Add(time.Duration(i)*time.Minute).Format("2006-01-02 15:04:05"), i%10)
	}
	return b.String()
}

func values(ss []Series) []float64 {
	var out []float64
	for _, s := range ss {
		for _, p := range s.Samples {
			out = append(out, p.V)
		}
	}
	return out
}

func TestFileReplay(t *testing.T) {
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	f, err := NewFile(FileOptions{
		Shadow: "nasa", Reader: strings.NewReader(minutesCSV(10)), Labels: labels.FromStrings("trace", "test"),
		Speedup: 60, StartAfter: 5 * time.Minute, Clock: clock.Now,
	}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got := f.Now(); !got.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("Now() = %s, want first + 5m", got)
	}
	// The first fetch of the history window returns it whole: (now-5m, now].
	got, err := f.Fetch(ctx, f.Now().Add(-5*time.Minute), f.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{1, 2, 3, 4, 5}, values(got)); diff != "" {
		t.Errorf("first fetch (-want +got):\n%s", diff)
	}
	if !labels.Equal(got[0].Labels, labels.FromStrings("trace", "test")) {
		t.Errorf("labels = %s", got[0].Labels)
	}
	// Two wall seconds = two trace minutes.
	prev := f.Now()
	clock.Advance(2 * time.Second)
	got, _ = f.Fetch(ctx, prev, f.Now(), time.Minute)
	if diff := cmp.Diff([]float64{6, 7}, values(got)); diff != "" {
		t.Errorf("incremental fetch (-want +got):\n%s", diff)
	}
	// A window beyond the cursor returns only what the cursor reached.
	got, _ = f.Fetch(ctx, f.Now(), f.Now().Add(time.Hour), time.Minute)
	if len(got) != 0 {
		t.Errorf("future fetch returned %v", got)
	}
	// Without Loop the cursor stops at the end.
	clock.Advance(time.Hour)
	if got := f.Now(); !got.Equal(t0.Add(9*time.Minute)) || !f.Done() {
		t.Errorf("Now() = %s, Done() = %t; want last timestamp, true", got, f.Done())
	}
	if v := testutil.ToFloat64(f.cursorG); v != float64(t0.Add(9*time.Minute).Unix()) {
		t.Errorf("cursor gauge = %g", v)
	}
}

func TestFileReplayLoop(t *testing.T) {
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: time.Unix(0, 0)}
	f, err := NewFile(FileOptions{Reader: strings.NewReader(minutesCSV(10)), Speedup: 60, Loop: true, Clock: clock.Now}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(25 * time.Second) // cursor: first + 25m, in the third pass
	if got := f.Now(); !got.Equal(t0.Add(25 * time.Minute)) {
		t.Fatalf("Now() = %s", got)
	}
	got, err := f.Fetch(context.Background(), t0.Add(7*time.Minute), f.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Pass 0: minutes 8, 9; pass 1 (shift 10m): 10..19; pass 2: 20..25.
	want := []float64{8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5}
	if diff := cmp.Diff(want, values(got)); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	for i, s := range got[0].Samples {
		if wantT := t0.Add(time.Duration(8+i) * time.Minute).UnixMilli(); s.T != wantT {
			t.Fatalf("sample %d at %s, want %s: timestamps must keep increasing one step apart", i, s.Time(), time.UnixMilli(wantT).UTC())
		}
	}
	if f.Done() {
		t.Error("Done() with Loop")
	}
}

func TestNewFileErrors(t *testing.T) {
	if _, err := NewFile(FileOptions{Shadow: "x", Reader: strings.NewReader("1,1\n"), Speedup: 0}, nil, nil); err == nil || !strings.Contains(err.Error(), "speedup") {
		t.Errorf("speedup 0: err = %v", err)
	}
	if _, err := NewFile(FileOptions{Shadow: "x", Path: "testdata/does-not-exist.csv", Speedup: 1}, nil, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	p := t.TempDir() + "/bad.csv"
	if err := os.WriteFile(p, []byte("timestamp,value\n2020-01-01 00:00:00,1\noops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewFile(FileOptions{Shadow: "x", Path: p, Speedup: 1}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), p+`: line 3 "oops"`) {
		t.Errorf("malformed file: err = %v", err)
	}
}

func TestEmbeddedTrace(t *testing.T) {
	rc, err := EmbeddedTrace("nasa-http")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if orig, err := os.ReadFile("/work/shared/data/nasa-http/nasa_requests_per_minute.csv"); err == nil && !bytes.Equal(orig, b) {
		t.Error("embedded trace differs from the shared data set")
	}
	s, err := ReadCSV(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 84333 {
		t.Errorf("rows = %d, want 84333", len(s))
	}
	if want := (Sample{T: time.Date(1995, 7, 1, 4, 0, 0, 0, time.UTC).UnixMilli(), V: 42}); s[0] != want {
		t.Errorf("first = %+v, want %+v", s[0], want)
	}
	if _, err := EmbeddedTrace("nope"); err == nil || !strings.Contains(err.Error(), "nasa-http") {
		t.Errorf("unknown trace: err = %v", err)
	}
}
