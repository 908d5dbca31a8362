package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Ports of the real-Alertmanager test (127.0.0.1 only).
const (
	amPort   = 19293
	hookPort = 19201
)

func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SHADOWCAST_TOOLS")
	if dir == "" {
		dir = os.Getenv("TOOLS")
	}
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "shadowcast", "tools")
	}
	bin := filepath.Join(dir, "alertmanager")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no Alertmanager at %s (scripts/components.sh install_alertmanager)", bin)
	}
	if testing.Short() {
		t.Skip("real Alertmanager test skipped in -short mode")
	}
	return bin
}

// recorder keeps the raw bodies posted to the webhook.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
	codes  []int
	next   http.Handler
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	sw := &statusWriter{ResponseWriter: w, code: 200}
	rc.next.ServeHTTP(sw, r)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, b)
	rc.codes = append(rc.codes, sw.code)
	rc.mu.Unlock()
}

func (rc *recorder) snapshot() ([][]byte, []int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...), append([]int(nil), rc.codes...)
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRealAlertmanager routes alerts through a real Alertmanager to the
// handler on loopback: the scale-up happens once, a replay of the delivered
// notification does nothing, and a forged resource is refused with 400.
func TestRealAlertmanager(t *testing.T) {
	bin := alertmanagerBinary(t)
	f := newFixture(t, ModeEnforce, nil)
	rec := &recorder{next: f.router}
	mux := chi.NewRouter()
	mux.Handle("/*", rec)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", hookPort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.engine.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: shadowcast
  group_by: [alertname, shadowcast_resource]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: shadowcast
    webhook_configs:
      - url: http://127.0.0.1:%d/webhook/alertmanager
        send_resolved: false
        http_config:
          authorization:
            credentials: %s
`, hookPort, testToken)
	if err := os.WriteFile(filepath.Join(dir, "am.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	amURL := fmt.Sprintf("http://127.0.0.1:%d", amPort)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "am.yml"), "--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", amPort), "--web.external-url="+amURL, "--cluster.listen-address=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", logs.String())
		}
	})
	waitFor(t, "alertmanager ready", 20*time.Second, func() bool {
		resp, err := http.Get(amURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	post := func(labels map[string]string, startsAt time.Time) {
		t.Helper()
		body, _ := json.Marshal([]map[string]any{{
			"labels": labels, "startsAt": startsAt.Format(time.RFC3339Nano), "endsAt": startsAt.Add(time.Hour).Format(time.RFC3339Nano),
		}})
		resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
		}
	}
	start := time.Now()
	labels := map[string]string{"alertname": "ShadowcastScaleUp", ResourceLabel: "checkout", "severity": "info"}
	post(labels, start)
	waitFor(t, "the scale-up", 15*time.Second, func() bool { _, w := f.act.state(); return len(w) > 0 })
	t.Logf("alert posted to Alertmanager -> replicas changed: %s", time.Since(start).Round(time.Millisecond))

	// Alertmanager re-posting the same alert does not notify again; a
	// replay of the delivered notification is deduplicated.
	post(labels, start)
	bodies, codes := rec.snapshot()
	if len(bodies) != 1 || codes[0] != http.StatusAccepted {
		t.Fatalf("deliveries %d codes %v", len(bodies), codes)
	}
	m, err := Decode(bytes.NewReader(bodies[0]))
	if err != nil || len(m.Alerts) != 1 || m.Alerts[0].Fingerprint == "" {
		t.Fatalf("delivered payload: %v %+v", err, m)
	}
	if got := f.post(t, bodies[0], testToken); got.Code != http.StatusOK {
		t.Fatalf("replay: %d %s", got.Code, got.Body)
	}

	// A forged resource: refused with 400, which Alertmanager does not retry
	// within a flush ("unrecoverable error after 1 attempts"). It sends the
	// group again at the next group_interval, since the flush failed: each
	// delivery is refused the same way and nothing is touched.
	post(map[string]string{"alertname": "ShadowcastScaleUp", ResourceLabel: "kube_system_coredns"}, time.Now())
	waitFor(t, "the forged notification", 15*time.Second, func() bool { b, _ := rec.snapshot(); return len(b) >= 2 })
	time.Sleep(1500 * time.Millisecond)
	bodies, codes = rec.snapshot()
	for i := 1; i < len(codes); i++ {
		if codes[i] != http.StatusBadRequest {
			t.Fatalf("delivery %d answered %d, want 400 (codes %v)", i, codes[i], codes)
		}
	}
	if _, w := f.act.state(); len(w) != 1 || w[0] != 9 {
		t.Fatalf("writes = %v, want [9]", w)
	}
	if n := testutil.ToFloat64(f.engine.metrics.actions.WithLabelValues("checkout", RuleScaleUp, ResultSuccess)); n != 1 {
		t.Errorf("successful actions = %g", n)
	}
}
