package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// PromQL defaults.
const (
	DefaultPromQLStep      = time.Minute
	DefaultPromQLInterval  = time.Minute
	DefaultPromQLLookback  = 7 * 24 * time.Hour
	DefaultPromQLTimeout   = 30 * time.Second
	DefaultPromQLMaxSeries = 1000
	// MaxPromQLPoints bounds Lookback/Step (Prometheus refuses more than
	// 11,000 points per series).
	MaxPromQLPoints = 11000
)

// QueryAPI is the part of the Prometheus HTTP API a PromQL source uses
// (v1.API satisfies it).
type QueryAPI interface {
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// NewPrometheusAPI returns a client of the Prometheus at url. rt, when not
// nil, replaces the transport built from cfg.
func NewPrometheusAPI(url string, cfg commoncfg.HTTPClientConfig, rt http.RoundTripper) (v1.API, error) {
	if rt == nil {
		var err error
		rt, err = commoncfg.NewRoundTripperFromConfig(cfg, "shadowcast_events")
		if err != nil {
			return nil, fmt.Errorf("prometheus http client: %w", err)
		}
	}
	c, err := api.NewClient(api.Config{Address: url, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	return v1.NewAPI(c), nil
}

// PromQLOptions configures a PromQL source.
type PromQLOptions struct {
	// Name identifies the source; it is the default event name and kind.
	Name string
	// API is the Prometheus client.
	API QueryAPI
	// Query is evaluated over [now-Lookback, now] every Step. Each series
	// it returns yields one event per run of consecutive samples > 0.
	Query string
	// Step is the evaluation resolution; 0 means DefaultPromQLStep.
	Step time.Duration
	// Lookback is how far back runs are read; 0 means
	// DefaultPromQLLookback. Lookback/Step must not exceed MaxPromQLPoints.
	Lookback time.Duration
	// Interval between queries; 0 means DefaultPromQLInterval.
	Interval time.Duration
	// Timeout bounds a query; 0 means DefaultPromQLTimeout.
	Timeout time.Duration
	// NameLabel names the label whose value is the event name (Name when
	// empty or absent from a series).
	NameLabel string
	// KindLabel names the label whose value is the event kind; Kind is used
	// when it is empty or absent, and Name when Kind is empty too.
	KindLabel string
	Kind      string
	// Shadows restricts the events to these shadows (all when empty).
	Shadows []string
	// MaxSeries bounds the series of one result; more is an error. 0 means
	// DefaultPromQLMaxSeries.
	MaxSeries int
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
}

// PromQL turns runs of positive values of a PromQL series into events. A
// run still going at the last evaluation is an active event whose end is
// now + Step until it closes.
type PromQL struct {
	opts     PromQLOptions
	registry *Registry
	logger   *slog.Logger
	mu       sync.Mutex // serializes polls
}

var _ Source = (*PromQL)(nil)

// NewPromQL validates the options; the first query runs in Run (or Poll).
func NewPromQL(opts PromQLOptions, r *Registry, logger *slog.Logger) (*PromQL, error) {
	if opts.Name == "" {
		return nil, errors.New("promql events: name is required")
	}
	if opts.Query == "" {
		return nil, fmt.Errorf("promql events %q: query is required", opts.Name)
	}
	if opts.API == nil {
		return nil, fmt.Errorf("promql events %q: no Prometheus client", opts.Name)
	}
	if opts.Step <= 0 {
		opts.Step = DefaultPromQLStep
	}
	if opts.Lookback <= 0 {
		opts.Lookback = DefaultPromQLLookback
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultPromQLInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultPromQLTimeout
	}
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = DefaultPromQLMaxSeries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if n := opts.Lookback / opts.Step; n > MaxPromQLPoints {
		return nil, fmt.Errorf("promql events %q: lookback %s at step %s is %d points, more than %d", opts.Name, opts.Lookback, opts.Step, n, MaxPromQLPoints)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PromQL{opts: opts, registry: r, logger: logger.With("source", SourcePromQL, "name", opts.Name)}, nil
}

// ID returns "promql:" and the name.
func (p *PromQL) ID() string { return SourcePromQL + ":" + p.opts.Name }

// Run queries at once, then every Interval until ctx is done.
func (p *PromQL) Run(ctx context.Context) {
	tick := time.NewTicker(p.opts.Interval)
	defer tick.Stop()
	for {
		if err := p.Poll(ctx); err != nil && ctx.Err() == nil {
			p.logger.Warn("PromQL event query failed; the previous events stay", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Poll runs the query once and replaces the source's events. On error the
// previous events stay.
func (p *PromQL) Poll(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	end := now.Truncate(p.opts.Step)
	qctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	val, warnings, _, err := p.opts.API.QueryRange(qctx, p.opts.Query,
		v1.Range{Start: end.Add(-p.opts.Lookback), End: end, Step: p.opts.Step}, v1.WithTimeout(p.opts.Timeout))
	if err == nil {
		for _, w := range warnings {
			p.logger.Debug("PromQL warning", "warning", w)
		}
		var evs []Event
		evs, err = p.events(val, end, now)
		if err == nil {
			p.registry.Set(p.ID(), evs)
			p.registry.loaded(SourcePromQL, nil)
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = fmt.Errorf("promql events %q: %w", p.opts.Name, err)
	p.registry.loaded(SourcePromQL, err)
	return err
}

func (p *PromQL) events(val model.Value, end, now time.Time) ([]Event, error) {
	m, ok := val.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("query returned %s, want a range vector (matrix)", val.Type())
	}
	if len(m) > p.opts.MaxSeries {
		return nil, fmt.Errorf("query returned %d series, more than %d", len(m), p.opts.MaxSeries)
	}
	var out []Event
	for _, s := range m {
		name := p.opts.Name
		if v := s.Metric[model.LabelName(p.opts.NameLabel)]; p.opts.NameLabel != "" && v != "" {
			name = string(v)
		}
		kind := p.opts.Kind
		if v := s.Metric[model.LabelName(p.opts.KindLabel)]; p.opts.KindLabel != "" && v != "" {
			kind = string(v)
		}
		if kind == "" {
			kind = p.opts.Name
		}
		fp := s.Metric.Fingerprint().String()
		for _, r := range Runs(s.Values, p.opts.Step, end, now) {
			e := Event{
				ID:      derivedID(SourcePromQL, p.opts.Name, fp, strconv.FormatInt(r.Start.UnixNano(), 10)),
				Name:    name,
				Kind:    kind,
				Start:   r.Start,
				End:     r.End,
				Shadows: slices.Clone(p.opts.Shadows),
				Source:  SourcePromQL,
				Origin:  p.opts.Name,
			}
			if err := e.Validate(nil); err != nil {
				return nil, fmt.Errorf("series %s: %w", s.Metric, err)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// Run is a span of a series during which it was > 0.
type Run struct {
	Start, End time.Time
	// Active reports that the run lasts until the last evaluation: its End
	// is then now + step.
	Active bool
}

// Runs splits samples (in any order) into runs of consecutive values > 0.
// A run starts at its first positive sample and ends at the first later
// sample that is not positive, or one step after its last positive sample
// when the next sample is missing. A run whose last positive sample is at
// last (the final evaluation time) is active and ends at now + step.
func Runs(samples []model.SamplePair, step time.Duration, last, now time.Time) []Run {
	ss := slices.Clone(samples)
	sort.Slice(ss, func(i, j int) bool { return ss[i].Timestamp < ss[j].Timestamp })
	var out []Run
	var cur *Run
	var prev time.Time
	closeRun := func(end time.Time) {
		cur.End = end
		out = append(out, *cur)
		cur = nil
	}
	for _, sp := range ss {
		t := sp.Timestamp.Time().UTC()
		pos := float64(sp.Value) > 0 && !math.IsInf(float64(sp.Value), 0)
		if cur != nil && t.Sub(prev) > step+step/2 {
			closeRun(prev.Add(step)) // a gap ends the run
		}
		switch {
		case pos && cur == nil:
			cur = &Run{Start: t}
		case !pos && cur != nil:
			closeRun(t)
		}
		prev = t
	}
	if cur != nil {
		if !prev.Before(last.Add(-step / 2)) {
			cur.Active = true
			closeRun(now.Add(step))
		} else {
			closeRun(prev.Add(step))
		}
	}
	return out
}
