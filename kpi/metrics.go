package kpi

import (
	"github.com/shadowcast/shadowcast/internal/promreg"

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
		queries: promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_kpi_queries_total",
			Help: "KPI query evaluations, by kpi and result (success, error).",
		}, []string{"kpi", "result"})),
		duration: promreg.Shared(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shadowcast_kpi_query_duration_seconds",
			Help:    "Latency of KPI instant queries.",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 9),
		}, []string{"kpi"})),
		truncated: promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_kpi_series_dropped_total",
			Help: "Result series of KPI queries dropped beyond the KPI's max_series.",
		}, []string{"kpi"})),
	}
}
