package collector

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
)

// realPromAddr is where TestPrometheusReal runs Prometheus (this package's
// port range is 19100-19149).
const realPromAddr = "127.0.0.1:19100"

// toolsDir mirrors scripts/components.sh: $TOOLS, else
// ${XDG_CACHE_HOME:-~/.cache}/shadowcast/tools.
func toolsDir() string {
	if d := os.Getenv("TOOLS"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "shadowcast", "tools")
}

// startPrometheus runs the real Prometheus scraping target every second and
// returns its URL. It skips the test when the binary is not installed.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := filepath.Join(toolsDir(), "prometheus")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("real Prometheus not installed at %s (run: . scripts/components.sh && install_prometheus)", bin)
	}
	if c, err := net.DialTimeout("tcp", realPromAddr, 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatalf("%s is already in use", realPromAddr)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: target
    static_configs:
      - targets: [%q]
`, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + realPromAddr
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+realPromAddr, "--web.external-url="+url+"/")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
