package collector

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shadowcast/shadowcast/internal/testenv"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
)

// startPrometheus runs the real Prometheus scraping target every second.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	return testenv.StartPrometheus(t, testenv.ScrapeConfig(target))
}

func TestPrometheusReal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus; skipped with -short")
	}
	born := time.Now()
	tgt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE shadowcast_test_activity gauge\n")
		fmt.Fprintf(w, "shadowcast_test_activity{service=\"a\"} 42\nshadowcast_test_activity{service=\"b\"} 7\n")
		fmt.Fprintf(w, "# TYPE shadowcast_test_requests_total counter\nshadowcast_test_requests_total %g\n", 10*time.Since(born).Seconds())
	}))
	defer tgt.Close()
	url := startPrometheus(t, strings.TrimPrefix(tgt.URL, "http://"))

	ctx := context.Background()
	src := func(query string, maxPoints int) *Prometheus {
		p, err := NewPrometheus(PrometheusOptions{Shadow: "real", URL: url, Query: query, Timeout: 5 * time.Second, MaxPointsPerQuery: maxPoints}, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	gauge := src(`sum by (service) (shadowcast_test_activity)`, 0)
	// Wait until a few scrapes are in.
	var got []Series
	deadline := time.Now().Add(20 * time.Second)
	for {
		now := gauge.Now()
		var err error
		got, err = gauge.Fetch(ctx, now.Add(-time.Minute), now, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 2 && len(got[0].Samples) >= 3 && len(got[1].Samples) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no data after 20s: %v", got)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for i, want := range []struct {
		svc string
		v   float64
	}{{"a", 42}, {"b", 7}} {
		if !labels.Equal(got[i].Labels, labels.FromStrings("service", want.svc)) {
			t.Errorf("series %d labels = %s", i, got[i].Labels)
		}
		for _, s := range got[i].Samples {
			if s.V != want.v || s.T%1000 != 0 {
				t.Fatalf("service %s: sample %+v, want value %g on a whole second", want.svc, s, want.v)
			}
		}
	}

	// The same window in chunks of 3 points equals the single query.
	now := gauge.Now().Truncate(time.Second)
	whole, err := gauge.Fetch(ctx, now.Add(-20*time.Second), now, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	chunked, err := src(`sum by (service) (shadowcast_test_activity)`, 3).Fetch(ctx, now.Add(-20*time.Second), now, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(whole, chunked, cmp.Comparer(labels.Equal)); diff != "" {
		t.Errorf("chunked != whole (-whole +chunked):\n%s", diff)
	}

	// A counter's slope (deriv, immune to rate()'s extrapolation at the
	// series' start): 10 per second.
	rate := src(`deriv(shadowcast_test_requests_total[4s])`, 0)
	now = rate.Now()
	got, err = rate.Fetch(ctx, now.Add(-3*time.Second), now, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Samples) == 0 {
		t.Fatalf("rate: got %v", got)
	}
	if !labels.Equal(got[0].Labels, labels.FromStrings("instance", strings.TrimPrefix(tgt.URL, "http://"), "job", "target")) {
		t.Errorf("rate labels = %s", got[0].Labels)
	}
	for _, s := range got[0].Samples {
		if s.V < 9.5 || s.V > 10.5 {
			t.Errorf("rate sample %+v, want about 10/s", s)
		}
	}
	// A bad query comes back as an error naming the problem.
	if _, err := src(`sum(`, 0).Fetch(ctx, now.Add(-time.Minute), now, time.Second); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("bad query: err = %v", err)
	}
}
