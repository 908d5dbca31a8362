package shadow

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shadowcast/shadowcast/collector"
)

// The incremental cleaning of the engine gives exactly what one Clean of the
// whole history gives for the window (a point leaving the window's left edge
// keeps the value it got with full context), step after step, with spikes,
// level shifts and gaps.
func TestIncrementalCleanMatchesFull(t *testing.T) {
	for _, opts := range []collector.CleanOptions{
		{MaxGap: 5 * time.Minute, OutlierMADs: 3},
		{MaxGap: 0, OutlierMADs: 0},
		{MaxGap: 20 * time.Minute, OutlierMADs: 6, OutlierWindow: 9},
	} {
		rng := rand.New(rand.NewPCG(1, 2))
		step := time.Minute
		n := 400
		inst := &instance{}
		level := 100.0
		at := time.Unix(1_700_000_000, 0).Truncate(step)
		var all []collector.Sample
		var first time.Time
		for i := range 1100 {
			at = at.Add(step)
			if rng.IntN(200) == 0 {
				level *= 2 // level shift
			}
			v := level + rng.NormFloat64()*3
			if rng.IntN(50) == 0 {
				v *= 20 // spike
			}
			if rng.IntN(30) == 0 || (i > 700 && i < 715) {
				continue // missing sample, and one long gap
			}
			inst.merge([]collector.Sample{{T: at.UnixMilli(), V: v}})
			all = append(all, collector.Sample{T: at.UnixMilli(), V: v})
			if i < n/2 {
				continue
			}
			end := at
			start := end.Add(-time.Duration(n-1) * step)
			if first.IsZero() {
				first = start
			}
			inst.mu.Lock()
			inst.trim(start.Add(-step).UnixMilli())
			got := append([]float64(nil), inst.cleaned(start, step, n, opts)...)
			inst.mu.Unlock()
			total := int(end.Sub(first)/step) + 1
			ref, _, _ := collector.Clean(all, first, step, total, opts)
			want := ref[total-n:]
			for j := range want {
				if !(got[j] == want[j] || math.IsNaN(got[j]) && math.IsNaN(want[j])) {
					t.Fatalf("opts %+v, step %d, point %d: incremental %v, full %v", opts, i, j, got[j], want[j])
				}
			}
		}
	}
}
