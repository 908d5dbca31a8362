package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

// DefaultScrapeBodyLimit caps the size of a scraped exposition.
const DefaultScrapeBodyLimit = 32 << 20

// scrapeAccept prefers OpenMetrics 1.0, then the Prometheus text format.
const scrapeAccept = "application/openmetrics-text;version=1.0.0;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"

// ScrapeOptions configures a scrape source.
type ScrapeOptions struct {
	// Shadow is the configured shadow name; it labels the metrics.
	Shadow string
	// URL of the /metrics target.
	URL string
	// Metric is the sample name to read (e.g. http_requests_total).
	Metric string
	// Matchers keeps only samples whose labels have these exact values.
	Matchers map[string]string
	// Timeout bounds one scrape; 0 means 10s.
	Timeout time.Duration
	// HTTPConfig carries authentication and TLS settings.
	HTTPConfig commoncfg.HTTPClientConfig
	// BodyLimit caps the exposition size in bytes; 0 means DefaultScrapeBodyLimit.
	BodyLimit int64
	// Clock returns the wall time; nil means time.Now.
	Clock func() time.Time
	// RoundTripper, when set, replaces the transport built from HTTPConfig.
	RoundTripper http.RoundTripper
}

// Scrape reads a metric straight from a /metrics target (Prometheus text
// format or OpenMetrics). Gauges are returned as they are. Counters — TYPE
// counter, the _count/_sum/_bucket samples of histograms and summaries, or
// an untyped name ending in _total — become per-second rates between
// consecutive scrapes; a drop is a counter reset and the rate restarts from
// 0. Scrape cannot backfill: each Fetch scrapes once and returns one sample
// per instance, at the scrape time (none for a counter's first scrape).
type Scrape struct {
	opts    ScrapeOptions
	client  *http.Client
	logger  *slog.Logger
	okCnt   prometheus.Counter
	errCnt  prometheus.Counter
	resets  prometheus.Counter
	latency prometheus.Observer

	mu   sync.Mutex
	prev map[string]Sample // last raw counter value per instance
}

var _ Source = (*Scrape)(nil)

// NewScrape returns a source that scrapes opts.URL on every Fetch.
func NewScrape(opts ScrapeOptions, reg prometheus.Registerer, logger *slog.Logger) (*Scrape, error) {
	if opts.Metric == "" {
		return nil, fmt.Errorf("scrape source %q: metric is required", opts.Shadow)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = DefaultScrapeBodyLimit
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
		rt, err = commoncfg.NewRoundTripperFromConfig(opts.HTTPConfig, "shadowcast_scrape")
		if err != nil {
			return nil, fmt.Errorf("scrape source %q: http client: %w", opts.Shadow, err)
		}
	}
	m := newScrapeMetrics(reg)
	return &Scrape{
		opts:    opts,
		client:  &http.Client{Transport: rt},
		logger:  logger.With("component", "collector", "source", "scrape", "shadow", opts.Shadow),
		okCnt:   m.scrapes.WithLabelValues(opts.Shadow, resultSuccess),
		errCnt:  m.scrapes.WithLabelValues(opts.Shadow, resultError),
		resets:  m.resets.WithLabelValues(opts.Shadow),
		latency: m.duration.WithLabelValues(opts.Shadow),
		prev:    map[string]Sample{},
	}, nil
}

// Now returns the wall clock.
func (s *Scrape) Now() time.Time { return s.opts.Clock() }

// Fetch scrapes the target once. from, to and step are ignored: the sample
// is the target's value now.
func (s *Scrape) Fetch(ctx context.Context, _, _ time.Time, _ time.Duration) ([]Series, error) {
	start := time.Now()
	ts := s.opts.Clock().UnixMilli()
	found, err := s.scrape(ctx)
	s.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		s.errCnt.Inc()
		return nil, fmt.Errorf("scrape source %q: %w", s.opts.Shadow, err)
	}
	s.okCnt.Inc()

	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]Sample, len(s.prev))
	var out []Series
	for _, f := range found {
		if !f.counter {
			out = append(out, Series{Labels: f.labels, Samples: []Sample{{T: ts, V: f.value}}})
			continue
		}
		key := f.labels.String()
		next[key] = Sample{T: ts, V: f.value}
		p, ok := s.prev[key]
		if !ok || ts <= p.T {
			continue
		}
		dt := float64(ts-p.T) / 1000
		inc := f.value - p.V
		if f.value < p.V { // reset: the counter restarted from 0
			inc = f.value
			s.resets.Inc()
		}
		out = append(out, Series{Labels: f.labels, Samples: []Sample{{T: ts, V: inc / dt}}})
	}
	s.prev = next
	slices.SortFunc(out, func(a, b Series) int { return labels.Compare(a.Labels, b.Labels) })
	return out, nil
}

type scraped struct {
	labels  labels.Labels
	value   float64
	counter bool
}

func (s *Scrape) scrape(ctx context.Context) ([]scraped, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opts.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", scrapeAccept)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", fmt.Sprintf("%g", s.opts.Timeout.Seconds()))
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("server returned HTTP status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.BodyLimit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > s.opts.BodyLimit {
		return nil, fmt.Errorf("body exceeds %d bytes", s.opts.BodyLimit)
	}
	return parseExposition(body, resp.Header.Get("Content-Type"), s.opts.Metric, s.opts.Matchers)
}

// parseExposition returns the samples named metric whose labels match.
func parseExposition(body []byte, contentType, metric string, match map[string]string) ([]scraped, error) {
	p, err := textparse.New(body, contentType, nil, textparse.ParserOptions{FallbackContentType: "text/plain"})
	if p == nil {
		return nil, fmt.Errorf("content type %q: %w", contentType, err)
	}
	types := map[string]model.MetricType{}
	var out []scraped
	var lset labels.Labels
	for {
		et, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse exposition: %w", err)
		}
		switch et {
		case textparse.EntryType:
			name, typ := p.Type()
			types[string(name)] = typ
		case textparse.EntrySeries:
			p.Labels(&lset)
			if lset.Get(model.MetricNameLabel) != metric || !matches(lset, match) {
				continue
			}
			_, _, v := p.Series()
			out = append(out, scraped{labels: lset.DropMetricName(), value: v, counter: isCounter(metric, types)})
		}
	}
	return out, nil
}

func matches(ls labels.Labels, match map[string]string) bool {
	for k, v := range match {
		if ls.Get(k) != v {
			return false
		}
	}
	return true
}

// isCounter reports whether samples named name are cumulative.
func isCounter(name string, types map[string]model.MetricType) bool {
	if t, ok := types[name]; ok {
		return t == model.MetricTypeCounter
	}
	for _, suffix := range []string{"_total", "_count", "_sum", "_bucket"} {
		family, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch types[family] {
		case model.MetricTypeCounter:
			return suffix == "_total"
		case model.MetricTypeHistogram, model.MetricTypeSummary:
			return suffix != "_total"
		}
	}
	_, untypedTotal := strings.CutSuffix(name, "_total")
	return untypedTotal
}
