package config

import (
	"fmt"
	"net/url"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// RemoteWrite pushes the shadows to a Prometheus-compatible store (Mimir,
// Thanos Receive, VictoriaMetrics, Prometheus with
// --web.enable-remote-write-receiver) with the Remote-Write 1.0 protocol.
type RemoteWrite struct {
	// Name labels the remote's self-metrics; defaults to its index.
	Name string `yaml:"name,omitempty"`
	// URL of the receiver, e.g. http://mimir:8080/api/v1/push.
	URL string `yaml:"url"`
	// Interval between two snapshots of the exposition.
	Interval model.Duration `yaml:"interval"`
	// Timeout bounds one HTTP request.
	Timeout model.Duration `yaml:"timeout"`
	// Metrics lists the metric names sent; empty means
	// DefaultRemoteWriteMetrics.
	Metrics []string `yaml:"metrics,omitempty"`
	// QueueCapacity is how many requests may wait while the receiver is
	// slow or down; the oldest is dropped beyond it.
	QueueCapacity int `yaml:"queue_capacity"`
	// MaxSamplesPerRequest splits a snapshot into requests of at most this
	// many samples.
	MaxSamplesPerRequest int `yaml:"max_samples_per_request"`
	// MaxRetries is how many times a request is retried after a network
	// error, HTTP 5xx or 429; 0 means the default, negative means never.
	MaxRetries int                        `yaml:"max_retries"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:",inline"`
}

// Remote-write defaults.
var (
	DefaultRemoteWriteInterval             = model.Duration(15 * time.Second)
	DefaultRemoteWriteTimeout              = model.Duration(10 * time.Second)
	DefaultRemoteWriteQueueCapacity        = 100
	DefaultRemoteWriteMaxSamplesPerRequest = 2000
	DefaultRemoteWriteMaxRetries           = 5
	// DefaultRemoteWriteMetrics is the shadow family and the actual value.
	DefaultRemoteWriteMetrics = []string{
		"shadowcast_shadow", "shadowcast_shadow_lower", "shadowcast_shadow_upper",
		"shadowcast_shadow_peak", "shadowcast_shadow_peak_upper", "shadowcast_actual",
	}
)

// MaxRemoteWrites bounds the number of remote_write entries.
const MaxRemoteWrites = 10

// applyRemoteWriteDefaults fills the unset keys of every entry.
func applyRemoteWriteDefaults(rws []RemoteWrite) {
	for i := range rws {
		rw := &rws[i]
		if rw.Name == "" {
			rw.Name = fmt.Sprint(i)
		}
		if rw.Interval == 0 {
			rw.Interval = DefaultRemoteWriteInterval
		}
		if rw.Timeout == 0 {
			rw.Timeout = DefaultRemoteWriteTimeout
		}
		if len(rw.Metrics) == 0 {
			rw.Metrics = append([]string(nil), DefaultRemoteWriteMetrics...)
		}
		if rw.QueueCapacity == 0 {
			rw.QueueCapacity = DefaultRemoteWriteQueueCapacity
		}
		if rw.MaxSamplesPerRequest == 0 {
			rw.MaxSamplesPerRequest = DefaultRemoteWriteMaxSamplesPerRequest
		}
		if rw.MaxRetries == 0 {
			rw.MaxRetries = DefaultRemoteWriteMaxRetries
		}
	}
}

// validateRemoteWrite reports every problem of the remote_write entries.
func validateRemoteWrite(rws []RemoteWrite) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(rws) > MaxRemoteWrites {
		add("remote_write: %d configured, the limit is %d", len(rws), MaxRemoteWrites)
	}
	seen := map[string]bool{}
	for i, rw := range rws {
		at := fmt.Sprintf("remote_write[%d]", i)
		if rw.Name != "" {
			at = fmt.Sprintf("remote_write[%d] (%s)", i, rw.Name)
			if seen[rw.Name] {
				add("%s: duplicate name %q", at, rw.Name)
			}
			seen[rw.Name] = true
		}
		if err := validURL(rw.URL); err != nil {
			add("%s: url: %v", at, err)
		} else if u, _ := url.Parse(rw.URL); u.User != nil {
			add("%s: url: put credentials in basic_auth, not in the URL", at)
		}
		if rw.Interval <= 0 {
			add("%s: interval must be positive", at)
		}
		if rw.Timeout <= 0 {
			add("%s: timeout must be positive", at)
		}
		for _, m := range rw.Metrics {
			if !nameRE.MatchString(m) {
				add("%s: metrics: invalid metric name %q", at, m)
			}
		}
		if rw.QueueCapacity < 1 {
			add("%s: queue_capacity must be at least 1", at)
		}
		if rw.MaxSamplesPerRequest < 1 {
			add("%s: max_samples_per_request must be at least 1", at)
		}
		if err := rw.HTTPConfig.Validate(); err != nil {
			add("%s: %v", at, err)
		}
	}
	return errs
}
