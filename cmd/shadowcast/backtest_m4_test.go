package main

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/shadowcast/shadowcast/backtest"
	"github.com/shadowcast/shadowcast/forecast"
)

func TestM4ProfileSharesOneLSTMFit(t *testing.T) {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func() []forecast.Series {
		var out []forecast.Series
		for i := range 3 {
			v := make([]float64, 400)
			for j := range v {
				v[j] = float64(10*(i+1)) * (2 + math.Sin(2*math.Pi*float64(j)/24) + 0.1*math.Sin(float64(j*(i+3))))
			}
			out = append(out, forecast.Series{Start: start, Step: time.Hour, Values: v})
		}
		return out
	}
	lopts := forecast.LSTMOptions{Hidden: 4, Seq: 12, Dense: 8, Residual: true, Steps: 20, BatchSize: 16, EvalEvery: 10}
	methods := m4ProfileWith(backtestMethods(), lopts, forecast.HybridOptions{GBM: forecast.GBMOptions{Rounds: 10}}, 2)
	get := func(name string) forecast.Model {
		i := slices.IndexFunc(methods, func(m backtest.Method) bool { return m.Name == name })
		return methods[i].New()
	}
	spec := forecast.Spec{Horizon: 12, Level: 0.9}
	lp, err := get("lstm").(m4LSTM).FitGlobal(mk(), spec)
	if err != nil {
		t.Fatal(err)
	}
	hp, err := get("hybrid").(m4Hybrid).FitGlobal(mk(), spec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range lp {
		e := lp[i].(*forecast.LSTMEnsemble)
		if len(e.Members()) != 2 {
			t.Errorf("series %d: %d seeds, want 2", i, len(e.Members()))
		}
		if hp[i].(*forecast.HybridPredictor).Temporal() != e {
			t.Errorf("series %d: the hybrid trained its own LSTM", i)
		}
	}
	// Other series: a new fit.
	other := mk()
	other[0].Values[0]++
	lp2, err := get("lstm").(m4LSTM).FitGlobal(other, spec)
	if err != nil {
		t.Fatal(err)
	}
	if lp2[0] == lp[0] {
		t.Error("a fit on other series reused the cached one")
	}
}
