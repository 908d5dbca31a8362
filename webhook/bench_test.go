package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast"
)

// BenchmarkWebhookLoopback500rps drives the real handler over loopback HTTP
// at 500 requests/s (open loop: one request every 2ms whatever the
// latency), each a distinct firing alert, with the engine running in
// dry_run. It reports the client-side latency percentiles. Run it with a
// fixed count so the rate holds, e.g.
//
//	go test -run '^$' -bench WebhookLoopback -benchtime 5000x ./webhook
func BenchmarkWebhookLoopback500rps(b *testing.B) {
	reader := &fakeReader{vals: map[string]shadowcast.Value{
		"http_requests": {Point: 700, Lower: 600, Upper: 820, PeakUpper: 850, Actual: 500},
	}}
	e, err := New(Options{
		Resources: []Resource{{
			Name: "checkout", Shadow: "http_requests", Horizon: 15 * time.Minute, ThresholdUpper: 800, ThresholdLower: 300,
			Mode: ModeDryRun, Cooldown: 0, Stabilization: 5 * time.Minute,
			Pools: []Pool{{Name: "checkout", CapacityPerUnit: 100, Min: 1, Max: 20, Actuator: &fakeActuator{units: 5}}},
		}},
		Reader: reader, BearerToken: testToken, QueueSize: 64, Workers: 2, DedupeTTL: time.Hour, DecisionsKept: 256,
	}, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/webhook/alertmanager", e)
	srv := httptest.NewServer(r) // 127.0.0.1:0
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

	tmpl := `{"version":"4","status":"firing","receiver":"shadowcast","groupKey":"{}:{}","alerts":[{"status":"firing",` +
		`"labels":{"alertname":"ShadowcastScaleUp","shadowcast_resource":"checkout"},"annotations":{},` +
		`"startsAt":"2026-11-27T08:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"%016x"}]}`
	lat := make([]time.Duration, b.N)
	codes := make([]int, b.N)
	var wg sync.WaitGroup
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook/alertmanager", bytes.NewReader(fmt.Appendf(nil, tmpl, i)))
			req.Header.Set("Authorization", "Bearer "+testToken)
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				codes[i] = -1
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat[i], codes[i] = time.Since(t0), resp.StatusCode
		})
	}
	wg.Wait()
	b.StopTimer()
	for i, c := range codes {
		if c != http.StatusAccepted && c != http.StatusOK {
			b.Fatalf("request %d answered %d", i, c)
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(0, "ns/op")
}
