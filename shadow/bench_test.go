package shadow

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/shadowcast/shadowcast/collector"
	"github.com/shadowcast/shadowcast/forecast"
)

// benchEngine returns an engine whose shadow has n instances with a
// published forecast for 3 horizons, without training anything.
func benchEngine(b *testing.B, n int) (*Engine, *prometheus.Registry) {
	b.Helper()
	reg := prometheus.NewRegistry()
	src := &fakeSource{now: t0, values: daily}
	e, err := New(Options{Models: testModels{}, MaxInstances: 20000, Shadows: []ShadowOptions{{
		Name: "requests", Source: src, Step: time.Minute, History: 7 * 24 * time.Hour,
		Horizons: []time.Duration{5 * time.Minute, 15 * time.Minute, 30 * time.Minute}, Confidence: 0.9, Model: "auto",
	}}}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	s := e.get("requests")
	fc := forecast.Forecast{Origin: t0, Step: time.Minute, Point: make([]float64, 30), Lower: make([]float64, 30), Upper: make([]float64, 30)}
	for k := range fc.Point {
		fc.Point[k], fc.Lower[k], fc.Upper[k] = 100+float64(k), 90, 120+float64(k)
	}
	for i := range n {
		inst := s.instanceFor(labels.FromStrings("service", fmt.Sprintf("svc-%05d", i), "region", "eu"), e)
		inst.publish(&published{fc: fc, horizons: s.opts.Horizons, actual: 99, model: "holt_winters", reason: ReasonSelected,
			trainedAt: t0, updated: t0, confidence: 0.9})
	}
	return e, reg
}

// BenchmarkExposition measures the shadow part of one scrape of /metrics
// with 10,000 shadow instances × 3 horizons: the text fast path (what
// /metrics serves), gzipped as Prometheus asks for it, and the
// client_golang registry path for comparison.
func BenchmarkExposition(b *testing.B) {
	e, reg := benchEngine(b, 10000)
	c := NewCollector(e, nil)
	b.Run("text", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := c.WriteText(&buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len())/1e6, "MB/scrape")
	})
	b.Run("text+gzip", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
			if err := c.WriteText(gz); err != nil {
				b.Fatal(err)
			}
			gz.Close()
		}
		b.ReportMetric(float64(buf.Len())/1e6, "MB/scrape")
	})
	b.Run("registry", func(b *testing.B) {
		reg.MustRegister(c)
		h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		}
	})
}

// BenchmarkEngineStep measures one step (read one new sample per instance,
// clean the history window, predict every horizon, publish, score) for
// instances served by a fitted seasonal naive model with one week of
// one-minute history.
func BenchmarkEngineStep(b *testing.B) {
	for _, n := range []int{1000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			sets := make([]labels.Labels, n)
			for i := range sets {
				sets[i] = labels.FromStrings("service", fmt.Sprintf("svc-%05d", i))
			}
			src := &fakeSource{now: t0.Add(7 * 24 * time.Hour), sets: sets, values: func(i int, t time.Time) float64 { return daily(i%7, t) }}
			e, err := New(Options{Models: testModels{}, Shadows: []ShadowOptions{{
				Name: "requests", Source: src, Step: time.Minute, History: 7 * 24 * time.Hour,
				Horizons: []time.Duration{5 * time.Minute, 15 * time.Minute, 30 * time.Minute}, Confidence: 0.9,
				Model: "seasonal_naive", RetrainInterval: 1000 * time.Hour, Clean: collector.CleanOptions{MaxGap: 5 * time.Minute, OutlierMADs: 10},
			}}}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := e.Step(ctx, "requests"); err != nil {
				b.Fatal(err)
			}
			e.WaitTraining()
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heap := float64(ms.HeapAlloc) / float64(n)
			for b.Loop() {
				src.advance(time.Minute)
				if err := e.Step(ctx, "requests"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(heap, "heap-bytes/instance")
			e.WaitTraining()
		})
	}
}

// cpuSeconds is the CPU time of the process (user + system): on a shared
// machine wall time overstates the cost.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// retrainSeries is 7 days and 6 hours of 1-minute request rates: a daily
// and a weekly cycle, bursts, Poisson-like noise.
func retrainSeries() forecast.Series {
	rng := rand.New(rand.NewPCG(4, 4))
	n := 7*1440 + 360
	v := make([]float64, n)
	for i := range v {
		day := 2 * math.Pi * float64(i%1440) / 1440
		week := 2 * math.Pi * float64(i%(7*1440)) / (7 * 1440)
		lvl := 300 + 180*math.Sin(day-math.Pi/2) + 60*math.Sin(3*day) + 50*math.Sin(week)
		if rng.IntN(2000) == 0 {
			lvl *= 2
		}
		v[i] = math.Max(0, lvl+math.Sqrt(math.Max(lvl, 1))*rng.NormFloat64())
	}
	return forecast.Series{Start: t0, Step: time.Minute, Values: v}
}

// gatedHybrid is what cmd/shadowcast builds for model: hybrid — the
// baselines first, the hybrid serving only when it beats them by 5 %.
func gatedHybrid(minImprovement float64) forecast.Model {
	return forecast.NewAuto([]forecast.Model{
		forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}),
		forecast.NewHoltWinters(forecast.HoltWintersOptions{}),
		forecast.NewHybrid(forecast.HybridOptions{}),
	}, forecast.SelectOptions{MinImprovement: minImprovement})
}

// BenchmarkRetrain measures the CPU cost of retraining one series of 7
// days of 1-minute data with horizons up to 1 h (60 steps) and the
// engine's default learned-model options, as the engine does it every
// retrain_interval (6 h by default): a full fit of the gated hybrid
// (model selection by backtest included; when the hybrid wins, the
// selection's fit is warm-started onto the whole window, forecast.WarmFitter),
// a full fit of the hybrid alone, and a warm start (HybridPredictor.Refit
// with the default budget, what cmd/shadowcast's WarmStart does) of the
// hybrid fitted on the window 6 h earlier. "1,000 series per hour of one
// core" is 3.6 cpu-s/retrain; with full_retrain_every = 8 the average is
// (full + 7 warm) / 8. predict_hybrid is the serving cost of one forecast
// of all 60 steps. Run with GOMAXPROCS=1.
func BenchmarkRetrain(b *testing.B) {
	s := retrainSeries()
	const shift = 360 // 6 h
	prevWin, win := s.Slice(0, s.Len()-shift), s.Slice(shift, s.Len())
	spec := forecast.Spec{Horizon: 60, Level: 0.9, Seed: 1}
	run := func(b *testing.B, fit func() (forecast.Predictor, error)) {
		c0 := cpuSeconds(b)
		var p forecast.Predictor
		for b.Loop() {
			var err error
			if p, err = fit(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric((cpuSeconds(b)-c0)/float64(b.N), "cpu-s/retrain")
		if f, err := p.Predict(win); err == nil {
			b.Logf("serving %s", f.Model)
		}
	}
	b.Run("full_gated_hybrid", func(b *testing.B) {
		run(b, func() (forecast.Predictor, error) { return gatedHybrid(0.05).Fit(win, spec) })
	})
	b.Run("full_gated_hybrid_won", func(b *testing.B) {
		// The same selection when the hybrid wins (forced here by a
		// negative margin): its selection fit plus the warm start of that
		// fit onto the whole window.
		run(b, func() (forecast.Predictor, error) { return gatedHybrid(-10).Fit(win, spec) })
	})
	b.Run("full_hybrid", func(b *testing.B) {
		run(b, func() (forecast.Predictor, error) { return forecast.NewHybrid(forecast.HybridOptions{}).Fit(win, spec) })
	})
	b.Run("warm_hybrid", func(b *testing.B) {
		prev, err := forecast.NewHybrid(forecast.HybridOptions{}).Fit(prevWin, spec)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		run(b, func() (forecast.Predictor, error) {
			return prev.(*forecast.HybridPredictor).Refit(win, spec, forecast.HybridRefitOptions{})
		})
	})
	b.Run("copy_hybrid", func(b *testing.B) {
		// What the engine does under the instance's forecast lock before a
		// warm start: encode the serving model (Predict waits this long).
		prev, err := forecast.NewHybrid(forecast.HybridOptions{LSTM: forecast.LSTMOptions{Residual: true, Steps: 1}}).Fit(prevWin, spec)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := prev.(*forecast.HybridPredictor).MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("predict_hybrid", func(b *testing.B) {
		// Serving: one forecast of all 60 steps (LSTM, residual trees,
		// intervals) on the 7-day window. The cost does not depend on how
		// well the LSTM is trained, so it is trained for one step here.
		p, err := forecast.NewHybrid(forecast.HybridOptions{LSTM: forecast.LSTMOptions{Residual: true, Steps: 1}}).Fit(prevWin, spec)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := p.Predict(win); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("full_gbm", func(b *testing.B) {
		run(b, func() (forecast.Predictor, error) {
			return forecast.NewGBM(forecast.GBMForecastOptions{}).Fit(win, spec)
		})
	})
	b.Run("full_auto", func(b *testing.B) {
		run(b, func() (forecast.Predictor, error) {
			return forecast.NewAuto([]forecast.Model{
				forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}),
				forecast.NewHoltWinters(forecast.HoltWintersOptions{}),
			}, forecast.SelectOptions{MinImprovement: 0.05}).Fit(win, spec)
		})
	})
}
