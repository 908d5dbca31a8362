// Package remotewrite pushes the shadows to a Prometheus-compatible store
// (Mimir, Thanos Receive, VictoriaMetrics, Prometheus with
// --web.enable-remote-write-receiver) with the Remote-Write 1.0 protocol.
//
// Every interval a Writer snapshots the samples the exposition would serve,
// keeps the configured metric names, stamps them with the current time and
// queues them as requests of bounded size. A sender drains the queue in
// order, retrying network errors, HTTP 5xx and 429 with exponential
// backoff; other 4xx answers are not retried. When the receiver is slow or
// down the queue keeps the newest requests and drops the oldest.
//
// A series that was sent and is gone from the next snapshot (an instance
// that disappeared, a shadow removed by a reload) gets a staleness marker,
// as Prometheus writes for a vanished scrape series, so queries stop
// returning it at once instead of after the 5-minute lookback; at shutdown
// every live series is marked stale.
package remotewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
)

// Source yields every sample the exposition would serve now; names and
// values are only valid during the call. shadow.Collector implements it.
type Source interface {
	Visit(fn func(metric string, names, values []string, v float64))
}

// DefaultMetrics is the shadow family and the actual value.
var DefaultMetrics = []string{
	"shadowcast_shadow", "shadowcast_shadow_lower", "shadowcast_shadow_upper",
	"shadowcast_shadow_peak", "shadowcast_shadow_peak_upper", "shadowcast_actual",
}

// Defaults of Options.
const (
	DefaultInterval             = 15 * time.Second
	DefaultTimeout              = 10 * time.Second
	DefaultQueueCapacity        = 100
	DefaultMaxSamplesPerRequest = 2000
	DefaultMinBackoff           = 500 * time.Millisecond
	DefaultMaxBackoff           = 30 * time.Second
)

// Options configures a Writer.
type Options struct {
	// Name labels the self-metrics (remote="..."); defaults to URL's host.
	Name string
	// URL of the receiver, e.g. http://prometheus:9090/api/v1/write.
	URL string
	// Interval between two snapshots; 0 means DefaultInterval.
	Interval time.Duration
	// Timeout bounds one HTTP request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Metrics lists the metric names sent; empty means DefaultMetrics.
	Metrics []string
	// ExternalLabels are added to every series that lacks them.
	ExternalLabels map[string]string
	// HTTPConfig carries authentication and TLS settings.
	HTTPConfig commoncfg.HTTPClientConfig
	// RoundTripper, when set, replaces the transport built from HTTPConfig.
	RoundTripper http.RoundTripper
	// QueueCapacity is the number of requests that may wait; beyond it the
	// oldest is dropped. 0 means DefaultQueueCapacity.
	QueueCapacity int
	// MaxSamplesPerRequest splits a snapshot; 0 means
	// DefaultMaxSamplesPerRequest.
	MaxSamplesPerRequest int
	// MaxRetries is how many times a request is retried after a network
	// error, HTTP 5xx or 429. 0 or negative: never.
	MaxRetries int
	// MinBackoff is the wait before the first retry, doubled each time up
	// to MaxBackoff. 0 means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Clock returns the wall time; nil means time.Now.
	Clock func() time.Time
}

// Writer periodically remote-writes a Source.
type Writer struct {
	opts    Options
	src     Source
	client  *http.Client
	logger  *slog.Logger
	metrics map[string]bool
	ext     []prompb.Label // sorted by name

	sent, failed, dropped prometheus.Counter
	retries               prometheus.Counter
	duration              prometheus.Observer
	pending               prometheus.Gauge
	lastSuccess           prometheus.Gauge

	mu     sync.Mutex
	queue  [][]prompb.TimeSeries
	notify chan struct{}
	live   map[string][]prompb.Label // series of the last snapshot, by key

	sendMu sync.Mutex // one Drain at a time keeps requests in order
}

// New returns a Writer of src. reg receives the shadowcast_remote_write_*
// metrics; it may be nil.
func New(opts Options, src Source, reg prometheus.Registerer, logger *slog.Logger) (*Writer, error) {
	if src == nil {
		return nil, errors.New("remote write: source is required")
	}
	if opts.URL == "" {
		return nil, errors.New("remote write: url is required")
	}
	if opts.Name == "" {
		opts.Name = opts.URL
		if i := strings.Index(opts.Name, "://"); i >= 0 {
			opts.Name = opts.Name[i+3:]
		}
		if i := strings.IndexByte(opts.Name, '/'); i >= 0 {
			opts.Name = opts.Name[:i]
		}
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if len(opts.Metrics) == 0 {
		opts.Metrics = DefaultMetrics
	}
	if opts.QueueCapacity <= 0 {
		opts.QueueCapacity = DefaultQueueCapacity
	}
	if opts.MaxSamplesPerRequest <= 0 {
		opts.MaxSamplesPerRequest = DefaultMaxSamplesPerRequest
	}
	if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
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
		rt, err = commoncfg.NewRoundTripperFromConfig(opts.HTTPConfig, "shadowcast_remote_write")
		if err != nil {
			return nil, fmt.Errorf("remote write %q: http client: %w", opts.Name, err)
		}
	}
	w := &Writer{
		opts:    opts,
		src:     src,
		client:  &http.Client{Transport: rt},
		logger:  logger.With("remote", opts.Name),
		metrics: map[string]bool{},
		notify:  make(chan struct{}, 1),
	}
	for _, m := range opts.Metrics {
		w.metrics[m] = true
	}
	for k, v := range opts.ExternalLabels {
		if v != "" {
			w.ext = append(w.ext, prompb.Label{Name: k, Value: v})
		}
	}
	slices.SortFunc(w.ext, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })

	m := newMetrics(reg)
	w.sent = m.samples.WithLabelValues(opts.Name, "sent")
	w.failed = m.samples.WithLabelValues(opts.Name, "failed")
	w.dropped = m.samples.WithLabelValues(opts.Name, "dropped")
	w.retries = m.retries.WithLabelValues(opts.Name)
	w.duration = m.duration.WithLabelValues(opts.Name)
	w.pending = m.pending.WithLabelValues(opts.Name)
	w.lastSuccess = m.lastSuccess.WithLabelValues(opts.Name)
	return w, nil
}

// Run snapshots the source every interval and sends the snapshots until
// ctx is done, then spends at most one Timeout sending what is queued.
func (w *Writer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.notify:
				_ = w.Drain(ctx)
			}
		}
	}()
	t := time.NewTicker(w.opts.Interval)
	defer func() {
		t.Stop()
		wg.Wait()
		// Mark what was sent stale and flush what is queued, within one
		// request timeout, so a restart loses as little as possible.
		w.CollectStale()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Timeout)
		defer cancel()
		if err := w.Drain(fctx); err != nil {
			w.logger.Warn("Remote write flush at shutdown failed", "err", err)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.Collect()
		}
	}
}

// Snapshot returns the selected samples of the source, one series each,
// stamped with the current time, labels sorted by name.
func (w *Writer) Snapshot() []prompb.TimeSeries {
	ts := w.opts.Clock().UnixMilli()
	var (
		out     []prompb.TimeSeries
		labels  []prompb.Label  // arena the series' labels are cut from
		samples []prompb.Sample // arena of the single samples
	)
	w.src.Visit(func(metric string, names, values []string, v float64) {
		if !w.metrics[metric] || len(names) != len(values) {
			return
		}
		n := len(names) + len(w.ext) + 1
		if cap(labels)-len(labels) < n {
			labels = make([]prompb.Label, 0, max(4096, n))
		}
		ls := labels[len(labels) : len(labels) : len(labels)+n]
		ls = append(ls, prompb.Label{Name: "__name__", Value: metric})
		for i, name := range names {
			if values[i] != "" && name != "__name__" {
				ls = append(ls, prompb.Label{Name: name, Value: values[i]})
			}
		}
		own := len(ls)
		for _, l := range w.ext {
			if !hasLabel(ls[:own], l.Name) {
				ls = append(ls, l)
			}
		}
		labels = labels[:len(labels)+len(ls)]
		slices.SortStableFunc(ls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
		ls = slices.CompactFunc(ls, func(a, b prompb.Label) bool { return a.Name == b.Name })
		if len(samples) == cap(samples) {
			samples = make([]prompb.Sample, 0, 4096)
		}
		samples = append(samples, prompb.Sample{Value: v, Timestamp: ts})
		out = append(out, prompb.TimeSeries{Labels: ls, Samples: samples[len(samples)-1 : len(samples) : len(samples)]})
	})
	return out
}

// Collect queues a snapshot for the sender, with a staleness marker for
// every series of the previous snapshot that is gone, and returns the
// number of samples queued.
func (w *Writer) Collect() int {
	series := w.Snapshot()
	live := make(map[string][]prompb.Label, len(series))
	var key []byte
	for _, s := range series {
		key = seriesKey(key[:0], s.Labels)
		live[string(key)] = s.Labels
	}
	w.mu.Lock()
	series = w.appendStaleLocked(series, live)
	w.live = live
	w.mu.Unlock()
	return w.enqueue(series)
}

// CollectStale queues a staleness marker for every series sent by the
// last Collect and forgets them; Run calls it at shutdown.
func (w *Writer) CollectStale() int {
	w.mu.Lock()
	series := w.appendStaleLocked(nil, nil)
	w.live = nil
	w.mu.Unlock()
	return w.enqueue(series)
}

// appendStaleLocked appends a staleness marker, stamped now, for each
// series of the last snapshot that is not in live.
func (w *Writer) appendStaleLocked(series []prompb.TimeSeries, live map[string][]prompb.Label) []prompb.TimeSeries {
	if len(w.live) == 0 {
		return series
	}
	ts := w.opts.Clock().UnixMilli()
	var stale []prompb.TimeSeries
	for k, ls := range w.live {
		if _, ok := live[k]; !ok {
			stale = append(stale, prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Value: math.Float64frombits(value.StaleNaN), Timestamp: ts}}})
		}
	}
	// Map order is random; a stable order keeps requests reproducible.
	slices.SortFunc(stale, func(a, b prompb.TimeSeries) int {
		return slices.CompareFunc(a.Labels, b.Labels, func(x, y prompb.Label) int {
			if c := strings.Compare(x.Name, y.Name); c != 0 {
				return c
			}
			return strings.Compare(x.Value, y.Value)
		})
	})
	return append(series, stale...)
}

// seriesKey appends a key identifying the sorted label set ls.
func seriesKey(dst []byte, ls []prompb.Label) []byte {
	for _, l := range ls {
		dst = append(dst, l.Name...)
		dst = append(dst, 0xff)
		dst = append(dst, l.Value...)
		dst = append(dst, 0xff)
	}
	return dst
}

// enqueue splits series into requests and queues them, dropping the
// oldest beyond the queue capacity.
func (w *Writer) enqueue(series []prompb.TimeSeries) int {
	total := len(series)
	if total == 0 {
		return 0
	}
	w.mu.Lock()
	for len(series) > 0 {
		n := min(len(series), w.opts.MaxSamplesPerRequest)
		w.queue = append(w.queue, series[:n:n])
		series = series[n:]
	}
	for len(w.queue) > w.opts.QueueCapacity {
		w.dropped.Add(float64(len(w.queue[0])))
		w.queue[0] = nil
		w.queue = w.queue[1:]
	}
	w.pending.Set(float64(w.queuedLocked()))
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
	return total
}

func hasLabel(ls []prompb.Label, name string) bool {
	for _, l := range ls {
		if l.Name == name {
			return true
		}
	}
	return false
}

func (w *Writer) queuedLocked() int {
	n := 0
	for _, r := range w.queue {
		n += len(r)
	}
	return n
}

func (w *Writer) pop() []prompb.TimeSeries {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil
	}
	r := w.queue[0]
	w.queue[0] = nil
	w.queue = w.queue[1:]
	w.pending.Set(float64(w.queuedLocked()))
	return r
}

// Drain sends the queued requests in order and returns their errors. A
// request that fails for good is counted and skipped.
func (w *Writer) Drain(ctx context.Context) error {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	var errs []error
	for ctx.Err() == nil {
		r := w.pop()
		if r == nil {
			break
		}
		if err := w.send(ctx, r); err != nil {
			w.logger.Warn("Remote write failed; samples dropped", "samples", len(r), "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// recoverableError is a failure worth retrying; retryAfter is the wait the
// server asked for, if any.
type recoverableError struct {
	err        error
	retryAfter time.Duration
}

func (e *recoverableError) Error() string { return e.err.Error() }
func (e *recoverableError) Unwrap() error { return e.err }

func (w *Writer) send(ctx context.Context, series []prompb.TimeSeries) error {
	req := &prompb.WriteRequest{Timeseries: series}
	raw, err := req.Marshal()
	if err != nil {
		w.failed.Add(float64(len(series)))
		return fmt.Errorf("remote write %q: encode: %w", w.opts.Name, err)
	}
	body := snappy.Encode(nil, raw)
	backoff := w.opts.MinBackoff
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := w.post(ctx, body)
		w.duration.Observe(time.Since(start).Seconds())
		if err == nil {
			w.sent.Add(float64(len(series)))
			w.lastSuccess.Set(float64(w.opts.Clock().UnixNano()) / 1e9)
			return nil
		}
		var rerr *recoverableError
		if !errors.As(err, &rerr) || attempt >= w.opts.MaxRetries || ctx.Err() != nil {
			w.failed.Add(float64(len(series)))
			return fmt.Errorf("remote write %q: %w", w.opts.Name, err)
		}
		wait := backoff
		if rerr.retryAfter > 0 {
			wait = min(rerr.retryAfter, w.opts.MaxBackoff)
		}
		backoff = min(2*backoff, w.opts.MaxBackoff)
		w.retries.Inc()
		w.logger.Debug("Remote write failed; retrying", "attempt", attempt+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			w.failed.Add(float64(len(series)))
			return fmt.Errorf("remote write %q: %w", w.opts.Name, ctx.Err())
		case <-t.C:
		}
	}
}

func (w *Writer) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "shadowcast-remote-write")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := w.client.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return err
		}
		return &recoverableError{err: err}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("server returned HTTP status %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	if resp.StatusCode/100 == 5 || resp.StatusCode == http.StatusTooManyRequests {
		return &recoverableError{err: err, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return err
}

// retryAfter parses a Retry-After header given in seconds; 0 otherwise.
func retryAfter(h string) time.Duration {
	s, err := strconv.ParseFloat(strings.TrimSpace(h), 64)
	if err != nil || s <= 0 || math.IsInf(s, 0) || s > 3600 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
