package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func csvTrace(days int) string {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < days*24*12; i++ {
		ts := start.Add(time.Duration(i) * 5 * time.Minute)
		fmt.Fprintf(&b, "%s,%d\n", ts.Format("2006-01-02 15:04:05"), 100+(i%288)/4)
	}
	return b.String()
}

func shadowConfig(names ...string) string {
	var b strings.Builder
	b.WriteString("shadows:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    source: {file: {path: trace.csv, speedup: 3000}}\n    step: 5m\n    history: 3d\n    horizons: [5m, 15m]\n", n)
	}
	return b.String()
}

// Reload through /-/reload and SIGHUP: a good file applies, a bad one is
// refused with every problem named and the old configuration keeps serving.
func TestReload(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := shadowcastBinary(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "trace.csv"), csvTrace(5))
	cfg := filepath.Join(dir, "shadowcast.yml")
	writeFile(t, cfg, shadowConfig("one"))
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := start(t, bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	waitFor(t, "ready", 30*time.Second, func() bool { return httpOK(base + "/-/ready") })

	post := func() (int, string) {
		resp, err := http.Post(base+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	writeFile(t, cfg, shadowConfig("one", "two"))
	if code, body := post(); code != http.StatusOK {
		t.Fatalf("reload of a valid file: %d %s", code, body)
	}
	waitFor(t, "the new shadow served", 30*time.Second, func() bool {
		_, ok := metricValue(base+"/metrics", "shadowcast_shadow", `shadow="two"`)
		return ok
	})

	writeFile(t, cfg, shadowConfig("one", "two")+"    horizons: [7m]\n  - name: one\n    source: {}\n")
	code, body := post()
	if code != http.StatusInternalServerError {
		t.Fatalf("reload of a bad file answered %d", code)
	}
	for _, want := range []string{"previous configuration stays in effect"} {
		if !strings.Contains(body, want) {
			t.Errorf("reload answer lacks %q: %s", want, body)
		}
	}
	if v, _ := metricValue(base+"/metrics", "shadowcast_config_last_reload_successful"); v != 0 {
		t.Errorf("shadowcast_config_last_reload_successful = %v after a failed reload", v)
	}
	if _, ok := metricValue(base+"/metrics", "shadowcast_shadow", `shadow="two"`); !ok {
		t.Error("a failed reload removed a shadow")
	}

	// SIGHUP applies a good file (dropping "two").
	writeFile(t, cfg, shadowConfig("one"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "shadow two gone after SIGHUP", 30*time.Second, func() bool {
		_, ok := metricValue(base+"/metrics", "shadowcast_shadow", `shadow="two"`)
		v, _ := metricValue(base+"/metrics", "shadowcast_config_last_reload_successful")
		return !ok && v == 1
	})
	if _, ok := metricValue(base+"/metrics", "shadowcast_shadow", `shadow="one"`); !ok {
		t.Error("shadow one lost on reload")
	}
}

func TestCheckCommand(t *testing.T) {
	bin := shadowcastBinary(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	writeFile(t, good, shadowConfig("one"))
	out, err := exec.Command(bin, "check", "--config.file="+good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("check of a valid file: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, bad, `
shadows:
  - name: a
    source: {file: {path: x.csv}}
    step: 1m
    horizons: [90s]
  - name: a
    source: {file: {path: x.csv}}
    confidence: 2
`)
	out, err = exec.Command(bin, "check", "--config.file="+bad).CombinedOutput()
	if err == nil {
		t.Fatalf("check of a bad file succeeded:\n%s", out)
	}
	for _, want := range []string{"horizon 1m30s is not a multiple of step 1m", `duplicate shadow name "a"`, "confidence 2 must be in (0, 1)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}
