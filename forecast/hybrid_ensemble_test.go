package forecast

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func tinyLSTMOpts() LSTMOptions {
	return LSTMOptions{Hidden: 4, Seq: 12, Dense: 8, Residual: true, Steps: 30, BatchSize: 16, EvalEvery: 10, Patience: 100}
}

func TestLSTMEnsembleIsTheMedianOfItsMembers(t *testing.T) {
	series := []Series{synthSeries(400, 100, 1), synthSeries(400, 10, 2)}
	spec := Spec{Horizon: 12, Level: 0.9, Seed: 5}
	opts := tinyLSTMOpts()
	opts.Residual = false // an untrained residual network is seasonal naive for every seed
	ens, err := FitLSTMSeeds(series, spec, opts, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ens) != 2 || len(ens[0].Members()) != 3 {
		t.Fatalf("%d ensembles of %d members, want 2 of 3", len(ens), len(ens[0].Members()))
	}
	for i, e := range ens {
		f, err := e.Predict(series[i])
		if err != nil {
			t.Fatal(err)
		}
		checkForecast(t, f, 12)
		var pts [3][]float64
		for j, m := range e.Members() {
			mf, err := m.Predict(series[i])
			if err != nil {
				t.Fatal(err)
			}
			pts[j] = mf.Point
		}
		if slices.Equal(pts[0], pts[1]) {
			t.Errorf("series %d: seeds 5 and 6 forecast the same", i)
		}
		for k := range 12 {
			v := []float64{pts[0][k], pts[1][k], pts[2][k]}
			slices.Sort(v)
			if f.Point[k] != v[1] {
				t.Errorf("series %d step %d: point %v, median of %v", i, k+1, f.Point[k], v)
			}
		}
		at, err := e.PointsAt(series[i], []int{series[i].Len()})
		if err != nil {
			t.Fatal(err)
		}
		for k := range 12 {
			if math.Abs(at[0][k]-f.Point[k]) > 1e-9*math.Abs(f.Point[k]) {
				t.Errorf("series %d step %d: PointsAt %v, Predict %v", i, k+1, at[0][k], f.Point[k])
			}
		}
	}
	// The first seed is Spec.Seed: the same network as a single fit.
	single, err := NewLSTM(opts).FitGlobal(series, spec)
	if err != nil {
		t.Fatal(err)
	}
	f1, _ := single[0].Predict(series[0])
	f2, _ := ens[0].Members()[0].Predict(series[0])
	if !slices.Equal(f1.Point, f2.Point) {
		t.Errorf("first member differs from a fit with Spec.Seed")
	}
	if _, err := NewLSTMEnsemble(); err == nil {
		t.Error("empty ensemble accepted")
	}
}

func TestHybridFitGlobalOnSharedLSTM(t *testing.T) {
	series := []Series{synthSeries(500, 100, 3), synthSeries(500, 30, 4)}
	spec := Spec{Horizon: 12, Level: 0.9, Seed: 1}
	ens, err := FitLSTMSeeds(series, spec, tinyLSTMOpts(), 2)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHybrid(HybridOptions{GBM: GBMOptions{Rounds: 30}})
	if _, err := h.FitGlobalOn(series, spec, ens[:1]); err == nil {
		t.Error("FitGlobalOn accepted 1 temporal model for 2 series")
	}
	hps, err := h.FitGlobalOn(series, spec, ens)
	if err != nil {
		t.Fatal(err)
	}
	if g := hps[0].Gate(); !slices.Contains([]float64{0, 0.25, 0.5, 0.75, 1}, g) {
		t.Errorf("gate %v", g)
	}
	if hps[0].Temporal() != ens[0] {
		t.Error("the hybrid does not serve the shared temporal model")
	}
	f, err := hps[1].Predict(series[1])
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, f, 12)
	blob, err := hps[1].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var restored HybridPredictor
	if err := restored.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	if n := len(restored.Temporal().Members()); n != 2 {
		t.Errorf("restored %d LSTMs, want 2", n)
	}
	if fr, _ := restored.Predict(series[1]); !slices.Equal(fr.Point, f.Point) || !slices.Equal(fr.Lower, f.Lower) {
		t.Errorf("restored hybrid forecasts %v, want %v", fr.Point, f.Point)
	}
	if err := restored.UnmarshalBinary(blob[:len(blob)-9]); !errors.Is(err, ErrCorruptModel) {
		t.Errorf("truncated blob: err = %v", err)
	}
	ng, err := NewHybrid(HybridOptions{GBM: GBMOptions{Rounds: 30}, NoGate: true}).FitGlobalOn(series, spec, ens)
	if err != nil {
		t.Fatal(err)
	}
	if ng[0].Gate() != 1 {
		t.Errorf("NoGate: gate %v", ng[0].Gate())
	}
}

// A GBM that only memorises noise is shrunk: trees with unit learning rate
// and single-row leaves fit the training residuals of a noisy series
// exactly, which does not carry over to the calibration origins.
func TestHybridGateShrinksAnOverfittedGBM(t *testing.T) {
	s := synth(9, 600, 3600e9, 100, 0, 20, 8)
	spec := Spec{Horizon: 12, Level: 0.9, Seed: 2}
	ens, err := FitLSTMSeeds([]Series{s}, spec, tinyLSTMOpts(), 1)
	if err != nil {
		t.Fatal(err)
	}
	wild := GBMOptions{Rounds: 150, LearningRate: 1, MaxLeaves: 64, MinDataInLeaf: 1, Subsample: 1}
	hps, err := NewHybrid(HybridOptions{GBM: wild}).FitGlobalOn([]Series{s}, spec, ens)
	if err != nil {
		t.Fatal(err)
	}
	if g := hps[0].Gate(); g >= 1 {
		t.Errorf("gate %v for trees fitted to noise, want < 1", g)
	}
}

// Models written before the per-series gate have two blobs; they load with
// no shrink.
func TestHybridUnmarshalTwoBlobFrame(t *testing.T) {
	series := []Series{synthSeries(500, 100, 3)}
	spec := Spec{Horizon: 12, Level: 0.9, Seed: 1}
	ens, err := FitLSTMSeeds(series, spec, tinyLSTMOpts(), 1)
	if err != nil {
		t.Fatal(err)
	}
	hps, err := NewHybrid(HybridOptions{GBM: GBMOptions{Rounds: 10}, NoGate: true}).FitGlobalOn(series, spec, ens)
	if err != nil {
		t.Fatal(err)
	}
	p := hps[0]
	gb, err := p.gbm.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	lb, err := p.LSTM().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	old, err := frameModel(hybridModelMagic, forecasterHeader{Scaler: p.scaler, Features: p.spec, Events: p.events,
		Horizon: p.horizon, Calibration: p.cal, NonNeg: p.nonNeg, ScaleWindow: p.scaleWindow}, gb, lb)
	if err != nil {
		t.Fatal(err)
	}
	var restored HybridPredictor
	if err := restored.UnmarshalBinary(old); err != nil {
		t.Fatal(err)
	}
	want, _ := p.Predict(series[0])
	if got, _ := restored.Predict(series[0]); restored.Gate() != 1 || !slices.Equal(got.Point, want.Point) {
		t.Errorf("two-blob frame: gate %v, forecast %v, want %v", restored.Gate(), got.Point, want.Point)
	}
}

func TestHybridCombineWithHoltWinters(t *testing.T) {
	series := []Series{synth(4, 700, 3600e9, 100, 0.01, 30, 6), synth(5, 700, 3600e9, 50, 0, 10, 4)}
	spec := Spec{Horizon: 12, Level: 0.9, Seed: 1}
	ens, err := FitLSTMSeeds(series, spec, tinyLSTMOpts(), 1)
	if err != nil {
		t.Fatal(err)
	}
	hps, err := NewHybrid(HybridOptions{GBM: GBMOptions{Rounds: 10}, Combine: true}).FitGlobalOn(series, spec, ens)
	if err != nil {
		t.Fatal(err)
	}
	w := hps[0].HoltWintersWeight()
	t.Logf("Holt-Winters weight %v", w)
	// A barely trained LSTM against a clean sine: Holt-Winters must get weight.
	if !(w > 0 && w <= 0.5) {
		t.Errorf("Holt-Winters weight %v, want in (0, 0.5]", w)
	}
	f, err := hps[0].Predict(series[0])
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, f, 12)
	blob, err := hps[0].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var restored HybridPredictor
	if err := restored.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	if restored.HoltWintersWeight() != w {
		t.Errorf("restored weight %v, want %v", restored.HoltWintersWeight(), w)
	}
	if fr, _ := restored.Predict(series[0]); !slices.Equal(fr.Point, f.Point) || !slices.Equal(fr.Upper, f.Upper) {
		t.Errorf("restored hybrid forecasts %v, want %v", fr.Point, f.Point)
	}
}
