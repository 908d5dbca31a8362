// Package kpi collects key performance indicators (latency, throughput,
// utilisation, cost, SLO violations) alongside the shadows' activity.
//
// Each KPI is a PromQL instant query evaluated every interval through the
// Prometheus HTTP API. The latest good result is kept per KPI (up to
// MaxSeries series) and exported as shadowcast_kpi{kpi, kind, shadow,
// resource, <result labels>}; a failed evaluation is counted and leaves the
// previous values in place.
package kpi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Metric names.
const (
	MetricKPI         = "shadowcast_kpi"
	MetricLastSuccess = "shadowcast_kpi_last_success_timestamp_seconds"
)

// Defaults of Definition and Options.
const (
	DefaultInterval  = time.Minute
	DefaultMaxSeries = 50
	DefaultTimeout   = 30 * time.Second
	// MaxConcurrent bounds the queries in flight at once.
	MaxConcurrent = 4
)

// ErrUnknownKPI is returned by Latest for a name that is not configured.
var ErrUnknownKPI = errors.New("unknown kpi")

// reserved label names are set by the exposition; result labels with these
// names are exported with a "source_" prefix.
var reserved = map[string]bool{"kpi": true, "kind": true, "shadow": true, "resource": true}

// Definition is one KPI.
type Definition struct {
	// Name identifies the KPI (the kpi label).
	Name string
	// Query is the PromQL expression; it must return an instant vector or
	// a scalar.
	Query string
	// Kind is latency, throughput, utilisation, cost, slo_violation or
	// other (free text here; config validates it); empty means other.
	Kind string
	// Shadow and Resource attach the KPI to a shadow or resource; exported
	// as labels when set.
	Shadow, Resource string
	// Interval between evaluations; 0 means DefaultInterval.
	Interval time.Duration
	// MaxSeries bounds the result series kept (the first ones in label
	// order); 0 means DefaultMaxSeries.
	MaxSeries int
}

// Options configures a Collector.
type Options struct {
	// URL of the Prometheus server (the API lives under /api/v1).
	URL string
	// Timeout bounds each query; 0 means DefaultTimeout.
	Timeout time.Duration
	// HTTPConfig carries authentication and TLS settings.
	HTTPConfig commoncfg.HTTPClientConfig
	// RoundTripper, when set, replaces the transport built from HTTPConfig.
	RoundTripper http.RoundTripper
	// KPIs are the indicators to collect.
	KPIs []Definition
	// Clock returns the wall time; nil means time.Now.
	Clock func() time.Time
}

// Value is one series of a KPI's latest result.
type Value struct {
	// Labels of the result series, without __name__.
	Labels map[string]string
	Value  float64
}

type state struct {
	def    Definition
	next   time.Time // next evaluation
	values []Value
	at     time.Time // evaluation time of values
	err    error     // error of the most recent evaluation, if it failed
}

// Collector evaluates the KPIs and exports their latest values. It is a
// prometheus.Collector (unchecked: result labels differ between KPIs),
// registered on the registry given to New.
type Collector struct {
	opts   Options
	api    v1.API
	logger *slog.Logger
	m      *metrics

	mu     sync.Mutex
	kpis   map[string]*state
	order  []string
	reload chan struct{}

	descMu sync.Mutex
	descs  map[string]*prometheus.Desc
}

// New returns a Collector of opts.KPIs. reg receives shadowcast_kpi and the
// query metrics; it may be nil.
func New(opts Options, reg prometheus.Registerer, logger *slog.Logger) (*Collector, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
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
		rt, err = commoncfg.NewRoundTripperFromConfig(opts.HTTPConfig, "shadowcast_kpi")
		if err != nil {
			return nil, fmt.Errorf("kpi: http client: %w", err)
		}
	}
	client, err := api.NewClient(api.Config{Address: opts.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("kpi: %w", err)
	}
	c := &Collector{
		opts:   opts,
		api:    v1.NewAPI(client),
		logger: logger,
		m:      newMetrics(reg),
		kpis:   map[string]*state{},
		reload: make(chan struct{}, 1),
		descs:  map[string]*prometheus.Desc{},
	}
	if err := c.Reload(opts.KPIs); err != nil {
		return nil, err
	}
	if reg != nil {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("kpi: register: %w", err)
		}
	}
	return c, nil
}

// Reload replaces the KPI definitions. KPIs whose definition is unchanged
// keep their values and schedule; new or changed ones are evaluated at the
// next run. On error nothing changes.
func (c *Collector) Reload(defs []Definition) error {
	commit, err := c.Prepare(defs)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Prepare validates defs and returns the function that applies them (see
// Reload), which cannot fail; nothing changes until it is called.
func (c *Collector) Prepare(defs []Definition) (commit func(), err error) {
	var errs []error
	seen := map[string]bool{}
	norm := make([]Definition, len(defs))
	for i, d := range defs {
		if d.Interval <= 0 {
			d.Interval = DefaultInterval
		}
		if d.MaxSeries <= 0 {
			d.MaxSeries = DefaultMaxSeries
		}
		if d.Kind == "" {
			d.Kind = "other"
		}
		switch {
		case d.Name == "":
			errs = append(errs, fmt.Errorf("kpi %d: name is required", i))
		case seen[d.Name]:
			errs = append(errs, fmt.Errorf("kpi %q: duplicate name", d.Name))
		}
		if d.Query == "" {
			errs = append(errs, fmt.Errorf("kpi %q: query is required", d.Name))
		}
		seen[d.Name] = true
		norm[i] = d
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return func() { c.apply(norm) }, nil
}

func (c *Collector) apply(norm []Definition) {
	c.mu.Lock()
	kpis := make(map[string]*state, len(norm))
	order := make([]string, 0, len(norm))
	for _, d := range norm {
		if old, ok := c.kpis[d.Name]; ok && old.def == d {
			kpis[d.Name] = old
		} else {
			kpis[d.Name] = &state{def: d}
		}
		order = append(order, d.Name)
	}
	c.kpis, c.order = kpis, order
	c.mu.Unlock()
	select {
	case c.reload <- struct{}{}:
	default:
	}
}

// Run evaluates every KPI at its interval until ctx is done.
func (c *Collector) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.reload:
		case <-timer.C:
		}
		c.evaluateDue(ctx)
		timer.Stop()
		select { // drain a fire that raced with Stop
		case <-timer.C:
		default:
		}
		if d, ok := c.untilNext(); ok {
			timer.Reset(d)
		}
	}
}

// evaluateDue evaluates, at most MaxConcurrent at once, the KPIs whose time
// has come.
func (c *Collector) evaluateDue(ctx context.Context) {
	now := c.opts.Clock()
	var due []string
	c.mu.Lock()
	for _, name := range c.order {
		s := c.kpis[name]
		if !s.next.After(now) {
			due = append(due, name)
			s.next = now.Add(s.def.Interval)
		}
	}
	c.mu.Unlock()
	sem := make(chan struct{}, MaxConcurrent)
	var wg sync.WaitGroup
	for _, name := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_ = c.Evaluate(ctx, name)
		}()
	}
	wg.Wait()
}

// untilNext is the wait until the next KPI is due; false when none is
// configured.
func (c *Collector) untilNext() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.order) == 0 {
		return 0, false
	}
	var next time.Time
	for i, name := range c.order {
		if n := c.kpis[name].next; i == 0 || n.Before(next) {
			next = n
		}
	}
	return max(next.Sub(c.opts.Clock()), 0), true
}

// Evaluate runs the named KPI's query now and records the result.
func (c *Collector) Evaluate(ctx context.Context, name string) error {
	c.mu.Lock()
	s, ok := c.kpis[name]
	var def Definition
	if ok {
		def = s.def
	}
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownKPI, name)
	}
	ts := c.opts.Clock()
	start := time.Now()
	values, truncated, err := c.query(ctx, def, ts)
	c.m.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.kpis[name]; !ok || cur != s {
		return nil // reloaded away meanwhile
	}
	if err != nil {
		c.m.queries.WithLabelValues(name, "error").Inc()
		s.err = err
		c.logger.Warn("KPI query failed; keeping the last values", "kpi", name, "err", err)
		return err
	}
	c.m.queries.WithLabelValues(name, "success").Inc()
	if truncated > 0 {
		c.m.truncated.WithLabelValues(name).Add(float64(truncated))
		c.logger.Debug("KPI result truncated", "kpi", name, "dropped_series", truncated, "max_series", def.MaxSeries)
	}
	s.values, s.at, s.err = values, ts, nil
	return nil
}

func (c *Collector) query(ctx context.Context, def Definition, ts time.Time) ([]Value, int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	res, warnings, _, err := c.api.Query(ctx, def.Query, ts, v1.WithTimeout(c.opts.Timeout))
	if err != nil {
		return nil, 0, fmt.Errorf("kpi %q: query: %w", def.Name, err)
	}
	if len(warnings) > 0 {
		c.logger.Debug("KPI query warnings", "kpi", def.Name, "warnings", warnings)
	}
	var values []Value
	switch r := res.(type) {
	case model.Vector:
		sort.Slice(r, func(i, j int) bool { return r[i].Metric.Before(r[j].Metric) })
		for _, smp := range r {
			ls := make(map[string]string, len(smp.Metric))
			for k, v := range smp.Metric {
				if k != model.MetricNameLabel {
					ls[string(k)] = string(v)
				}
			}
			values = append(values, Value{Labels: ls, Value: float64(smp.Value)})
		}
	case *model.Scalar:
		values = []Value{{Labels: map[string]string{}, Value: float64(r.Value)}}
	default:
		return nil, 0, fmt.Errorf("kpi %q: query returned a %s, want an instant vector or a scalar", def.Name, res.Type())
	}
	truncated := 0
	if len(values) > def.MaxSeries {
		truncated = len(values) - def.MaxSeries
		values = values[:def.MaxSeries]
	}
	return values, truncated, nil
}

// Latest returns the named KPI's last good values and their evaluation
// time (zero before the first success), and the error of the most recent
// evaluation if it failed.
func (c *Collector) Latest(name string) ([]Value, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.kpis[name]
	if !ok {
		return nil, time.Time{}, fmt.Errorf("%w %q", ErrUnknownKPI, name)
	}
	out := make([]Value, len(s.values))
	for i, v := range s.values {
		out[i] = Value{Labels: maps(v.Labels), Value: v.Value}
	}
	return out, s.at, s.err
}

// Names lists the configured KPIs in configuration order.
func (c *Collector) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Describe sends nothing: the collector is unchecked.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect emits shadowcast_kpi for every kept series and the time of each
// KPI's last success.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range c.order {
		s := c.kpis[name]
		if s.at.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc(MetricLastSuccess, []string{"kpi"}), prometheus.GaugeValue,
			float64(s.at.UnixNano())/1e9, name)
		base := []string{"kpi", "kind"}
		baseVals := []string{name, s.def.Kind}
		if s.def.Shadow != "" {
			base, baseVals = append(base, "shadow"), append(baseVals, s.def.Shadow)
		}
		if s.def.Resource != "" {
			base, baseVals = append(base, "resource"), append(baseVals, s.def.Resource)
		}
		for _, v := range s.values {
			names, vals := slices.Clone(base), slices.Clone(baseVals)
			keys := make([]string, 0, len(v.Labels))
			for k := range v.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				n := k
				if reserved[n] {
					n = "source_" + n
				}
				if slices.Contains(names, n) {
					continue
				}
				names, vals = append(names, n), append(vals, v.Labels[k])
			}
			ch <- prometheus.MustNewConstMetric(c.desc(MetricKPI, names), prometheus.GaugeValue, v.Value, vals...)
		}
	}
}

var help = map[string]string{
	MetricKPI:         "Latest value of a configured KPI query (kind: latency, throughput, utilisation, cost, slo_violation, other), one series per result series.",
	MetricLastSuccess: "Unix time of the last successful evaluation of a KPI query.",
}

func (c *Collector) desc(name string, labelNames []string) *prometheus.Desc {
	key := name + "\xff" + strings.Join(labelNames, "\xff")
	c.descMu.Lock()
	defer c.descMu.Unlock()
	d, ok := c.descs[key]
	if !ok {
		d = prometheus.NewDesc(name, help[name], labelNames, nil)
		c.descs[key] = d
	}
	return d
}
