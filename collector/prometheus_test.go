package collector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
)

// fakeRange serves /api/v1/query_range like Prometheus does for
// `sum by (service) (...)`: two series whose values are functions of the
// evaluation time, and the 11,000-points-per-series limit.
type fakeRange struct {
	mu       sync.Mutex
	requests [][2]int64 // start, end in ms
}

func parseAPITime(s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	return int64(math.Round(f * 1000)), nil
}

func (f *fakeRange) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query_range" {
		http.NotFound(w, r)
		return
	}
	start, err1 := parseAPITime(r.FormValue("start"))
	end, err2 := parseAPITime(r.FormValue("end"))
	step, err3 := parseAPITime(r.FormValue("step"))
	if err := errors.Join(err1, err2, err3); err != nil || step <= 0 {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":%q}`, fmt.Sprint(err))
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, [2]int64{start, end})
	f.mu.Unlock()
	if (end-start)/step > 11000 {
		w.WriteHeader(http.StatusBadRequest)
		b, _ := os.ReadFile("testdata/query_range_too_many_points.json")
		w.Write(b)
		return
	}
	var sb strings.Builder
	sb.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for i, svc := range []string{"b", "a"} { // unsorted on purpose
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"metric":{"service":%q},"values":[`, svc)
		for t := start; t <= end; t += step {
			if t > start {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `[%s,"%g"]`, strconv.FormatFloat(float64(t)/1000, 'f', -1, 64), fakeValue(svc, t))
		}
		sb.WriteString(`]}`)
	}
	sb.WriteString(`]}}`)
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(sb.String()))
}

func fakeValue(svc string, t int64) float64 {
	v := float64((t / 1000) % 100000)
	if svc == "b" {
		v *= 2
	}
	return v
}

func newTestPrometheus(t *testing.T, url string, reg prometheus.Registerer, mod func(*PrometheusOptions)) *Prometheus {
	t.Helper()
	opts := PrometheusOptions{Shadow: "checkout", URL: url, Query: `sum by (service) (rate(http_requests_total[5m]))`, Timeout: 5 * time.Second, RetryBackoff: time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	p, err := NewPrometheus(opts, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrometheusChunkedBackfill(t *testing.T) {
	fake := &fakeRange{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	p := newTestPrometheus(t, srv.URL, reg, nil)

	step := time.Minute
	to := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC) // on the grid: included
	from := to.Add(-30 * 24 * time.Hour)                // on the grid: excluded
	got, err := p.Fetch(context.Background(), from, to, step)
	if err != nil {
		t.Fatal(err)
	}
	wantPoints := int(to.Sub(from) / step) // 43200
	if len(fake.requests) != 5 {
		t.Errorf("requests = %d, want 5 chunks of at most %d points", len(fake.requests), DefaultMaxPointsPerQuery)
	}
	for i, r := range fake.requests {
		if n := (r[1]-r[0])/step.Milliseconds() + 1; n > DefaultMaxPointsPerQuery {
			t.Errorf("chunk %d has %d points", i, n)
		}
		if i > 0 && r[0] != fake.requests[i-1][1]+step.Milliseconds() {
			t.Errorf("chunk %d starts at %d, previous ended at %d: gap or overlap", i, r[0], fake.requests[i-1][1])
		}
	}
	if len(got) != 2 {
		t.Fatalf("got %d series, want 2", len(got))
	}
	for i, svc := range []string{"a", "b"} {
		if want := labels.FromStrings("service", svc); !labels.Equal(got[i].Labels, want) {
			t.Errorf("series %d labels = %s, want %s", i, got[i].Labels, want)
		}
		s := got[i].Samples
		if len(s) != wantPoints {
			t.Fatalf("service %s: %d samples, want %d", svc, len(s), wantPoints)
		}
		if s[0].T != from.Add(step).UnixMilli() || s[len(s)-1].T != to.UnixMilli() {
			t.Errorf("service %s spans %s..%s, want %s..%s", svc, s[0].Time(), s[len(s)-1].Time(), from.Add(step), to)
		}
		for j := 1; j < len(s); j++ {
			if s[j].T-s[j-1].T != step.Milliseconds() {
				t.Fatalf("service %s: samples %d,%d are %dms apart", svc, j-1, j, s[j].T-s[j-1].T)
			}
		}
		for _, smp := range s {
			if smp.V != fakeValue(svc, smp.T) {
				t.Fatalf("service %s at %d: value %g, want %g", svc, smp.T, smp.V, fakeValue(svc, smp.T))
			}
		}
	}
	if v := testutil.ToFloat64(p.okCount); v != 5 {
		t.Errorf("success counter = %g, want 5", v)
	}
	if n := testutil.CollectAndCount(reg, "shadowcast_collector_query_duration_seconds"); n != 1 {
		t.Errorf("duration histograms = %d, want 1", n)
	}
}

func TestPrometheusUnalignedWindow(t *testing.T) {
	fake := &fakeRange{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p := newTestPrometheus(t, srv.URL, prometheus.NewRegistry(), func(o *PrometheusOptions) { o.MaxPointsPerQuery = 7 })
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	from := base.Add(30 * time.Second)              // first point: 00:01
	to := base.Add(20*time.Minute + 59*time.Second) // last point: 00:20
	got, err := p.Fetch(context.Background(), from, to, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var ts []int64
	for _, s := range got[0].Samples {
		ts = append(ts, (s.T-base.UnixMilli())/60000)
	}
	var want []int64
	for m := int64(1); m <= 20; m++ {
		want = append(want, m)
	}
	if diff := cmp.Diff(want, ts); diff != "" {
		t.Errorf("minutes (-want +got):\n%s", diff)
	}
	if len(fake.requests) != 3 { // 7 + 7 + 6 points
		t.Errorf("requests = %d, want 3", len(fake.requests))
	}
	// A window needing more than maxChunks queries fails before sending any.
	if _, err := p.Fetch(context.Background(), time.Time{}, to, time.Minute); err == nil || !strings.Contains(err.Error(), "range queries") {
		t.Errorf("zero from: err = %v", err)
	}
	// An empty window sends nothing.
	got, err = p.Fetch(context.Background(), to, to, time.Minute)
	if err != nil || got != nil || len(fake.requests) != 3 {
		t.Errorf("empty window: got %v, %v after %d requests", got, err, len(fake.requests))
	}
}

func TestSplitRange(t *testing.T) {
	base := time.Unix(0, 0)
	tests := []struct {
		name      string
		from, to  time.Duration
		step      time.Duration
		max       int
		wantCount int
		wantPts   int
	}{
		{"exact multiple", 0, 100 * time.Second, time.Second, 10, 10, 100},
		{"remainder", 0, 101 * time.Second, time.Second, 10, 11, 101},
		{"one point", 59 * time.Second, 60 * time.Second, time.Minute, 10, 1, 1},
		{"none", 61 * time.Second, 119 * time.Second, time.Minute, 10, 0, 0},
		{"negative from", -90 * time.Second, 60 * time.Second, time.Minute, 10, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := splitRange(base.Add(tt.from), base.Add(tt.to), tt.step, tt.max)
			pts := 0
			for i, r := range rs {
				n := int(r.End.Sub(r.Start)/tt.step) + 1
				if n > tt.max {
					t.Errorf("range %d has %d points", i, n)
				}
				if i > 0 && r.Start.Sub(rs[i-1].End) != tt.step {
					t.Errorf("range %d starts %s after the previous end", i, r.Start.Sub(rs[i-1].End))
				}
				pts += n
			}
			if len(rs) != tt.wantCount || pts != tt.wantPts {
				t.Errorf("got %d ranges, %d points; want %d, %d", len(rs), pts, tt.wantCount, tt.wantPts)
			}
		})
	}
}

// serveFile answers every request with status and the named testdata file.
func serveFile(t *testing.T, status int, name string, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPrometheusResponses(t *testing.T) {
	from := time.Unix(1700000000, 0)
	to := time.Unix(1700000240, 0)
	tests := []struct {
		name      string
		status    int
		file      string
		retries   int
		want      []Series
		wantErr   string
		wantCalls int32
	}{
		{
			name: "NaN and Inf dropped, __name__ dropped", status: 200, file: "query_range_nan.json",
			want: []Series{
				{Labels: labels.FromStrings("instance", "a:9090", "job", "api"), Samples: []Sample{{T: 1700000060000, V: 1}, {T: 1700000240000, V: 3}}},
				{Labels: labels.FromStrings("instance", "b:9090", "job", "api")},
			},
			wantCalls: 1,
		},
		{name: "empty result", status: 200, file: "query_range_empty.json", want: nil, wantCalls: 1},
		{name: "bad query is not retried", status: 400, file: "query_range_bad_data.json", retries: 3, wantErr: "bad_data: 1:5: parse error", wantCalls: 1},
		{name: "5xx retried then fails", status: 503, file: "query_range_empty.json", retries: 2, wantErr: "server_error: server error: 503", wantCalls: 3},
		{name: "malformed JSON", status: 200, file: "query_range_malformed.json", retries: 2, wantErr: "bad_response", wantCalls: 1},
		{name: "wrong result type", status: 200, file: "query_range_vector.json", wantErr: "unexpected result type vector", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := serveFile(t, tt.status, tt.file, &calls)
			reg := prometheus.NewRegistry()
			p := newTestPrometheus(t, srv.URL, reg, func(o *PrometheusOptions) { o.Retries = tt.retries })
			got, err := p.Fetch(context.Background(), from, to, time.Minute)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), `prometheus source "checkout"`) {
					t.Errorf("err %q does not name the shadow", err)
				}
				if v := testutil.ToFloat64(p.errCnt); v != float64(tt.wantCalls) {
					t.Errorf("error counter = %g, want %d", v, tt.wantCalls)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(labels.Equal)); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
			if c := calls.Load(); c != tt.wantCalls {
				t.Errorf("calls = %d, want %d", c, tt.wantCalls)
			}
		})
	}
}

func TestPrometheusRetryRecovers(t *testing.T) {
	var calls atomic.Int32
	fake := &fakeRange{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "overloaded", http.StatusBadGateway)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	p := newTestPrometheus(t, srv.URL, reg, func(o *PrometheusOptions) { o.Retries = 1 })
	got, err := p.Fetch(context.Background(), time.Unix(0, 0), time.Unix(600, 0), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0].Samples) != 10 {
		t.Fatalf("got %d series, want 2 with 10 samples", len(got))
	}
	want := `
# HELP shadowcast_collector_queries_total Range queries sent to Prometheus (one per chunk and attempt), by shadow and result.
# TYPE shadowcast_collector_queries_total counter
shadowcast_collector_queries_total{result="error",shadow="checkout"} 1
shadowcast_collector_queries_total{result="success",shadow="checkout"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shadowcast_collector_queries_total"); err != nil {
		t.Error(err)
	}
}

func TestPrometheusSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newTestPrometheus(t, "http://127.0.0.1:19101", reg, nil)
	b := newTestPrometheus(t, "http://127.0.0.1:19101", reg, func(o *PrometheusOptions) { o.Shadow = "search" })
	a.okCount.Inc()
	b.okCount.Add(2)
	if n := testutil.CollectAndCount(reg, "shadowcast_collector_queries_total"); n != 4 {
		t.Errorf("series = %d, want 4 (2 shadows x 2 results)", n)
	}
}

func TestPrometheusAuthAndTimeout(t *testing.T) {
	var gotAuth atomic.Value
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		if r.FormValue("query") == "slow" {
			select {
			case <-block:
			case <-r.Context().Done():
			}
			return
		}
		(&fakeRange{}).ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(block)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newTestPrometheus(t, srv.URL, prometheus.NewRegistry(), func(o *PrometheusOptions) {
		o.HTTPConfig.BearerTokenFile = tok
	})
	if _, err := p.Fetch(context.Background(), time.Unix(0, 0), time.Unix(60, 0), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := gotAuth.Load(); got != "Bearer s3cret" {
		t.Errorf("Authorization = %q", got)
	}
	slow := newTestPrometheus(t, srv.URL, prometheus.NewRegistry(), func(o *PrometheusOptions) {
		o.Query = "slow"
		o.Timeout = 100 * time.Millisecond
	})
	start := time.Now()
	_, err := slow.Fetch(context.Background(), time.Unix(0, 0), time.Unix(60, 0), time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %s", d)
	}
}
