package forecast

import "testing"

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
			benchPredict(b, p, s)
		})
	}
}

// benchPredict measures p.Predict(s) after one warm-up call (scratch
// space), reporting CPU µs per call.
func benchPredict(b *testing.B, p Predictor, s Series) {
	b.Helper()
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
}
