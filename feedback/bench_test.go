package feedback

import (
	"testing"
	"time"
)

// BenchmarkObserveRecord measures one step of one instance with three
// horizons: an actual scored and three predictions recorded.
func BenchmarkObserveRecord(b *testing.B) {
	tr, err := NewTracker(TrackerOptions{Step: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	hs := []time.Duration{5 * time.Minute, 15 * time.Minute, 30 * time.Minute}
	i := 0
	for b.Loop() {
		ts := at(i)
		tr.Observe("k", ts, float64(i%100))
		for _, h := range hs {
			tr.Record("k", h, ts, 50, 40, 60)
		}
		i++
	}
}
