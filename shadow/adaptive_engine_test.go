package shadow

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// The engine warms the instance's online calibrator on the backfilled
// history, feeds it live actuals, and restores it after a restart.
func TestEngineAdaptiveBounds(t *testing.T) {
	src := &fakeSource{now: t0.Add(3 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	dir := t.TempDir()
	e := feedbackEngine(t, src, dir)
	step(t, e)
	st := e.get("requests")
	key := st.sortedInstances()[0].key
	warm, ok := st.adaptive.state(key, "seasonal_naive", 5*time.Minute)
	if !ok || warm.Seen < 20 {
		t.Fatalf("5m calibrator after the backfill: %+v (ok %v), want ≥ 20 (MinScores)", warm, ok)
	}
	for range 36 {
		src.advance(5 * time.Minute)
		step(t, e)
	}
	s5, _ := st.adaptive.state(key, "seasonal_naive", 5*time.Minute)
	if s5.Seen < warm.Seen+30 {
		t.Errorf("5m calibrator: %d scores after 36 live steps, %d after the backfill", s5.Seen, warm.Seen)
	}
	if err := e.saveTracker(st); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bounds-requests.snapshot")); err != nil {
		t.Fatalf("no bounds snapshot: %v", err)
	}
	e2 := feedbackEngine(t, src, dir)
	if got, _ := e2.get("requests").adaptive.state(key, "seasonal_naive", 5*time.Minute); got != s5 {
		t.Errorf("restored 5m calibrator %+v, want %+v", got, s5)
	}
}
