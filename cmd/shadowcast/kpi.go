package main

import (
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/kpi"
	"github.com/shadowcast/shadowcast/web"
)

// newKPICollector returns the collector of the configured KPIs, registered
// on reg, querying the top-level prometheus connection. With no KPI it
// idles (a reload may add some). Run it with go c.Run(ctx); on reload call
// c.Reload(kpiDefinitions(newCfg.KPIs)) (the connection is not reloaded).
func newKPICollector(kpis []config.KPI, prom config.Prometheus, reg prometheus.Registerer, logger *slog.Logger) (*kpi.Collector, error) {
	c, err := kpi.New(kpi.Options{
		URL:        prom.URL,
		Timeout:    time.Duration(prom.Timeout),
		HTTPConfig: prom.HTTPConfig,
		KPIs:       kpiDefinitions(kpis),
	}, reg, logger)
	if err != nil {
		return nil, err
	}
	if len(kpis) > 0 {
		logger.Info("KPI collection enabled", "kpis", len(kpis), "prometheus", prom.URL)
	}
	return c, nil
}

// kpiDefinitions translates the config entries.
func kpiDefinitions(kpis []config.KPI) []kpi.Definition {
	out := make([]kpi.Definition, 0, len(kpis))
	for _, k := range kpis {
		out = append(out, kpi.Definition{
			Name:      k.Name,
			Query:     k.Query,
			Kind:      k.Kind,
			Shadow:    k.Shadow,
			Resource:  k.Resource,
			Interval:  time.Duration(k.Interval),
			MaxSeries: k.MaxSeries,
		})
	}
	return out
}

// kpiRows lists the latest KPI values for the status page.
func kpiRows(c *kpi.Collector) func() []web.KPIRow {
	return func() []web.KPIRow {
		var rows []web.KPIRow
		for _, name := range c.Names() {
			vals, at, err := c.Latest(name)
			errText := ""
			if err != nil {
				errText = err.Error()
			}
			if len(vals) == 0 {
				rows = append(rows, web.KPIRow{Name: name, Value: math.NaN(), At: at, Err: errText})
			}
			for _, v := range vals {
				rows = append(rows, web.KPIRow{Name: name, Labels: labels.FromMap(v.Labels).String(), Value: v.Value, At: at, Err: errText})
			}
		}
		return rows
	}
}
