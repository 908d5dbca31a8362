package shadow

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	sourceErrors    *prometheus.CounterVec
	storeErrors     *prometheus.CounterVec
	trainings       *prometheus.CounterVec
	trainDuration   *prometheus.HistogramVec
	predictDuration prometheus.Histogram
	restores        *prometheus.CounterVec
	saveErrors      prometheus.Counter
	// shadowcast_trainings_total counts every training, warm or full;
	// shadowcast_training_duration_seconds times the full fits only.
	warmStarts   *prometheus.CounterVec
	warmDuration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		sourceErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_source_errors_total",
			Help: "Failed reads of a shadow's source; the last good forecasts keep being served.",
		}, []string{"shadow"}),
		storeErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_store_errors_total",
			Help: "Failed appends of raw history to the on-disk store.",
		}, []string{"shadow"}),
		trainings: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_trainings_total",
			Help: "Model trainings per shadow, by result (success or error).",
		}, []string{"shadow", "result"}),
		trainDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shadowcast_training_duration_seconds",
			Help:    "Time to train (select and fit) one model for one shadow instance.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"model"}),
		predictDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "shadowcast_prediction_duration_seconds",
			Help:    "Time to predict every horizon of one shadow instance.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10),
		}),
		restores: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_model_restores_total",
			Help: "Persisted models read at start, by result (success, corrupt, stale, error); all but success retrain.",
		}, []string{"result"}),
		saveErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "shadowcast_model_save_errors_total",
			Help: "Trained models that could not be persisted.",
		}),
		warmStarts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_warm_starts_total",
			Help: "Scheduled retrainings that warm-started from the serving model, by result (success, or error: a full fit followed).",
		}, []string{"shadow", "result"}),
		warmDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "shadowcast_warm_start_duration_seconds",
			Help:    "Time to warm-start one model for one shadow instance (full fits: shadowcast_training_duration_seconds).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
	}
}
