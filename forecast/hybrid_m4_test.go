package forecast

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

func TestM4HourlyHybrid(t *testing.T) {
	train, test, _ := loadM4Hourly(t)
	spec := Spec{Horizon: 48, Level: 0.9, Seed: 1}
	var opts HybridOptions
	if js := os.Getenv("SHADOWCAST_HYBRID_OPTS"); js != "" {
		if err := json.Unmarshal([]byte(js), &opts); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("options %s", os.Getenv("SHADOWCAST_HYBRID_OPTS"))
	m := NewHybrid(opts)
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
