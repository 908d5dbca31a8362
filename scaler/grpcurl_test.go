package scaler

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// grpcurlPath finds grpcurl: $GRPCURL, then ~/.cache/shadowcast/tools, then
// $PATH. Install it with
//
//	GOBIN=~/.cache/shadowcast/tools go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
func grpcurlPath() string {
	if p := os.Getenv("GRPCURL"); p != "" {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "shadowcast", "tools", "grpcurl")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("grpcurl"); err == nil {
		return p
	}
	return ""
}

// TestGrpcurl drives the server with grpcurl, a client that knows nothing
// but what reflection tells it, and compares the transcript with
// testdata/grpcurl.golden (go test -run Grpcurl -update rewrites it).
func TestGrpcurl(t *testing.T) {
	bin := grpcurlPath()
	if bin == "" {
		t.Skip("grpcurl not installed (GOBIN=~/.cache/shadowcast/tools go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4)")
	}
	env := startServer(t, Options{})
	env.reader.set("rps", 15*time.Minute, instance(env.clock, "eu", 100.5), instance(env.clock, "us", 20))
	stale := instance(env.clock, "eu", 1)
	stale.Updated = env.clock.ago(time.Hour)
	env.reader.set("old", 15*time.Minute, stale)

	const ref = `"name":"checkout","namespace":"shop","scalerMetadata":`
	md := `{"scalerAddress":"shadowcast:9095","shadow":"rps","matchLabels":"region=eu","horizon":"15m","targetValue":"40","activationValue":"10"}`
	calls := []struct {
		name string
		args []string
	}{
		{"list services", []string{"list"}},
		{"describe", []string{"describe", "externalscaler.ExternalScaler"}},
		{"health", []string{"-d", `{"service":"externalscaler.ExternalScaler"}`, "grpc.health.v1.Health/Check"}},
		{"GetMetricSpec", []string{"-d", "{" + ref + md + "}", "externalscaler.ExternalScaler/GetMetricSpec"}},
		{"GetMetrics", []string{"-d", `{"metricName":"shadowcast-rps-15m","scaledObjectRef":{` + ref + md + "}}", "externalscaler.ExternalScaler/GetMetrics"}},
		{"IsActive", []string{"-d", "{" + ref + md + "}", "externalscaler.ExternalScaler/IsActive"}},
		// A stream never ends by itself: grpcurl gives up after -max-time, having printed the initial state.
		{"StreamIsActive", []string{"-max-time", "1", "-d", "{" + ref + md + "}", "externalscaler.ExternalScaler/StreamIsActive"}},
		{"StreamMetricSpec", []string{"-d", "{" + ref + md + "}", "externalscaler.ExternalScaler/StreamMetricSpec"}},
		{"InvalidArgument", []string{"-d", `{"scaledObjectRef":{` + ref + `{"shadow":"rps","horizon":"15m"}}` + "}", "externalscaler.ExternalScaler/GetMetrics"}},
		{"NotFound", []string{"-d", "{" + ref + `{"shadow":"nope","horizon":"15m","targetValue":"1"}}`, "externalscaler.ExternalScaler/IsActive"}},
		{"Unavailable", []string{"-d", `{"scaledObjectRef":{` + ref + `{"shadow":"old","horizon":"15m","targetValue":"1"}}` + "}", "externalscaler.ExternalScaler/GetMetrics"}},
		{"ambiguous", []string{"-d", `{"scaledObjectRef":{` + ref + `{"shadow":"rps","horizon":"15m","targetValue":"1"}}` + "}", "externalscaler.ExternalScaler/GetMetrics"}},
	}
	var out bytes.Buffer
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		args := append([]string{"-plaintext"}, c.args...)
		args = append(args[:len(args)-1], env.addr, args[len(args)-1])
		if c.name == "list services" || c.name == "describe" {
			args = append([]string{"-plaintext", env.addr}, c.args...)
		}
		cmd := exec.CommandContext(ctx, bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		code := 0
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatalf("%s: run grpcurl: %v", c.name, err)
		}
		fmt.Fprintf(&out, "### %s\n$ grpcurl %s\nexit %d\n%s", c.name,
			strings.ReplaceAll(strings.Join(args, " "), env.addr, "ADDR"), code, stdout.String())
		if stderr.Len() > 0 {
			fmt.Fprintf(&out, "stderr:\n%s", stderr.String())
		}
		out.WriteString("\n")
	}
	got := strings.ReplaceAll(out.String(), env.addr, "ADDR")
	golden := filepath.Join("testdata", "grpcurl.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("grpcurl transcript differs from %s (rerun with -update and review the diff):\n--- got ---\n%s", golden, got)
	}
}
