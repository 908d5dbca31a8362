package forecast

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// outageSeries is an hourly daily-seasonal count (level ≈ 1000) that drops
// to about 1 for outageLen hours starting at index outageAt.
func outageSeries(days, outageAt, outageLen int) Series {
	rng := rand.New(rand.NewPCG(7, 3))
	s := Series{Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Step: time.Hour, Values: make([]float64, days*24)}
	for i := range s.Values {
		v := 1000 + 400*math.Sin(2*math.Pi*float64(i%24)/24) + 30*rng.NormFloat64()
		if i >= outageAt && i < outageAt+outageLen {
			v = 1 + rng.Float64()
		}
		s.Values[i] = v
	}
	return s
}

// An outage (values near 0) inside the hybrid's calibration window used to
// set its quantiles in the log1p space: errors of ~7 log units, which
// expm1 turned into upper bounds about a thousand times the point at every
// later origin. Calibrated in the raw space, the bounds stay of the order
// of the series.
func TestHybridOutageInCalibrationKeepsBoundsFinite(t *testing.T) {
	const days, K = 30, 4
	n := days * 24
	// The calibration origins are about the last 0.35·0.35 of the
	// history (≈ 88 h): put a 6 h outage in them, more than two days
	// before the end so that the last day is back to normal.
	s := outageSeries(days, n-72, 6)
	spec := Spec{Horizon: K, Level: 0.9, Seed: 1}
	p, err := NewHybrid(HybridOptions{LSTM: LSTMOptions{Residual: true, Hidden: 8, Seq: 24, Steps: 60}, GBM: GBMOptions{Rounds: 30}}).Fit(s, spec)
	if err != nil {
		t.Fatal(err)
	}
	// The raw-space calibration survives a save and load.
	blob, err := p.(*HybridPredictor).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var restored HybridPredictor
	if err := restored.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	f0, _ := p.Predict(s)
	f1, _ := restored.Predict(s)
	if !slices.Equal(f0.Upper, f1.Upper) || !slices.Equal(f0.Lower, f1.Lower) {
		t.Errorf("restored bounds [%v, %v], want [%v, %v]", f1.Lower, f1.Upper, f0.Lower, f0.Upper)
	}
	maxV := 0.0
	for _, v := range s.Values {
		maxV = max(maxV, v)
	}
	for o := n - 24; o <= n; o += 6 {
		f, err := p.Predict(s.Slice(0, o))
		if err != nil {
			t.Fatal(err)
		}
		for k := range K {
			if !(f.Lower[k] <= f.Point[k] && f.Point[k] <= f.Upper[k]) {
				t.Errorf("origin %d step %d: point %.1f outside [%.1f, %.1f]", o, k+1, f.Point[k], f.Lower[k], f.Upper[k])
			}
			if w := f.Upper[k] - f.Lower[k]; !(w <= 2*maxV) {
				t.Errorf("origin %d step %d: width %.4g for a series whose maximum is %.0f (point %.1f)", o, k+1, w, maxV, f.Point[k])
			}
		}
	}
}
