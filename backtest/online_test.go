package backtest

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shadowcast/shadowcast/forecast"
)

// constTraces forecasts the last value with bounds ±1 from every origin.
func constTraces(s forecast.Series, first, n, h int) []RollingTrace {
	out := make([]RollingTrace, n)
	for i := range n {
		o := first + i
		f := forecast.Forecast{Point: make([]float64, h), Lower: make([]float64, h), Upper: make([]float64, h)}
		for k := range h {
			f.Point[k] = s.Values[o]
			f.Lower[k], f.Upper[k] = s.Values[o]-1, s.Values[o]+1
		}
		out[i] = RollingTrace{Origin: o, Forecast: f}
	}
	return out
}

func TestCalibrateOnlineNoLookAhead(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := forecast.Series{Start: time.Unix(0, 0), Step: time.Minute, Values: make([]float64, 1200)}
	for i := range s.Values {
		s.Values[i] = 100 + 3*rng.NormFloat64()
	}
	const h, first, n, cut = 4, 100, 1000, 700
	opts := forecast.AdaptiveOptions{Level: 0.9}
	fcs := constTraces(s, first, n, h)
	got := CalibrateOnline(s, fcs, h, opts)
	// Changing the actuals after index cut must not change any forecast
	// made at an origin ≤ cut.
	alt := forecast.Series{Start: s.Start, Step: s.Step, Values: append([]float64(nil), s.Values...)}
	for i := cut + 1; i < len(alt.Values); i++ {
		alt.Values[i] = 1e6
	}
	altGot := CalibrateOnline(alt, constTraces(s, first, n, h), h, opts)
	for i := range got {
		same := cmp.Equal(got[i], altGot[i])
		if got[i].Origin <= cut && !same {
			t.Fatalf("origin %d: bounds depend on actuals after %d", got[i].Origin, cut)
		}
		if got[i].Origin == cut+h+1 && same {
			t.Errorf("origin %d: bounds ignore actuals that are known by then", got[i].Origin)
		}
	}
	// The input is not modified, and the bounds are calibrated to ~90 %.
	if fcs[n-1].Forecast.Upper[0] != fcs[n-1].Forecast.Point[0]+1 {
		t.Error("input traces modified")
	}
	inside, total := 0, 0
	for _, tr := range got[200:] {
		for k := 1; k <= h; k++ {
			y := s.Values[tr.Origin+k]
			total++
			if y >= tr.Forecast.Lower[k-1] && y <= tr.Forecast.Upper[k-1] {
				inside++
			}
		}
	}
	if cov := float64(inside) / float64(total); math.Abs(cov-0.9) > 0.03 {
		t.Errorf("online coverage %.3f, want 0.90 ± 0.03 (raw ±1 bounds cover ~26 %%)", cov)
	}
}

func TestRunRollingCalibrationModes(t *testing.T) {
	s := forecast.Series{Start: time.Unix(0, 0), Step: time.Hour, Values: make([]float64, 24*30)}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range s.Values {
		s.Values[i] = 50 + 20*math.Sin(2*math.Pi*float64(i)/24) + 4*rng.NormFloat64()
	}
	m := []Method{{Name: "seasonal_naive", New: func() forecast.Model { return forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}) }}}
	for _, mode := range append(CalibrationModes, "") {
		res, _, err := RunRolling(t.Context(), s, m, RollingOptions{Horizons: []int{1, 3}, Origins: 240, Calibration: mode})
		if err != nil {
			t.Fatalf("%q: %v", mode, err)
		}
		for _, r := range res {
			if math.IsNaN(r.Coverage) || r.Series != 240 {
				t.Errorf("%q h=%d: coverage %v over %d origins", mode, r.HorizonSteps, r.Coverage, r.Series)
			}
		}
	}
	if _, _, err := RunRolling(t.Context(), s, m, RollingOptions{Horizons: []int{1}, Calibration: "bogus"}); err == nil {
		t.Error("unknown calibration mode accepted")
	}
}
