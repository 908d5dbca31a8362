package web

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/shadowcast/shadowcast/forecast"
	"github.com/shadowcast/shadowcast/shadow"
)

type fakeEngine struct {
	ready bool
	snap  []shadow.ShadowStatus
}

func (f *fakeEngine) Snapshot(int) []shadow.ShadowStatus { return f.snap }
func (f *fakeEngine) Ready() (bool, []string) {
	if f.ready {
		return true, nil
	}
	return false, []string{"requests"}
}

type textWriter string

func (t textWriter) WriteText(w io.Writer) error { _, err := io.WriteString(w, string(t)); return err }

func newTestHandler(t *testing.T, eng *fakeEngine, reload func() error) (*Handler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	origin := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	eng.snap = []shadow.ShadowStatus{{
		Name: "requests", Step: time.Minute, History: time.Hour, Horizons: []time.Duration{time.Minute, 2 * time.Minute},
		Confidence: 0.9, Model: "auto", Fetched: origin,
		Instances: []shadow.InstanceStatus{{
			Labels: labels.FromStrings("service", "<api>"), Model: "holt_winters", Reason: "selected_by_backtest",
			Actual: 10, HistoryStart: origin.Add(-2 * time.Minute), History: []float64{8, math.NaN(), 10},
			Forecast: forecast.Forecast{Origin: origin, Step: time.Minute, Point: []float64{11, 12}, Lower: []float64{9, 9}, Upper: []float64{13, 15}},
			Past:     map[time.Duration][]shadow.PastPoint{time.Minute: {{Target: origin, Point: 9.5, Lower: 8, Upper: 11}}},
		}},
	}}
	kpis := func() []KPIRow {
		return []KPIRow{{Name: "p99_latency", Labels: `{service="api"}`, Value: 0.25, At: origin}}
	}
	h := New(Options{Engine: eng, Gatherer: reg, Reload: reload, Version: "test", KPIs: kpis, Extra: []TextWriter{textWriter("# TYPE extra_metric gauge\nextra_metric 1\n")}},
		reg, slog.New(slog.DiscardHandler))
	return h, reg
}

func get(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestEndpoints(t *testing.T) {
	eng := &fakeEngine{}
	reloadErr := errors.New("shadows[0]: horizon 7m is not a multiple of step 5m")
	var fail bool
	h, reg := newTestHandler(t, eng, func() error {
		if fail {
			return reloadErr
		}
		return nil
	})
	for _, tc := range []struct {
		name, method, target string
		setup                func()
		code                 int
		body                 string
	}{
		{"healthy", "GET", "/-/healthy", nil, 200, "Healthy"},
		{"not ready", "GET", "/-/ready", nil, 503, "requests"},
		{"ready", "GET", "/-/ready", func() { eng.ready = true }, 200, "Ready"},
		{"reload ok", "POST", "/-/reload", nil, 200, "reloaded"},
		{"reload refused", "POST", "/-/reload", func() { fail = true }, 500, "horizon 7m is not a multiple"},
		{"reload needs POST", "GET", "/-/reload", nil, 405, ""},
		{"status page", "GET", "/", nil, 200, "&lt;api&gt;"},
		{"status lists horizons", "GET", "/", nil, 200, "12 [9, 15]"},
		{"status lists KPIs", "GET", "/", nil, 200, "p99_latency"},
		{"plot", "GET", "/plot.svg?shadow=requests&instance=0&horizon=1m", nil, 200, "<svg"},
		{"plot bad instance", "GET", "/plot.svg?shadow=requests&instance=x", nil, 400, "instance"},
		{"plot bad horizon", "GET", "/plot.svg?shadow=requests&instance=0&horizon=soon", nil, 400, "bad horizon"},
		{"plot unknown shadow", "GET", "/plot.svg?shadow=nope&instance=0", nil, 404, "no such"},
		{"unknown path", "GET", "/nope", nil, 404, ""},
		{"metrics", "GET", "/metrics", nil, 200, "extra_metric 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			rec := get(h, tc.method, tc.target)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.target, rec.Code, rec.Body.String(), tc.code, tc.body)
			}
		})
	}
	// Requests are counted by route pattern, never by raw path.
	if got := testutil.ToFloat64(h.requests.WithLabelValues("/plot.svg", "GET", "400")); got != 2 {
		t.Errorf("plot 400s counted %v, want 2", got)
	}
	if got := testutil.ToFloat64(h.requests.WithLabelValues("unmatched", "GET", "404")); got != 1 {
		t.Errorf("unmatched 404s counted %v, want 1", got)
	}
	_ = reg
}

// The plot is well-formed XML (an SVG a browser renders).
func TestPlotIsWellFormed(t *testing.T) {
	h, _ := newTestHandler(t, &fakeEngine{}, nil)
	rec := get(h, "GET", "/plot.svg?shadow=requests&instance=0&horizon=1m")
	if ct := rec.Header().Get("Content-Type"); ct != "image/svg+xml" {
		t.Errorf("content type %q", ct)
	}
	dec := xml.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	paths := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, rec.Body.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "path" {
			paths++
		}
	}
	// actual, past shadow, past band, current forecast, current band
	if paths < 5 {
		t.Errorf("%d paths drawn, want actual, shadow and bands:\n%s", paths, rec.Body.String())
	}
}

func TestMetricsGzip(t *testing.T) {
	h, _ := newTestHandler(t, &fakeEngine{}, nil)
	get(h, "GET", "/-/healthy")
	rec := get(h, "GET", "/metrics", "Accept-Encoding", "gzip")
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("not gzipped: %v", rec.Header())
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	for _, want := range []string{"extra_metric 1", `shadowcast_http_requests_total{code="200",handler="/-/healthy",method="GET"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
