package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
)

func TestKPIDefaults(t *testing.T) {
	kpis := []KPI{{Name: "p99", Query: "vector(1)"}, {Name: "cost", Query: "vector(2)", Kind: KPICost, Interval: model.Duration(time.Hour), MaxSeries: 5}}
	applyKPIDefaults(kpis)
	want := []KPI{
		{Name: "p99", Query: "vector(1)", Kind: KPIOther, Interval: DefaultKPIInterval, MaxSeries: DefaultKPISeries},
		{Name: "cost", Query: "vector(2)", Kind: KPICost, Interval: model.Duration(time.Hour), MaxSeries: 5},
	}
	if diff := cmp.Diff(want, kpis); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestKPIValidation(t *testing.T) {
	base := func() *Config {
		return &Config{
			Prometheus: Prometheus{URL: "http://127.0.0.1:9090"},
			Shadows:    []Shadow{{Name: "web"}},
			Resources:  []Resource{{Name: "pool", Shadow: "web"}},
		}
	}
	kpi := func(mod func(*KPI)) []KPI {
		k := []KPI{{Name: "latency_p99", Query: `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))`, Shadow: "web", Resource: "pool", Kind: KPILatency}}
		applyKPIDefaults(k)
		if mod != nil {
			mod(&k[0])
		}
		return k
	}
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		kpis []KPI
		want []string
	}{
		{"valid", nil, kpi(nil), nil},
		{"none needs no prometheus", func(c *Config) { c.Prometheus.URL = "" }, nil, nil},
		{"prometheus url", func(c *Config) { c.Prometheus.URL = "" }, kpi(nil), []string{"prometheus.url (needed by kpis): is required"}},
		{"prometheus http config", func(c *Config) {
			c.Prometheus.HTTPConfig.BearerToken, c.Prometheus.HTTPConfig.BearerTokenFile = "a", "/b"
		}, kpi(nil), []string{
			"prometheus (needed by kpis): at most one of bearer_token & bearer_token_file must be configured"}},
		{"prometheus checked by Validate already", func(c *Config) {
			c.Prometheus.URL = ""
			c.Shadows[0].Source.Prometheus = &PrometheusSource{Query: "up"}
		}, kpi(nil), nil},
		{"name", nil, kpi(func(k *KPI) { k.Name = "p-99" }), []string{"kpis[0] (p-99): name must match ^[a-zA-Z_][a-zA-Z0-9_]*$"}},
		{"no name", nil, kpi(func(k *KPI) { k.Name = "" }), []string{"kpis[0]: name is required"}},
		{"duplicate", nil, append(kpi(nil), kpi(nil)...), []string{`kpis[1] (latency_p99): duplicate kpi name "latency_p99"`}},
		{"no query", nil, kpi(func(k *KPI) { k.Query = "" }), []string{"kpis[0] (latency_p99): query is required"}},
		{"bad query", nil, kpi(func(k *KPI) { k.Query = "sum(" }), []string{"kpis[0] (latency_p99): query: 1:5: parse error: unclosed left parenthesis"}},
		{"kind", nil, kpi(func(k *KPI) { k.Kind = "speed" }), []string{`kpis[0] (latency_p99): unknown kind "speed" (want one of [latency throughput utilisation cost slo_violation other])`}},
		{"interval and series", nil, kpi(func(k *KPI) { k.Interval = -1; k.MaxSeries = MaxKPISeries + 1 }), []string{
			"kpis[0] (latency_p99): interval must be positive", "kpis[0] (latency_p99): max_series 1001 must be in [1, 1000]"}},
		{"references", nil, kpi(func(k *KPI) { k.Shadow = "db"; k.Resource = "nodes" }), []string{
			`kpis[0] (latency_p99): unknown shadow "db"`, `kpis[0] (latency_p99): unknown resource "nodes"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			if tc.cfg != nil {
				tc.cfg(c)
			}
			var got []string
			for _, err := range c.validateKPIs(tc.kpis) {
				got = append(got, err.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
