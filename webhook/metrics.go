package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	notifications    *prometheus.CounterVec
	alerts           *prometheus.CounterVec
	actions          *prometheus.CounterVec
	conflicts        *prometheus.CounterVec
	actuatorDuration *prometheus.HistogramVec
	current          *prometheus.GaugeVec
	desired          *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, queueLen func() float64) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		notifications: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_webhook_notifications_total",
			Help: "Alertmanager notifications received, by notification status and result (accepted, duplicate, rejected, unauthorized, too_large, busy).",
		}, []string{"status", "result"}),
		alerts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_webhook_alerts_total",
			Help: "Alerts in accepted notifications, by result (queued, coalesced, duplicate, resolved, unlabelled).",
		}, []string{"result"}),
		actions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_actions_total",
			Help: "Scaling decisions by resource, action (scale_up, scale_down, hold, none) and result (success, dry_run, no_change, deferred, conflict, error, skipped).",
		}, []string{"resource", "action", "result"}),
		conflicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_action_conflicts_total",
			Help: "Writes refused because the target changed since it was read; each is re-read and re-decided.",
		}, []string{"resource"}),
		actuatorDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shadowcast_actuator_duration_seconds",
			Help:    "Latency of actuator calls, by operation (read, write).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"operation"}),
		current: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_resource_current_units",
			Help: "Units of a resource pool as last read from its actuator.",
		}, []string{"resource", "pool"}),
		desired: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_resource_desired_units",
			Help: "Units of a resource pool the last decision asked for.",
		}, []string{"resource", "pool"}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shadowcast_webhook_queue_length",
		Help: "Resources waiting for evaluation.",
	}, queueLen)
	return m
}

// forget deletes the series of a resource removed by a reload.
func (m *metrics) forget(resource string) {
	l := prometheus.Labels{"resource": resource}
	m.actions.DeletePartialMatch(l)
	m.conflicts.DeletePartialMatch(l)
	m.current.DeletePartialMatch(l)
	m.desired.DeletePartialMatch(l)
}
