package forecast

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// synth returns n samples of base + trend·t + amp·sin(2πt/period) with
// Gaussian noise of sd noise, from a seeded generator.
func synth(seed uint64, n int, step time.Duration, base, trend, amp, noise float64) Series {
	rng := rand.New(rand.NewPCG(seed, 7))
	period := float64(StepsPerDay(step))
	if period == 0 {
		period = 24
	}
	v := make([]float64, n)
	for t := range v {
		v[t] = base + trend*float64(t) + amp*math.Sin(2*math.Pi*float64(t)/period) + noise*rng.NormFloat64()
	}
	return Series{Start: testStart, Step: step, Values: v}
}

// checkForecast asserts the contract's invariants.
func checkForecast(t *testing.T, f Forecast, h int) {
	t.Helper()
	if len(f.Point) != h || len(f.Lower) != h || len(f.Upper) != h {
		t.Fatalf("forecast lengths %d/%d/%d, want %d", len(f.Point), len(f.Lower), len(f.Upper), h)
	}
	for k := range h {
		p, lo, hi := f.Point[k], f.Lower[k], f.Upper[k]
		for _, v := range []float64{p, lo, hi} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("step %d: non-finite forecast %v [%v, %v]", k+1, p, lo, hi)
			}
		}
		if !(lo <= p && p <= hi) {
			t.Fatalf("step %d: want lower ≤ point ≤ upper, got %v ≤ %v ≤ %v", k+1, lo, p, hi)
		}
	}
}

func TestSeasonalNaivePoints(t *testing.T) {
	v := make([]float64, 48)
	for i := range v {
		v[i] = float64(i)
	}
	v[47] = math.NaN() // phase 23 keeps the previous day's value, 23
	s := Series{Start: testStart, Step: time.Hour, Values: v}
	p, err := seasonalNaive{}.Fit(s, Spec{Horizon: 26})
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 26)
	for k := range want {
		want[k] = float64(24 + k%24)
	}
	want[23] = 23
	if diff := cmp.Diff(want, f.Point); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
	if !f.Origin.Equal(s.End()) || f.Model != NameSeasonalNaive {
		t.Errorf("origin %v model %q", f.Origin, f.Model)
	}

	// Weekly variant on 5-minute steps needs a week.
	if _, err := (seasonalNaive{weekly: true}).Fit(Series{Start: testStart, Step: 5 * time.Minute, Values: make([]float64, 2015)}, Spec{Horizon: 1}); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("weekly fit on less than a week: err = %v, want ErrNotEnoughData", err)
	}
}

func TestSeasonalNaiveNonDividingStepIsNaive(t *testing.T) {
	s := Series{Start: testStart, Step: 7 * time.Hour, Values: []float64{1, 5, 3}}
	p, err := seasonalNaive{}.Fit(s, Spec{Horizon: 3})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := p.Predict(s)
	if diff := cmp.Diff([]float64{3, 3, 3}, f.Point); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
}

// TestIncrementalMatchesFull checks that predicting on a history extended
// sample by sample gives the same forecasts as recomputing from scratch.
func TestIncrementalMatchesFull(t *testing.T) {
	s := synth(1, 24*10, time.Hour, 100, 0.1, 20, 3)
	s.Values[200] = math.NaN()
	models := []Model{seasonalNaive{}, seasonalNaive{weekly: true}, holtWinters{}, naive2{},
		NewHoltWinters(HoltWintersOptions{}), NewSeasonalNaive(SeasonalNaiveOptions{})}
	for _, m := range models {
		t.Run(fmt.Sprintf("%s/%T", m.Name(), m), func(t *testing.T) {
			n0 := 24 * 8
			p, err := m.Fit(s.Slice(0, n0), Spec{Horizon: 30, Level: 0.9})
			if err != nil {
				t.Fatal(err)
			}
			for n := n0; n <= s.Len(); n += 7 {
				inc, err := p.Predict(s.Slice(0, n))
				if err != nil {
					t.Fatal(err)
				}
				// A clone with a forgotten cursor recomputes everything.
				fresh := p.(interface{ clone() Predictor }).clone()
				invalidate(fresh)
				full, err := fresh.Predict(s.Slice(0, n))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(full, inc); diff != "" {
					t.Fatalf("n=%d: incremental differs from full recompute (-full +inc):\n%s", n, diff)
				}
			}
		})
	}
}

// invalidate forgets what a predictor consumed.
func invalidate(p Predictor) {
	switch p := p.(type) {
	case *seasonalNaivePredictor:
		p.cur = cursor{}
	case *hwPredictor:
		p.cur = cursor{}
	case *naive2Predictor:
		p.cur = cursor{}
	case *conformalPredictor:
		p.cur = cursor{}
		invalidate(p.inner)
	}
}

func TestCursor(t *testing.T) {
	s := Series{Start: testStart, Step: time.Minute, Values: []float64{1, 2, 3, math.NaN()}}
	var c cursor
	if got := c.next(s); got != -1 {
		t.Errorf("unset cursor: next = %d, want -1", got)
	}
	c.mark(s.Slice(0, 2))
	tests := []struct {
		name string
		s    Series
		want int
	}{
		{"extended", s, 2},
		{"same", s.Slice(0, 2), 2},
		{"trimmed start", s.Slice(1, 4), 1},
		{"value changed", Series{Start: testStart, Step: time.Minute, Values: []float64{1, 9, 3}}, -1},
		{"other step", Series{Start: testStart, Step: time.Second, Values: []float64{1, 2, 3}}, -1},
		{"starts after", s.Slice(2, 4), -1},
		{"misaligned", Series{Start: testStart.Add(time.Second), Step: time.Minute, Values: []float64{1, 2, 3}}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.next(tc.s); got != tc.want {
				t.Errorf("next = %d, want %d", got, tc.want)
			}
		})
	}
	c.mark(s) // last value NaN matches NaN
	if got := c.next(s); got != 4 {
		t.Errorf("NaN last value: next = %d, want 4", got)
	}
}

func TestNaive2(t *testing.T) {
	seasonal := synth(3, 24*6, time.Hour, 100, 0, 40, 2)
	if !seasonalityTest(seasonal.Values, 24) {
		t.Error("seasonality test rejects a strong daily sine")
	}
	noise := synth(3, 24*6, time.Hour, 100, 0, 0, 2)
	if seasonalityTest(noise.Values, 24) {
		t.Error("seasonality test accepts white noise")
	}
	if seasonalityTest(seasonal.Values[:24*3-1], 24) {
		t.Error("seasonality test with fewer than 3 seasons")
	}
	si := seasonalIndices(seasonal.Values, 24)
	var mean float64
	for _, x := range si {
		mean += x
	}
	if mean /= 24; math.Abs(mean-1) > 1e-12 {
		t.Errorf("indices mean %v, want 1", mean)
	}
	if si[6] < 1.2 || si[18] > 0.8 { // peak at phase 6, trough at 18
		t.Errorf("indices at peak %v and trough %v", si[6], si[18])
	}
	p, err := naive2{}.Fit(seasonal, Spec{Horizon: 24})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := p.Predict(seasonal)
	last := seasonal.Values[seasonal.Len()-1] / si[(seasonal.Len()-1)%24]
	for k, v := range f.Point {
		if want := last * si[(seasonal.Len()+k)%24]; math.Abs(v-want) > 1e-9 {
			t.Fatalf("step %d: %v, want %v", k+1, v, want)
		}
	}
	// A trimmed window keeps the phase of the indices.
	trimmed := seasonal.Slice(5, seasonal.Len())
	p2 := p.(*naive2Predictor)
	p2.cur = cursor{}
	f2, _ := p2.Predict(trimmed)
	if diff := cmp.Diff(f.Point, f2.Point); diff != "" {
		t.Errorf("trimmed window changes the forecast (-want +got):\n%s", diff)
	}
}

// TestBaselineProperties checks the forecast contract for every baseline
// on awkward series: lengths, finite values, lower ≤ point ≤ upper,
// non-negative bounds for non-negative series, determinism.
func TestBaselineProperties(t *testing.T) {
	models := []Model{
		NewSeasonalNaive(SeasonalNaiveOptions{}),
		NewSeasonalNaive(SeasonalNaiveOptions{Weekly: true}),
		NewHoltWinters(HoltWintersOptions{}),
		NewNaive2(Naive2Options{}),
		NewLastValue(LastValueOptions{}),
		NewAuto([]Model{NewSeasonalNaive(SeasonalNaiveOptions{}), NewHoltWinters(HoltWintersOptions{})}, SelectOptions{}),
	}
	n := 24 * 9
	rng := rand.New(rand.NewPCG(5, 5))
	gen := map[string]func(i int) float64{
		"sine":     func(i int) float64 { return 100 + 30*math.Sin(float64(i)/4) + rng.NormFloat64() },
		"constant": func(int) float64 { return 7 },
		"zeros":    func(int) float64 { return 0 },
		"negative": func(i int) float64 { return -50 + 10*math.Sin(float64(i)/4) + rng.NormFloat64() },
		"spiky counts": func(int) float64 {
			if rng.IntN(20) == 0 {
				return float64(rng.IntN(1000))
			}
			return float64(rng.IntN(3))
		},
		"with gaps": func(i int) float64 {
			if i%11 == 0 || (i > 100 && i < 130) {
				return math.NaN()
			}
			return 10 + float64(i%24)
		},
	}
	for name, g := range gen {
		v := make([]float64, n)
		for i := range v {
			v[i] = g(i)
		}
		s := Series{Start: testStart, Step: time.Hour, Values: v}
		nonNeg := minValue(v) >= 0
		for _, m := range models {
			t.Run(name+"/"+m.Name(), func(t *testing.T) {
				spec := Spec{Horizon: 30, Level: 0.8}
				var fs []Forecast
				for range 2 {
					p, err := m.Fit(s, spec)
					if errors.Is(err, ErrNotEnoughData) {
						t.Skip(err)
					}
					if err != nil {
						t.Fatal(err)
					}
					f, err := p.Predict(s)
					if err != nil {
						t.Fatal(err)
					}
					checkForecast(t, f, spec.Horizon)
					if nonNeg && slicesMin(f.Lower) < 0 {
						t.Errorf("negative lower bound %v on a non-negative series", slicesMin(f.Lower))
					}
					fs = append(fs, f)
				}
				if diff := cmp.Diff(fs[0], fs[1]); diff != "" {
					t.Errorf("two fits differ:\n%s", diff)
				}
			})
		}
	}
}

func slicesMin(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}
