package collector

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestClean(t *testing.T) {
	start := time.Unix(1_700_000_000, 0).Truncate(time.Minute)
	step := time.Minute
	at := func(d time.Duration, v float64) Sample { return Sample{T: start.Add(d).UnixMilli(), V: v} }
	// grid builds samples exactly on the grid, NaN meaning no sample.
	grid := func(vs ...float64) []Sample {
		var out []Sample
		for i, v := range vs {
			if !math.IsNaN(v) {
				out = append(out, at(time.Duration(i)*step, v))
			}
		}
		return out
	}
	nan := math.NaN()
	tests := []struct {
		name      string
		samples   []Sample
		n         int
		opts      CleanOptions
		wantClean []float64
		wantRaw   []float64
		wantStats CleanStats
	}{
		{
			name:      "on the grid",
			samples:   grid(1, 2, 3),
			n:         3,
			wantClean: []float64{1, 2, 3}, wantRaw: []float64{1, 2, 3},
			wantStats: CleanStats{Points: 3, Observed: 3},
		},
		{
			name: "latest sample of each bucket, jitter, outside",
			samples: []Sample{
				at(-time.Minute, 99),                   // bucket -1: outside
				at(0, 1),                               // bucket 0
				at(10*time.Second, 5),                  // bucket 1 (0, 60s]
				at(59*time.Second, 2),                  // bucket 1, later: wins
				at(60*time.Second+time.Millisecond, 3), // bucket 2
				at(150*time.Second, 4),                 // bucket 3 = (120s, 180s] but n=3: outside
				{T: start.Add(30 * time.Second).UnixMilli(), V: math.NaN()},
			},
			n:         3,
			wantClean: []float64{1, 2, 3}, wantRaw: []float64{1, 2, 3},
			wantStats: CleanStats{Points: 3, Observed: 3, Superseded: 1, Outside: 2, Invalid: 1},
		},
		{
			name:      "short gap interpolated",
			samples:   grid(1, nan, nan, 4, 5),
			n:         5,
			opts:      CleanOptions{MaxGap: 2 * time.Minute},
			wantClean: []float64{1, 2, 3, 4, 5}, wantRaw: []float64{1, nan, nan, 4, 5},
			wantStats: CleanStats{Points: 5, Observed: 3, Filled: 2},
		},
		{
			name:      "long gap stays missing",
			samples:   grid(1, nan, nan, nan, 5),
			n:         5,
			opts:      CleanOptions{MaxGap: 2 * time.Minute},
			wantClean: []float64{1, nan, nan, nan, 5}, wantRaw: []float64{1, nan, nan, nan, 5},
			wantStats: CleanStats{Points: 5, Observed: 2, Missing: 3},
		},
		{
			name:      "edges are not extrapolated",
			samples:   grid(nan, 2, nan, 4, nan),
			n:         5,
			opts:      CleanOptions{MaxGap: 10 * time.Minute},
			wantClean: []float64{nan, 2, 3, 4, nan}, wantRaw: []float64{nan, 2, nan, 4, nan},
			wantStats: CleanStats{Points: 5, Observed: 2, Filled: 1, Missing: 2},
		},
		{
			name:      "filling off",
			samples:   grid(1, nan, 3),
			n:         3,
			wantClean: []float64{1, nan, 3}, wantRaw: []float64{1, nan, 3},
			wantStats: CleanStats{Points: 3, Observed: 2, Missing: 1},
		},
		{
			name:    "spike clipped to median + k·MAD, raw kept",
			samples: grid(10, 11, 9, 10, 12, 10, 1000, 10, 11, 9, 10),
			n:       11,
			opts:    CleanOptions{OutlierMADs: 3, OutlierWindow: 11},
			// Around the spike: median 10, MAD 1, bound 13.
			wantClean: []float64{10, 11, 9, 10, 12, 10, 13, 10, 11, 9, 10},
			wantRaw:   []float64{10, 11, 9, 10, 12, 10, 1000, 10, 11, 9, 10},
			wantStats: CleanStats{Points: 11, Observed: 11, Clipped: 1},
		},
		{
			name:      "dip clipped to median - k·MAD",
			samples:   grid(10, 11, 9, 10, 12, 10, -500, 10, 11, 9, 10),
			n:         11,
			opts:      CleanOptions{OutlierMADs: 3, OutlierWindow: 11},
			wantClean: []float64{10, 11, 9, 10, 12, 10, 7, 10, 11, 9, 10},
			wantRaw:   []float64{10, 11, 9, 10, 12, 10, -500, 10, 11, 9, 10},
			wantStats: CleanStats{Points: 11, Observed: 11, Clipped: 1},
		},
		{
			name:      "zero MAD gives no scale: nothing clipped",
			samples:   grid(0, 0, 0, 0, 0, 50, 0, 0, 0, 0, 0),
			n:         11,
			opts:      CleanOptions{OutlierMADs: 3, OutlierWindow: 11},
			wantClean: []float64{0, 0, 0, 0, 0, 50, 0, 0, 0, 0, 0},
			wantRaw:   []float64{0, 0, 0, 0, 0, 50, 0, 0, 0, 0, 0},
			wantStats: CleanStats{Points: 11, Observed: 11},
		},
		{
			name:    "gap next to a spike interpolates from the clipped value",
			samples: grid(10, 11, 9, 10, 12, 10, 1000, nan, 12, 9, 10, 11),
			n:       12,
			opts:    CleanOptions{OutlierMADs: 3, OutlierWindow: 11, MaxGap: time.Minute},
			// Window of the spike (indices 1..11 observed): median 10.5, MAD 1, bound 13.5.
			wantClean: []float64{10, 11, 9, 10, 12, 10, 13.5, 12.75, 12, 9, 10, 11},
			wantRaw:   []float64{10, 11, 9, 10, 12, 10, 1000, nan, 12, 9, 10, 11},
			wantStats: CleanStats{Points: 12, Observed: 11, Clipped: 1, Filled: 1},
		},
		{
			name:      "too few observations to judge",
			samples:   grid(1, 1000, 2, 3),
			n:         4,
			opts:      CleanOptions{OutlierMADs: 1, OutlierWindow: 11},
			wantClean: []float64{1, 1000, 2, 3}, wantRaw: []float64{1, 1000, 2, 3},
			wantStats: CleanStats{Points: 4, Observed: 4},
		},
		{
			name:      "no samples",
			n:         2,
			opts:      CleanOptions{MaxGap: time.Hour, OutlierMADs: 3},
			wantClean: []float64{nan, nan}, wantRaw: []float64{nan, nan},
			wantStats: CleanStats{Points: 2, Missing: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clean, raw, stats := Clean(tt.samples, start, step, tt.n, tt.opts)
			eq := cmpopts.EquateNaNs()
			if diff := cmp.Diff(tt.wantClean, clean, eq); diff != "" {
				t.Errorf("clean (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRaw, raw, eq); diff != "" {
				t.Errorf("raw (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStats, stats); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCleanLevelShift checks that a sustained change of level survives
// clipping: once enough of the window sits on the new level, the median
// follows it.
func TestCleanLevelShift(t *testing.T) {
	start := time.Unix(0, 0)
	var s []Sample
	for i := range 200 {
		v := 100.0 + float64(i%3)
		if i >= 100 {
			v = 1000 + float64(i%3)
		}
		s = append(s, Sample{T: start.Add(time.Duration(i) * time.Minute).UnixMilli(), V: v})
	}
	clean, raw, st := Clean(s, start, time.Minute, 200, CleanOptions{OutlierMADs: 10})
	if st.Clipped > DefaultOutlierWindow/2 {
		t.Errorf("clipped %d points around a level shift, want at most half a window", st.Clipped)
	}
	for i := 120; i < 200; i++ {
		if clean[i] != raw[i] {
			t.Fatalf("point %d on the new level clipped: %g -> %g", i, raw[i], clean[i])
		}
	}
}

func BenchmarkClean(b *testing.B) {
	start := time.Unix(0, 0)
	n := 7 * 24 * 60
	s := make([]Sample, 0, n)
	for i := range n {
		s = append(s, Sample{T: start.Add(time.Duration(i) * time.Minute).UnixMilli(), V: 100 + 50*math.Sin(float64(i)/200) + float64(i%7)})
	}
	b.ReportAllocs()
	for b.Loop() {
		Clean(s, start, time.Minute, n, CleanOptions{MaxGap: 5 * time.Minute, OutlierMADs: 10})
	}
}

func TestMADSorted(t *testing.T) {
	for _, s := range [][]float64{{1}, {1, 2}, {1, 2, 3}, {1, 1, 2, 2, 4, 6, 9}, {-5, 0, 0, 1, 3, 100}, {9, 9, 10, 10, 10, 11, 11, 12, 12, 1000}} {
		med := median(s)
		var dev []float64
		for _, x := range s {
			dev = append(dev, math.Abs(x-med))
		}
		slices.Sort(dev)
		if got, want := madSorted(s, med), median(dev); got != want {
			t.Errorf("madSorted(%v) = %g, want %g", s, got, want)
		}
	}
}
