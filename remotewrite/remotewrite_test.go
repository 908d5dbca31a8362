package remotewrite

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
)

type sample struct {
	metric string
	names  []string
	values []string
	v      float64
}

// fakeSource serves fixed samples; Visit reuses its slices between calls,
// as the exposition does, so a writer that keeps them would be caught.
type fakeSource struct {
	mu      sync.Mutex
	samples []sample
}

func (f *fakeSource) Visit(fn func(metric string, names, values []string, v float64)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names, values := make([]string, 0, 8), make([]string, 0, 8)
	for _, s := range f.samples {
		names = append(names[:0], s.names...)
		values = append(values[:0], s.values...)
		fn(s.metric, names, values, s.v)
		for i := range names {
			names[i], values[i] = "clobbered", "clobbered"
		}
	}
}

func testSource() *fakeSource {
	return &fakeSource{samples: []sample{
		{"shadowcast_shadow", []string{"shadow", "horizon", "job"}, []string{"http", "15m", "api"}, 120.5},
		{"shadowcast_shadow_upper", []string{"shadow", "horizon", "job"}, []string{"http", "15m", "api"}, 150},
		{"shadowcast_model_info", []string{"shadow", "model", "reason"}, []string{"http", "holt_winters", "configured"}, 1},
		{"shadowcast_actual", []string{"shadow", "job", "replica"}, []string{"http", "api", "b"}, 99},
	}}
}

var fixedNow = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func lbls(kv ...string) []prompb.Label {
	var out []prompb.Label
	for i := 0; i < len(kv); i += 2 {
		out = append(out, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestSnapshot(t *testing.T) {
	w, err := New(Options{
		URL:            "http://127.0.0.1:1/api/v1/write",
		Metrics:        []string{"shadowcast_shadow", "shadowcast_actual"},
		ExternalLabels: map[string]string{"replica": "a", "cluster": "eu"},
		Clock:          func() time.Time { return fixedNow },
	}, testSource(), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ms := fixedNow.UnixMilli()
	want := []prompb.TimeSeries{
		{Labels: lbls("__name__", "shadowcast_shadow", "cluster", "eu", "horizon", "15m", "job", "api", "replica", "a", "shadow", "http"),
			Samples: []prompb.Sample{{Value: 120.5, Timestamp: ms}}},
		// The series' own replica label wins over the external one.
		{Labels: lbls("__name__", "shadowcast_actual", "cluster", "eu", "job", "api", "replica", "b", "shadow", "http"),
			Samples: []prompb.Sample{{Value: 99, Timestamp: ms}}},
	}
	if diff := cmp.Diff(want, w.Snapshot()); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
}

func TestDefaultMetricsFilter(t *testing.T) {
	w, err := New(Options{URL: "http://127.0.0.1:1/"}, testSource(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range w.Snapshot() {
		got = append(got, s.Labels[0].Value)
	}
	if diff := cmp.Diff([]string{"shadowcast_shadow", "shadowcast_shadow_upper", "shadowcast_actual"}, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// receiver is an httptest remote-write endpoint answering with the given
// status codes in turn (the last one repeats) and decoding what it gets.
type receiver struct {
	t        *testing.T
	codes    []int
	calls    atomic.Int32
	mu       sync.Mutex
	requests []*prompb.WriteRequest
	headers  []http.Header
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := int(r.calls.Add(1)) - 1
	body, _ := io.ReadAll(req.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		r.t.Errorf("body is not snappy: %v", err)
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		r.t.Errorf("body is not a WriteRequest: %v", err)
	}
	r.mu.Lock()
	r.requests = append(r.requests, &wr)
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	code := r.codes[min(n, len(r.codes)-1)]
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0.01")
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, "answer "+http.StatusText(code))
}

func newTestWriter(t *testing.T, url string, reg prometheus.Registerer, mod func(*Options)) *Writer {
	t.Helper()
	o := Options{Name: "test", URL: url, MaxRetries: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	w, err := New(o, testSource(), reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func counter(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "shadowcast_remote_write_samples_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		codes                []int
		wantCalls            int
		wantSent, wantFailed float64
		wantRetries          float64
		wantErr              string
	}{
		{"ok", []int{204}, 1, 3, 0, 0, ""},
		{"5xx retried", []int{500, 503, 200}, 3, 3, 0, 2, ""},
		{"429 retried", []int{429, 204}, 2, 3, 0, 1, ""},
		{"4xx not retried", []int{400}, 1, 0, 3, 0, "server returned HTTP status 400 Bad Request: answer Bad Request"},
		{"out of retries", []int{502}, 4, 0, 3, 3, "server returned HTTP status 502 Bad Gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{t: t, codes: tc.codes}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			reg := prometheus.NewRegistry()
			w := newTestWriter(t, srv.URL, reg, nil)
			if n := w.Collect(); n != 3 {
				t.Fatalf("Collect() = %d samples, want 3", n)
			}
			err := w.Drain(context.Background())
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Drain: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Drain error %v, want it to contain %q", err, tc.wantErr)
			}
			if got := int(rcv.calls.Load()); got != tc.wantCalls {
				t.Errorf("requests = %d, want %d", got, tc.wantCalls)
			}
			if got := counter(t, reg, "sent"); got != tc.wantSent {
				t.Errorf("sent = %g, want %g", got, tc.wantSent)
			}
			if got := counter(t, reg, "failed"); got != tc.wantFailed {
				t.Errorf("failed = %g, want %g", got, tc.wantFailed)
			}
			if got := testutil.ToFloat64(w.retries); got != tc.wantRetries {
				t.Errorf("retries = %g, want %g", got, tc.wantRetries)
			}
			for _, wr := range rcv.requests {
				if len(wr.Timeseries) != 3 {
					t.Errorf("request carries %d series, want 3 (every retry resends the same request)", len(wr.Timeseries))
				}
			}
		})
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // connection refused from now on
	reg := prometheus.NewRegistry()
	w := newTestWriter(t, url, reg, func(o *Options) { o.MaxRetries = 2 })
	w.Collect()
	if err := w.Drain(context.Background()); err == nil {
		t.Fatal("Drain succeeded against a closed server")
	}
	if got := testutil.ToFloat64(w.retries); got != 2 {
		t.Errorf("retries = %g, want 2", got)
	}
	if got := counter(t, reg, "failed"); got != 3 {
		t.Errorf("failed = %g, want 3", got)
	}
}

func TestHeadersAndAuth(t *testing.T) {
	rcv := &receiver{t: t, codes: []int{204}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	w := newTestWriter(t, srv.URL, nil, func(o *Options) {
		o.HTTPConfig = commoncfg.HTTPClientConfig{BasicAuth: &commoncfg.BasicAuth{Username: "tenant", Password: "s3cret"}}
		o.Clock = func() time.Time { return fixedNow }
	})
	w.Collect()
	if err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := rcv.headers[0]
	got := map[string]string{}
	for _, k := range []string{"Content-Encoding", "Content-Type", "X-Prometheus-Remote-Write-Version", "Authorization"} {
		got[k] = h.Get(k)
	}
	want := map[string]string{
		"Content-Encoding":                  "snappy",
		"Content-Type":                      "application/x-protobuf",
		"X-Prometheus-Remote-Write-Version": "0.1.0",
		"Authorization":                     "Basic dGVuYW50OnMzY3JldA==", // tenant:s3cret
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(w.Snapshot(), rcv.requests[0].Timeseries); diff != "" {
		t.Errorf("decoded request differs from the snapshot (-want +got):\n%s", diff)
	}
}

func TestQueueDropsOldest(t *testing.T) {
	rcv := &receiver{t: t, codes: []int{204}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	now := fixedNow
	w := newTestWriter(t, srv.URL, reg, func(o *Options) {
		o.QueueCapacity = 4
		o.MaxSamplesPerRequest = 2
		o.Clock = func() time.Time { return now }
	})
	// Two snapshots of 3 samples: 4 requests (2+1, 2+1) fit; the third
	// snapshot evicts the two requests of the first one.
	for i := range 3 {
		now = fixedNow.Add(time.Duration(i) * time.Minute)
		w.Collect()
	}
	if got := counter(t, reg, "dropped"); got != 3 {
		t.Errorf("dropped = %g, want 3", got)
	}
	if got := testutil.ToFloat64(w.pending); got != 6 {
		t.Errorf("pending = %g, want 6", got)
	}
	if err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	var stamps []int64
	for _, r := range rcv.requests {
		if len(r.Timeseries) > 2 {
			t.Errorf("request of %d samples, limit 2", len(r.Timeseries))
		}
		for _, s := range r.Timeseries {
			stamps = append(stamps, s.Samples[0].Timestamp)
		}
	}
	m1, m2 := fixedNow.Add(time.Minute).UnixMilli(), fixedNow.Add(2*time.Minute).UnixMilli()
	if diff := cmp.Diff([]int64{m1, m1, m1, m2, m2, m2}, stamps); diff != "" {
		t.Errorf("sent timestamps, oldest first (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(w.pending); got != 0 {
		t.Errorf("pending after drain = %g, want 0", got)
	}
}

func TestRun(t *testing.T) {
	rcv := &receiver{t: t, codes: []int{204}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	w := newTestWriter(t, srv.URL, reg, func(o *Options) { o.Interval = 10 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for counter(t, reg, "sent") < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("only %g samples sent after 5s", counter(t, reg, "sent"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Options{}, testSource(), nil, nil); err == nil {
		t.Error("New without URL succeeded")
	}
	if _, err := New(Options{URL: "http://x/"}, nil, nil, nil); err == nil {
		t.Error("New without source succeeded")
	}
	bad := commoncfg.HTTPClientConfig{TLSConfig: commoncfg.TLSConfig{CAFile: "/nonexistent/ca.pem"}}
	if _, err := New(Options{URL: "https://x/", HTTPConfig: bad}, testSource(), nil, nil); err == nil {
		t.Error("New with a missing CA file succeeded")
	}
}

func TestRunFlushesAtShutdown(t *testing.T) {
	rcv := &receiver{t: t, codes: []int{204}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	w := newTestWriter(t, srv.URL, reg, func(o *Options) { o.Interval = time.Hour })
	w.Collect()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Run(ctx) // returns at once, after the flush
	// The queued snapshot, then a staleness marker for each of its series.
	if got := counter(t, reg, "sent"); got != 6 {
		t.Errorf("sent at shutdown = %g, want 6", got)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	stale := 0
	for _, r := range rcv.requests {
		for _, ts := range r.Timeseries {
			if value.IsStaleNaN(ts.Samples[0].Value) {
				stale++
			}
		}
	}
	if stale != 3 {
		t.Errorf("staleness markers at shutdown = %d, want 3", stale)
	}
}

// A series that vanishes from the source gets one staleness marker in the
// next snapshot's requests; series still present get none, and a series
// that comes back is live again.
func TestStalenessMarkers(t *testing.T) {
	src := testSource()
	now := fixedNow
	w, err := New(Options{URL: "http://127.0.0.1:1/", MaxSamplesPerRequest: 100, Clock: func() time.Time { return now }}, src, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	type point struct {
		Metric string
		Stale  bool
	}
	collect := func() []point {
		t.Helper()
		w.Collect()
		var out []point
		for r := w.pop(); r != nil; r = w.pop() {
			for _, ts := range r {
				if ts.Samples[0].Timestamp != now.UnixMilli() {
					t.Errorf("sample of %v stamped %d, want %d", ts.Labels, ts.Samples[0].Timestamp, now.UnixMilli())
				}
				out = append(out, point{ts.Labels[0].Value, value.IsStaleNaN(ts.Samples[0].Value)})
			}
		}
		return out
	}
	if diff := cmp.Diff([]point{{"shadowcast_shadow", false}, {"shadowcast_shadow_upper", false}, {"shadowcast_actual", false}}, collect()); diff != "" {
		t.Errorf("first snapshot (-want +got):\n%s", diff)
	}
	src.mu.Lock()
	gone := src.samples[1]
	src.samples = append(src.samples[:1:1], src.samples[2:]...)
	src.mu.Unlock()
	now = now.Add(15 * time.Second)
	if diff := cmp.Diff([]point{{"shadowcast_shadow", false}, {"shadowcast_actual", false}, {"shadowcast_shadow_upper", true}}, collect()); diff != "" {
		t.Errorf("after a series vanished (-want +got):\n%s", diff)
	}
	now = now.Add(15 * time.Second)
	if diff := cmp.Diff([]point{{"shadowcast_shadow", false}, {"shadowcast_actual", false}}, collect()); diff != "" {
		t.Errorf("the marker is sent once (-want +got):\n%s", diff)
	}
	src.mu.Lock()
	src.samples = append(src.samples, gone)
	src.mu.Unlock()
	now = now.Add(15 * time.Second)
	collect()
	src.mu.Lock()
	src.samples = src.samples[:len(src.samples)-1]
	src.mu.Unlock()
	now = now.Add(15 * time.Second)
	if diff := cmp.Diff([]point{{"shadowcast_shadow", false}, {"shadowcast_actual", false}, {"shadowcast_shadow_upper", true}}, collect()); diff != "" {
		t.Errorf("a series that came back and vanished again (-want +got):\n%s", diff)
	}
}
