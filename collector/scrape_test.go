package collector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

const (
	contentTypeText = "text/plain; version=0.0.4; charset=utf-8"
	contentTypeOM   = "application/openmetrics-text; version=1.0.0; charset=utf-8"
)

// target serves a settable exposition.
type target struct {
	mu          sync.Mutex
	status      int
	contentType string
	body        string
	accept      string
}

func (tg *target) set(status int, contentType, body string) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.status, tg.contentType, tg.body = status, contentType, body
}

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.accept = r.Header.Get("Accept")
	w.Header().Set("Content-Type", tg.contentType)
	w.WriteHeader(tg.status)
	w.Write([]byte(tg.body))
}

type fetchStep struct {
	advance     time.Duration
	contentType string
	body        string
	status      int // 0 = 200
	want        []Series
	wantErr     string
}

func runScrape(t *testing.T, opts ScrapeOptions, steps []fetchStep) *prometheus.Registry {
	t.Helper()
	tg := &target{}
	srv := httptest.NewServer(tg)
	defer srv.Close()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	opts.URL, opts.Clock, opts.Shadow = srv.URL+"/metrics", clock.Now, "queue"
	reg := prometheus.NewRegistry()
	s, err := NewScrape(opts, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		status := st.status
		if status == 0 {
			status = http.StatusOK
		}
		tg.set(status, st.contentType, st.body)
		got, err := s.Fetch(context.Background(), time.Time{}, clock.Now(), time.Minute)
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("step %d: err = %v, want %q", i, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		// Samples are at the scrape time.
		for j := range st.want {
			for k := range st.want[j].Samples {
				st.want[j].Samples[k].T = clock.Now().UnixMilli()
			}
		}
		if diff := cmp.Diff(st.want, got, cmp.Comparer(labels.Equal)); diff != "" {
			t.Errorf("step %d (-want +got):\n%s", i, diff)
		}
	}
	if !strings.HasPrefix(tg.accept, "application/openmetrics-text") {
		t.Errorf("Accept = %q", tg.accept)
	}
	return reg
}

func one(v float64, kv ...string) Series {
	return Series{Labels: labels.FromStrings(kv...), Samples: []Sample{{V: v}}}
}

func TestScrapeGauge(t *testing.T) {
	body := `# HELP queue_depth Jobs waiting.
# TYPE queue_depth gauge
queue_depth{env="prod",queue="b"} 7
queue_depth{env="prod",queue="a"} 5
queue_depth{env="dev",queue="c"} 9
queue_depth_max{env="prod",queue="a"} 100
# TYPE jobs_total counter
jobs_total 3
`
	runScrape(t, ScrapeOptions{Metric: "queue_depth", Matchers: map[string]string{"env": "prod"}}, []fetchStep{
		{contentType: contentTypeText, body: body, want: []Series{one(5, "env", "prod", "queue", "a"), one(7, "env", "prod", "queue", "b")}},
		{advance: 15 * time.Second, contentType: contentTypeText, body: strings.Replace(body, "} 5", "} 4", 1),
			want: []Series{one(4, "env", "prod", "queue", "a"), one(7, "env", "prod", "queue", "b")}},
		// A missing content type falls back to the text format.
		{advance: 15 * time.Second, body: body, want: []Series{one(5, "env", "prod", "queue", "a"), one(7, "env", "prod", "queue", "b")}},
	})
}

func TestScrapeCounterText(t *testing.T) {
	exp := func(v string) string {
		return "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} " + v + "\nhttp_requests_total{code=\"500\"} 1\n"
	}
	reg := runScrape(t, ScrapeOptions{Metric: "http_requests_total", Matchers: map[string]string{"code": "200"}}, []fetchStep{
		{contentType: contentTypeText, body: exp("100"), want: nil}, // no rate yet
		{advance: 10 * time.Second, contentType: contentTypeText, body: exp("160"), want: []Series{one(6, "code", "200")}},
		{advance: 10 * time.Second, contentType: contentTypeText, body: exp("30"), want: []Series{one(3, "code", "200")}}, // reset
		{advance: 10 * time.Second, status: 500, body: "oops", wantErr: "HTTP status 500"},
		// After a failed scrape the rate spans both intervals.
		{advance: 10 * time.Second, contentType: contentTypeText, body: exp("70"), want: []Series{one(2, "code", "200")}},
	})
	want := `
# HELP shadowcast_scrape_counter_resets_total Counter resets seen between consecutive scrapes (the rate restarts from 0).
# TYPE shadowcast_scrape_counter_resets_total counter
shadowcast_scrape_counter_resets_total{shadow="queue"} 1
# HELP shadowcast_scrape_requests_total Scrapes of /metrics targets, by shadow and result.
# TYPE shadowcast_scrape_requests_total counter
shadowcast_scrape_requests_total{result="error",shadow="queue"} 1
shadowcast_scrape_requests_total{result="success",shadow="queue"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shadowcast_scrape_counter_resets_total", "shadowcast_scrape_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestScrapeCounterOpenMetrics(t *testing.T) {
	exp := func(v string) string {
		return `# TYPE http_requests counter
# HELP http_requests Requests.
http_requests_total{path="/a"} ` + v + `
http_requests_created{path="/a"} 1.7e+09
# TYPE latency_seconds histogram
latency_seconds_bucket{le="+Inf"} ` + v + `
latency_seconds_count ` + v + `
latency_seconds_sum 1.5
# EOF
`
	}
	runScrape(t, ScrapeOptions{Metric: "http_requests_total"}, []fetchStep{
		{contentType: contentTypeOM, body: exp("50")},
		{advance: 5 * time.Second, contentType: contentTypeOM, body: exp("75"), want: []Series{one(5, "path", "/a")}},
		{advance: 5 * time.Second, contentType: contentTypeOM, body: exp("75"), want: []Series{one(0, "path", "/a")}},
		{advance: 5 * time.Second, contentType: contentTypeOM, body: "# TYPE x counter\nx_total 1\n", wantErr: "parse exposition"}, // no # EOF
	})
	runScrape(t, ScrapeOptions{Metric: "latency_seconds_count"}, []fetchStep{
		{contentType: contentTypeOM, body: exp("10")},
		{advance: 2 * time.Second, contentType: contentTypeOM, body: exp("30"), want: []Series{one(10)}},
	})
}

func TestIsCounter(t *testing.T) {
	types := map[string]string{"a_total": "gauge", "b": "counter", "h": "histogram", "s": "summary", "g": "gauge", "c_total": "counter"}
	tt := map[string]bool{
		"a_total": false, // explicitly a gauge
		"b_total": true,  // OpenMetrics counter family
		"c_total": true,
		"h_count": true, "h_sum": true, "h_bucket": true,
		"s_count": true, "s": false,
		"g":             false,
		"untyped_total": true,
		"untyped":       false,
	}
	mt := map[string]model.MetricType{}
	for k, v := range types {
		mt[k] = model.MetricType(v)
	}
	for name, want := range tt {
		if got := isCounter(name, mt); got != want {
			t.Errorf("isCounter(%q) = %t, want %t", name, got, want)
		}
	}
}

func TestScrapeBodyLimitAndTimeout(t *testing.T) {
	big := "# TYPE g gauge\n" + strings.Repeat("g{i=\"x\"} 1\n", 200)
	runScrape(t, ScrapeOptions{Metric: "g", BodyLimit: 100}, []fetchStep{
		{contentType: contentTypeText, body: big, wantErr: "body exceeds 100 bytes"},
		{contentType: contentTypeText, body: "# TYPE g gauge\ng 1\n", want: []Series{one(1)}},
	})
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	s, err := NewScrape(ScrapeOptions{Shadow: "slow", URL: srv.URL, Metric: "g", Timeout: 50 * time.Millisecond}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(context.Background(), time.Time{}, time.Now(), time.Minute); err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("err = %v, want a timeout", err)
	}
}
