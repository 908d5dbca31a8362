package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestMinHistory(t *testing.T) {
	type plain struct{ Model }
	tests := []struct {
		name string
		m    Model
		step time.Duration
		want int
	}{
		{"seasonal naive hourly", NewSeasonalNaive(SeasonalNaiveOptions{}), time.Hour, 24 + MinCalibrationErrors},
		{"seasonal naive weekly 5m", NewSeasonalNaive(SeasonalNaiveOptions{Weekly: true}), 5 * time.Minute, 2016 + MinCalibrationErrors},
		{"holt-winters 1m", NewHoltWinters(HoltWintersOptions{}), time.Minute, 2880 + MinCalibrationErrors},
		{"holt-winters weekly hourly", NewHoltWinters(HoltWintersOptions{Seasonality: SeasonWeekly}), time.Hour, 336 + MinCalibrationErrors},
		{"holt-winters non-dividing step", NewHoltWinters(HoltWintersOptions{}), 7 * time.Minute, 10 + MinCalibrationErrors},
		{"last value", NewLastValue(LastValueOptions{}), time.Minute, 1},
		{"unknown model: two days", plain{}, time.Hour, 48},
		{"unknown model, non-dividing step", plain{}, 7 * time.Minute, 48},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MinHistory(tc.m, tc.step); got != tc.want {
				t.Errorf("MinHistory = %d, want %d", got, tc.want)
			}
		})
	}
	// MinHistory is what Fit needs: one sample less fails.
	for _, m := range []Model{NewSeasonalNaive(SeasonalNaiveOptions{}), NewHoltWinters(HoltWintersOptions{})} {
		need := MinHistory(m, time.Hour)
		s := synth(2, need, time.Hour, 100, 0, 20, 2)
		spec := Spec{Horizon: 6, Level: 0.9}
		if _, err := m.Fit(s, spec); err != nil {
			t.Errorf("%s: fit on MinHistory=%d samples: %v", m.Name(), need, err)
		}
		if _, err := m.Fit(s.Slice(0, need-1), spec); !errors.Is(err, ErrNotEnoughData) {
			t.Errorf("%s: fit on %d samples: err = %v, want ErrNotEnoughData", m.Name(), need-1, err)
		}
	}
}

func TestLastValue(t *testing.T) {
	spec := Spec{Horizon: 3, Level: 0.9}
	nan := math.NaN()
	tests := []struct {
		name             string
		values           []float64
		opts             LastValueOptions
		point, low, high float64 // at step 1
	}{
		{"one sample: [0, 2y]", []float64{10}, LastValueOptions{}, 10, 0, 20},
		{"trailing NaN is skipped", []float64{4, 10, nan}, LastValueOptions{}, 10, 0, 22},           // w = max(2·6, 6, 10) = 12
		{"negative series keeps negative bounds", []float64{-5, -3}, LastValueOptions{}, -3, -7, 1}, // w = max(2·2, 2, 3)
		{"mean of recent", []float64{1, 2, 3, 6}, LastValueOptions{Recent: 2}, 4.5, 0, 14.5},        // w = max(2·5, 5, 4.5)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Series{Start: testStart, Step: time.Minute, Values: tc.values}
			p, err := NewLastValue(tc.opts).Fit(s, spec)
			if err != nil {
				t.Fatal(err)
			}
			f, err := p.Predict(s)
			if err != nil {
				t.Fatal(err)
			}
			checkForecast(t, f, 3)
			if f.Model != NameLastValue || f.Point[0] != tc.point || f.Lower[0] != tc.low || f.Upper[0] != tc.high {
				t.Errorf("%s: step 1 = %v [%v, %v], want %v [%v, %v]", f.Model, f.Point[0], f.Lower[0], f.Upper[0], tc.point, tc.low, tc.high)
			}
		})
	}
	if _, err := NewLastValue(LastValueOptions{}).Fit(Series{Step: time.Minute, Values: []float64{nan}}, spec); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("all-NaN history: err = %v, want ErrNotEnoughData", err)
	}
}

// TestLastValueCoverage: on a random walk the k-step change quantiles give
// calibrated bounds once enough changes were seen.
func TestLastValueCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	spec := Spec{Horizon: 4, Level: 0.9}
	in, n := 0, 0
	for range 300 {
		v := make([]float64, 64)
		x := 1000.0
		for i := range v {
			x += rng.NormFloat64()
			v[i] = x
		}
		s := Series{Start: testStart, Step: time.Minute, Values: v[:60]}
		p, err := NewLastValue(LastValueOptions{}).Fit(s, spec)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := p.Predict(s)
		checkForecast(t, f, 4)
		for k := range 4 {
			n++
			if y := v[60+k]; y >= f.Lower[k] && y <= f.Upper[k] {
				in++
			}
		}
	}
	cov := float64(in) / float64(n)
	t.Logf("coverage %.3f", cov)
	if cov < 0.85 || cov > 0.97 {
		t.Errorf("coverage %.3f on a random walk, want about 0.9", cov)
	}
}

// TestLastValueCache: between recomputes the bound offsets are reused; a
// recompute gives what a fresh predictor gives.
func TestLastValueCache(t *testing.T) {
	s := synth(8, 400, time.Minute, 100, 0, 20, 5)
	spec := Spec{Horizon: 5, Level: 0.9}
	p, _ := NewLastValue(LastValueOptions{}).Fit(s, spec)
	first, _ := p.Predict(s.Slice(0, 300))
	off := first.Upper[0] - first.Point[0]
	next, _ := p.Predict(s.Slice(0, 310)) // 10 < 300/8 new samples: cached
	if got := next.Upper[0] - next.Point[0]; math.Abs(got-off) > 1e-9 {
		t.Errorf("offset %v, want the cached %v", got, off)
	}
	for _, n := range []int{340, 400} { // ≥ 300/8 new samples: recomputed
		got, _ := p.Predict(s.Slice(0, n))
		fresh, _ := NewLastValue(LastValueOptions{}).Fit(s, spec)
		want, _ := fresh.Predict(s.Slice(0, n))
		if n == 340 && (got.Upper[0] != want.Upper[0] || got.Lower[4] != want.Lower[4]) {
			t.Errorf("n=%d: recomputed bounds %v/%v, fresh %v/%v", n, got.Upper[0], got.Lower[4], want.Upper[0], want.Lower[4])
		}
	}
}
