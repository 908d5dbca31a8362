package remotewrite

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/shadowcast/shadowcast/internal/testenv"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
)

// TestRealPrometheus pushes shadows into a real Prometheus and reads them
// back through its query API.
// startReceiver runs the real Prometheus with its remote-write receiver
// enabled and returns its URL.
func startReceiver(t *testing.T) string {
	t.Helper()
	return testenv.StartPrometheus(t, testenv.ScrapeConfig(), "--web.enable-remote-write-receiver")
}

func TestRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus; skipped with -short")
	}
	url := startReceiver(t)
	reg := prometheus.NewRegistry()
	now := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	src := testSource()
	w, err := New(Options{
		Name:           "real",
		URL:            url + "/api/v1/write",
		ExternalLabels: map[string]string{"cluster": "eu"},
		Clock:          func() time.Time { return now },
	}, src, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := w.Collect(); n != 3 {
		t.Fatalf("Collect() = %d, want 3", n)
	}
	if err := w.Drain(context.Background()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if got := counter(t, reg, "sent"); got != 3 {
		t.Errorf("sent = %g, want 3", got)
	}

	client, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	query := func(q string) []string {
		t.Helper()
		res, _, _, err := v1.NewAPI(client).Query(ctx, q, now)
		if err != nil {
			t.Fatalf("query %s: %v", q, err)
		}
		var out []string
		for _, s := range res.(model.Vector) {
			out = append(out, fmt.Sprintf("%s %g @%d", s.Metric, float64(s.Value), int64(s.Timestamp)))
		}
		sort.Strings(out)
		return out
	}
	ms := now.UnixMilli()
	got := query(`shadowcast_shadow{horizon="15m"}`)
	want := []string{fmt.Sprintf(`shadowcast_shadow{cluster="eu", horizon="15m", job="api", shadow="http"} 120.5 @%d`, ms)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shadowcast_shadow read back (-want +got):\n%s", diff)
	}
	got = query(`{__name__=~"shadowcast_.*", shadow="http"}`)
	want = []string{
		fmt.Sprintf(`shadowcast_actual{cluster="eu", job="api", replica="b", shadow="http"} 99 @%d`, ms),
		fmt.Sprintf(`shadowcast_shadow_upper{cluster="eu", horizon="15m", job="api", shadow="http"} 150 @%d`, ms),
		fmt.Sprintf(`shadowcast_shadow{cluster="eu", horizon="15m", job="api", shadow="http"} 120.5 @%d`, ms),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("every series read back (-want +got):\n%s", diff)
	}

	// A series that vanishes is marked stale: Prometheus stops returning it
	// at once, not after the 5-minute lookback.
	src.mu.Lock()
	all := src.samples
	src.samples = []sample{all[0], all[2], all[3]}
	src.mu.Unlock()
	now = now.Add(15 * time.Second)
	ms = now.UnixMilli()
	if n := w.Collect(); n != 3 {
		t.Fatalf("Collect() after a series vanished = %d, want 2 samples and 1 staleness marker", n)
	}
	if err := w.Drain(context.Background()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	got = query(`{__name__=~"shadowcast_.*", shadow="http"}`)
	want = []string{
		fmt.Sprintf(`shadowcast_actual{cluster="eu", job="api", replica="b", shadow="http"} 99 @%d`, ms),
		fmt.Sprintf(`shadowcast_shadow{cluster="eu", horizon="15m", job="api", shadow="http"} 120.5 @%d`, ms),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series read back after one vanished (-want +got):\n%s", diff)
	}
	src.mu.Lock()
	src.samples = all
	src.mu.Unlock()
	sentBefore := counter(t, reg, "sent")

	// A sample older than the one stored is out of order for Prometheus:
	// a 400 that must not be retried.
	now = now.Add(-time.Minute)
	w.Collect()
	err = w.Drain(context.Background())
	if err == nil {
		t.Fatal("out-of-order samples accepted")
	}
	t.Logf("out-of-order write: %v", err)
	if got := testutil.ToFloat64(w.retries); got != 0 {
		t.Errorf("retries after a 4xx = %g, want 0", got)
	}
	if got := counter(t, reg, "failed"); got != 3 {
		t.Errorf("failed = %g, want 3", got)
	}
	if got := counter(t, reg, "sent"); got != sentBefore {
		t.Errorf("sent = %g after a rejected write, want %g", got, sentBefore)
	}
}
