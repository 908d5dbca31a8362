package config

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// KPI kinds.
const (
	KPILatency      = "latency"
	KPIThroughput   = "throughput"
	KPIUtilisation  = "utilisation"
	KPICost         = "cost"
	KPISLOViolation = "slo_violation"
	KPIOther        = "other"
)

// Limits of the KPI collection.
const (
	MaxKPIs          = 100
	MaxKPISeries     = 1000
	DefaultKPISeries = 50
)

// DefaultKPIInterval is how often a KPI's query is evaluated by default.
var DefaultKPIInterval = model.Duration(time.Minute)

var validKPIKinds = []string{KPILatency, KPIThroughput, KPIUtilisation, KPICost, KPISLOViolation, KPIOther}

// KPI is a PromQL instant query evaluated periodically through the
// top-level prometheus connection and exported as shadowcast_kpi{kpi=...}.
type KPI struct {
	// Name identifies the KPI ([a-zA-Z_][a-zA-Z0-9_]*).
	Name string `yaml:"name"`
	// Query is the PromQL expression; each series it returns is kept (up
	// to MaxSeries).
	Query string `yaml:"query"`
	// Shadow and Resource attach the KPI to a configured shadow or
	// resource (optional; exported as labels).
	Shadow   string `yaml:"shadow,omitempty"`
	Resource string `yaml:"resource,omitempty"`
	// Kind is latency, throughput, utilisation, cost, slo_violation or
	// other (the default).
	Kind string `yaml:"kind"`
	// Interval between two evaluations.
	Interval model.Duration `yaml:"interval"`
	// MaxSeries bounds the result series kept; the rest are dropped.
	MaxSeries int `yaml:"max_series"`
}

// applyKPIDefaults fills the unset keys of every KPI.
func applyKPIDefaults(kpis []KPI) {
	for i := range kpis {
		k := &kpis[i]
		if k.Kind == "" {
			k.Kind = KPIOther
		}
		if k.Interval == 0 {
			k.Interval = DefaultKPIInterval
		}
		if k.MaxSeries == 0 {
			k.MaxSeries = DefaultKPISeries
		}
	}
}

// validateKPIs reports every problem of kpis against the rest of c: shadows
// and resources must exist, and the prometheus connection must be set.
func (c *Config) validateKPIs(kpis []KPI) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(kpis) == 0 {
		return nil
	}
	if len(kpis) > MaxKPIs {
		add("kpis: %d configured, the limit is %d", len(kpis), MaxKPIs)
	}
	// Validate checks the connection already when a shadow reads from
	// Prometheus; check it here only otherwise, to report each problem once.
	shadowsNeedProm := false
	for _, s := range c.Shadows {
		shadowsNeedProm = shadowsNeedProm || s.Source.Prometheus != nil
	}
	if !shadowsNeedProm {
		if err := validURL(c.Prometheus.URL); err != nil {
			add("prometheus.url (needed by kpis): %v", err)
		}
		if err := c.Prometheus.HTTPConfig.Validate(); err != nil {
			add("prometheus (needed by kpis): %v", err)
		}
	}
	shadows := map[string]bool{}
	for _, s := range c.Shadows {
		shadows[s.Name] = true
	}
	resources := map[string]bool{}
	for _, r := range c.Resources {
		resources[r.Name] = true
	}
	p := parser.NewParser(parser.Options{})
	seen := map[string]bool{}
	for i, k := range kpis {
		at := fmt.Sprintf("kpis[%d]", i)
		if k.Name != "" {
			at = fmt.Sprintf("kpis[%d] (%s)", i, k.Name)
		}
		switch {
		case k.Name == "":
			add("%s: name is required", at)
		case !nameRE.MatchString(k.Name):
			add("%s: name must match %s", at, nameRE)
		case seen[k.Name]:
			add("%s: duplicate kpi name %q", at, k.Name)
		}
		seen[k.Name] = true
		if k.Query == "" {
			add("%s: query is required", at)
		} else if _, err := p.ParseExpr(k.Query); err != nil {
			add("%s: query: %v", at, err)
		}
		if !contains(validKPIKinds, k.Kind) {
			add("%s: unknown kind %q (want one of %v)", at, k.Kind, validKPIKinds)
		}
		if k.Interval <= 0 {
			add("%s: interval must be positive", at)
		}
		if k.MaxSeries < 1 || k.MaxSeries > MaxKPISeries {
			add("%s: max_series %d must be in [1, %d]", at, k.MaxSeries, MaxKPISeries)
		}
		if k.Shadow != "" && !shadows[k.Shadow] {
			add("%s: unknown shadow %q", at, k.Shadow)
		}
		if k.Resource != "" && !resources[k.Resource] {
			add("%s: unknown resource %q", at, k.Resource)
		}
	}
	return errs
}
