package scaler

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// BenchmarkGetMetricsAt200rps measures GetMetrics latency from KEDA's
// generated client over loopback TCP, open loop at 200 requests/s (one
// request started every 5 ms whether or not the previous one finished, as
// many ScaledObjects polling at once would), and reports p50/p99/max in ms.
// b.N is the number of requests, so run it with a fixed count:
//
//	go test ./scaler -run '^$' -bench GetMetricsAt200rps -benchtime 2000x
func BenchmarkGetMetricsAt200rps(b *testing.B) {
	env := startServer(b, Options{})
	env.reader.set("rps", 15*time.Minute, instance(env.clock, "eu", 120), instance(env.clock, "us", 80))
	req := &pb.GetMetricsRequest{ScaledObjectRef: ref(meta()), MetricName: "shadowcast-rps-15m"}
	ctx := context.Background()
	// Warm the connection.
	if _, err := env.client.GetMetrics(ctx, req); err != nil {
		b.Fatal(err)
	}

	lat := make([]time.Duration, b.N)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		wg.Go(func() {
			start := time.Now()
			_, err := env.client.GetMetrics(ctx, req)
			lat[i] = time.Since(start)
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(0, "ns/op") // wall time per op is the 5 ms pacing, not a result
}
