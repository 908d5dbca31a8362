package shadow

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Metric names of the shadow contract (DESIGN.md). Keep them stable.
const (
	MetricShadow          = "shadowcast_shadow"
	MetricShadowLower     = "shadowcast_shadow_lower"
	MetricShadowUpper     = "shadowcast_shadow_upper"
	MetricShadowPeak      = "shadowcast_shadow_peak"
	MetricShadowPeakUpper = "shadowcast_shadow_peak_upper"
	MetricActual          = "shadowcast_actual"
	MetricModelInfo       = "shadowcast_model_info"
	MetricModelTrained    = "shadowcast_model_trained_timestamp_seconds"
	MetricLastForecast    = "shadowcast_last_forecast_timestamp_seconds"
	MetricConfidence      = "shadowcast_shadow_confidence_ratio"
	MetricInstances       = "shadowcast_shadow_instances"
	MetricForecastError   = "shadowcast_forecast_error"
	MetricCoverage        = "shadowcast_interval_coverage_ratio"
	MetricScoredPoints    = "shadowcast_forecast_scored_points"
)

var metricHelp = map[string]string{
	MetricShadow:          "Point forecast of the shadow's activity `horizon` from now, in the source's unit.",
	MetricShadowLower:     "Lower bound of the forecast at the shadow's confidence level.",
	MetricShadowUpper:     "Upper bound of the forecast at the shadow's confidence level.",
	MetricShadowPeak:      "Maximum point forecast over (now, now+horizon]: the lead-time decision value.",
	MetricShadowPeakUpper: "Maximum upper bound over (now, now+horizon].",
	MetricActual:          "Latest observed (cleaned) value of the shadow's source series.",
	MetricModelInfo:       "The model serving a shadow instance and why (cold_start, configured, selected_by_backtest, fallback, source_error, deviation).",
	MetricModelTrained:    "Unix time of the last successful training of the model serving a shadow instance.",
	MetricLastForecast:    "Unix time the shadow instance's forecast was last refreshed.",
	MetricConfidence:      "Nominal coverage of the shadow's bounds (e.g. 0.9).",
	MetricInstances:       "Number of instances (source series) a shadow serves.",
	MetricForecastError:   "Rolling realised error of the shadow at a horizon over the last scored points: metric=mae (source unit), mase (scaled by the one-day seasonal naive error), smape (ratio 0-2).",
	MetricCoverage:        "Share of the last scored actuals that fell inside the shadow's bounds at a horizon.",
	MetricScoredPoints:    "Number of scored predictions behind shadowcast_forecast_error and shadowcast_interval_coverage_ratio.",
}

// reservedLabels are set by the exposition itself; source labels with these
// names are exported with a "source_" prefix.
var reservedLabels = map[string]bool{"shadow": true, "horizon": true, "model": true, "reason": true, "metric": true, "resource": true}

// Collector exposes the published shadows at scrape time. Register it on a
// registry; it is an unchecked collector because source label names differ
// between shadows.
type Collector struct {
	e        *Engine
	external labels.Labels

	mu    sync.Mutex
	descs map[string]*prometheus.Desc
}

// NewCollector returns the exposition of e. External labels (e.g. the
// replica name of an HA pair) are added to every shadow series.
func NewCollector(e *Engine, external map[string]string) *Collector {
	return &Collector{e: e, external: labels.FromMap(external), descs: map[string]*prometheus.Desc{}}
}

// Describe sends nothing: the collector is unchecked.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

func (c *Collector) desc(name string, labelNames []string) *prometheus.Desc {
	key := name + "\xff" + strings.Join(labelNames, "\xff")
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.descs[key]
	if !ok {
		d = prometheus.NewDesc(name, metricHelp[name], labelNames, nil)
		c.descs[key] = d
	}
	return d
}

// Collect emits every published value.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.each(func(metric string, names, values []string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.desc(metric, names), prometheus.GaugeValue, v, values...)
	})
}

// sampleFunc receives one sample; names and values are only valid during
// the call.
type sampleFunc func(metric string, names, values []string, v float64)

// Visit calls fn for every sample the exposition would serve now (e.g. to
// remote-write the shadows). names and values are only valid during the
// call.
func (c *Collector) Visit(fn func(metric string, names, values []string, v float64)) { c.each(fn) }

// each calls fn for every exposed sample.
func (c *Collector) each(fn sampleFunc) {
	for _, s := range c.e.list() {
		s.mu.Lock()
		insts := s.sortedInstances()
		s.mu.Unlock()
		c.eachShadow(fn, s.opts.Name, s, insts)
	}
}

func (c *Collector) eachShadow(fn sampleFunc, name string, s *shadowState, insts []*instance) {
	ext := []string{}
	extVals := []string{}
	c.external.Range(func(l labels.Label) {
		ext = append(ext, l.Name)
		extVals = append(extVals, l.Value)
	})
	fn(MetricConfidence, append([]string{"shadow"}, ext...), append([]string{name}, extVals...), s.opts.Confidence)
	fn(MetricInstances, append([]string{"shadow"}, ext...), append([]string{name}, extVals...), float64(len(insts)))

	horizonLabel := make([]string, len(s.opts.Horizons))
	for i, h := range s.opts.Horizons {
		horizonLabel[i] = model.Duration(h).String()
	}
	for _, inst := range insts {
		p := inst.published()
		if p == nil {
			continue
		}
		// Label names: shadow, source labels, external labels; per-horizon
		// series add horizon, model_info adds model and reason.
		names := []string{"shadow"}
		vals := []string{name}
		inst.labels.Range(func(l labels.Label) {
			n := l.Name
			if reservedLabels[n] {
				n = "source_" + n
			}
			if c.external.Has(n) {
				return // external labels win, as in Prometheus federation
			}
			names = append(names, n)
			vals = append(vals, l.Value)
		})
		names = append(names, ext...)
		vals = append(vals, extVals...)

		if !math.IsNaN(p.actual) {
			fn(MetricActual, names, vals, p.actual)
		}
		infoNames := append(append([]string(nil), names...), "model", "reason")
		infoVals := append(append([]string(nil), vals...), p.model, p.reasonLabel())
		fn(MetricModelInfo, infoNames, infoVals, 1)
		if !p.trainedAt.IsZero() {
			fn(MetricModelTrained, names, vals, unixSeconds(p.trainedAt))
		}
		fn(MetricLastForecast, names, vals, unixSeconds(p.updated))

		hNames := append(append([]string(nil), names...), "horizon")
		hVals := append(append([]string(nil), vals...), "")
		last := len(hVals) - 1
		for i, h := range p.horizons {
			k := int(h / s.opts.Step)
			if k > p.fc.Horizon() {
				continue
			}
			hVals[last] = horizonLabel[i]
			peak, peakUpper := p.fc.Peak(k)
			for _, mv := range [...]struct {
				metric string
				v      float64
			}{
				{MetricShadow, p.fc.Point[k-1]},
				{MetricShadowLower, p.fc.Lower[k-1]},
				{MetricShadowUpper, p.fc.Upper[k-1]},
				{MetricShadowPeak, peak},
				{MetricShadowPeakUpper, peakUpper},
			} {
				fn(mv.metric, hNames, hVals, mv.v)
			}
			sc := s.tracker.Scores(inst.key, h)
			if sc.N == 0 {
				continue
			}
			fn(MetricCoverage, hNames, hVals, sc.Coverage)
			fn(MetricScoredPoints, hNames, hVals, float64(sc.N))
			eNames := append(append([]string(nil), hNames...), "metric")
			eVals := append(append([]string(nil), hVals...), "")
			for _, ev := range [...]struct {
				metric string
				v      float64
			}{{"mae", sc.MAE}, {"mase", sc.MASE}, {"smape", sc.SMAPE}} {
				if math.IsNaN(ev.v) || math.IsInf(ev.v, 0) {
					continue
				}
				eVals[len(eVals)-1] = ev.metric
				fn(MetricForecastError, eNames, eVals, ev.v)
			}
		}
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// families lists the exposed metric families in output order.
var families = []string{
	MetricShadow, MetricShadowLower, MetricShadowUpper, MetricShadowPeak, MetricShadowPeakUpper,
	MetricActual, MetricModelInfo, MetricModelTrained, MetricLastForecast, MetricConfidence, MetricInstances,
	MetricForecastError, MetricCoverage, MetricScoredPoints,
}

// WriteText writes every shadow sample in the Prometheus text format
// (version 0.0.4), grouped by family. It is the fast path of /metrics: at
// 10,000 instances it avoids building a client_golang metric per sample.
func (c *Collector) WriteText(w io.Writer) error {
	idx := make(map[string]int, len(families))
	for i, f := range families {
		idx[f] = i
	}
	bufs := make([][]byte, len(families))
	c.each(func(metric string, names, values []string, v float64) {
		i := idx[metric]
		b := bufs[i]
		b = append(b, metric...)
		b = append(b, '{')
		for j, n := range names {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, n...)
			b = append(b, '=', '"')
			b = appendEscaped(b, values[j])
			b = append(b, '"')
		}
		b = append(b, '}', ' ')
		b = appendFloat(b, v)
		b = append(b, '\n')
		bufs[i] = b
	})
	for i, f := range families {
		if len(bufs[i]) == 0 {
			continue
		}
		if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", f, escapeHelp(metricHelp[f]), f); err != nil {
			return err
		}
		if _, err := w.Write(bufs[i]); err != nil {
			return err
		}
	}
	return nil
}

// appendEscaped appends a label value escaped per the text format.
func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch ch := v[i]; ch {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, ch)
		}
	}
	return b
}

func escapeHelp(h string) string {
	return strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(h)
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
