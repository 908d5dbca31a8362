package collector

import (
	"testing"
	"time"
)

// A jump at the end of the series may be a new level: it stays unclipped
// until enough later points confirm it was a spike.
func TestCleanDoesNotClipTheNewestPoints(t *testing.T) {
	start := time.Unix(0, 0)
	var samples []Sample
	vals := []float64{10, 11, 9, 10, 12, 10, 11, 9, 10, 11, 50, 50, 50}
	for i, v := range vals {
		samples = append(samples, Sample{T: start.Add(time.Duration(i) * time.Minute).UnixMilli(), V: v})
	}
	clean, _, stats := Clean(samples, start, time.Minute, len(vals), CleanOptions{OutlierMADs: 3, OutlierWindow: 11})
	for i := len(vals) - 3; i < len(vals); i++ {
		if clean[i] != 50 {
			t.Errorf("clean[%d] = %v, want the new level 50 unclipped", i, clean[i])
		}
	}
	if stats.Clipped != 0 {
		t.Errorf("clipped %d points", stats.Clipped)
	}
	// The same jump followed by enough normal points is a spike.
	vals = append(vals[:11], 10, 11, 9, 10)
	samples = samples[:0]
	for i, v := range vals {
		samples = append(samples, Sample{T: start.Add(time.Duration(i) * time.Minute).UnixMilli(), V: v})
	}
	clean, _, _ = Clean(samples, start, time.Minute, len(vals), CleanOptions{OutlierMADs: 3, OutlierWindow: 11})
	if clean[10] == 50 {
		t.Errorf("a confirmed spike was not clipped: %v", clean)
	}
}
