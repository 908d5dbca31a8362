package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKEDAScalerEndToEnd runs the real binary on the embedded default with
// the scaler on, and calls it with grpcurl (a real gRPC client using the
// server's reflection), as KEDA would: the metric is the shadow, and bad
// metadata and unknown shadows get the documented codes.
func TestKEDAScalerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	grpcurl := tool(t, "grpcurl")
	bin := shadowcastBinary(t)
	httpPort, grpcPort := freePort(t), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	grpcAddr := fmt.Sprintf("127.0.0.1:%d", grpcPort)
	start(t, bin, "--storage.path="+filepath.Join(t.TempDir(), "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", httpPort), "--grpc.listen-address="+grpcAddr)
	waitFor(t, "ready", 60*time.Second, func() bool { return httpOK(base + "/-/ready") })

	call := func(method, body string) (string, error) {
		out, err := exec.Command(grpcurl, "-plaintext", "-d", body, grpcAddr, "externalscaler.ExternalScaler/"+method).CombinedOutput()
		return string(out), err
	}
	meta := `{"scalerMetadata":{"shadow":"nasa_http_requests","horizon":"15m","targetValue":"10"}}`
	out, err := call("GetMetricSpec", meta)
	if err != nil {
		t.Fatalf("GetMetricSpec: %v\n%s", err, out)
	}
	var spec struct {
		MetricSpecs []struct {
			MetricName      string  `json:"metricName"`
			TargetSizeFloat float64 `json:"targetSizeFloat"`
		} `json:"metricSpecs"`
	}
	if err := json.Unmarshal([]byte(out), &spec); err != nil || len(spec.MetricSpecs) != 1 || spec.MetricSpecs[0].TargetSizeFloat != 10 {
		t.Fatalf("GetMetricSpec answer %q (%v)", out, err)
	}
	name := spec.MetricSpecs[0].MetricName

	out, err = call("GetMetrics", fmt.Sprintf(`{"scaledObjectRef":%s,"metricName":%q}`, meta, name))
	if err != nil {
		t.Fatalf("GetMetrics: %v\n%s", err, out)
	}
	var metrics struct {
		MetricValues []struct {
			MetricName       string  `json:"metricName"`
			MetricValueFloat float64 `json:"metricValueFloat"`
		} `json:"metricValues"`
	}
	if err := json.Unmarshal([]byte(out), &metrics); err != nil || len(metrics.MetricValues) != 1 {
		t.Fatalf("GetMetrics answer %q (%v)", out, err)
	}
	got := metrics.MetricValues[0]
	peakUpper, ok := metricValue(base+"/metrics", "shadowcast_shadow_peak_upper", `horizon="15m"`)
	if got.MetricName != name || !ok || got.MetricValueFloat <= 0 {
		t.Errorf("GetMetrics %+v; /metrics peak_upper %v", got, peakUpper)
	}

	for _, tc := range []struct{ body, code string }{
		{`{"scalerMetadata":{"shadow":"nasa_http_requests","horizon":"15m"}}`, "InvalidArgument"},
		{`{"scalerMetadata":{"shadow":"nope","horizon":"15m","targetValue":"10"}}`, "NotFound"},
	} {
		out, err := call("IsActive", tc.body)
		if err == nil || !strings.Contains(out, tc.code) {
			t.Errorf("IsActive(%s) = %v %q, want %s", tc.body, err, out, tc.code)
		}
	}
}
