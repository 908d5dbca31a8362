package kpi

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shadowcast/shadowcast/internal/testenv"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRealPrometheus evaluates KPIs against a real Prometheus: constant
// expressions, a scalar, a scraped series and a query it rejects.
// startPrometheus runs the real Prometheus scraping itself (job "self")
// and returns its URL.
func startPrometheus(t *testing.T) string {
	t.Helper()
	addr := testenv.FreeAddr(t)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: [%q]\n", addr)
	return testenv.StartPrometheusOn(t, addr, cfg)
}

func TestRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus; skipped with -short")
	}
	url := startPrometheus(t)
	reg := prometheus.NewRegistry()
	c, err := New(Options{URL: url, Timeout: 5 * time.Second, KPIs: []Definition{
		{Name: "answer", Query: `vector(42)`, Kind: "other"},
		{Name: "by_pod", Query: `label_replace(vector(0.5), "pod", "a", "", "") or label_replace(vector(0.75), "pod", "b", "", "")`, Kind: "utilisation", Resource: "pool"},
		{Name: "ratio", Query: `scalar(vector(0.125))`, Kind: "slo_violation"},
		{Name: "targets_up", Query: `up{job="self"}`, Kind: "throughput", Shadow: "web"},
		{Name: "broken", Query: `rate(up[5m]`, Kind: "latency"},
	}}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []string{"answer", "by_pod", "ratio"} {
		if err := c.Evaluate(ctx, n); err != nil {
			t.Fatalf("Evaluate(%s): %v", n, err)
		}
	}
	err = c.Evaluate(ctx, "broken")
	if err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("Evaluate(broken) = %v, want Prometheus' bad_data error", err)
	}
	// up{job="self"} appears after the first self-scrape.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := c.Evaluate(ctx, "targets_up"); err != nil {
			t.Fatal(err)
		}
		if vals, _, _ := c.Latest("targets_up"); len(vals) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("up{job=\"self\"} not scraped after 15s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	want := fmt.Sprintf(`
# HELP shadowcast_kpi Latest value of a configured KPI query (kind: latency, throughput, utilisation, cost, slo_violation, other), one series per result series.
# TYPE shadowcast_kpi gauge
shadowcast_kpi{kind="other",kpi="answer"} 42
shadowcast_kpi{kind="utilisation",kpi="by_pod",pod="a",resource="pool"} 0.5
shadowcast_kpi{kind="utilisation",kpi="by_pod",pod="b",resource="pool"} 0.75
shadowcast_kpi{kind="slo_violation",kpi="ratio"} 0.125
shadowcast_kpi{instance=%q,job="self",kind="throughput",kpi="targets_up",shadow="web"} 1
`, strings.TrimPrefix(url, "http://"))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricKPI); err != nil {
		t.Error(err)
	}
	vals, _, _ := c.Latest("by_pod")
	wantVals := []Value{{Labels: map[string]string{"pod": "a"}, Value: 0.5}, {Labels: map[string]string{"pod": "b"}, Value: 0.75}}
	if diff := cmp.Diff(wantVals, vals); diff != "" {
		t.Errorf("Latest(by_pod) (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(c.m.queries.WithLabelValues("broken", "error")); got != 1 {
		t.Errorf("broken errors = %g, want 1", got)
	}
}
