package main

import (
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/forecast"
)

// Every model name config accepts builds, and a learned model (stack
// here: the cheapest) fits and predicts through the gate, which names the
// candidate that won.
func TestModelsFromConfig(t *testing.T) {
	for _, name := range []string{config.ModelAuto, config.ModelSeasonalNaive, config.ModelHoltWinters,
		config.ModelLSTM, config.ModelGBM, config.ModelHybrid, config.ModelStack} {
		if _, err := (models{}).New(name, time.Minute); err != nil {
			t.Errorf("model %q: %v", name, err)
		}
	}
	if _, err := (models{}).New("prophet", time.Minute); err == nil {
		t.Error("an unknown model was built")
	}

	step := 30 * time.Minute
	n := 21 * 48
	s := forecast.Series{Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Step: step, Values: make([]float64, n)}
	for i := range s.Values {
		day := 2 * math.Pi * float64(i%48) / 48
		s.Values[i] = 500 + 200*math.Sin(day) + 30*math.Sin(float64(i)*0.37)
	}
	m, err := (models{}).New(config.ModelStack, step)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Fit(s, forecast.Spec{Horizon: 4, Level: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	fc, err := p.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains([]string{forecast.NameSeasonalNaive, forecast.NameHoltWinters, forecast.NameStack}, fc.Model) {
		t.Errorf("served model %q, want a gate candidate", fc.Model)
	}
	for k := range fc.Point {
		if !(fc.Lower[k] <= fc.Point[k] && fc.Point[k] <= fc.Upper[k]) {
			t.Errorf("step %d: bounds %g ≤ %g ≤ %g out of order", k, fc.Lower[k], fc.Point[k], fc.Upper[k])
		}
	}
}

// full_retrain_every reaches the engine.
func TestShadowOptionsFullRetrainEvery(t *testing.T) {
	cfg, err := config.Load([]byte(`
prometheus: {url: http://localhost:9090}
shadows:
  - name: a
    source: {prometheus: {query: up}}
    model: stack
    full_retrain_every: 3
  - name: b
    source: {prometheus: {query: up}}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := newSourceBuilder(prometheus.NewRegistry(), slog.New(slog.DiscardHandler)).shadowOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := []int{opts[0].FullRetrainEvery, opts[1].FullRetrainEvery}; !slices.Equal(got, []int{3, config.DefaultFullRetrainEvery}) {
		t.Errorf("FullRetrainEvery = %v, want [3 %d]", got, config.DefaultFullRetrainEvery)
	}
	if opts[0].Model != config.ModelStack {
		t.Errorf("model = %q, want %q", opts[0].Model, config.ModelStack)
	}
}
