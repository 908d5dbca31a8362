package kpi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var fixedNow = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// fakeAPI answers /api/v1/query with the body registered for the query,
// or with 503 when it is "unavailable".
type fakeAPI struct {
	mu      sync.Mutex
	bodies  map[string]string
	calls   map[string]int
	timeout string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	q := r.FormValue("query")
	f.mu.Lock()
	f.calls[q]++
	f.timeout = r.FormValue("timeout")
	body, ok := f.bodies[q]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case !ok:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"unknown query %q"}`, q)
	case body == "unavailable":
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"status":"error","errorType":"unavailable","error":"overloaded"}`)
	default:
		fmt.Fprint(w, body)
	}
}

func (f *fakeAPI) set(q, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies[q] = body
}

func (f *fakeAPI) count(q string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[q]
}

func vector(samples ...string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(samples, ",") + `]}}`
}

func sampleJSON(labels string, v string) string {
	return fmt.Sprintf(`{"metric":{%s},"value":[1795770000,%q]}`, labels, v)
}

const (
	qLatency = `histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m])))`
	qCost    = `sum(node_cost_hourly)`
	qMatrix  = `up[5m]`
	qScalar  = `scalar(sum(up))`
)

func newFake(t *testing.T) (*fakeAPI, *httptest.Server) {
	t.Helper()
	f := &fakeAPI{bodies: map[string]string{}, calls: map[string]int{}}
	f.set(qLatency, vector(
		sampleJSON(`"route":"/b","kind":"http"`, "0.25"),
		sampleJSON(`"route":"/a","kind":"http"`, "0.5"),
		sampleJSON(`"route":"/c","kind":"http"`, "0.125"),
	))
	f.set(qCost, vector(sampleJSON(`"__name__":"node_cost_hourly"`, "3.75")))
	f.set(qMatrix, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
	f.set(qScalar, `{"status":"success","data":{"resultType":"scalar","result":[1795770000,"4"]}}`)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func newTestCollector(t *testing.T, url string, reg prometheus.Registerer, defs ...Definition) *Collector {
	t.Helper()
	c, err := New(Options{URL: url, Timeout: 5 * time.Second, KPIs: defs, Clock: func() time.Time { return fixedNow }}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExposition(t *testing.T) {
	f, srv := newFake(t)
	reg := prometheus.NewRegistry()
	c := newTestCollector(t, srv.URL, reg,
		Definition{Name: "p99_latency", Query: qLatency, Kind: "latency", Shadow: "http", MaxSeries: 2},
		Definition{Name: "cost", Query: qCost, Kind: "cost", Resource: "nodes"},
		Definition{Name: "never_run", Query: qScalar},
	)
	for _, name := range []string{"p99_latency", "cost"} {
		if err := c.Evaluate(context.Background(), name); err != nil {
			t.Fatalf("Evaluate(%s): %v", name, err)
		}
	}
	if f.timeout != "5s" {
		t.Errorf("query timeout parameter = %q, want 5s", f.timeout)
	}
	want := `
# HELP shadowcast_kpi Latest value of a configured KPI query (kind: latency, throughput, utilisation, cost, slo_violation, other), one series per result series.
# TYPE shadowcast_kpi gauge
shadowcast_kpi{kind="latency",kpi="p99_latency",route="/a",shadow="http",source_kind="http"} 0.5
shadowcast_kpi{kind="latency",kpi="p99_latency",route="/b",shadow="http",source_kind="http"} 0.25
shadowcast_kpi{kind="cost",kpi="cost",resource="nodes"} 3.75
# HELP shadowcast_kpi_last_success_timestamp_seconds Unix time of the last successful evaluation of a KPI query.
# TYPE shadowcast_kpi_last_success_timestamp_seconds gauge
shadowcast_kpi_last_success_timestamp_seconds{kpi="cost"} 1.79577e+09
shadowcast_kpi_last_success_timestamp_seconds{kpi="p99_latency"} 1.79577e+09
# HELP shadowcast_kpi_series_dropped_total Result series of KPI queries dropped beyond the KPI's max_series.
# TYPE shadowcast_kpi_series_dropped_total counter
shadowcast_kpi_series_dropped_total{kpi="p99_latency"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricKPI, MetricLastSuccess, "shadowcast_kpi_series_dropped_total"); err != nil {
		t.Error(err)
	}
	vals, at, err := c.Latest("cost")
	if err != nil || !at.Equal(fixedNow) {
		t.Fatalf("Latest(cost) = _, %v, %v", at, err)
	}
	if diff := cmp.Diff([]Value{{Labels: map[string]string{}, Value: 3.75}}, vals); diff != "" {
		t.Errorf("Latest(cost) (-want +got):\n%s", diff)
	}
	if _, _, err := c.Latest("nope"); !errors.Is(err, ErrUnknownKPI) {
		t.Errorf("Latest(nope) error = %v, want ErrUnknownKPI", err)
	}
	if vals, at, err := c.Latest("never_run"); len(vals) != 0 || !at.IsZero() || err != nil {
		t.Errorf("Latest(never_run) = %v, %v, %v; want nothing yet", vals, at, err)
	}
}

func TestErrorsKeepLastValues(t *testing.T) {
	f, srv := newFake(t)
	reg := prometheus.NewRegistry()
	c := newTestCollector(t, srv.URL, reg,
		Definition{Name: "cost", Query: qCost},
		Definition{Name: "matrix", Query: qMatrix},
		Definition{Name: "scalar", Query: qScalar},
	)
	ctx := context.Background()
	if err := c.Evaluate(ctx, "cost"); err != nil {
		t.Fatal(err)
	}
	f.set(qCost, "unavailable")
	err := c.Evaluate(ctx, "cost")
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Evaluate after 503 = %v, want the server's error", err)
	}
	vals, at, lerr := c.Latest("cost")
	if lerr == nil || !at.Equal(fixedNow) || len(vals) != 1 || vals[0].Value != 3.75 {
		t.Errorf("Latest after a failure = %v, %v, %v; want the last good value and the error", vals, at, lerr)
	}
	if err := c.Evaluate(ctx, "matrix"); err == nil || !strings.Contains(err.Error(), "want an instant vector or a scalar") {
		t.Errorf("range query: %v", err)
	}
	if err := c.Evaluate(ctx, "scalar"); err != nil {
		t.Fatal(err)
	}
	if vals, _, _ := c.Latest("scalar"); len(vals) != 1 || vals[0].Value != 4 {
		t.Errorf("scalar values = %v, want [4]", vals)
	}
	want := `
# HELP shadowcast_kpi_queries_total KPI query evaluations, by kpi and result (success, error).
# TYPE shadowcast_kpi_queries_total counter
shadowcast_kpi_queries_total{kpi="cost",result="error"} 1
shadowcast_kpi_queries_total{kpi="cost",result="success"} 1
shadowcast_kpi_queries_total{kpi="matrix",result="error"} 1
shadowcast_kpi_queries_total{kpi="scalar",result="success"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shadowcast_kpi_queries_total"); err != nil {
		t.Error(err)
	}
	// The exposition still shows the last good cost.
	wantKPI := `
# HELP shadowcast_kpi Latest value of a configured KPI query (kind: latency, throughput, utilisation, cost, slo_violation, other), one series per result series.
# TYPE shadowcast_kpi gauge
shadowcast_kpi{kind="other",kpi="cost"} 3.75
shadowcast_kpi{kind="other",kpi="scalar"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantKPI), MetricKPI); err != nil {
		t.Error(err)
	}
}

func TestReload(t *testing.T) {
	_, srv := newFake(t)
	c := newTestCollector(t, srv.URL, nil, Definition{Name: "cost", Query: qCost}, Definition{Name: "scalar", Query: qScalar})
	ctx := context.Background()
	for _, n := range c.Names() {
		if err := c.Evaluate(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Reload([]Definition{{Name: "cost", Query: qCost}, {Name: "scalar", Query: "scalar(vector(1))"}, {Name: "new", Query: qCost}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cost", "scalar", "new"}, c.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if vals, _, _ := c.Latest("cost"); len(vals) != 1 {
		t.Errorf("unchanged KPI lost its values: %v", vals)
	}
	if vals, _, _ := c.Latest("scalar"); len(vals) != 0 {
		t.Errorf("changed KPI kept the old query's values: %v", vals)
	}
	for _, bad := range [][]Definition{{{Name: "a", Query: "x"}, {Name: "a", Query: "y"}}, {{Name: "", Query: "x"}}, {{Name: "a"}}} {
		if err := c.Reload(bad); err == nil {
			t.Errorf("Reload(%v) succeeded", bad)
		}
	}
	if len(c.Names()) != 3 {
		t.Errorf("a failed reload changed the KPIs: %v", c.Names())
	}

	// A prepared reload changes nothing until committed (the service
	// commits only when every component accepted the new file).
	commit, err := c.Prepare([]Definition{{Name: "only", Query: qCost}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Names()) != 3 {
		t.Errorf("Prepare changed the KPIs: %v", c.Names())
	}
	commit()
	if diff := cmp.Diff([]string{"only"}, c.Names()); diff != "" {
		t.Errorf("names after commit (-want +got):\n%s", diff)
	}
}

func TestRun(t *testing.T) {
	f, srv := newFake(t)
	c, err := New(Options{URL: srv.URL, KPIs: []Definition{
		{Name: "fast", Query: qCost, Interval: 20 * time.Millisecond},
		{Name: "slow", Query: qScalar, Interval: time.Hour},
	}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for f.count(qCost) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fast KPI evaluated %d times in 5s", f.count(qCost))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := f.count(qScalar); n != 1 {
		t.Errorf("hourly KPI evaluated %d times, want once at start", n)
	}
}
