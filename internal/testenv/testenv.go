// Package testenv starts the real components that integration tests run
// against (installed by scripts/components.sh) and skips a test, saying
// how to install them, when they are missing. It is for tests only.
package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// ToolsDir is where scripts/components.sh installs binaries:
// $SHADOWCAST_TOOLS, else $TOOLS, else ${XDG_CACHE_HOME:-~/.cache}/shadowcast/tools.
func ToolsDir() string {
	for _, env := range []string{"SHADOWCAST_TOOLS", "TOOLS"} {
		if d := os.Getenv(env); d != "" {
			return d
		}
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "shadowcast", "tools")
}

// Tool returns the path of an installed component, or skips the test.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(ToolsDir(), name)
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		t.Skipf("%s not installed in %s (make tools installs it; make test runs this test)", name, ToolsDir())
	}
	return p
}

// FreeAddr reserves a free loopback address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartPrometheus runs the real Prometheus on a free loopback port with the
// given configuration (YAML) and extra flags, waits until it is ready and
// returns its base URL. It is stopped when the test ends; its log is
// printed if the test failed.
func StartPrometheus(t testing.TB, config string, args ...string) string {
	t.Helper()
	return StartPrometheusOn(t, FreeAddr(t), config, args...)
}

// StartPrometheusOn is StartPrometheus on a given address (for a
// configuration that must name it, e.g. to scrape itself).
func StartPrometheusOn(t testing.TB, addr, config string, args ...string) string {
	t.Helper()
	bin := Tool(t, "prometheus")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr
	args = append([]string{"--config.file=" + cfgPath, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--web.external-url=" + url + "/"}, args...)
	Start(t, bin, args...)
	WaitReady(t, url+"/-/ready", 30*time.Second)
	return url
}

// ScrapeConfig returns a Prometheus configuration scraping targets every
// second under job "target".
func ScrapeConfig(targets ...string) string {
	cfg := "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
	if len(targets) > 0 {
		cfg += "scrape_configs:\n  - job_name: target\n    static_configs:\n      - targets: ["
		for i, tg := range targets {
			if i > 0 {
				cfg += ", "
			}
			cfg += fmt.Sprintf("%q", tg)
		}
		cfg += "]\n"
	}
	return cfg
}

// Start runs a command until the test ends (SIGKILL at cleanup), with its
// output captured and printed if the test failed.
func Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), filepath.Base(name)+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
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
			t.Logf("%s log:\n%s", filepath.Base(name), b)
		}
	})
	return cmd
}

// WaitReady polls url until it answers 200 or the timeout ends.
func WaitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s: %v", url, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
