package remotewrite

import (
	"fmt"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// BenchmarkSnapshotEncode measures one interval of a large deployment:
// 10,000 instances x 3 horizons x 5 shadow metrics + the actual value
// (160,000 samples), snapshotted, split and encoded.
func BenchmarkSnapshotEncode(b *testing.B) {
	src := &fakeSource{}
	for i := range 10000 {
		inst := fmt.Sprintf("pod-%05d", i)
		for _, h := range []string{"5m", "15m", "30m"} {
			for _, m := range DefaultMetrics[:5] {
				src.samples = append(src.samples, sample{m, []string{"shadow", "horizon", "pod"}, []string{"http", h, inst}, float64(i)})
			}
		}
		src.samples = append(src.samples, sample{"shadowcast_actual", []string{"shadow", "pod"}, []string{"http", inst}, float64(i)})
	}
	w, err := New(Options{URL: "http://127.0.0.1:1/", ExternalLabels: map[string]string{"cluster": "eu"}}, src, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		series := w.Snapshot()
		bytes := 0
		for len(series) > 0 {
			n := min(len(series), DefaultMaxSamplesPerRequest)
			raw, err := (&prompb.WriteRequest{Timeseries: series[:n]}).Marshal()
			if err != nil {
				b.Fatal(err)
			}
			bytes += len(snappy.Encode(nil, raw))
			series = series[n:]
		}
		b.ReportMetric(float64(bytes), "compressed_bytes/op")
	}
	b.ReportMetric(float64(len(src.samples)), "samples/op")
}
