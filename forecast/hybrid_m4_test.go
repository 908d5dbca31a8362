package forecast

import (
	"testing"
	"time"
)

func TestM4HourlyHybrid(t *testing.T) {
	train, test, _ := loadM4Hourly(t)
	spec := Spec{Horizon: 48, Level: 0.9, Seed: 1}
	m := NewHybrid(HybridOptions{LSTM: LSTMOptions{
		Hidden: 32, Seq: 48, Lookback: 168, Dense: 128, Steps: 3000, BatchSize: 64, LR: 2e-3, EvalEvery: 250, Patience: 4,
	}})
	series := m4Series(train)
	start := time.Now()
	ps, err := m.FitGlobal(series, spec)
	if err != nil {
		t.Fatal(err)
	}
	fit := time.Since(start)
	fcs := make([]Forecast, len(series))
	lstm := make([]Forecast, len(series))
	for i, s := range series {
		if fcs[i], err = ps[i].Predict(s); err != nil {
			t.Fatal(err)
		}
		if lstm[i], err = ps[i].(*HybridPredictor).LSTM().Predict(s); err != nil {
			t.Fatal(err)
		}
	}
	logM4(t, "hybrid (global)", train, test, fcs, fit)
	logM4(t, "its LSTM alone (trained without the residual window)", train, test, lstm, fit)
}
