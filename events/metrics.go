package events

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Results of source loads, the `result` label of
// shadowcast_events_source_loads_total.
const (
	resultSuccess = "success"
	resultError   = "error"
)

// Results of API requests, the `result` label of
// shadowcast_events_api_requests_total.
const (
	apiListed       = "listed"
	apiCreated      = "created"
	apiDeleted      = "deleted"
	apiInvalid      = "invalid"
	apiNotFound     = "not_found"
	apiConflict     = "conflict"
	apiUnauthorized = "unauthorized"
	apiTooLarge     = "too_large"
	apiReadOnly     = "read_only"
	apiError        = "error"
)

type metrics struct {
	events      *prometheus.GaugeVec
	overLimit   prometheus.Gauge
	loads       *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	api         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		events: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_events",
			Help: "Events served to the forecasting engine, by source kind (api, ical, promql).",
		}, []string{"source"}),
		overLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "shadowcast_events_over_limit",
			Help: "Events ignored because the registry holds more than its maximum (the oldest are dropped first).",
		}),
		loads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_events_source_loads_total",
			Help: "Loads of iCal files and PromQL event queries, by source kind and result (success, error). A failed load keeps the previous events.",
		}, []string{"source", "result"}),
		lastSuccess: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_events_source_last_success_timestamp_seconds",
			Help: "When a source of this kind last loaded successfully.",
		}, []string{"source"}),
		api: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_events_api_requests_total",
			Help: "Requests to /api/v1/events, by method and result (listed, created, deleted, invalid, not_found, conflict, unauthorized, too_large, read_only, error).",
		}, []string{"method", "result"}),
	}
	for _, s := range []string{SourceAPI, SourceICal, SourcePromQL} {
		m.events.WithLabelValues(s)
		if s != SourceAPI {
			m.loads.WithLabelValues(s, resultSuccess)
			m.loads.WithLabelValues(s, resultError)
		}
	}
	return m
}
