package forecast

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// benchSeries returns n samples of a noisy daily pattern at the given step.
func benchSeries(seed uint64, n int, step time.Duration) []float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	day := float64(StepsPerDay(step))
	v := make([]float64, n, n+4096)
	for t := range v {
		v[t] = benchSample(rng, t, day)
	}
	return v
}

func benchSample(rng *rand.Rand, t int, day float64) float64 {
	return 500 + 200*math.Sin(2*math.Pi*float64(t)/day) + 20*rng.NormFloat64()
}

// BenchmarkPredictStep10k measures one serving step for 10,000 series at a
// 1-minute step: each series gets one new sample (its 3-day sliding window
// moves by one) and a 30-step forecast with bounds. One op = 10,000
// predictions. Predictors are fitted on 100 distinct series and cloned, so
// each of the 10,000 has its own state; B/series is the heap held by one
// predictor.
func BenchmarkPredictStep10k(b *testing.B) {
	const (
		nSeries = 10000
		nBase   = 100
		window  = 3 * 1440
	)
	models := []Model{NewSeasonalNaive(SeasonalNaiveOptions{}), NewHoltWinters(HoltWintersOptions{})}
	for _, m := range models {
		b.Run(m.Name(), func(b *testing.B) {
			spec := Spec{Horizon: 30, Level: 0.9}
			base := make([][]float64, nBase)
			rngs := make([]*rand.Rand, nBase)
			fitted := make([]Predictor, nBase)
			for i := range base {
				base[i] = benchSeries(uint64(i), window, time.Minute)
				rngs[i] = rand.New(rand.NewPCG(uint64(i), 4))
				p, err := m.Fit(Series{Start: testStart, Step: time.Minute, Values: base[i]}, spec)
				if err != nil {
					b.Fatal(err)
				}
				fitted[i] = p
			}
			series := func(i int) Series {
				v := base[i%nBase]
				lo := len(v) - window
				return Series{Start: testStart.Add(time.Duration(lo) * time.Minute), Step: time.Minute, Values: v[lo:]}
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			ps := make([]Predictor, nSeries)
			for i := range ps {
				ps[i] = fitted[i%nBase].(interface{ clone() Predictor }).clone()
				if _, err := ps[i].Predict(series(i)); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perSeries := float64(after.HeapAlloc-before.HeapAlloc) / nSeries
			t := window
			for b.Loop() {
				for i := range base {
					base[i] = append(base[i], benchSample(rngs[i], t, 1440))
				}
				t++
				for i, p := range ps {
					if _, err := p.Predict(series(i)); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(perSeries, "B/series")
			runtime.KeepAlive(ps)
		})
	}
}

// BenchmarkFitHoltWinters7d1m fits Holt-Winters (parameters, season choice
// and conformal calibration) on 7 days of 1-minute data for a 30-step
// horizon.
func BenchmarkFitHoltWinters7d1m(b *testing.B) {
	s := Series{Start: testStart, Step: time.Minute, Values: benchSeries(1, 7*1440, time.Minute)}
	m := NewHoltWinters(HoltWintersOptions{})
	spec := Spec{Horizon: 30, Level: 0.9}
	for b.Loop() {
		if _, err := m.Fit(s, spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFitSeasonalNaive7d1m is the same for the seasonal naive.
func BenchmarkFitSeasonalNaive7d1m(b *testing.B) {
	s := Series{Start: testStart, Step: time.Minute, Values: benchSeries(1, 7*1440, time.Minute)}
	m := NewSeasonalNaive(SeasonalNaiveOptions{})
	spec := Spec{Horizon: 30, Level: 0.9}
	for b.Loop() {
		if _, err := m.Fit(s, spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredictStepColdStart10k is BenchmarkPredictStep10k for the
// cold-start model on 12 hours of 1-minute history.
func BenchmarkPredictStepColdStart10k(b *testing.B) {
	const (
		nSeries = 10000
		nBase   = 100
	)
	spec := Spec{Horizon: 30, Level: 0.9}
	base := make([][]float64, nBase)
	rngs := make([]*rand.Rand, nBase)
	for i := range base {
		base[i] = benchSeries(uint64(i), 720, time.Minute)
		rngs[i] = rand.New(rand.NewPCG(uint64(i), 4))
	}
	series := func(i int) Series {
		return Series{Start: testStart, Step: time.Minute, Values: base[i%nBase]}
	}
	ps := make([]Predictor, nSeries)
	for i := range ps {
		p, err := NewLastValue(LastValueOptions{}).Fit(series(i), spec)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Predict(series(i)); err != nil {
			b.Fatal(err)
		}
		ps[i] = p
	}
	t := 720
	for b.Loop() {
		for i := range base {
			base[i] = append(base[i], benchSample(rngs[i], t, 1440))
		}
		t++
		for i, p := range ps {
			if _, err := p.Predict(series(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
}
