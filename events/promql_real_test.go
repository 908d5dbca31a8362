package events

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowcast/shadowcast/internal/testenv"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
)

// TestPromQLReal flips a campaign_active gauge on, off and on again behind
// a real Prometheus and checks that the PromQL source sees one closed run
// and one active run.
// startPrometheus runs the real Prometheus scraping target every second.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	return testenv.StartPrometheus(t, testenv.ScrapeConfig(target))
}

func TestPromQLReal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus; skipped with -short")
	}
	var on atomic.Bool
	tgt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := 0
		if on.Load() {
			v = 1
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE campaign_active gauge\ncampaign_active{campaign=\"black_friday\",type=\"campaign\"} %d\n", v)
	}))
	defer tgt.Close()
	url := startPrometheus(t, strings.TrimPrefix(tgt.URL, "http://"))
	api, err := NewPrometheusAPI(url, commoncfg.HTTPClientConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	p, err := NewPromQL(PromQLOptions{Name: "campaigns", API: api, Query: "campaign_active", Step: time.Second,
		Lookback: 2 * time.Minute, NameLabel: "campaign", KindLabel: "type", Timeout: 5 * time.Second}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Phases of about 3 s: off, on, off, on.
	phase := func(v bool) { on.Store(v); time.Sleep(3500 * time.Millisecond) }
	phase(false)
	phase(true)
	phase(false)
	on.Store(true)
	var list []Event
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := p.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		list = r.List()
		if len(list) == 2 && list[1].End.After(time.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want a closed and an active run, got %+v", list)
		}
		time.Sleep(500 * time.Millisecond)
	}
	closed, active := list[0], list[1]
	if closed.Name != "black_friday" || closed.Kind != "campaign" {
		t.Errorf("name/kind from labels: %+v", closed)
	}
	if d := closed.End.Sub(closed.Start); d < 2*time.Second || d > 5*time.Second {
		t.Errorf("closed run lasted %s, want about 3.5s: %+v", d, closed)
	}
	if !active.End.After(time.Now()) || active.Start.Before(closed.End) {
		t.Errorf("active run: %+v (closed ended %v)", active, closed.End)
	}
}
