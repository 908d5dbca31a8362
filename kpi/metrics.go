package kpi

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are shared by every Collector on a registry.
type metrics struct {
	queries   *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	truncated *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		queries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_kpi_queries_total",
			Help: "KPI query evaluations, by kpi and result (success, error).",
		}, []string{"kpi", "result"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shadowcast_kpi_query_duration_seconds",
			Help:    "Latency of KPI instant queries.",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 9),
		}, []string{"kpi"})),
		truncated: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_kpi_series_dropped_total",
			Help: "Result series of KPI queries dropped beyond the KPI's max_series.",
		}, []string{"kpi"})),
	}
}

// register registers c on reg, or returns the collector already there.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic(err) // a conflicting definition of one of our own metrics is a programming error
	}
	return c
}
