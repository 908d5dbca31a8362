package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestCalibrateResiduals(t *testing.T) {
	// 99 errors -49..49: ranks ⌊100·0.05⌋ = 5 and ⌈100·0.95⌉ = 95.
	var step1 []float64
	for e := 49; e >= -49; e-- {
		step1 = append(step1, float64(e))
	}
	step2 := []float64{1, 2, 3, math.NaN()} // too few: extrapolated from step 1
	c, err := CalibrateResiduals([][]float64{step1, step2}, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	want := Calibration{
		Level: 0.9,
		Lower: []float64{-45, -45 * math.Sqrt2},
		Upper: []float64{45, 45 * math.Sqrt2},
		Count: []int{99, 3},
	}
	if diff := cmp.Diff(want, c, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("calibration (-want +got):\n%s", diff)
	}

	// Biased errors still give an interval that contains the point.
	pos := make([]float64, 50)
	for i := range pos {
		pos[i] = float64(i + 1)
	}
	c, err = CalibrateResiduals([][]float64{pos}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if c.Lower[0] != 0 || c.Upper[0] != 39 { // ⌈51·0.75⌉ = 39
		t.Errorf("biased errors: [%v, %v], want [0, 39]", c.Lower[0], c.Upper[0])
	}

	if _, err := CalibrateResiduals([][]float64{{1, 2}}, 0.9); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("2 errors: err = %v, want ErrNotEnoughData", err)
	}
	if _, err := CalibrateResiduals([][]float64{step1}, 1); err == nil {
		t.Error("level 1 accepted")
	}
}

func TestCalibrationApply(t *testing.T) {
	c := Calibration{Level: 0.9, Lower: []float64{-1, -2}, Upper: []float64{1, 3}, Scaled: true, RefScale: 10}
	f := Forecast{Point: []float64{100, 100, 100}}
	c.Apply(&f, 2)
	want := Forecast{
		Point: []float64{100, 100, 100},
		Lower: []float64{98, 96, 100 - 4*math.Sqrt(1.5)},
		Upper: []float64{102, 106, 100 + 6*math.Sqrt(1.5)},
	}
	if diff := cmp.Diff(want, f, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("Apply (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		local, want float64
		c           Calibration
	}{
		{5, 5, c},
		{0.5, 1, c},           // floored at RefScale/10
		{math.NaN(), 1, c},    // unknown local scale
		{5, 1, Calibration{}}, // unscaled
		{0, 1, Calibration{Scaled: true}},
	} {
		if got := tc.c.EffectiveScale(tc.local); got != tc.want {
			t.Errorf("EffectiveScale(%v) = %v, want %v", tc.local, got, tc.want)
		}
	}
}

func TestLocalScale(t *testing.T) {
	l := NewLocalScale(1) // alpha = 1: the last difference
	if !math.IsNaN(l.Value()) {
		t.Errorf("empty scale %v, want NaN", l.Value())
	}
	for _, y := range []float64{1, 4, math.NaN(), 2} {
		l.Push(y)
	}
	if l.Value() != 2 {
		t.Errorf("scale %v, want |2−4| = 2", l.Value())
	}
}

// heteroSeries is a daily sine with noise proportional to the level; from
// sample shift on, the level (and so the noise) is multiplied by factor.
func heteroSeries(seed uint64, n, shift int, factor float64) Series {
	rng := rand.New(rand.NewPCG(seed, 99))
	v := make([]float64, n)
	for t := range v {
		level := 100.0
		if t >= shift {
			level *= factor
		}
		v[t] = level * (1 + 0.3*math.Sin(2*math.Pi*float64(t)/24) + 0.05*rng.NormFloat64())
	}
	return Series{Start: testStart, Step: time.Hour, Values: v}
}

// heldOutCoverage fits m on the first train samples of each series and
// rolls origins (no refit) from origin `from` to the end, returning the
// share of actuals inside the bounds at steps 1..h.
func heldOutCoverage(t *testing.T, m Model, series []Series, train, from, h int) float64 {
	t.Helper()
	in, n := 0, 0
	spec := Spec{Horizon: h, Level: 0.9}
	for _, s := range series {
		p, err := m.Fit(s.Slice(0, train), spec)
		if err != nil {
			t.Fatal(err)
		}
		for o := train; o+h <= s.Len(); o++ {
			f, err := p.Predict(s.Slice(0, o))
			if err != nil {
				t.Fatal(err)
			}
			if o < from {
				continue
			}
			for k := range h {
				y := s.Values[o+k]
				n++
				if y >= f.Lower[k] && y <= f.Upper[k] {
					in++
				}
			}
		}
	}
	return float64(in) / float64(n)
}

func TestConformalCoverage(t *testing.T) {
	const (
		nSeries = 30
		train   = 24 * 8
		n       = 24 * 13
		h       = 6
	)
	stationary := make([]Series, nSeries)
	shifted := make([]Series, nSeries)
	for i := range nSeries {
		stationary[i] = heteroSeries(uint64(i), n, n, 1)
		shifted[i] = heteroSeries(uint64(i), n, train+24, 3)
	}
	tests := []struct {
		name   string
		model  Model
		series []Series
		from   int
		lo, hi float64
	}{
		{"holt-winters held out", NewHoltWinters(HoltWintersOptions{}), stationary, train, 0.87, 0.93},
		{"seasonal naive split held out", NewSeasonalNaive(SeasonalNaiveOptions{Calibration: CalibrationOptions{Mode: CalibrateSplit}}), stationary, train, 0.87, 0.93},
		{"seasonal naive held out", NewSeasonalNaive(SeasonalNaiveOptions{}), stationary, train, 0.87, 0.93},
		// One day after a ×3 level shift the local scale has followed it.
		{"seasonal naive after level shift", NewSeasonalNaive(SeasonalNaiveOptions{}), shifted, train + 48, 0.87, 0.93},
		// Without the local scale the old, narrow errors no longer cover.
		{"unscaled after level shift", NewSeasonalNaive(SeasonalNaiveOptions{Calibration: CalibrationOptions{ScaleWindow: -1}}), shifted, train + 48, 0, 0.7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cov := heldOutCoverage(t, tc.model, tc.series, train, tc.from, h)
			t.Logf("coverage %.3f", cov)
			if cov < tc.lo || cov > tc.hi {
				t.Errorf("coverage %.3f, want within [%.2f, %.2f]", cov, tc.lo, tc.hi)
			}
		})
	}
}

// TestConformalReusesAnyModel wraps a model of another kind (the cold-start
// model, which brings bounds of its own) and checks the bounds are replaced.
func TestConformalReusesAnyModel(t *testing.T) {
	s := heteroSeries(1, 24*10, 24*10, 1)
	m := Conformal(NewLastValue(LastValueOptions{}), CalibrationOptions{Window: 100})
	p, err := m.Fit(s, Spec{Horizon: 4, Level: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, f, 4)
	cal := p.(*conformalPredictor).Calibration()
	if cal.Count[0] != 100 || !cal.Scaled {
		t.Errorf("calibration on %d errors (scaled %v), want 100 scaled", cal.Count[0], cal.Scaled)
	}
	if got := MinHistory(m, time.Hour); got != 1+MinCalibrationErrors {
		t.Errorf("MinHistory = %d, want %d", got, 1+MinCalibrationErrors)
	}
	if _, err := m.Fit(s.Slice(0, 20), Spec{Horizon: 4, Level: 0.9}); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("fit on 20 samples: err = %v, want ErrNotEnoughData", err)
	}
}
