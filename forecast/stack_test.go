package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func stackSeries(n, switchAt int, seed uint64) Series {
	rng := rand.New(rand.NewPCG(seed, 9))
	s := Series{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Hour, Values: make([]float64, n)}
	for i := range s.Values {
		if i < switchAt {
			s.Values[i] = 100 + 40*math.Sin(2*math.Pi*float64(i)/24) + 0.5*rng.NormFloat64()
		} else {
			s.Values[i] = 70 + 0.5*rng.NormFloat64() // flat: last value wins
		}
	}
	return s
}

func newTestStack() Model {
	return NewStack(StackOptions{HalfLife: 6, Members: []Model{
		NewSeasonalNaive(SeasonalNaiveOptions{}),
		NewLastValue(LastValueOptions{}),
	}})
}

func TestStackWeightsFollowAccuracy(t *testing.T) {
	const n, switchAt = 24 * 20, 24 * 14
	s := stackSeries(n, switchAt, 1)
	spec := Spec{Horizon: 3, Level: 0.9}
	p, err := newTestStack().Fit(s.Slice(0, 24*10), spec)
	if err != nil {
		t.Fatal(err)
	}
	sp := p.(*stackPredictor)
	if w := sp.Weights(1); w[0] < 0.95 {
		t.Errorf("weights after fit on a daily sine: %s, want seasonal_naive ≥ 0.95", sp.Describe(1))
	}
	// Serve through the switch to a flat series.
	var before, after float64
	for o := 24 * 10; o <= n; o++ {
		f, err := p.Predict(s.Slice(0, o))
		if err != nil {
			t.Fatal(err)
		}
		switch o {
		case switchAt:
			before = sp.Weights(3)[0]
		case switchAt + 24:
			after = sp.Weights(3)[0]
		}
		if o+3 < n && o > switchAt+24*3 {
			if e := math.Abs(f.Point[2] - s.Values[o+2]); e > 5 {
				t.Fatalf("origin %d, 3 steps ahead: error %.1f three days after the switch (%s)", o, e, sp.Describe(3))
			}
		}
	}
	t.Logf("seasonal_naive weight at 3 steps: %.3f before the switch, %.3f a day after", before, after)
	if before < 0.95 || after > 0.05 {
		t.Errorf("seasonal_naive weight %.3f before, %.3f a day after the switch; want ≥ 0.95 then ≤ 0.05", before, after)
	}
}

func TestStackDeterministicAndErrors(t *testing.T) {
	s := stackSeries(24*12, 1<<30, 2)
	spec := Spec{Horizon: 4, Level: 0.9}
	var pts [2][]float64
	for i := range pts {
		p, err := newTestStack().Fit(s, spec)
		if err != nil {
			t.Fatal(err)
		}
		f, err := p.Predict(s)
		if err != nil {
			t.Fatal(err)
		}
		pts[i] = f.Point
		for k := range f.Point {
			if !(f.Lower[k] <= f.Point[k] && f.Point[k] <= f.Upper[k]) {
				t.Errorf("step %d: point %v outside [%v, %v]", k+1, f.Point[k], f.Lower[k], f.Upper[k])
			}
		}
	}
	for k := range pts[0] {
		if pts[0][k] != pts[1][k] {
			t.Fatalf("step %d: %v then %v from identical fits", k+1, pts[0][k], pts[1][k])
		}
	}
	if _, err := newTestStack().Fit(s.Slice(0, 30), spec); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("30 samples: err %v, want ErrNotEnoughData", err)
	}
	if _, err := NewStack(StackOptions{}).Fit(s, spec); err == nil {
		t.Error("no members: no error")
	}
	want := max(MinHistory(NewSeasonalNaive(SeasonalNaiveOptions{}), time.Hour), MinHistory(NewLastValue(LastValueOptions{}), time.Hour)) + MinCalibrationErrors
	if got := MinHistory(newTestStack(), time.Hour); got != want {
		t.Errorf("MinHistory %d, want %d", got, want)
	}
}

// BenchmarkStackPredict measures one forecast of all 48 steps of the
// backtest's stack (Holt-Winters + GBM) on 30 days of hourly data, the
// history growing by one sample per call as in serving.
func BenchmarkStackPredict(b *testing.B) {
	s := stackSeries(24*31, 1<<30, 5)
	m := NewStack(StackOptions{Members: []Model{NewHoltWinters(HoltWintersOptions{}), NewGBM(GBMForecastOptions{})}})
	n := 24 * 30
	p, err := m.Fit(s.Slice(0, n), Spec{Horizon: 48, Level: 0.9, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := p.Predict(s.Slice(i%24, n+i%24)); err != nil {
			b.Fatal(err)
		}
	}
}
