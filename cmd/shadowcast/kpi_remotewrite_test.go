package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/shadowcast/shadowcast/collector"
	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/remotewrite"
	"github.com/shadowcast/shadowcast/shadow"
)

type oneSample struct{}

func (oneSample) Visit(fn func(metric string, names, values []string, v float64)) {
	fn("shadowcast_shadow", []string{"shadow", "horizon"}, []string{"http", "5m"}, 7)
	fn("shadowcast_model_info", []string{"shadow"}, []string{"http"}, 1)
}

func TestRemoteWritersFromConfig(t *testing.T) {
	var got atomic.Pointer[prompb.WriteRequest]
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		var wr prompb.WriteRequest
		if err == nil {
			err = wr.Unmarshal(raw)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		auth.Store(r.Header.Get("Authorization"))
		got.Store(&wr)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	rws := []config.RemoteWrite{{Name: "mimir", URL: srv.URL, Interval: model.Duration(10 * time.Millisecond),
		HTTPConfig: commoncfg.HTTPClientConfig{BearerToken: "tok"}}}
	reg := prometheus.NewRegistry()
	run, err := remoteWriters(rws, map[string]string{"cluster": "eu"}, oneSample{}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatal("nothing remote-written in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	wr := got.Load()
	if len(wr.Timeseries) != 1 {
		t.Fatalf("got %d series, want only shadowcast_shadow (model_info is not in the default metrics)", len(wr.Timeseries))
	}
	var ls []string
	for _, l := range wr.Timeseries[0].Labels {
		ls = append(ls, l.Name+"="+l.Value)
	}
	if s := strings.Join(ls, ","); s != "__name__=shadowcast_shadow,cluster=eu,horizon=5m,shadow=http" {
		t.Errorf("labels = %s", s)
	}
	if a, _ := auth.Load().(string); a != "Bearer tok" {
		t.Errorf("Authorization = %q, want the configured bearer token", a)
	}
	if n, _ := testutil.GatherAndCount(reg, "shadowcast_remote_write_samples_total"); n == 0 {
		t.Error("no shadowcast_remote_write_samples_total on the registry")
	}
}

func TestKPICollectorFromConfig(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pool":"a"},"value":[1,"0.8"]}]}}`)
	}))
	defer srv.Close()
	kpis := []config.KPI{{Name: "cpu", Query: "vector(1)", Kind: config.KPIUtilisation, Resource: "pool", Interval: model.Duration(time.Hour), MaxSeries: 5}}
	prom := config.Prometheus{URL: srv.URL, Timeout: model.Duration(time.Second), HTTPConfig: commoncfg.HTTPClientConfig{BearerToken: "tok"}}
	reg := prometheus.NewRegistry()
	c, err := newKPICollector(kpis, prom, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Evaluate(context.Background(), "cpu"); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP shadowcast_kpi Latest value of a configured KPI query (kind: latency, throughput, utilisation, cost, slo_violation, other), one series per result series.
# TYPE shadowcast_kpi gauge
shadowcast_kpi{kind="utilisation",kpi="cpu",pool="a",resource="pool"} 0.8
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shadowcast_kpi"); err != nil {
		t.Error(err)
	}
	// No KPI and no prometheus: an idle collector that a reload can fill.
	idle, err := newKPICollector(nil, config.Prometheus{}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil || len(idle.Names()) != 0 {
		t.Fatalf("idle collector: %v, %v", idle, err)
	}
}

// The exposition is the source remote write snapshots.
var _ remotewrite.Source = (*shadow.Collector)(nil)

// wallSource is a live-looking source: one instance with a reserved label,
// sampled every minute up to the wall clock.
type wallSource struct{}

func (wallSource) Now() time.Time { return time.Now() }

func (wallSource) Fetch(_ context.Context, from, to time.Time, step time.Duration) ([]collector.Series, error) {
	s := collector.Series{Labels: labels.FromStrings("service", "api", "shadow", "upstream")}
	for t := from.Truncate(step).Add(step); !t.After(to); t = t.Add(step) {
		s.Samples = append(s.Samples, collector.Sample{T: t.UnixMilli(), V: 100 + float64(t.Minute())})
	}
	return []collector.Series{s}, nil
}

// TestRemoteWriteRealExposition remote-writes the real shadow exposition,
// every metric of it, into the real Prometheus and reads it back.
func TestRemoteWriteRealExposition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus; skipped with -short")
	}
	prom := tool(t, "prometheus")
	const addr = "127.0.0.1:19351" // this test's port (range 19350-19399)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "prometheus.yml"), "global:\n  evaluation_interval: 1m\n")
	start(t, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver")
	base := "http://" + addr
	waitFor(t, "prometheus ready", 30*time.Second, func() bool { return httpOK(base + "/-/ready") })

	engine, err := shadow.New(shadow.Options{
		Models: models{},
		Shadows: []shadow.ShadowOptions{{
			Name: "requests", Source: wallSource{}, Step: time.Minute, History: 2 * time.Hour,
			Horizons: []time.Duration{5 * time.Minute, 15 * time.Minute}, Confidence: 0.9, Model: config.ModelSeasonalNaive,
			RetrainInterval: time.Hour, Clean: collector.CleanOptions{MaxGap: 5 * time.Minute},
		}},
	}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Step(context.Background(), "requests"); err != nil {
		t.Fatal(err)
	}
	engine.WaitTraining()
	ext := map[string]string{"replica": "a"}
	exposition := shadow.NewCollector(engine, ext)

	// Every metric the exposition serves, not only the default set.
	names := map[string]bool{}
	exposition.Visit(func(metric string, _, _ []string, _ float64) { names[metric] = true })
	var all []string
	for n := range names {
		all = append(all, n)
	}
	sort.Strings(all)
	if len(all) < 6 {
		t.Fatalf("the exposition serves only %v", all)
	}
	t.Logf("remote-writing %d metrics: %v", len(all), all)
	reg := prometheus.NewRegistry()
	run, err := remoteWriters([]config.RemoteWrite{{Name: "real", URL: base + "/api/v1/write",
		Interval: model.Duration(200 * time.Millisecond), Timeout: model.Duration(5 * time.Second), Metrics: all}},
		ext, exposition, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	var got []map[string]string
	var vals []float64
	waitFor(t, "shadowcast_shadow in Prometheus", 15*time.Second, func() bool {
		got, vals, err = promQuery(base, `shadowcast_shadow{horizon="15m"}`)
		return err == nil && len(got) > 0
	})
	want := []map[string]string{{"__name__": "shadowcast_shadow", "shadow": "requests", "horizon": "15m",
		"service": "api", "source_shadow": "upstream", "replica": "a"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series read back (-want +got):\n%s", diff)
	}
	if vals[0] < 100 || vals[0] > 160 {
		t.Errorf("15m shadow = %g, outside the source's range [100, 159]", vals[0])
	}
	// Every metric arrived, and nothing was rejected.
	waitFor(t, "every metric in Prometheus", 15*time.Second, func() bool {
		res, _, err := promQuery(base, `count by (__name__) ({__name__=~"shadowcast_.+", replica="a"})`)
		return err == nil && len(res) == len(all)
	})
	if n := failedSamples(t, reg); n != 0 {
		t.Errorf("%g samples rejected by Prometheus", n)
	}
}

func failedSamples(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "shadowcast_remote_write_samples_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() != "sent" {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
