package remotewrite

import (
	"errors"

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
		samples: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_remote_write_samples_total",
			Help: "Samples handled by remote write, by remote and result (sent, failed: rejected or out of retries, dropped: evicted from a full queue).",
		}, []string{"remote", "result"})),
		retries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_remote_write_retries_total",
			Help: "Remote-write requests retried after a network error, HTTP 5xx or 429.",
		}, []string{"remote"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shadowcast_remote_write_request_duration_seconds",
			Help:    "Duration of remote-write HTTP requests (each attempt).",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 9),
		}, []string{"remote"})),
		pending: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_remote_write_pending_samples",
			Help: "Samples queued for remote write and not yet sent.",
		}, []string{"remote"})),
		lastSuccess: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_remote_write_last_success_timestamp_seconds",
			Help: "Unix time of the last successful remote-write request.",
		}, []string{"remote"})),
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
