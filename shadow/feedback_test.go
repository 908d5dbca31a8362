package shadow

import (
	"context"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/shadowcast/shadowcast/collector"
)

func feedbackEngine(t *testing.T, src *fakeSource, stateDir string) *Engine {
	t.Helper()
	e, err := New(Options{
		Models:   testModels{},
		StateDir: stateDir,
		Shadows: []ShadowOptions{{
			Name: "requests", Source: src, Step: 5 * time.Minute, History: 3 * 24 * time.Hour,
			Horizons: []time.Duration{5 * time.Minute, 30 * time.Minute}, Confidence: 0.9,
			Model: "seasonal_naive", RetrainInterval: 24 * time.Hour,
			Clean: collector.CleanOptions{MaxGap: 15 * time.Minute},
		}},
	}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Scores exist on day one (scored on the backfilled history), keep coming
// from live actuals, survive a restart, and a level shift retrains early.
func TestEngineFeedback(t *testing.T) {
	shift := false
	values := func(i int, ts time.Time) float64 {
		v := daily(i, ts)
		if shift {
			v *= 3
		}
		return v
	}
	src := &fakeSource{now: t0.Add(3 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: values}
	dir := t.TempDir()
	e := feedbackEngine(t, src, dir)
	step(t, e)
	st := e.get("requests")
	key := st.sortedInstances()[0].key
	sc := st.tracker.Scores(key, 30*time.Minute)
	if sc.N == 0 || math.IsNaN(sc.MASE) {
		t.Fatalf("no scores after the first training: %+v", sc)
	}
	if sc.MASE > 1.5 || sc.Coverage < 0.8 {
		t.Errorf("seasonal naive on an exact daily pattern scored %+v", sc)
	}
	n0 := sc.N
	for range 12 {
		src.advance(5 * time.Minute)
		step(t, e)
	}
	if sc = st.tracker.Scores(key, 5*time.Minute); sc.N < min(n0, 288) {
		t.Errorf("live scoring did not add points: %+v", sc)
	}
	if err := e.saveTracker(st); err != nil {
		t.Fatal(err)
	}

	// A restarted engine restores the scores from the snapshot.
	e2 := feedbackEngine(t, src, dir)
	if got := e2.get("requests").tracker.Scores(key, 5*time.Minute); got.N != sc.N || got.MAE != sc.MAE {
		t.Errorf("restored scores %+v, want %+v", got, sc)
	}

	// A level shift puts the actuals outside the bounds: early retraining.
	shift = true
	var reason string
	for range 24 {
		src.advance(5 * time.Minute)
		step(t, e)
		vals, err := e.Lookup("requests", nil, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if reason = vals[0].Reason; reason == ReasonDeviation || reason == ReasonDrift {
			break
		}
	}
	if reason != ReasonDeviation && reason != ReasonDrift {
		t.Errorf("after a threefold level shift the reason is %q, want an early retrain", reason)
	}
	_ = context.Background
}
