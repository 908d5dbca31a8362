package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowcast/shadowcast/internal/testenv"
)

// Helpers shared by the end-to-end tests, which run the real shadowcast
// binary against real components installed by scripts/components.sh.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// shadowcastBinary builds the command once per test binary.
func shadowcastBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shadowcast-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "shadowcast")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// tool returns the path of a component binary, or skips the test.
func tool(t *testing.T, name string) string {
	t.Helper()
	return testenv.Tool(t, name)
}

// proc is a started process whose output goes to a file in the test's
// temp dir and is printed if the test fails.
type proc struct {
	cmd *exec.Cmd
	log string
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	log := filepath.Join(t.TempDir(), filepath.Base(name)+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: log}
	t.Cleanup(func() {
		p.stop()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("--- %s output:\n%s", filepath.Base(name), tail(string(b), 4000))
		}
	})
	return p
}

func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitFor polls cond every 100ms until it returns true or the timeout ends.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
	return 0
}

func httpOK(u string) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// promQuery runs an instant query and returns the samples' labels and values.
func promQuery(base, q string) ([]map[string]string, []float64, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, nil, err
	}
	if body.Status != "success" {
		return nil, nil, fmt.Errorf("query %q: status %s", q, body.Status)
	}
	var lbls []map[string]string
	var vals []float64
	for _, r := range body.Data.Result {
		var v float64
		fmt.Sscan(r.Value[1].(string), &v)
		lbls = append(lbls, r.Metric)
		vals = append(vals, v)
	}
	return lbls, vals, nil
}

// metricValue scrapes a /metrics endpoint and returns the sum of the
// samples of name whose label text contains every given substring.
func metricValue(u, name string, contains ...string) (float64, bool) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, c := range contains {
			ok = ok && strings.Contains(line, c)
		}
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// freePort reserves a loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// historyValue is the synthetic activity backfilled into Prometheus: a
// daily cycle per service.
func historyValue(service string, ts time.Time) float64 {
	base := map[string]float64{"a": 100, "b": 40}[service]
	h := float64(ts.Hour()) + float64(ts.Minute())/60
	return base + 0.5*base*math.Sin(2*math.Pi*h/24)
}

// TestPrometheusEndToEnd runs real Prometheus with three days of
// backfilled activity plus a live generator, and the real shadowcast
// binary reading it through the HTTP API. Prometheus scrapes shadowcast
// back, so the shadows are queryable in PromQL. Then shadowcast is killed
// with SIGKILL and restarted on the same store: it must serve again within
// seconds without re-querying the history window.
func TestPrometheusEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	prom := tool(t, "prometheus")
	promtool := tool(t, "promtool")
	bin := shadowcastBinary(t)
	dir := t.TempDir()

	const step = 15 * time.Second
	now := time.Now().Truncate(step)

	// The live activity generator: a value the history never had.
	const live = 123.456
	gen := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE demo_activity gauge\ndemo_activity{service=\"a\"} %g\ndemo_activity{service=\"b\"} %g\n", live, live/2)
	}))
	defer gen.Close()
	genHost := strings.TrimPrefix(gen.URL, "http://")

	// Three days of history at 15s for two services, as OpenMetrics, turned
	// into TSDB blocks with promtool (the way users backfill Prometheus).
	var om strings.Builder
	om.WriteString("# HELP demo_activity Synthetic activity.\n# TYPE demo_activity gauge\n")
	for _, svc := range []string{"a", "b"} {
		for ts := now.Add(-72 * time.Hour); ts.Before(now.Add(-time.Minute)); ts = ts.Add(step) {
			// The labels the live scrape will have, so history and live data
			// form one series.
			fmt.Fprintf(&om, "demo_activity{instance=%q,job=\"generator\",service=%q} %.3f %d\n", genHost, svc, historyValue(svc, ts), ts.Unix())
		}
	}
	om.WriteString("# EOF\n")
	omFile := filepath.Join(dir, "history.om")
	if err := os.WriteFile(omFile, []byte(om.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	promData := filepath.Join(dir, "prometheus")
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", omFile, promData).CombinedOutput(); err != nil {
		t.Fatalf("promtool backfill: %v\n%s", err, out)
	}

	promPort, scPort := freePort(t), freePort(t)
	promURL := fmt.Sprintf("http://127.0.0.1:%d", promPort)
	scURL := fmt.Sprintf("http://127.0.0.1:%d", scPort)
	promCfg := filepath.Join(dir, "prometheus.yml")
	writeFile(t, promCfg, fmt.Sprintf(`
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: generator
    static_configs: [{targets: [%q]}]
  - job_name: shadowcast
    static_configs: [{targets: ["127.0.0.1:%d"]}]
`, genHost, scPort))
	start(t, prom, "--config.file="+promCfg, "--storage.tsdb.path="+promData,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort), "--web.enable-lifecycle")
	waitFor(t, "Prometheus ready", 30*time.Second, func() bool { return httpOK(promURL + "/-/ready") })

	scCfg := filepath.Join(dir, "shadowcast.yml")
	writeFile(t, scCfg, fmt.Sprintf(`
prometheus:
  url: %s
shadows:
  - name: demo
    source:
      prometheus:
        query: sum by (service) (demo_activity)
    step: 15s
    history: 3d
    horizons: [5m, 15m, 30m]
    model: auto
`, promURL))
	store := filepath.Join(dir, "store")
	args := []string{"--config.file=" + scCfg, "--storage.path=" + store, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", scPort), "--log.level=debug"}
	sc := start(t, bin, args...)
	waitFor(t, "shadowcast ready", 60*time.Second, func() bool { return httpOK(scURL + "/-/ready") })

	// The shadow is queryable in Prometheus, per source series, with bounds.
	q := `shadowcast_shadow{shadow="demo",horizon="15m"}`
	waitFor(t, q+" in Prometheus", 60*time.Second, func() bool {
		l, _, err := promQuery(promURL, q)
		return err == nil && len(l) == 2
	})
	lbls, vals, err := promQuery(promURL, q)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lbls {
		if l["service"] == "" || l["job"] != "shadowcast" || math.IsNaN(vals[i]) {
			t.Errorf("unexpected shadow series %v = %v", l, vals[i])
		}
	}
	for _, q := range []string{
		`shadowcast_shadow_lower{shadow="demo",horizon="15m"} <= shadowcast_shadow{shadow="demo",horizon="15m"}`,
		`shadowcast_shadow_upper{shadow="demo",horizon="15m"} >= shadowcast_shadow{shadow="demo",horizon="15m"}`,
		`shadowcast_shadow_peak_upper{shadow="demo",horizon="30m"} >= shadowcast_shadow_upper{shadow="demo",horizon="30m"}`,
	} {
		if l, _, err := promQuery(promURL, q); err != nil || len(l) != 2 {
			t.Errorf("%s: %d series, err %v (want 2)", q, len(l), err)
		}
	}
	// With three days of history a real model serves, not the cold start.
	waitFor(t, "a trained model serving", 60*time.Second, func() bool {
		l, _, err := promQuery(promURL, `shadowcast_model_info{shadow="demo",reason="selected_by_backtest"}`)
		return err == nil && len(l) == 2
	})
	// shadowcast follows the live activity through incremental queries.
	var lastActual float64
	waitFor(t, "the live value in shadowcast_actual", 60*time.Second, func() bool {
		v, ok := metricValue(scURL+"/metrics", "shadowcast_actual", `service="a"`)
		lastActual = v
		return ok && math.Abs(v-live) < 1e-6
	})
	_ = lastActual
	// The whole exposition passes promtool's lint.
	resp, err := http.Get(scURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = resp.Body
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	resp.Body.Close()

	queriesBefore, _ := metricValue(scURL+"/metrics", "shadowcast_collector_queries_total", `result="success"`)
	if queriesBefore < 2 {
		t.Errorf("%v successful queries: want the backfill (2 chunks of ≤11,000 points) plus increments", queriesBefore)
	}

	// Crash and restart on the same store: served again within seconds,
	// from the store, with only an incremental query.
	sc.kill()
	start(t, bin, args...)
	took := waitFor(t, "shadowcast ready after restart", 30*time.Second, func() bool { return httpOK(scURL + "/-/ready") })
	t.Logf("ready %s after a SIGKILL restart (history from the store)", took.Round(time.Millisecond))
	if v, ok := metricValue(scURL+"/metrics", "shadowcast_shadow", `horizon="15m"`, `service="a"`); !ok || math.IsNaN(v) {
		t.Errorf("no 15m shadow after restart")
	}
	q1, _ := metricValue(scURL+"/metrics", "shadowcast_collector_queries_total", `result="success"`)
	if q1 > 2 {
		t.Errorf("%v queries after restart: the history window was queried again instead of read from the store", q1)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
