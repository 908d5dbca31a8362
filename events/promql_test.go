package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

func samples(start time.Time, step time.Duration, vals ...float64) []model.SamplePair {
	var out []model.SamplePair
	for i, v := range vals {
		if v < 0 { // a missing sample
			continue
		}
		out = append(out, model.SamplePair{Timestamp: model.TimeFromUnixNano(start.Add(time.Duration(i) * step).UnixNano()), Value: model.SampleValue(v)})
	}
	return out
}

func TestRuns(t *testing.T) {
	t0 := utc("2026-11-27T00:00:00Z")
	m := time.Minute
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * m) }
	now := at(9).Add(20 * time.Second)
	tests := []struct {
		name string
		vals []float64 // index i at t0+i*m, last evaluation at index 9; -1 = missing
		want []Run
	}{
		{"none", []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil},
		{"closed", []float64{0, 1, 1, 0, 0, 0, 0, 0, 0, 0}, []Run{{Start: at(1), End: at(3)}}},
		{"two runs, the second active", []float64{1, 0, 0, 2, 0, 0, 0, 0, 5, 5}, []Run{
			{Start: at(0), End: at(1)}, {Start: at(3), End: at(4)}, {Start: at(8), End: now.Add(m), Active: true}}},
		{"gap ends a run", []float64{0, 1, 1, -1, -1, 1, 0, 0, 0, 0}, []Run{{Start: at(1), End: at(3)}, {Start: at(5), End: at(6)}}},
		{"series vanished", []float64{0, 0, 0, 0, 1, 1, -1, -1, -1, -1}, []Run{{Start: at(4), End: at(6)}}},
		{"whole window active", []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, []Run{{Start: at(0), End: now.Add(m), Active: true}}},
		{"negative is off", []float64{-2, 0, 3, 0, 0, 0, 0, 0, 0, 0}, []Run{{Start: at(2), End: at(3)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := samples(t0, m, tt.vals...)
			if tt.name == "negative is off" {
				ss[0].Value = -2
			}
			// Order must not matter.
			for i, j := 0, len(ss)-1; i < j; i, j = i+1, j-1 {
				ss[i], ss[j] = ss[j], ss[i]
			}
			if diff := cmp.Diff(tt.want, Runs(ss, m, at(9), now)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// fakeProm serves /api/v1/query_range from a function of the request.
type fakeProm struct {
	mu     sync.Mutex
	result func(start, end time.Time, step time.Duration) string
	calls  []string
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query_range" {
		http.NotFound(w, r)
		return
	}
	_ = r.ParseForm()
	parse := func(k string) time.Time {
		var sec float64
		fmt.Sscan(r.Form.Get(k), &sec)
		return time.Unix(0, int64(sec*1e9)).UTC()
	}
	step, _ := time.ParseDuration(r.Form.Get("step") + "s")
	f.mu.Lock()
	f.calls = append(f.calls, r.Form.Get("query"))
	body := f.result(parse("start"), parse("end"), step)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if strings.HasPrefix(body, "ERROR ") {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":%q}`, strings.TrimPrefix(body, "ERROR "))
		return
	}
	fmt.Fprint(w, body)
}

func matrixJSON(series ...map[string]any) string {
	b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": series}})
	return string(b)
}

func seriesJSON(labels map[string]string, start time.Time, step time.Duration, vals ...float64) map[string]any {
	var values [][2]any
	for i, v := range vals {
		values = append(values, [2]any{float64(start.Add(time.Duration(i) * step).Unix()), fmt.Sprint(v)})
	}
	return map[string]any{"metric": labels, "values": values}
}

func TestPromQLPoll(t *testing.T) {
	now := utc("2026-11-27T12:00:30Z")
	fp := &fakeProm{}
	fp.result = func(start, end time.Time, step time.Duration) string {
		if !end.Equal(utc("2026-11-27T12:00:00Z")) || end.Sub(start) != time.Hour || step != time.Minute {
			return fmt.Sprintf("ERROR unexpected range %v %v %v", start, end, step)
		}
		n := 61
		a := make([]float64, n)
		b := make([]float64, n)
		for i := range a {
			if i >= 10 && i < 20 {
				a[i] = 1
			}
			if i >= 55 {
				b[i] = 1
			}
		}
		return matrixJSON(
			seriesJSON(map[string]string{"__name__": "campaign_active", "campaign": "black_friday", "type": "campaign"}, start, step, a...),
			seriesJSON(map[string]string{"__name__": "campaign_active", "campaign": "flash_sale"}, start, step, b...),
		)
	}
	srv := httptest.NewServer(fp)
	defer srv.Close()
	api, err := NewPrometheusAPI(srv.URL, commoncfg.HTTPClientConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	p, err := NewPromQL(PromQLOptions{Name: "campaigns", API: api, Query: "campaign_active", Lookback: time.Hour,
		NameLabel: "campaign", KindLabel: "type", Kind: "sale", Shadows: []string{"queue"}, Now: func() time.Time { return now }}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := utc("2026-11-27T11:00:00Z")
	want := []span{
		{"black_friday", "campaign", start.Add(10 * time.Minute), start.Add(20 * time.Minute)},
		{"flash_sale", "sale", start.Add(55 * time.Minute), now.Add(time.Minute)},
	}
	if diff := cmp.Diff(want, spans(r.List())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(r.Events("other")) != 0 || len(r.Events("queue")) != 2 || r.List()[0].Origin != "campaigns" || r.List()[0].Source != SourcePromQL {
		t.Errorf("shadows, origin or source wrong: %+v", r.List())
	}
	active := r.List()[1].ID

	// The active run goes on: same id, later end.
	now = now.Add(time.Minute)
	if err := p.Poll(context.Background()); err == nil {
		t.Fatal("expected the fake to refuse the shifted range")
	}
	if len(r.List()) != 2 {
		t.Error("a failed query dropped the events")
	}
	fp.mu.Lock()
	fp.result = func(start, end time.Time, step time.Duration) string {
		vals := make([]float64, 61)
		for i := 54; i < 61; i++ {
			vals[i] = 1
		}
		return matrixJSON(seriesJSON(map[string]string{"__name__": "campaign_active", "campaign": "flash_sale"}, start, step, vals...))
	}
	fp.mu.Unlock()
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l := r.List(); len(l) != 1 || l[0].ID != active || !l[0].End.Equal(now.Add(time.Minute)) {
		t.Errorf("after the run went on: %+v (want id %s)", l, active)
	}
}

func TestPromQLErrors(t *testing.T) {
	fp := &fakeProm{result: func(time.Time, time.Time, time.Duration) string {
		return `{"status":"success","data":{"resultType":"vector","result":[]}}`
	}}
	srv := httptest.NewServer(fp)
	defer srv.Close()
	api, _ := NewPrometheusAPI(srv.URL, commoncfg.HTTPClientConfig{}, nil)
	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	p, err := NewPromQL(PromQLOptions{Name: "x", API: api, Query: "up"}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "want a range vector") {
		t.Errorf("vector result: %v", err)
	}
	fp.result = func(start, _ time.Time, step time.Duration) string {
		return matrixJSON(seriesJSON(map[string]string{"a": "1"}, start, step, 1), seriesJSON(map[string]string{"a": "2"}, start, step, 1))
	}
	p.opts.MaxSeries = 1
	if err := p.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "2 series") {
		t.Errorf("too many series: %v", err)
	}
	for _, o := range []PromQLOptions{
		{API: api, Query: "up"},
		{Name: "x", API: api},
		{Name: "x", Query: "up"},
		{Name: "x", API: api, Query: "up", Step: time.Second, Lookback: 24 * time.Hour},
	} {
		if _, err := NewPromQL(o, r, nil); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
