package main

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/kpi"
	"github.com/shadowcast/shadowcast/policy"
	"github.com/shadowcast/shadowcast/webhook"
)

// The policy block of a resource reaches the engine: mode, gate, SLOs.
func TestScalingPolicyOptions(t *testing.T) {
	cfg, err := config.Load([]byte(`
shadows:
  - name: http_requests
    source: {file: {path: trace.csv}}
    horizons: [5m, 15m]
prometheus: {url: 'http://127.0.0.1:9090'}
kpis:
  - {name: latency_p99, query: 'vector(0.2)', kind: latency, resource: checkout}
  - {name: availability, query: 'vector(1)', kind: slo_violation}
resources:
  - name: checkout
    shadow: http_requests
    threshold_upper: 800
    threshold_lower: 300
    kind: http
    http: {url: 'http://127.0.0.1:19299/scale'}
    capacity_per_unit: 100
    max: 20
    policy:
      mode: active
      min_dry_run_epochs: 96
      slo: [{kpi: latency_p99, max: 0.3}, {kpi: availability, min: 0.999}]
  - name: search
    shadow: http_requests
    threshold_upper: 800
    threshold_lower: 300
    kind: http
    http: {url: 'http://127.0.0.1:19299/scale'}
    capacity_per_unit: 100
    max: 20
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &scaling{logger: slog.New(slog.DiscardHandler)}
	opts, _, err := s.options(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]webhook.PolicyOptions{"checkout": {
		Mode: policy.ModeActive, MinDryRunEpochs: 96, Lambda: 8, Epoch: 15 * time.Minute, SaveInterval: 5 * time.Minute,
		SLOs: []webhook.SLO{{KPI: "latency_p99", Max: true, Limit: 0.3}, {KPI: "availability", Limit: 0.999}},
	}}
	if diff := cmp.Diff(want, opts.Policies); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}

	// The KPI adapter reads the collector's latest values (none before the
	// first evaluation: zero time, so the policy counts no sample).
	c, err := kpi.New(kpi.Options{URL: "http://127.0.0.1:9", KPIs: []kpi.Definition{{Name: "latency_p99", Query: "vector(0.2)"}}},
		prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	vals, at, err := kpiValues{c}.KPIValues("latency_p99")
	if err != nil || len(vals) != 0 || !at.IsZero() {
		t.Errorf("before any evaluation: %v %v %v", vals, at, err)
	}
	if _, _, err := (kpiValues{c}).KPIValues("nope"); err == nil {
		t.Error("unknown KPI read without error")
	}
}
