package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/shadowcast/shadowcast"
)

// oneShadow serves a single fresh instance of shadow "rps" at 15m.
type oneShadow struct{}

func (oneShadow) Lookup(shadow string, _ map[string]string, h time.Duration) ([]shadowcast.Value, error) {
	if shadow != "rps" {
		return nil, shadowcast.ErrUnknownShadow
	}
	if h != 15*time.Minute {
		return nil, shadowcast.ErrUnknownHorizon
	}
	return []shadowcast.Value{{Shadow: "rps", Horizon: h, PeakUpper: 42, Updated: time.Now()}}, nil
}

func parseScalerFlags(t *testing.T, args ...string) *scalerFlags {
	t.Helper()
	app := kingpin.New("test", "")
	c := app.Command("run", "")
	f := addScalerFlags(c)
	if _, err := app.Parse(append([]string{"run"}, args...)); err != nil {
		t.Fatal(err)
	}
	return f
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestScalerFlagsStart(t *testing.T) {
	addr := freeAddr(t)
	f := parseScalerFlags(t, "--grpc.listen-address="+addr, "--scaler.max-forecast-age=2m")
	if f.maxAge != 2*time.Minute || f.pollInterval != 5*time.Second {
		t.Fatalf("flags = %+v", f)
	}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := f.start(ctx, oneShadow{}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewExternalScalerClient(conn)
	md := map[string]string{"shadow": "rps", "horizon": "15m", "targetValue": "10"}
	got, err := c.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: &pb.ScaledObjectRef{ScalerMetadata: md}})
	if err != nil {
		t.Fatalf("GetMetrics() error = %v", err)
	}
	if v := got.GetMetricValues()[0]; v.GetMetricValueFloat() != 42 || v.GetMetricValue() != 42 {
		t.Errorf("GetMetrics() = %v, want 42", v)
	}
	if n, err := testutil.GatherAndCount(reg, "grpc_server_handled_total"); err != nil || n == 0 {
		t.Errorf("grpc_server_handled_total on the injected registry: %d series, %v", n, err)
	}

	// Cancelling the context stops the server; stop stays safe to call.
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := c.IsActive(cctx, &pb.ScaledObjectRef{ScalerMetadata: md})
		ccancel()
		if code := status.Code(err); code == codes.Unavailable || code == codes.DeadlineExceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server still answering after context cancel: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
}

func TestScalerFlagsDisabledAndInvalid(t *testing.T) {
	f := parseScalerFlags(t)
	stop, err := f.start(context.Background(), oneShadow{}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil || stop == nil {
		t.Fatalf("disabled start() error = %v, stop nil = %v; want a no-op stop", err, stop == nil)
	}
	stop()

	addr := freeAddr(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--grpc.tls-cert-file=c.pem"}, "must be set together"},
		{[]string{"--grpc.tls-client-ca-file=ca.pem"}, "needs --grpc.tls-cert-file"},
		{[]string{"--scaler.max-forecast-age=0s"}, "max-forecast-age must be positive"},
		{[]string{"--grpc.tls-cert-file=/nonexistent/c.pem", "--grpc.tls-key-file=/nonexistent/k.pem"}, "TLS file"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			f := parseScalerFlags(t, append([]string{"--grpc.listen-address=" + addr}, tc.args...)...)
			_, err := f.start(context.Background(), oneShadow{}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("start() error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
