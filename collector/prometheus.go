package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// DefaultMaxPointsPerQuery keeps every range query under Prometheus' limit
// of 11,000 points per series.
const DefaultMaxPointsPerQuery = 10000

// maxChunks bounds the range queries of one Fetch (a window of about 19
// years at a 1-minute step), so a zero "from" fails fast instead of
// flooding Prometheus.
const maxChunks = 1000

// PrometheusOptions configures a Prometheus source.
type PrometheusOptions struct {
	// Shadow is the configured shadow name; it labels the metrics.
	Shadow string
	// URL of the Prometheus server (the API lives under /api/v1).
	URL string
	// Query is the PromQL expression. Each series it returns is one instance.
	Query string
	// Timeout bounds each range query (one chunk); 0 means 30s. It is also
	// sent to Prometheus as the query's evaluation timeout.
	Timeout time.Duration
	// HTTPConfig carries authentication and TLS settings.
	HTTPConfig commoncfg.HTTPClientConfig
	// MaxPointsPerQuery caps the points per series of one range query; long
	// windows are split into chunks. 0 means DefaultMaxPointsPerQuery.
	MaxPointsPerQuery int
	// Retries is how many times a chunk is retried after a transient error
	// (network error, timeout, HTTP 5xx). 0 means no retry; negative means 0.
	Retries int
	// RetryBackoff is the wait before the first retry, doubled each time;
	// 0 means 1s.
	RetryBackoff time.Duration
	// Clock returns the wall time; nil means time.Now.
	Clock func() time.Time
	// RoundTripper, when set, replaces the transport built from HTTPConfig
	// (tests, or sharing one transport between shadows).
	RoundTripper http.RoundTripper
}

// Prometheus reads a shadow's activity through Prometheus' range query API.
type Prometheus struct {
	opts    PrometheusOptions
	api     v1.API
	logger  *slog.Logger
	okCount prometheus.Counter
	errCnt  prometheus.Counter
	latency prometheus.Observer
}

var _ Source = (*Prometheus)(nil)

// NewPrometheus returns a source that evaluates opts.Query over time ranges.
func NewPrometheus(opts PrometheusOptions, reg prometheus.Registerer, logger *slog.Logger) (*Prometheus, error) {
	if opts.Query == "" {
		return nil, errors.New("prometheus source: query is required")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxPointsPerQuery <= 0 {
		opts.MaxPointsPerQuery = DefaultMaxPointsPerQuery
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = time.Second
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rt := opts.RoundTripper
	if rt == nil {
		var err error
		rt, err = commoncfg.NewRoundTripperFromConfig(opts.HTTPConfig, "shadowcast_collector")
		if err != nil {
			return nil, fmt.Errorf("prometheus source %q: http client: %w", opts.Shadow, err)
		}
	}
	client, err := api.NewClient(api.Config{Address: opts.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus source %q: %w", opts.Shadow, err)
	}
	m := newQueryMetrics(reg)
	p := &Prometheus{
		opts:    opts,
		api:     v1.NewAPI(client),
		logger:  logger.With("component", "collector", "source", "prometheus", "shadow", opts.Shadow),
		okCount: m.queries.WithLabelValues(opts.Shadow, resultSuccess),
		errCnt:  m.queries.WithLabelValues(opts.Shadow, resultError),
		latency: m.duration.WithLabelValues(opts.Shadow),
	}
	return p, nil
}

// Now returns the wall clock.
func (p *Prometheus) Now() time.Time { return p.opts.Clock() }

// Fetch evaluates the query at every multiple of step (counted from the unix
// epoch) in (from, to]. Windows longer than MaxPointsPerQuery steps are split
// into consecutive chunks that neither overlap nor leave a gap. Each returned
// series is one label set of the result, without __name__, its samples in
// time order. NaN and ±Inf values are dropped: Clean treats the missing
// steps as gaps.
func (p *Prometheus) Fetch(ctx context.Context, from, to time.Time, step time.Duration) ([]Series, error) {
	if step < time.Millisecond {
		return nil, fmt.Errorf("prometheus source %q: step %s is below 1ms", p.opts.Shadow, step)
	}
	if pts := to.Sub(from) / step; pts > maxChunks*time.Duration(p.opts.MaxPointsPerQuery) {
		return nil, fmt.Errorf("prometheus source %q: window %s at step %s needs more than %d range queries", p.opts.Shadow, to.Sub(from), step, maxChunks)
	}
	chunks := splitRange(from, to, step, p.opts.MaxPointsPerQuery)
	if len(chunks) == 0 {
		return nil, nil
	}
	idx := map[string]int{}
	var out []Series
	for _, c := range chunks {
		m, err := p.queryChunk(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("prometheus source %q: range %s..%s: %w", p.opts.Shadow,
				c.Start.UTC().Format(time.RFC3339), c.End.UTC().Format(time.RFC3339), err)
		}
		for _, ss := range m {
			ls := metricLabels(ss.Metric)
			key := ls.String()
			i, ok := idx[key]
			if !ok {
				i = len(out)
				idx[key] = i
				out = append(out, Series{Labels: ls})
			}
			for _, sp := range ss.Values {
				v := float64(sp.Value)
				if math.IsNaN(v) || math.IsInf(v, 0) {
					continue
				}
				t := int64(sp.Timestamp)
				if n := len(out[i].Samples); n > 0 && out[i].Samples[n-1].T >= t {
					continue // chunks do not overlap; guard anyway against a server that widens them
				}
				out[i].Samples = append(out[i].Samples, Sample{T: t, V: v})
			}
			if len(ss.Histograms) > 0 {
				p.logger.Debug("Native histogram samples ignored", "count", len(ss.Histograms))
			}
		}
	}
	slices.SortFunc(out, func(a, b Series) int { return labels.Compare(a.Labels, b.Labels) })
	return out, nil
}

func (p *Prometheus) queryChunk(ctx context.Context, r v1.Range) (model.Matrix, error) {
	backoff := p.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		m, err := p.queryOnce(ctx, r)
		if err == nil || attempt >= p.opts.Retries || !retryable(err) || ctx.Err() != nil {
			return m, err
		}
		p.logger.Warn("Range query failed, retrying", "attempt", attempt+1, "backoff_seconds", backoff.Seconds(), "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (after: %w)", ctx.Err(), err)
		case <-t.C:
		}
		backoff *= 2
	}
}

func (p *Prometheus) queryOnce(ctx context.Context, r v1.Range) (model.Matrix, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	start := time.Now()
	val, warnings, _, err := p.api.QueryRange(ctx, p.opts.Query, r, v1.WithTimeout(p.opts.Timeout))
	p.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		p.errCnt.Inc()
		return nil, err
	}
	if len(warnings) > 0 {
		p.logger.Debug("Range query returned warnings", "warnings", warnings)
	}
	m, ok := val.(model.Matrix)
	if !ok {
		p.errCnt.Inc()
		return nil, fmt.Errorf("unexpected result type %s, want matrix", val.Type())
	}
	p.okCount.Inc()
	return m, nil
}

// retryable reports whether err is worth another attempt: timeouts, network
// errors and server errors. Bad queries and malformed answers are not.
func retryable(err error) bool {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		return apiErr.Type == v1.ErrServer || apiErr.Type == v1.ErrTimeout
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// splitRange returns the evaluation ranges covering the multiples of step in
// (from, to], each with at most maxPoints points. Consecutive ranges are
// step apart: no point is evaluated twice or skipped.
func splitRange(from, to time.Time, step time.Duration, maxPoints int) []v1.Range {
	stepMs := step.Milliseconds()
	first := floorDiv(from.UnixMilli(), stepMs)*stepMs + stepMs
	last := floorDiv(to.UnixMilli(), stepMs) * stepMs
	if last < first {
		return nil
	}
	var out []v1.Range
	for s := first; s <= last; {
		e := min(s+int64(maxPoints-1)*stepMs, last)
		out = append(out, v1.Range{Start: time.UnixMilli(s).UTC(), End: time.UnixMilli(e).UTC(), Step: step})
		s = e + stepMs
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// metricLabels converts a result's metric to labels without __name__.
func metricLabels(m model.Metric) labels.Labels {
	b := labels.NewScratchBuilder(len(m))
	for k, v := range m {
		if k == model.MetricNameLabel {
			continue
		}
		b.Add(string(k), string(v))
	}
	b.Sort()
	return b.Labels()
}
