package forecast

import (
	"math"
	"testing"
)

// BenchmarkPredict1m measures Predict for all 60 one-minute horizons of one
// series with a week of history (budget: 200 µs), for each learned model
// with its default options (the LSTM trained for a few steps only: its
// prediction cost does not depend on training).
func BenchmarkPredict1m(b *testing.B) {
	s := minuteSeries(8)
	spec := Spec{Horizon: 60, Level: 0.9, Seed: 1}
	for _, tc := range []struct {
		name string
		m    Model
	}{
		{"lstm", NewLSTM(LSTMOptions{Residual: true, Steps: 20})},
		{"gbm", NewGBM(GBMForecastOptions{})},
		{"hybrid", NewHybrid(HybridOptions{LSTM: LSTMOptions{Residual: true, Steps: 20}})},
		{"stack", NewStack(StackOptions{Members: []Model{NewHoltWinters(HoltWintersOptions{}), NewGBM(GBMForecastOptions{})}})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p, err := tc.m.Fit(s, spec)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Predict(s); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := p.Predict(s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// With the gate closed (factor 0) the hybrid serves its LSTM's points and
// skips the residual trees and their features altogether.
func TestHybridClosedGateServesTheLSTM(t *testing.T) {
	s, events, _ := campaignSeries(30, 1.5, 3, 1)
	spec := Spec{Horizon: 24, Level: 0.9, Events: events}
	p, err := NewHybrid(HybridOptions{LSTM: LSTMOptions{Hidden: 8, Steps: 30}}).Fit(s, spec)
	if err != nil {
		t.Fatal(err)
	}
	hp := p.(*HybridPredictor)
	if hp.gbm == nil {
		t.Skip("no residual model was fitted")
	}
	closed := *hp
	closed.shrink, closed.hw = 1, nil
	lf, err := hp.lstm.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	f, err := closed.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	for k := range f.Point {
		want := math.Max(lf.Point[k], 0)
		if math.Abs(f.Point[k]-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("step %d: closed gate served %v, want the LSTM's %v", k+1, f.Point[k], want)
		}
	}
}
