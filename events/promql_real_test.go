package events

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
)

// realPromAddr is where TestPromQLReal runs Prometheus (this package's port
// range is 19300-19349).
const realPromAddr = "127.0.0.1:19300"

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
// returns its URL; it skips the test when the binary is not installed.
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
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: target\n    static_configs:\n      - targets: [%q]\n", target)
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
		"--web.listen-address="+realPromAddr)
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

// TestPromQLReal flips a campaign_active gauge on, off and on again behind
// a real Prometheus and checks that the PromQL source sees one closed run
// and one active run.
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
