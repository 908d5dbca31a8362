package remotewrite

import (
	"github.com/shadowcast/shadowcast/internal/promreg"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are shared by every Writer on a registry.
type metrics struct {
	samples     *prometheus.CounterVec
	retries     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	pending     *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		samples: promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_remote_write_samples_total",
			Help: "Samples handled by remote write, by remote and result (sent, failed: rejected or out of retries, dropped: evicted from a full queue).",
		}, []string{"remote", "result"})),
		retries: promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_remote_write_retries_total",
			Help: "Remote-write requests retried after a network error, HTTP 5xx or 429.",
		}, []string{"remote"})),
		duration: promreg.Shared(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shadowcast_remote_write_request_duration_seconds",
			Help:    "Duration of remote-write HTTP requests (each attempt).",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 9),
		}, []string{"remote"})),
		pending: promreg.Shared(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_remote_write_pending_samples",
			Help: "Samples queued for remote write and not yet sent.",
		}, []string{"remote"})),
		lastSuccess: promreg.Shared(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_remote_write_last_success_timestamp_seconds",
			Help: "Unix time of the last successful remote-write request.",
		}, []string{"remote"})),
	}
}
