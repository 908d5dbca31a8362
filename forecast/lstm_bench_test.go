package forecast

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkLSTMTrainStep measures one training step (forward, BPTT, Adam)
// for hidden 32 x sequence 60 x batch 64, the shape LIBRARIES.md timed.
func BenchmarkLSTMTrainStep(b *testing.B) {
	for _, bc := range []struct {
		name string
		d    lstmDims
	}{
		{"H32_T60_B64_dense64", lstmDims{D: 2, H: 32, T: 60, S: 60 + 48, F: 64, K: 48}},
		{"H32_T48_B64_dense64", lstmDims{D: 2, H: 32, T: 48, S: 48 + 48, F: 64, K: 48}},
		{"H16_T24_B64_dense64", lstmDims{D: 2, H: 16, T: 24, S: 168 + 48, F: 64, K: 48}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			net := newLSTMNet(bc.d)
			net.init(rng, false)
			w := tinyBatch(bc.d, 64, rng, true)
			opt := newAdam(len(net.params), 1e-3)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				net.forward(w, 64)
				net.loss(w, 64, lossL1)
				net.backward(w, 64)
				opt.step(net.params, w.grad, 1e-3, 1)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/step")
			// CPU time per step: on a shared machine wall time overstates it.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/step")
		})
	}
}

// minuteSeries is 7 days of 1-minute request rates with a daily cycle.
func minuteSeries(days int) Series {
	rng := rand.New(rand.NewPCG(9, 9))
	n := days * 1440
	v := make([]float64, n)
	for i := range v {
		ph := 2 * math.Pi * float64(i%1440) / 1440
		v[i] = math.Max(0, 200+120*math.Sin(ph)+40*math.Sin(3*ph)+15*rng.NormFloat64())
	}
	return Series{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Minute, Values: v}
}

// BenchmarkLSTMFit7DaysMinutes trains the default LSTM on one series of
// 7 days of 1-minute data, horizon 60 (budget: 5 s on one core).
func BenchmarkLSTMFit7DaysMinutes(b *testing.B) {
	s := minuteSeries(7)
	spec := Spec{Horizon: 60, Level: 0.9, Seed: 1}
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := NewLSTM(LSTMOptions{}).Fit(s, spec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/fit")
}

// BenchmarkLSTMPredict measures Predict for all 60 horizons of one series
// with the default architecture (budget: 200 µs).
func BenchmarkLSTMPredict(b *testing.B) {
	s := minuteSeries(2)
	p, err := NewLSTM(LSTMOptions{Steps: 1}).Fit(s, Spec{Horizon: 60, Level: 0.9, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	benchPredict(b, p, s)
}
