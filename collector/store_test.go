package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
)

func openTestStore(t testing.TB, dir string, opts StoreOptions, reg prometheus.Registerer) *Store {
	t.Helper()
	opts.Dir = dir
	s, err := OpenStore(opts, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// minuteSamples returns n samples one minute apart from start, value f(i).
func minuteSamples(start time.Time, n int, f func(i int) float64) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{T: start.Add(time.Duration(i) * time.Minute).UnixMilli(), V: f(i)}
	}
	return out
}

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s := openTestStore(t, dir, StoreOptions{Retention: 7 * 24 * time.Hour}, reg)
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	a := Series{Labels: labels.FromStrings("service", "a"), Samples: minuteSamples(t0, 10, func(i int) float64 { return float64(i) })}
	b := Series{Labels: labels.FromStrings("service", "b"), Samples: minuteSamples(t0, 10, func(i int) float64 { return float64(-i) / 4 })}
	other := Series{Labels: labels.EmptyLabels(), Samples: minuteSamples(t0, 3, func(int) float64 { return 42 })}
	if err := s.Append(ctx, "checkout", []Series{b, a}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, "search", []Series{other}); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		got, err := s.Select(ctx, "checkout", t0, t0.Add(5*time.Minute)) // (t0, t0+5m]
		if err != nil {
			t.Fatal(err)
		}
		want := []Series{
			{Labels: a.Labels, Samples: a.Samples[1:6]},
			{Labels: b.Labels, Samples: b.Samples[1:6]},
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(labels.Equal)); diff != "" {
			t.Errorf("select (-want +got):\n%s", diff)
		}
		got, err = s.Select(ctx, "search", t0.Add(-time.Hour), t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]Series{other}, got, cmp.Comparer(labels.Equal)); diff != "" {
			t.Errorf("select search (-want +got):\n%s", diff)
		}
		last, ok, err := s.LastTimestamp(ctx, "checkout")
		if err != nil || !ok || !last.Equal(t0.Add(9*time.Minute)) {
			t.Errorf("LastTimestamp = %s, %t, %v; want %s", last, ok, err, t0.Add(9*time.Minute))
		}
		if _, ok, err := s.LastTimestamp(ctx, "unknown"); ok || err != nil {
			t.Errorf("LastTimestamp(unknown) = %t, %v", ok, err)
		}
		if got, err := s.Select(ctx, "unknown", t0, t0.Add(time.Hour)); got != nil || err != nil {
			t.Errorf("Select(unknown) = %v, %v", got, err)
		}
	}
	check(s)
	if v := testutil.ToFloat64(s.appended); v != 23 {
		t.Errorf("appended = %g, want 23", v)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Everything survives a clean restart.
	s = openTestStore(t, dir, StoreOptions{Retention: 7 * 24 * time.Hour}, prometheus.NewRegistry())
	defer s.Close()
	check(s)
}

func TestStoreRejects(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	s := openTestStore(t, t.TempDir(), StoreOptions{Retention: 24 * time.Hour, OutOfOrderWindow: 6 * time.Hour}, reg)
	defer s.Close()
	err := s.Append(ctx, "x", []Series{{Labels: labels.FromStrings("shadow", "evil"), Samples: []Sample{{T: 1, V: 1}}}})
	if !errors.Is(err, ErrReservedLabel) {
		t.Errorf("shadow label: err = %v, want ErrReservedLabel", err)
	}
	if err := s.Append(ctx, "", nil); err == nil {
		t.Error("empty shadow accepted")
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ls := labels.FromStrings("service", "a")
	if err := s.Append(ctx, "x", []Series{{Labels: ls, Samples: []Sample{{T: now.UnixMilli(), V: 1}}}}); err != nil {
		t.Fatal(err)
	}
	err = s.Append(ctx, "x", []Series{{Labels: ls, Samples: []Sample{
		{T: now.Add(-7 * time.Hour).UnixMilli(), V: 1},     // beyond the out-of-order window
		{T: now.Add(-5 * time.Hour).UnixMilli(), V: 2},     // within it
		{T: now.Add(-4 * time.Hour).UnixMilli(), V: nan()}, // invalid
		{T: now.UnixMilli(), V: 3},                         // another value at a stored timestamp
		{T: now.UnixMilli(), V: 1},                         // the same sample again: harmless
	}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Select(ctx, "x", now.Add(-24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	want := []Series{{Labels: ls, Samples: []Sample{{T: now.Add(-5 * time.Hour).UnixMilli(), V: 2}, {T: now.UnixMilli(), V: 1}}}}
	if diff := cmp.Diff(want, got, cmp.Comparer(labels.Equal)); diff != "" {
		t.Errorf("select (-want +got):\n%s", diff)
	}
	wantMetrics := `
# HELP shadowcast_collector_store_rejected_samples_total Samples the history store refused, by reason (too_old: outside the out-of-order window; duplicate: another value at the same timestamp; invalid: NaN or Inf).
# TYPE shadowcast_collector_store_rejected_samples_total counter
shadowcast_collector_store_rejected_samples_total{reason="duplicate"} 1
shadowcast_collector_store_rejected_samples_total{reason="invalid"} 1
shadowcast_collector_store_rejected_samples_total{reason="too_old"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantMetrics), "shadowcast_collector_store_rejected_samples_total"); err != nil {
		t.Error(err)
	}
}

// TestStoreBackfillAfterRecent appends two days of old samples for one shadow
// after another shadow appended recent ones, and old samples of a series
// after its newer ones: both need out-of-order ingestion.
func TestStoreBackfillAfterRecent(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir(), StoreOptions{Retention: 3 * 24 * time.Hour}, prometheus.NewRegistry())
	defer s.Close()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	recent := Series{Labels: labels.FromStrings("q", "a"), Samples: minuteSamples(now.Add(-time.Hour), 61, func(i int) float64 { return 1 })}
	if err := s.Append(ctx, "live", []Series{recent}); err != nil {
		t.Fatal(err)
	}
	backfill := 2 * 24 * 60
	old := Series{Labels: labels.FromStrings("q", "b"), Samples: minuteSamples(now.Add(-2*24*time.Hour), backfill, func(i int) float64 { return float64(i % 1440) })}
	if err := s.Append(ctx, "backfill", []Series{old}); err != nil {
		t.Fatal(err)
	}
	// The live shadow backfills its own history behind its recent samples.
	ownOld := Series{Labels: recent.Labels, Samples: minuteSamples(now.Add(-24*time.Hour), 24*60-60, func(i int) float64 { return 2 })}
	if err := s.Append(ctx, "live", []Series{ownOld}); err != nil {
		t.Fatal(err)
	}
	// Compacting moves the out-of-order data into blocks; it must all stay.
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Select(ctx, "backfill", now.Add(-3*24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Samples) != backfill {
		t.Fatalf("backfill: got %d series / %d samples, want 1 / %d", len(got), samplesIn(got), backfill)
	}
	if diff := cmp.Diff(old.Samples, got[0].Samples); diff != "" {
		t.Errorf("backfill samples differ (-want +got):\n%.2000s", diff)
	}
	got, err = s.Select(ctx, "live", now.Add(-3*24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if n := samplesIn(got); n != len(ownOld.Samples)+len(recent.Samples) {
		t.Errorf("live: %d samples, want %d", n, len(ownOld.Samples)+len(recent.Samples))
	}
	last, _, _ := s.LastTimestamp(ctx, "backfill")
	if want := now.Add(-time.Minute); !last.Equal(want) {
		t.Errorf("LastTimestamp(backfill) = %s, want %s", last, want)
	}
}

func samplesIn(ss []Series) int {
	n := 0
	for _, s := range ss {
		n += len(s.Samples)
	}
	return n
}

func TestStoreRetention(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir(), StoreOptions{Retention: 3 * time.Hour}, prometheus.NewRegistry())
	defer s.Close()
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	n := 12 * 60
	if err := s.Append(ctx, "x", []Series{{Labels: labels.EmptyLabels(), Samples: minuteSamples(t0, n, func(i int) float64 { return float64(i) })}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Select(ctx, "x", t0.Add(-time.Hour), t0.Add(13*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	newest := t0.Add(time.Duration(n-1) * time.Minute)
	oldest := got[0].Samples[0].Time()
	// Retention drops whole blocks (2h here) behind the newest block.
	if age := newest.Sub(oldest); age > 3*time.Hour+2*time.Hour+3*time.Hour {
		t.Errorf("oldest sample is %s old, retention is 3h", age)
	}
	t.Logf("kept %s of 12h with a 3h retention", newest.Sub(oldest))
	if got[0].Samples[len(got[0].Samples)-1].Time() != newest {
		t.Errorf("newest sample lost")
	}
}

const crashEnv = "SHADOWCAST_STORE_CRASH_DIR"

// TestStoreCrashChild is the child of TestStoreCrash: it appends one step
// at a time and reports each commit, until it is killed.
func TestStoreCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestStoreCrash")
	}
	s, err := OpenStore(StoreOptions{Dir: dir, Retention: 30 * 24 * time.Hour}, nil, nil)
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// A day of backfill for another shadow first, so the live steps land in
	// a store that already holds older and newer data.
	if err := s.Append(ctx, "backfilled", []Series{{Labels: labels.EmptyLabels(), Samples: minuteSamples(t0, 1440, func(i int) float64 { return float64(i) })}}); err != nil {
		fmt.Println("append error:", err)
		os.Exit(2)
	}
	fmt.Println("committed backfill")
	for i := 0; ; i++ {
		ts := t0.Add(time.Duration(i) * time.Minute).UnixMilli()
		series := []Series{
			{Labels: labels.FromStrings("service", "a"), Samples: []Sample{{T: ts, V: float64(i)}}},
			{Labels: labels.FromStrings("service", "b"), Samples: []Sample{{T: ts, V: float64(2 * i)}}},
		}
		if err := s.Append(ctx, "live", series); err != nil {
			fmt.Println("append error:", err)
			os.Exit(2)
		}
		fmt.Println("committed", i)
	}
}

// TestStoreCrash kills a process that is appending (SIGKILL, no shutdown)
// and checks that every step it reported as committed is in the store.
func TestStoreCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAt := 300 + time.Now().Nanosecond()%200 // somewhere mid-stream
	last, backfilled, killed := -1, false, false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "committed backfill":
			backfilled = true
		case strings.HasPrefix(line, "committed "):
			n, err := strconv.Atoi(strings.TrimPrefix(line, "committed "))
			if err != nil {
				t.Fatalf("child said %q", line)
			}
			last = n
			if n >= killAt && !killed {
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
				killed = true
			}
		case strings.Contains(line, "error"):
			t.Fatalf("child: %s", line)
		}
	}
	err = cmd.Wait()
	if !killed || err == nil {
		t.Fatalf("child ended without being killed (err %v) after %d steps", err, last)
	}
	t.Logf("killed after step %d was reported committed", last)
	if !backfilled || last < 0 {
		t.Fatal("child committed nothing")
	}

	s := openTestStore(t, dir, StoreOptions{Retention: 30 * 24 * time.Hour}, prometheus.NewRegistry())
	defer s.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	got, err := s.Select(ctx, "live", t0.Add(-time.Minute), t0.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d series after the crash, want 2", len(got))
	}
	for k, ser := range got {
		// Steps 0..last were acknowledged; last+1 may have been committed
		// without being reported.
		if n := len(ser.Samples); n < last+1 || n > last+2 {
			t.Fatalf("%s: %d samples after the crash, want %d (or one more)", ser.Labels, n, last+1)
		}
		for i, smp := range ser.Samples {
			if smp.T != t0.Add(time.Duration(i)*time.Minute).UnixMilli() || smp.V != float64((k+1)*i) {
				t.Fatalf("%s: sample %d = %+v", ser.Labels, i, smp)
			}
		}
	}
	bf, err := s.Select(ctx, "backfilled", t0.Add(-time.Minute), t0.Add(48*time.Hour))
	if err != nil || samplesIn(bf) != 1440 {
		t.Errorf("backfill after the crash: %d samples, %v; want 1440", samplesIn(bf), err)
	}
}

func nan() float64 { v := 0.0; return v / v }
