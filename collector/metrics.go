package collector

import (
	"github.com/shadowcast/shadowcast/internal/promreg"

	"github.com/prometheus/client_golang/prometheus"
)

// queryMetrics are shared by every Prometheus source on a registry.
type queryMetrics struct {
	queries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newQueryMetrics(reg prometheus.Registerer) *queryMetrics {
	return &queryMetrics{
		queries: promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_collector_queries_total",
			Help: "Range queries sent to Prometheus (one per chunk and attempt), by shadow and result.",
		}, []string{"shadow", "result"})),
		duration: promreg.Shared(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shadowcast_collector_query_duration_seconds",
			Help:    "Latency of range queries sent to Prometheus.",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 9),
		}, []string{"shadow"})),
	}
}

// scrapeMetrics are shared by every scrape source on a registry.
type scrapeMetrics struct {
	scrapes  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	resets   *prometheus.CounterVec
}

func newScrapeMetrics(reg prometheus.Registerer) *scrapeMetrics {
	return &scrapeMetrics{
		scrapes: promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_scrape_requests_total",
			Help: "Scrapes of /metrics targets, by shadow and result.",
		}, []string{"shadow", "result"})),
		duration: promreg.Shared(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shadowcast_scrape_duration_seconds",
			Help:    "Duration of scrapes of /metrics targets, including parsing.",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 8),
		}, []string{"shadow"})),
		resets: promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_scrape_counter_resets_total",
			Help: "Counter resets seen between consecutive scrapes (the rate restarts from 0).",
		}, []string{"shadow"})),
	}
}

// replayMetrics are shared by every file source on a registry.
type replayMetrics struct {
	cursor *prometheus.GaugeVec
}

func newReplayMetrics(reg prometheus.Registerer) *replayMetrics {
	return &replayMetrics{
		cursor: promreg.Shared(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_collector_replay_cursor_timestamp_seconds",
			Help: "Trace time reached by a file replay (the source's clock), in unix seconds.",
		}, []string{"shadow"})),
	}
}
