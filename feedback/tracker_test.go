package feedback

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

// op is one step fed to a tracker in a table test.
type op struct {
	observe      bool
	i            int // time index of the actual, or of the origin
	v            float64
	h            time.Duration
	point, lo, u float64
}

func obs(i int, v float64) op { return op{observe: true, i: i, v: v} }
func rec(i int, h time.Duration, p, lo, u float64) op {
	return op{i: i, h: h, point: p, lo: lo, u: u}
}

func feed(tr *Tracker, key string, ops []op) {
	for _, o := range ops {
		if o.observe {
			tr.Observe(key, at(o.i), o.v)
		} else {
			tr.Record(key, o.h, at(o.i), o.point, o.lo, o.u)
		}
	}
}

var approx = cmpopts.EquateApprox(0, 1e-12)

func TestScores(t *testing.T) {
	// Actuals 10, 12, 14, 10 with a two-minute season: seasonal
	// differences |14−10| = 4 and |10−12| = 2, scale 3.
	base := []op{
		obs(0, 10), obs(1, 12),
		rec(1, time.Minute, 13, 12, 15), // target 2: actual 14, |e| 1, inside
		obs(2, 14),
		rec(2, time.Minute, 13, 11, 12), // target 3: actual 10, |e| 3, outside
		obs(3, 10),
	}
	tests := []struct {
		name string
		opts TrackerOptions
		ops  []op
		h    time.Duration
		want Scores
	}{
		{
			name: "two scored points",
			opts: TrackerOptions{Step: time.Minute, Season: 2 * time.Minute},
			ops:  base,
			h:    time.Minute,
			want: Scores{N: 2, MAE: 2, MASE: 2.0 / 3, SMAPE: (2.0/27 + 6.0/23) / 2, Coverage: 0.5, Bias: -1},
		},
		{
			name: "window of one keeps the newest",
			opts: TrackerOptions{Step: time.Minute, Season: 2 * time.Minute, Window: 1},
			ops:  base,
			h:    time.Minute,
			want: Scores{N: 1, MAE: 3, MASE: 1, SMAPE: 6.0 / 23, Coverage: 0, Bias: -3},
		},
		{
			name: "max age drops old points",
			opts: TrackerOptions{Step: time.Minute, Season: 2 * time.Minute, MaxAge: 30 * time.Second},
			ops:  base,
			h:    time.Minute,
			want: Scores{N: 1, MAE: 3, MASE: 1, SMAPE: 6.0 / 23, Coverage: 0, Bias: -3},
		},
		{
			name: "NaN actual is ignored",
			opts: TrackerOptions{Step: time.Minute, Season: 2 * time.Minute},
			ops:  append([]op{{observe: true, i: -10, v: math.NaN()}}, base...),
			h:    time.Minute,
			want: Scores{N: 2, MAE: 2, MASE: 2.0 / 3, SMAPE: (2.0/27 + 6.0/23) / 2, Coverage: 0.5, Bias: -1},
		},
		{
			name: "missing actual expires the prediction",
			opts: TrackerOptions{Step: time.Minute, Season: 2 * time.Minute},
			ops: []op{
				obs(0, 5),
				rec(0, 2*time.Minute, 5, 4, 6), // target 2 never observed
				rec(0, 3*time.Minute, 5, 4, 6), // target 3: actual 7, outside
				obs(1, 5), obs(3, 7),
			},
			h:    2 * time.Minute,
			want: Scores{N: 0, MAE: math.NaN(), MASE: math.NaN(), SMAPE: math.NaN(), Coverage: math.NaN(), Bias: math.NaN(), Expired: 1},
		},
		{
			name: "zero actual and forecast count as zero sMAPE",
			opts: TrackerOptions{Step: time.Minute, Season: 2 * time.Minute},
			ops:  []op{rec(0, time.Minute, 0, 0, 0), obs(1, 0), rec(1, time.Minute, 1, 0, 2), obs(2, 3)},
			h:    time.Minute,
			want: Scores{N: 2, MAE: 1, MASE: math.NaN(), SMAPE: 0.5, Coverage: 0.5, Bias: 1},
		},
		{
			name: "actual within tolerance scores",
			opts: TrackerOptions{Step: time.Minute, Season: 2 * time.Minute, Tolerance: 20 * time.Second},
			ops: []op{
				rec(0, time.Minute, 4, 3, 5),
				{observe: true, i: 1, v: 4}, // exactly on target
			},
			h:    time.Minute,
			want: Scores{N: 1, MAE: 0, MASE: math.NaN(), SMAPE: 0, Coverage: 1, Bias: 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTracker(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			feed(tr, "k", tc.ops)
			got := tr.Scores("k", tc.h)
			if diff := cmp.Diff(tc.want, got, approx, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("Scores mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetScale(t *testing.T) {
	tr, err := NewTracker(TrackerOptions{Step: time.Minute, Season: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tr.SetScale("k", 4)
	feed(tr, "k", []op{rec(0, time.Minute, 10, 9, 11), obs(1, 12)})
	if got := tr.Scores("k", time.Minute).MASE; got != 0.5 {
		t.Errorf("MASE = %v, want 0.5", got)
	}
	tr.SetScale("k", 0)
	if got := tr.Scores("k", time.Minute).MASE; !math.IsNaN(got) {
		t.Errorf("MASE after clearing the scale = %v, want NaN", got)
	}
}

func TestDeviating(t *testing.T) {
	tr, err := NewTracker(TrackerOptions{Step: time.Minute, DeviationK: 3})
	if err != nil {
		t.Fatal(err)
	}
	h := time.Minute
	var got []bool
	for i, v := range []float64{5, 9, 9, 9, 5, 9, 9, 9, 9} {
		tr.Record("k", h, at(i), 5, 4, 6)
		tr.Observe("k", at(i+1), v)
		got = append(got, tr.Deviating("k", h))
	}
	want := []bool{false, false, false, true, false, false, false, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Deviating sequence (-want +got):\n%s", diff)
	}
	if tr.Deviating("other", h) || tr.Deviating("k", 2*h) {
		t.Error("unknown instance or horizon reported deviating")
	}
}

func TestBoundedMemory(t *testing.T) {
	tr, err := NewTracker(TrackerOptions{Step: time.Minute, Season: 10 * time.Minute, MaxKeys: 2, MaxPending: 3, Window: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		tr.Record("a", time.Hour, at(i), 1, 0, 2)
	}
	tr.Observe("b", at(20), 1)
	tr.Observe("c", at(30), 1) // evicts "a", the least recently updated
	if diff := cmp.Diff([]string{"b", "c"}, tr.Keys()); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	tr2, _ := NewTracker(TrackerOptions{Step: time.Minute, Season: 10 * time.Minute, MaxPending: 3, Window: 4})
	for i := range 10 {
		tr2.Record("a", time.Minute, at(i), 1, 0, 2)
	}
	if got := tr2.Scores("a", time.Minute).Expired; got != 7 {
		t.Errorf("expired after overflowing pending = %d, want 7", got)
	}
	for i := range 10 {
		tr2.Record("a", time.Minute, at(100+i), 1, 0, 2)
		tr2.Observe("a", at(101+i), 1)
	}
	if got := tr2.Scores("a", time.Minute).N; got != 4 {
		t.Errorf("window N = %d, want 4", got)
	}
}

func TestOutOfOrderRecord(t *testing.T) {
	tr, _ := NewTracker(TrackerOptions{Step: time.Minute})
	tr.Record("k", time.Minute, at(2), 30, 0, 100)
	tr.Record("k", time.Minute, at(0), 10, 0, 100)
	tr.Record("k", time.Minute, at(1), 99, 0, 100)
	tr.Record("k", time.Minute, at(1), 20, 0, 100) // replaces the previous one
	for i := 1; i <= 3; i++ {
		tr.Observe("k", at(i), float64(10*i))
	}
	s := tr.Scores("k", time.Minute)
	if s.N != 3 || s.MAE != 0 {
		t.Errorf("got N=%d MAE=%v, want 3 and 0", s.N, s.MAE)
	}
}

func TestNewTrackerErrors(t *testing.T) {
	for _, o := range []TrackerOptions{{}, {Step: time.Minute, Season: 90 * time.Second}} {
		if _, err := NewTracker(o); err == nil {
			t.Errorf("NewTracker(%+v) succeeded, want an error", o)
		}
	}
}
