package shadow

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/shadowcast/shadowcast/forecast"
)

// warmModels warm-starts savedPredictors: the new level is the previous
// one plus 1, so the chain of warm starts shows in the forecast.
type warmModels struct {
	savedModels
	mu    sync.Mutex
	fail  error                // returned by WarmStart when set
	warm  int                  // WarmStart calls
	prevs []forecast.Predictor // the prev arguments
}

func (m *warmModels) WarmStart(prev forecast.Predictor, s forecast.Series, _ forecast.Spec) (forecast.Predictor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.warm++
	m.prevs = append(m.prevs, prev)
	if m.fail != nil {
		return nil, m.fail
	}
	p, ok := prev.(*savedPredictor)
	if !ok {
		return nil, fmt.Errorf("%T: %w", prev, ErrNoWarmStart)
	}
	if s.Len() == 0 {
		return nil, errors.New("empty history")
	}
	return &savedPredictor{level: p.level + 1}, nil
}

func warmEngine(t *testing.T, m *warmModels, every int, dir string, reg prometheus.Registerer) (*Engine, *fakeSource) {
	t.Helper()
	src := &fakeSource{now: t0.Add(3 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	e, err := New(Options{
		Models: m, StateDir: dir,
		Shadows: []ShadowOptions{{Name: "requests", Source: src, Step: 5 * time.Minute, History: 3 * 24 * time.Hour,
			Horizons: []time.Duration{5 * time.Minute, 30 * time.Minute}, Confidence: 0.9, Model: "saved",
			RetrainInterval: time.Hour, FullRetrainEvery: every, Fingerprint: "v1"}},
	}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return e, src
}

// trainingKinds steps the engine through n retrain intervals and returns
// "full" or "warm" for each training, from the metrics.
func trainingKinds(t *testing.T, e *Engine, src *fakeSource, n int) []string {
	t.Helper()
	var kinds []string
	trainings := func() float64 { return testutil.ToFloat64(e.metrics.trainings.WithLabelValues("requests", "success")) }
	warm := func() float64 { return testutil.ToFloat64(e.metrics.warmStarts.WithLabelValues("requests", "success")) }
	for range n {
		t0, w0 := trainings(), warm()
		step(t, e)
		switch {
		case trainings() != t0+1:
			t.Fatalf("after %v: %v trainings in one step", kinds, trainings()-t0)
		case warm() == w0+1:
			kinds = append(kinds, "warm")
		default:
			kinds = append(kinds, "full")
		}
		src.advance(time.Hour)
	}
	return kinds
}

func level(t *testing.T, e *Engine) float64 {
	t.Helper()
	v, err := e.Lookup("requests", nil, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return v[0].Point
}

func TestRetrainingWarmStartsBetweenFullFits(t *testing.T) {
	fits := 0
	m := &warmModels{savedModels: savedModels{fits: &fits}}
	e, src := warmEngine(t, m, 3, t.TempDir(), prometheus.NewRegistry())
	got := trainingKinds(t, e, src, 7)
	if want := []string{"full", "warm", "warm", "full", "warm", "warm", "full"}; !cmp.Equal(got, want) {
		t.Errorf("trainings %v, want %v", got, want)
	}
	// The warm start got a copy of the serving predictor, never the
	// predictor itself (it keeps serving while the copy trains).
	inst := e.get("requests").sortedInstances()[0]
	for _, p := range m.prevs {
		if p == inst.pred {
			t.Error("WarmStart was handed the serving predictor")
		}
	}
	if n := testutil.ToFloat64(e.metrics.warmStarts.WithLabelValues("requests", "error")); n != 0 {
		t.Errorf("warm start errors %v", n)
	}
}

func TestRetrainingWarmStartChainsThePreviousModel(t *testing.T) {
	fits := 0
	m := &warmModels{savedModels: savedModels{fits: &fits}}
	e, src := warmEngine(t, m, 0, "", prometheus.NewRegistry()) // default: every 4th is full
	var levels []float64
	for range 4 {
		step(t, e)
		levels = append(levels, level(t, e))
		src.advance(time.Hour)
	}
	// A full fit gives the last value + 1000; each warm start adds 1 to
	// the level it continues from.
	for i := 1; i < 4; i++ {
		if levels[i] != levels[i-1]+1 {
			t.Errorf("levels %v: training %d did not continue from the previous model", levels, i)
		}
	}
	if m.warm != 3 {
		t.Errorf("%d warm starts, want 3 (DefaultFullRetrainEvery %d)", m.warm, DefaultFullRetrainEvery)
	}
}

func TestRetrainingWarmStartFailureFallsBackToFullFit(t *testing.T) {
	fits := 0
	m := &warmModels{savedModels: savedModels{fits: &fits}, fail: errors.New("diverged")}
	e, src := warmEngine(t, m, 4, "", prometheus.NewRegistry())
	got := trainingKinds(t, e, src, 3)
	if want := []string{"full", "full", "full"}; !cmp.Equal(got, want) {
		t.Errorf("trainings %v, want %v", got, want)
	}
	if n := testutil.ToFloat64(e.metrics.warmStarts.WithLabelValues("requests", "error")); n != 2 || m.warm != 2 {
		t.Errorf("warm start errors counted %v, calls %d, want 2", n, m.warm)
	}
	// A kind without warm start is a full fit, not an error.
	m.fail = fmt.Errorf("gbm: %w", ErrNoWarmStart)
	trainingKinds(t, e, src, 1)
	if n := testutil.ToFloat64(e.metrics.warmStarts.WithLabelValues("requests", "error")); n != 2 {
		t.Errorf("ErrNoWarmStart counted as an error (%v)", n)
	}
}

func TestRetrainingFullAfterAlarmOrWhenDisabled(t *testing.T) {
	fits := 0
	m := &warmModels{savedModels: savedModels{fits: &fits}}
	e, src := warmEngine(t, m, 1, "", prometheus.NewRegistry())
	if got := trainingKinds(t, e, src, 3); !cmp.Equal(got, []string{"full", "full", "full"}) {
		t.Errorf("full_retrain_every 1: trainings %v", got)
	}

	e, src = warmEngine(t, m, 10, "", prometheus.NewRegistry())
	trainingKinds(t, e, src, 2) // full, warm
	inst := e.get("requests").sortedInstances()[0]
	for _, why := range []string{ReasonDrift, ReasonDeviation} {
		inst.mu.Lock()
		inst.early = why // what earlyRetrain sets on an alarm
		inst.mu.Unlock()
		got := trainingKinds(t, e, src, 2)
		want := []string{"full", "warm"}
		if why == ReasonDeviation {
			// A baseline serves after a deviation; the next training
			// selects and fits afresh before warm starts resume.
			want = []string{"full", "full"}
		}
		if !cmp.Equal(got, want) {
			t.Errorf("after %s: trainings %v, want %v", why, got, want)
		}
	}
	if got := trainingKinds(t, e, src, 1); !cmp.Equal(got, []string{"warm"}) {
		t.Errorf("after the full fit following a deviation: %v", got)
	}
}

func TestRetrainingWarmStartCountSurvivesRestart(t *testing.T) {
	fits := 0
	m := &warmModels{savedModels: savedModels{fits: &fits}}
	dir := t.TempDir()
	e, src := warmEngine(t, m, 3, dir, prometheus.NewRegistry())
	trainingKinds(t, e, src, 2) // full, warm
	e2, _ := warmEngine(t, m, 3, dir, prometheus.NewRegistry())
	src2 := e2.get("requests").opts.Source.(*fakeSource)
	src2.advance(2 * time.Hour)
	// Restores the model warm-started once, then retrains: warm.
	if got := trainingKinds(t, e2, src2, 3); !cmp.Equal(got, []string{"warm", "full", "warm"}) {
		t.Errorf("after a restart with 2 warm starts done: %v, want [full warm]", got)
	}
}

func TestValidateFullRetrainEvery(t *testing.T) {
	_, err := New(Options{Models: testModels{}, Shadows: []ShadowOptions{{Name: "x", Source: &fakeSource{}, Step: time.Minute,
		History: time.Hour, Horizons: []time.Duration{time.Minute}, Confidence: 0.9, FullRetrainEvery: -1}}}, nil, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Error("negative FullRetrainEvery accepted")
	}
}

// A baseline chosen by selection is refitted alone between full fits
// (counted as a warm start), without a new selection.
func TestRetrainingRefitsTheSelectedBaselineAlone(t *testing.T) {
	src := &fakeSource{now: t0.Add(3 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	e, err := New(Options{Models: testModels{}, Shadows: []ShadowOptions{{Name: "requests", Source: src, Step: 5 * time.Minute,
		History: 3 * 24 * time.Hour, Horizons: []time.Duration{5 * time.Minute, 30 * time.Minute}, Confidence: 0.9,
		Model: "auto", RetrainInterval: time.Hour, FullRetrainEvery: 3}}}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := trainingKinds(t, e, src, 4); !cmp.Equal(got, []string{"full", "warm", "warm", "full"}) {
		t.Errorf("trainings %v", got)
	}
	v, err := e.Lookup("requests", nil, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	src.advance(-time.Hour)
	step(t, e) // not due: no training, the selected model serves
	w, _ := e.Lookup("requests", nil, 5*time.Minute)
	if w[0].Reason != ReasonSelected || w[0].Model != v[0].Model {
		t.Errorf("after refits: %q (%q), want %q selected", w[0].Model, w[0].Reason, v[0].Model)
	}
	// A winner the models cannot build alone is not refitted: the engine
	// fits in full.
	inst := e.get("requests").sortedInstances()[0]
	inst.mu.Lock()
	inst.pub = &published{model: "prophet", reason: ReasonSelected}
	inst.mu.Unlock()
	src.advance(2 * time.Hour)
	if got := trainingKinds(t, e, src, 1); !cmp.Equal(got, []string{"full"}) {
		t.Errorf("unknown winner: trainings %v", got)
	}
}

// hybridModels serves a small real hybrid and warm-starts it with
// HybridPredictor.Refit, as cmd/shadowcast does with the default one.
type hybridModels struct{ testModels }

var tinyHybrid = forecast.HybridOptions{LSTM: forecast.LSTMOptions{Residual: true, Hidden: 4, Seq: 12, Steps: 15}, GBM: forecast.GBMOptions{Rounds: 8}}

func (hybridModels) New(string, time.Duration) (forecast.Model, error) {
	return forecast.NewHybrid(tinyHybrid), nil
}

func (hybridModels) Restore(kind string, data []byte) (forecast.Predictor, error) {
	if kind != "*forecast.HybridPredictor" {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	p := &forecast.HybridPredictor{}
	return p, p.UnmarshalBinary(data)
}

func (hybridModels) WarmStart(prev forecast.Predictor, s forecast.Series, spec forecast.Spec) (forecast.Predictor, error) {
	p, ok := prev.(*forecast.HybridPredictor)
	if !ok {
		return nil, fmt.Errorf("%T: %w", prev, ErrNoWarmStart)
	}
	return p.Refit(s, spec, forecast.HybridRefitOptions{Hybrid: tinyHybrid, LSTMSteps: 5, GBMRounds: 3})
}

// The engine warm-starts a real hybrid through its encoded copy and serves
// the result.
func TestRetrainingWarmStartsARealHybrid(t *testing.T) {
	src := &fakeSource{now: t0.Add(10 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	e, err := New(Options{Models: hybridModels{}, StateDir: t.TempDir(), Shadows: []ShadowOptions{{Name: "requests", Source: src,
		Step: time.Hour, History: 10 * 24 * time.Hour, Horizons: []time.Duration{time.Hour, 3 * time.Hour},
		Confidence: 0.9, Model: "hybrid", RetrainInterval: 6 * time.Hour, Fingerprint: "v1"}}}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var trees []int
	var kinds []string
	for range 3 {
		kinds = append(kinds, trainingKinds(t, e, src, 1)...)
		src.advance(5 * time.Hour) // 6 h in all since the last training
		inst := e.get("requests").sortedInstances()[0]
		inst.mu.Lock()
		hp, ok := inst.pred.(*forecast.HybridPredictor)
		inst.mu.Unlock()
		if !ok {
			t.Fatalf("serving %T", inst.pred)
		}
		trees = append(trees, hp.Booster().NumTrees())
	}
	if !cmp.Equal(kinds, []string{"full", "warm", "warm"}) || trees[1] != trees[0]+3 || trees[2] != trees[1]+3 {
		t.Errorf("trainings %v, trees %v", kinds, trees)
	}
	v, err := e.Lookup("requests", nil, 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if v[0].Model != "hybrid" || !(v[0].Lower <= v[0].Point && v[0].Point <= v[0].Upper) || v[0].Point < 20 || v[0].Point > 200 {
		t.Errorf("served %+v", v[0])
	}
}
