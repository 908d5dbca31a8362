package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"

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
