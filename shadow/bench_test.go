package shadow

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"runtime"
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
