package scaler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/shadowcast/shadowcast"
)

// fakeReader is an in-memory ShadowReader: shadow -> horizon -> instances.
type fakeReader struct {
	mu      sync.Mutex // guards shadows and err
	shadows map[string]map[time.Duration][]shadowcast.Value
	err     error // returned by every Lookup when set
	lookups atomic.Int64
}

func (f *fakeReader) Lookup(shadow string, match map[string]string, horizon time.Duration) ([]shadowcast.Value, error) {
	f.lookups.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	hs, ok := f.shadows[shadow]
	if !ok {
		return nil, fmt.Errorf("shadow %q: %w", shadow, shadowcast.ErrUnknownShadow)
	}
	insts, ok := hs[horizon]
	if !ok {
		return nil, fmt.Errorf("shadow %q horizon %s: %w", shadow, horizon, shadowcast.ErrUnknownHorizon)
	}
	var out []shadowcast.Value
	for _, v := range insts {
		ok := true
		for k, want := range match {
			if v.Labels[k] != want {
				ok = false
			}
		}
		if ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// set replaces the instances of shadow at horizon.
func (f *fakeReader) set(shadow string, horizon time.Duration, vals ...shadowcast.Value) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shadows == nil {
		f.shadows = map[string]map[time.Duration][]shadowcast.Value{}
	}
	if f.shadows[shadow] == nil {
		f.shadows[shadow] = map[time.Duration][]shadowcast.Value{}
	}
	f.shadows[shadow][horizon] = vals
}

func (f *fakeReader) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// fakeClock is a settable wall clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time                { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Set(t time.Time)               { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Add(d time.Duration)           { c.ns.Add(int64(d)) }
func newClock(t time.Time) *fakeClock              { c := &fakeClock{}; c.Set(t); return c }
func (c *fakeClock) ago(d time.Duration) time.Time { return c.Now().Add(-d) }

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// instance builds a fresh value of shadow "rps" for one region.
func instance(clock *fakeClock, region string, peakUpper float64) shadowcast.Value {
	return shadowcast.Value{
		Shadow: "rps", Labels: map[string]string{"service": "checkout", "region": region},
		Horizon: 15 * time.Minute, Point: peakUpper / 2, Upper: peakUpper * 0.75, Peak: peakUpper * 0.6,
		PeakUpper: peakUpper, Actual: peakUpper / 3, Confidence: 0.9, Model: "holt_winters",
		Updated: clock.ago(30 * time.Second),
	}
}

type testEnv struct {
	srv    *Server
	addr   string
	reader *fakeReader
	clock  *fakeClock
	reg    *prometheus.Registry
	client pb.ExternalScalerClient
	conn   *grpc.ClientConn
	served chan error
}

// startServer runs a Server on a loopback TCP port and dials it with KEDA's
// generated client.
func startServer(t testing.TB, opts Options) *testEnv {
	t.Helper()
	env := &testEnv{reader: &fakeReader{}, clock: newClock(t0), reg: prometheus.NewRegistry(), served: make(chan error, 1)}
	if opts.Reader == nil {
		opts.Reader = env.reader
	}
	if opts.Now == nil {
		opts.Now = env.clock.Now
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 10 * time.Millisecond
	}
	srv, err := New(opts, env.reg, nil)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env.srv, env.addr = srv, lis.Addr().String()
	go func() { env.served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
		if err := <-env.served; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	})
	if !opts.TLS.Enabled() {
		conn, err := grpc.NewClient(env.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		env.conn, env.client = conn, pb.NewExternalScalerClient(conn)
	}
	return env
}

func ref(md map[string]string) *pb.ScaledObjectRef {
	return &pb.ScaledObjectRef{Name: "checkout", Namespace: "shop", ScalerMetadata: md}
}

func meta(kv ...string) map[string]string {
	md := map[string]string{
		"scalerAddress": "shadowcast.monitoring:9095",
		"shadow":        "rps", "matchLabels": "region=eu", "horizon": "15m", "targetValue": "50",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(md, kv[i])
			continue
		}
		md[kv[i]] = kv[i+1]
	}
	return md
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGetMetricSpec(t *testing.T) {
	env := startServer(t, Options{})
	env.reader.set("rps", 15*time.Minute, instance(env.clock, "eu", 120))
	got, err := env.client.GetMetricSpec(ctxT(t), ref(meta("targetValue", "12.5")))
	if err != nil {
		t.Fatalf("GetMetricSpec() error = %v", err)
	}
	want := &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{{
		MetricName: "shadowcast-rps-15m", TargetSizeFloat: 12.5, TargetSize: 13,
	}}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("GetMetricSpec() mismatch (-want +got):\n%s", diff)
	}

	// Before the first forecast the spec is still served: it does not depend on the value.
	env.reader.set("rps", 15*time.Minute)
	if _, err := env.client.GetMetricSpec(ctxT(t), ref(meta())); err != nil {
		t.Errorf("GetMetricSpec() without forecast error = %v, want nil", err)
	}
}

func TestGetMetricsAndIsActive(t *testing.T) {
	env := startServer(t, Options{})
	env.reader.set("rps", 15*time.Minute, instance(env.clock, "eu", 120.2), instance(env.clock, "us", 80))

	tests := []struct {
		name       string
		md         map[string]string
		wantValue  float64
		wantActive bool
	}{
		{"peak_upper default", meta(), 120.2, true},
		{"point", meta("value", "point"), 60.1, true},
		{"upper", meta("value", "upper"), 120.2 * 0.75, true},
		{"peak", meta("value", "peak"), 120.2 * 0.6, true},
		{"below activation", meta("activationValue", "200"), 120.2, false},
		{"equal to activation is inactive", meta("activationValue", "120.2"), 120.2, false},
		{"sum of regions", meta("matchLabels", "", "aggregate", "sum"), 200.2, true},
		{"max of regions", meta("matchLabels", "service=checkout", "aggregate", "max"), 120.2, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := env.client.GetMetrics(ctxT(t), &pb.GetMetricsRequest{ScaledObjectRef: ref(tc.md), MetricName: "shadowcast-rps-15m"})
			if err != nil {
				t.Fatalf("GetMetrics() error = %v", err)
			}
			want := &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{
				MetricName: "shadowcast-rps-15m", MetricValueFloat: tc.wantValue, MetricValue: ceil(tc.wantValue),
			}}}
			if diff := cmp.Diff(want, got, protocmp.Transform(), protocmp.SortRepeatedFields(&pb.GetMetricsResponse{}, "metricValues")); diff != "" {
				t.Errorf("GetMetrics() mismatch (-want +got):\n%s", diff)
			}
			act, err := env.client.IsActive(ctxT(t), ref(tc.md))
			if err != nil {
				t.Fatalf("IsActive() error = %v", err)
			}
			if act.GetResult() != tc.wantActive {
				t.Errorf("IsActive() = %v, want %v", act.GetResult(), tc.wantActive)
			}
		})
	}
}

func ceil(v float64) int64 {
	i := int64(v)
	if float64(i) < v {
		i++
	}
	return i
}

func TestErrorCodes(t *testing.T) {
	env := startServer(t, Options{})
	env.reader.set("rps", 15*time.Minute, instance(env.clock, "eu", 120), instance(env.clock, "us", 80))
	stale := instance(env.clock, "eu", 120)
	stale.Updated = env.clock.ago(6 * time.Minute)
	env.reader.set("old", 15*time.Minute, stale)
	env.reader.set("cold", 15*time.Minute)

	tests := []struct {
		name     string
		md       map[string]string
		code     codes.Code
		contains string
		specOK   bool // GetMetricSpec succeeds: the spec needs no current value
	}{
		{name: "missing shadow", md: meta("shadow", ""), code: codes.InvalidArgument, contains: `"shadow": required`},
		{name: "bad targetValue", md: meta("targetValue", "-3"), code: codes.InvalidArgument, contains: `"targetValue"`},
		{name: "bad horizon", md: meta("horizon", "later"), code: codes.InvalidArgument, contains: `"horizon"`},
		{name: "bad value kind", md: meta("value", "median"), code: codes.InvalidArgument, contains: `"value"`},
		{name: "bad matchLabels", md: meta("matchLabels", "region=~e.*"), code: codes.InvalidArgument, contains: `"matchLabels"`},
		{name: "unknown key", md: meta("horizn", "5m"), code: codes.InvalidArgument, contains: `"horizn": unknown key`},
		{name: "unknown shadow", md: meta("shadow", "nope"), code: codes.NotFound, contains: "unknown shadow"},
		{name: "unknown horizon", md: meta("horizon", "7m"), code: codes.InvalidArgument, contains: `"horizon": shadow "rps" horizon 7m0s: horizon not configured`},
		{name: "ambiguous instances", md: meta("matchLabels", "service=checkout"), code: codes.InvalidArgument, contains: `"matchLabels": 2 instances`, specOK: true},
		{name: "no instance matches", md: meta("matchLabels", "region=mars"), code: codes.Unavailable, contains: "no current forecast", specOK: true},
		{name: "stale forecast", md: meta("shadow", "old"), code: codes.Unavailable, contains: "forecast made 6m0s ago, limit 5m0s", specOK: true},
		{name: "cold start", md: meta("shadow", "cold", "matchLabels", ""), code: codes.Unavailable, contains: "no current forecast", specOK: true},
	}
	check := func(t *testing.T, rpc string, err error, code codes.Code, contains string) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != code {
			t.Errorf("%s code = %v (%q), want %v", rpc, st.Code(), st.Message(), code)
			return
		}
		if code != codes.OK && !strings.Contains(st.Message(), contains) {
			t.Errorf("%s message = %q, want it to contain %q", rpc, st.Message(), contains)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			_, err := env.client.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref(tc.md)})
			check(t, "GetMetrics", err, tc.code, tc.contains)
			_, err = env.client.IsActive(ctx, ref(tc.md))
			check(t, "IsActive", err, tc.code, tc.contains)
			specCode := tc.code
			if tc.specOK {
				specCode = codes.OK
			}
			_, err = env.client.GetMetricSpec(ctx, ref(tc.md))
			check(t, "GetMetricSpec", err, specCode, tc.contains)
		})
	}

	t.Run("internal errors hide their text", func(t *testing.T) {
		env.reader.setErr(errors.New("disk on fire at /var/lib/secret"))
		defer env.reader.setErr(nil)
		_, err := env.client.GetMetrics(ctxT(t), &pb.GetMetricsRequest{ScaledObjectRef: ref(meta())})
		check(t, "GetMetrics", err, codes.Internal, "internal error")
		if strings.Contains(status.Convert(err).Message(), "secret") {
			t.Errorf("internal error leaked: %v", err)
		}
	})

	t.Run("StreamMetricSpec is unimplemented", func(t *testing.T) {
		stream, err := env.client.StreamMetricSpec(ctxT(t), ref(meta()))
		if err == nil {
			_, err = stream.Recv()
		}
		check(t, "StreamMetricSpec", err, codes.Unimplemented, "")
	})
}

func TestStreamIsActivePushesOnCrossing(t *testing.T) {
	env := startServer(t, Options{})
	h := 15 * time.Minute
	env.reader.set("rps", h, instance(env.clock, "eu", 10))
	ctx := ctxT(t)
	stream, err := env.client.StreamIsActive(ctx, ref(meta("activationValue", "50")))
	if err != nil {
		t.Fatal(err)
	}
	recv := func(want bool) {
		t.Helper()
		got, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv() error = %v", err)
		}
		if got.GetResult() != want {
			t.Fatalf("Recv() = %v, want %v", got.GetResult(), want)
		}
	}
	// waitPolls lets the server poll the reader a few more times.
	waitPolls := func(n int64) {
		t.Helper()
		start := env.reader.lookups.Load()
		for env.reader.lookups.Load() < start+n {
			if ctx.Err() != nil {
				t.Fatal("server stopped polling")
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	recv(false) // the initial state

	// Changes that stay on the same side of the threshold send nothing; a
	// repeated "false" would be received instead of the "true" below.
	env.reader.set("rps", h, instance(env.clock, "eu", 40))
	waitPolls(3)
	// The forecast goes stale: nothing is sent, the stream stays open.
	stale := instance(env.clock, "eu", 500)
	stale.Updated = env.clock.ago(time.Hour)
	env.reader.set("rps", h, stale)
	waitPolls(3)

	env.reader.set("rps", h, instance(env.clock, "eu", 51)) // crosses up
	recv(true)
	env.reader.set("rps", h, instance(env.clock, "eu", 80))
	waitPolls(3)
	env.reader.set("rps", h, instance(env.clock, "eu", 50)) // back down (not above)
	recv(false)

	// The shadow disappears from config: the stream ends with NotFound.
	env.reader.mu.Lock()
	delete(env.reader.shadows, "rps")
	env.reader.mu.Unlock()
	_, err = stream.Recv()
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Recv() after shadow removal error = %v, want NotFound", err)
	}
}

func TestStreamIsActiveErrorsAndShutdown(t *testing.T) {
	env := startServer(t, Options{})
	env.reader.set("rps", 15*time.Minute, instance(env.clock, "eu", 100))

	bad, err := env.client.StreamIsActive(ctxT(t), ref(meta("targetValue", "")))
	if err == nil {
		_, err = bad.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `"targetValue": required`) {
		t.Errorf("stream with bad metadata: %v, want InvalidArgument naming targetValue", err)
	}

	// A client that goes away ends the server side.
	cctx, cancel := context.WithCancel(ctxT(t))
	s1, err := env.client.StreamIsActive(cctx, ref(meta()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()

	// Stop ends open streams cleanly (io.EOF on the client), so KEDA reconnects.
	s2, err := env.client.StreamIsActive(ctxT(t), ref(meta()))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Recv(); err != nil || !got.GetResult() {
		t.Fatalf("Recv() = %v, %v; want true", got, err)
	}
	stopped := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		env.srv.Stop(ctx)
		close(stopped)
	}()
	if _, err := s2.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv() during Stop error = %v, want io.EOF", err)
	}
	<-stopped
}

func TestHealthAndMetrics(t *testing.T) {
	env := startServer(t, Options{})
	env.reader.set("rps", 15*time.Minute, instance(env.clock, "eu", 100))
	hc := healthpb.NewHealthClient(env.conn)
	for _, svc := range []string{"", ServiceName} {
		got, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("Health.Check(%q) error = %v", svc, err)
		}
		if got.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Health.Check(%q) = %v, want SERVING", svc, got.GetStatus())
		}
	}

	for range 3 {
		if _, err := env.client.GetMetrics(ctxT(t), &pb.GetMetricsRequest{ScaledObjectRef: ref(meta())}); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = env.client.GetMetrics(ctxT(t), &pb.GetMetricsRequest{ScaledObjectRef: ref(meta("shadow", "nope"))})

	const want = `
# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="NotFound",grpc_method="GetMetrics",grpc_service="externalscaler.ExternalScaler",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="GetMetrics",grpc_service="externalscaler.ExternalScaler",grpc_type="unary"} 3
`
	got := &filterGatherer{g: env.reg, keep: func(lbls map[string]string) bool {
		return lbls["grpc_method"] == "GetMetrics" && (lbls["grpc_code"] == "OK" || lbls["grpc_code"] == "NotFound")
	}}
	if err := testutil.GatherAndCompare(got, strings.NewReader(want), "grpc_server_handled_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(env.reg, "grpc_server_handling_seconds"); err != nil || n == 0 {
		t.Errorf("grpc_server_handling_seconds series = %d, %v; want > 0", n, err)
	}
	if problems, err := testutil.GatherAndLint(env.reg); err != nil || len(problems) > 0 {
		t.Errorf("GatherAndLint() = %v, %v", problems, err)
	}

	// After Stop the health service reports NOT_SERVING to anyone still
	// watching; here we only check the server stops serving RPCs.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	env.srv.Stop(ctx)
	if _, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("Health.Check() after Stop error = %v, want Unavailable", err)
	}
}

func TestNewRequiresReader(t *testing.T) {
	if _, err := New(Options{}, nil, nil); err == nil {
		t.Error("New() without a reader succeeded")
	}
	reg := prometheus.NewRegistry()
	r := &fakeReader{}
	if _, err := New(Options{Reader: r}, reg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Reader: r}, reg, nil); err == nil {
		t.Error("second New() on the same registry succeeded; want a registration error")
	}
}

// filterGatherer keeps the series whose labels pass keep.
type filterGatherer struct {
	g    prometheus.Gatherer
	keep func(map[string]string) bool
}

func (f *filterGatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := f.g.Gather()
	for _, mf := range mfs {
		kept := mf.Metric[:0]
		for _, m := range mf.Metric {
			lbls := map[string]string{}
			for _, lp := range m.GetLabel() {
				lbls[lp.GetName()] = lp.GetValue()
			}
			if f.keep(maps.Clone(lbls)) {
				kept = append(kept, m)
			}
		}
		mf.Metric = kept
	}
	return mfs, err
}
