package webhook

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shadowcast/shadowcast"
)

// fakeReader serves one value per shadow.
type fakeReader struct {
	mu   sync.Mutex
	vals map[string]shadowcast.Value
	err  error
}

func (f *fakeReader) Lookup(shadow string, match map[string]string, horizon time.Duration) ([]shadowcast.Value, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.vals[shadow]
	if !ok {
		return nil, shadowcast.ErrUnknownShadow
	}
	return []shadowcast.Value{v}, nil
}

func (f *fakeReader) set(shadow string, v shadowcast.Value) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vals[shadow] = v
}

// fakeActuator keeps units and a version; hooks inject failures.
type fakeActuator struct {
	mu      sync.Mutex
	units   int
	version int
	writes  []int
	readErr error
	// beforeWrite runs at the start of each Write (e.g. a concurrent change).
	beforeWrite func(f *fakeActuator)
}

type conflictErr struct{}

func (conflictErr) Error() string  { return "conflict" }
func (conflictErr) Conflict() bool { return true }

func (f *fakeActuator) Read(context.Context) (Observed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readErr != nil {
		return Observed{}, f.readErr
	}
	return Observed{Units: f.units, Version: itoa(f.version)}, nil
}

func (f *fakeActuator) Write(_ context.Context, prev Observed, units int) error {
	if f.beforeWrite != nil {
		f.beforeWrite(f)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if prev.Version != itoa(f.version) {
		return conflictErr{}
	}
	f.units = units
	f.version++
	f.writes = append(f.writes, units)
	return nil
}

func (f *fakeActuator) state() (int, []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.units, append([]int(nil), f.writes...)
}

func itoa(i int) string { return strconv.Itoa(i) }

type fixture struct {
	engine *Engine
	reader *fakeReader
	act    *fakeActuator
	reg    *prometheus.Registry
	now    time.Time
	mu     sync.Mutex
	router chi.Router
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

const testToken = "s3cret-token"

func newFixture(t *testing.T, mode string, mutate func(*Options)) *fixture {
	t.Helper()
	f := &fixture{
		reader: &fakeReader{vals: map[string]shadowcast.Value{
			"http_requests": {Point: 700, Lower: 600, Upper: 820, PeakUpper: 850, Actual: 500, Model: "holt_winters"},
		}},
		act: &fakeActuator{units: 5},
		reg: prometheus.NewRegistry(),
		now: t0,
	}
	opts := Options{
		Resources: []Resource{{
			Name: "checkout", Shadow: "http_requests", Horizon: 15 * time.Minute,
			ThresholdUpper: 800, ThresholdLower: 300, Mode: mode,
			Cooldown: 3 * time.Minute, Stabilization: 5 * time.Minute, LeadTime: 10 * time.Minute,
			Pools: []Pool{{Name: "checkout", CapacityPerUnit: 100, Min: 2, Max: 20, CostPerUnitHour: 0.1, Actuator: f.act}},
		}},
		Reader:        f.reader,
		BearerToken:   testToken,
		MaxBodyBytes:  4096,
		QueueSize:     4,
		Workers:       1,
		DedupeTTL:     time.Hour,
		DecisionsKept: 8,
		RetryBackoff:  time.Hour, // tests trigger retries by hand
		Now:           f.clock,
	}
	if mutate != nil {
		mutate(&opts)
	}
	e, err := New(opts, f.reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.engine = e
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/webhook/alertmanager", e)
	r.Method(http.MethodGet, "/api/v1/decisions", e.DecisionsHandler())
	f.router = r
	return f
}

func (f *fixture) post(t *testing.T, body []byte, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook/alertmanager", bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.router.ServeHTTP(rec, req)
	return rec
}

// drain evaluates everything queued, as a worker would.
func (f *fixture) drain(t *testing.T) []Decision {
	t.Helper()
	var out []Decision
	for {
		select {
		case tr := <-f.engine.queue:
			f.engine.mu.Lock()
			delete(f.engine.pending, tr.resource)
			f.engine.mu.Unlock()
			out = append(out, f.engine.Evaluate(context.Background(), tr.resource, tr.cause))
		default:
			return out
		}
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func actions(f *fixture, action, result string) float64 {
	return testutil.ToFloat64(f.engine.metrics.actions.WithLabelValues("checkout", action, result))
}

func TestHandlerStatusCodes(t *testing.T) {
	firing := readTestdata(t, "firing.json")
	tests := []struct {
		name     string
		body     []byte
		token    string
		wantCode int
		wantBody string
	}{
		{"accepted", firing, testToken, http.StatusAccepted, `"queued":["checkout"]`},
		{"no token", firing, "", http.StatusUnauthorized, "unauthorized"},
		{"wrong token", firing, "s3cret-tokem", http.StatusUnauthorized, "unauthorized"},
		{"token prefix only", firing, "s3cret", http.StatusUnauthorized, "unauthorized"},
		{"bad json", []byte(`{"version":"4",`), testToken, http.StatusBadRequest, "bad payload"},
		{"wrong version", readTestdata(t, "version3.json"), testToken, http.StatusBadRequest, "version"},
		{"forged resource", readTestdata(t, "forged.json"), testToken, http.StatusBadRequest, "unknown resource"},
		{"no resource label", readTestdata(t, "unlabelled.json"), testToken, http.StatusBadRequest, "shadowcast_resource"},
		{"action not allowed", bytes.Replace(firing, []byte(`"severity": "info",`), []byte(`"severity": "info", "shadowcast_action": "delete",`), 1), testToken, http.StatusBadRequest, `action \"delete\" is not allowed`},
		{"resolved only", readTestdata(t, "resolved.json"), testToken, http.StatusOK, `"ignored":1`},
		{"too large", append(firing, bytes.Repeat([]byte(" "), 5000)...), testToken, http.StatusRequestEntityTooLarge, "exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, ModeEnforce, nil)
			rec := f.post(t, tc.body, tc.token)
			if rec.Code != tc.wantCode || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("got %d %s; want %d containing %q", rec.Code, rec.Body, tc.wantCode, tc.wantBody)
			}
			f.drain(t)
			units, writes := f.act.state()
			if tc.wantCode == http.StatusAccepted {
				if units != 9 || len(writes) != 1 {
					t.Errorf("after accept: units %d writes %v, want 9 [9]", units, writes)
				}
			} else if len(writes) != 0 {
				t.Errorf("nothing may be touched, got writes %v", writes)
			}
		})
	}
}

func TestHandlerBusyAndShutdown(t *testing.T) {
	f := newFixture(t, ModeEnforce, func(o *Options) {
		o.QueueSize = 1
		r2 := o.Resources[0]
		r2.Name = "search"
		o.Resources = append(o.Resources, r2)
	})
	if rec := f.post(t, readTestdata(t, "firing.json"), testToken); rec.Code != http.StatusAccepted {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	other := bytes.ReplaceAll(readTestdata(t, "firing.json"), []byte(`"checkout"`), []byte(`"search"`))
	rec := f.post(t, other, testToken)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("queue full: %d %s", rec.Code, rec.Body)
	}
	// Not marked as seen: the retry after the queue drained is accepted.
	f.drain(t)
	if rec := f.post(t, other, testToken); rec.Code != http.StatusAccepted {
		t.Fatalf("retry after drain: %d %s", rec.Code, rec.Body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.engine.Run(ctx); close(done) }()
	cancel()
	<-done
	third := bytes.ReplaceAll(readTestdata(t, "firing.json"), []byte(`c0ffee`), []byte(`beef00`))
	if rec := f.post(t, third, testToken); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("after shutdown: %d %s", rec.Code, rec.Body)
	}
}

func TestReplayActsOnce(t *testing.T) {
	f := newFixture(t, ModeEnforce, nil)
	body := readTestdata(t, "firing.json")
	for i := range 5 {
		rec := f.post(t, body, testToken)
		want := http.StatusOK
		if i == 0 {
			want = http.StatusAccepted
		}
		if rec.Code != want {
			t.Fatalf("post %d: %d %s", i, rec.Code, rec.Body)
		}
		f.drain(t)
	}
	if _, writes := f.act.state(); len(writes) != 1 {
		t.Fatalf("writes = %v, want one", writes)
	}
	if got := testutil.ToFloat64(f.engine.metrics.alerts.WithLabelValues(alertDuplicate)); got != 4 {
		t.Errorf("duplicate alerts = %g, want 4", got)
	}
	// A new firing of the same alert (new startsAt) inside the cooldown is
	// deferred, not applied.
	f.reader.set("http_requests", shadowcast.Value{Point: 1500, Lower: 1400, Upper: 1600, PeakUpper: 1650, Actual: 1200})
	f.advance(time.Minute)
	again := bytes.ReplaceAll(body, []byte("08:00:00.123Z"), []byte("08:01:00Z"))
	if rec := f.post(t, again, testToken); rec.Code != http.StatusAccepted {
		t.Fatalf("new startsAt: %d %s", rec.Code, rec.Body)
	}
	ds := f.drain(t)
	if len(ds) != 1 || ds[0].Result != ResultDeferred || !ds[0].RetryAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("decision in cooldown = %+v", ds)
	}
	f.advance(2 * time.Minute)
	d := f.engine.Evaluate(context.Background(), "checkout", Cause{Reason: "recheck"})
	if d.Result != ResultSuccess || f.act.units != 17 {
		t.Fatalf("after cooldown: %s units %d", d.Result, f.act.units)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	f := newFixture(t, ModeDryRun, nil)
	if rec := f.post(t, readTestdata(t, "firing.json"), testToken); rec.Code != http.StatusAccepted {
		t.Fatal(rec.Code)
	}
	ds := f.drain(t)
	if len(ds) != 1 || ds[0].Result != ResultDryRun || ds[0].Plan.Target[0] != 9 {
		t.Fatalf("decisions = %+v", ds)
	}
	if units, writes := f.act.state(); units != 5 || len(writes) != 0 {
		t.Fatalf("dry run touched the target: %d %v", units, writes)
	}
	if got := actions(f, RuleScaleUp, ResultDryRun); got != 1 {
		t.Errorf(`shadowcast_actions_total{result="dry_run"} = %g`, got)
	}
}

func TestConflictIsRedecided(t *testing.T) {
	f := newFixture(t, ModeEnforce, nil)
	// Another replica scales to 12 between our read and our write, once.
	var once sync.Once
	f.act.beforeWrite = func(a *fakeActuator) {
		once.Do(func() {
			a.mu.Lock()
			a.units, a.version = 12, a.version+1
			a.mu.Unlock()
		})
	}
	d := f.engine.Evaluate(context.Background(), "checkout", Cause{Reason: "test"})
	// Re-read 12, re-decided: 12 already covers the need (9): no write.
	if d.Result != ResultNoChange || d.Conflicts != 1 || f.act.units != 12 {
		t.Fatalf("decision %+v, units %d", d, f.act.units)
	}
	if got := testutil.ToFloat64(f.engine.metrics.conflicts.WithLabelValues("checkout")); got != 1 {
		t.Errorf("conflicts = %g", got)
	}

	// Concurrent change to 3 (below the need): re-decided and written.
	f.act.units = 5
	var once2 sync.Once
	f.act.beforeWrite = func(a *fakeActuator) {
		once2.Do(func() {
			a.mu.Lock()
			a.units, a.version = 3, a.version+1
			a.mu.Unlock()
		})
	}
	f.advance(time.Hour)
	d = f.engine.Evaluate(context.Background(), "checkout", Cause{Reason: "test"})
	if d.Result != ResultSuccess || f.act.units != 9 || d.Current[0] != 3 {
		t.Fatalf("decision %+v, units %d", d, f.act.units)
	}

	// A target that keeps changing ends as result="conflict".
	f.act.units = 5
	f.act.beforeWrite = func(a *fakeActuator) {
		a.mu.Lock()
		a.units, a.version = 4, a.version+1
		a.mu.Unlock()
	}
	f.advance(time.Hour)
	d = f.engine.Evaluate(context.Background(), "checkout", Cause{Reason: "test"})
	if d.Result != ResultConflict || d.RetryAt.IsZero() {
		t.Fatalf("decision %+v", d)
	}
}

func TestActuatorDownIsCountedAndRetried(t *testing.T) {
	f := newFixture(t, ModeEnforce, func(o *Options) { o.RetryBackoff = 20 * time.Millisecond; o.RetryBackoffMax = 40 * time.Millisecond })
	f.act.readErr = errors.New("dial tcp 127.0.0.1:1: connection refused")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { f.engine.Run(ctx); close(done) }()
	if rec := f.post(t, readTestdata(t, "firing.json"), testToken); rec.Code != http.StatusAccepted {
		t.Fatal(rec.Code)
	}
	// The engine retries by itself; let it fail a few times, then recover.
	deadline := time.Now().Add(5 * time.Second)
	for actions(f, "none", ResultError) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("errors counted = %g", actions(f, "none", ResultError))
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.act.mu.Lock()
	f.act.readErr = nil
	f.act.mu.Unlock()
	for actions(f, RuleScaleUp, ResultSuccess) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no success after recovery")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if units, writes := f.act.state(); units != 9 || len(writes) != 1 {
		t.Fatalf("units %d writes %v", units, writes)
	}
}

func TestStabilisedScaleDown(t *testing.T) {
	f := newFixture(t, ModeEnforce, func(o *Options) { o.Resources[0].Cooldown = 0 })
	f.act.units = 9
	// Needs 850 now: hold at 9 (recorded in the window).
	f.reader.set("http_requests", shadowcast.Value{Point: 600, Lower: 500, Upper: 780, PeakUpper: 850, Actual: 500})
	if d := f.engine.Evaluate(context.Background(), "checkout", Cause{}); d.Result != ResultNoChange {
		t.Fatalf("%+v", d)
	}
	// Load falls: release is held at 850 for the 5m window.
	f.reader.set("http_requests", shadowcast.Value{Point: 200, Lower: 150, Upper: 260, PeakUpper: 280, Actual: 210})
	f.advance(time.Minute)
	d := f.engine.Evaluate(context.Background(), "checkout", Cause{})
	if d.Result != ResultNoChange || d.Plan.Stabilized != 850 || !d.Plan.RecheckAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("%+v", d)
	}
	f.advance(4*time.Minute + time.Second)
	d = f.engine.Evaluate(context.Background(), "checkout", Cause{})
	if d.Result != ResultSuccess || f.act.units != 3 {
		t.Fatalf("%+v units %d", d, f.act.units)
	}
}

func TestSkippedWithoutForecast(t *testing.T) {
	f := newFixture(t, ModeEnforce, nil)
	f.reader.err = shadowcast.ErrNoForecast
	d := f.engine.Evaluate(context.Background(), "checkout", Cause{})
	if d.Result != ResultSkipped || d.RetryAt.IsZero() {
		t.Fatalf("%+v", d)
	}
	f.reader.err = shadowcast.ErrUnknownShadow
	d = f.engine.Evaluate(context.Background(), "checkout", Cause{})
	if d.Result != ResultSkipped || !d.RetryAt.IsZero() {
		t.Fatalf("unknown shadow must not be retried: %+v", d)
	}
}

func TestDecisionsEndpoint(t *testing.T) {
	f := newFixture(t, ModeDryRun, nil)
	for range 10 {
		f.engine.Evaluate(context.Background(), "checkout", Cause{Reason: "test"})
		f.advance(time.Minute)
	}
	rec := httptest.NewRecorder()
	f.router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/decisions?limit=3", nil))
	var got struct {
		Status string     `json:"status"`
		Data   []Decision `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s %v", rec.Code, rec.Body, err)
	}
	if got.Status != "success" || len(got.Data) != 3 || got.Data[0].ID != 10 || got.Data[2].ID != 8 {
		t.Fatalf("decisions = %+v", got)
	}
	d := got.Data[0]
	if d.Inputs == nil || d.Inputs.PeakUpper != 850 || d.Plan.Rule != RuleScaleUp || d.Plan.Explanation == "" || d.Pools[0] != "checkout" {
		t.Errorf("decision not explained: %+v", d)
	}
	rec = httptest.NewRecorder()
	f.router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/decisions", nil))
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	if len(got.Data) != 8 { // the ring keeps DecisionsKept
		t.Errorf("kept %d decisions, want 8", len(got.Data))
	}
	rec = httptest.NewRecorder()
	f.router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/decisions?resource=other", nil))
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	if len(got.Data) != 0 {
		t.Errorf("filter kept %d", len(got.Data))
	}
}

func TestUpdateKeepsOldOnError(t *testing.T) {
	f := newFixture(t, ModeEnforce, nil)
	bad := Options{Reader: f.reader, Resources: []Resource{{Name: "x", Mode: "sometimes", Pools: onePool(1, 2)}}}
	if err := f.engine.Update(bad); err == nil {
		t.Fatal("Update accepted a bad mode")
	}
	if rec := f.post(t, readTestdata(t, "firing.json"), testToken); rec.Code != http.StatusAccepted {
		t.Fatalf("old config lost: %d %s", rec.Code, rec.Body)
	}
	f.drain(t)
	// A reload removing the resource drops its series and rejects it.
	good := Options{Reader: f.reader, Resources: []Resource{{Name: "other", Mode: ModeDryRun, Pools: []Pool{{Name: "p", CapacityPerUnit: 1, Max: 1, Actuator: f.act}}}}}
	if err := f.engine.Update(good); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(f.engine.metrics.actions); n != 0 {
		t.Errorf("%d series left for the removed resource", n)
	}
	if rec := f.post(t, bytes.ReplaceAll(readTestdata(t, "firing.json"), []byte("c0ffee"), []byte("dead00")), ""); rec.Code != http.StatusBadRequest {
		t.Fatalf("removed resource (and token dropped): %d %s", rec.Code, rec.Body)
	}
}

func TestMetricsLint(t *testing.T) {
	f := newFixture(t, ModeEnforce, nil)
	f.post(t, readTestdata(t, "firing.json"), testToken)
	f.drain(t)
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
}

func TestSlowClientTimesOut(t *testing.T) {
	f := newFixture(t, ModeEnforce, func(o *Options) { o.RequestTimeout = 100 * time.Millisecond })
	srv := httptest.NewServer(f.router)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers and a little of a 1000-byte body, then nothing.
	fmt.Fprintf(conn, "POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{\"version\":", testToken)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("slow body held the handler for %s", d)
	}
	if _, w := f.act.state(); len(w) != 0 {
		t.Fatal("a partial body caused an action")
	}
}

func TestSamplesBoundRelease(t *testing.T) {
	f := newFixture(t, ModeEnforce, func(o *Options) { o.Resources[0].Cooldown = 0 })
	f.act.units = 9
	// Between alerts the sampler sees a high need...
	f.reader.set("http_requests", shadowcast.Value{Point: 600, Lower: 500, Upper: 780, PeakUpper: 850, Actual: 500})
	f.engine.Sample()
	f.advance(2 * time.Minute)
	// ...so a scale-down alert 2 minutes later is held at it.
	f.reader.set("http_requests", shadowcast.Value{Point: 200, Lower: 150, Upper: 260, PeakUpper: 280, Actual: 210})
	d := f.engine.Evaluate(context.Background(), "checkout", Cause{})
	if d.Result != ResultNoChange || d.Plan.Stabilized != 850 || !d.Plan.RecheckAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("%+v", d)
	}
	f.advance(3 * time.Minute)
	if d := f.engine.Evaluate(context.Background(), "checkout", Cause{}); d.Result != ResultSuccess || f.act.units != 3 {
		t.Fatalf("%+v units %d", d, f.act.units)
	}
}

func TestEvaluateCheapestMix(t *testing.T) {
	spot := &fakeActuator{units: 0}
	f := newFixture(t, ModeEnforce, func(o *Options) {
		o.Resources[0].Pools[0].CostPerUnitHour = 1
		o.Resources[0].Pools = append(o.Resources[0].Pools,
			Pool{Name: "checkout_spot", CapacityPerUnit: 100, Min: 0, Max: 4, CostPerUnitHour: 0.3, Actuator: spot})
	})
	f.act.units = 2
	// Need 850: spot takes its max 4, on-demand the rest (5).
	d := f.engine.Evaluate(context.Background(), "checkout", Cause{Reason: "test"})
	if d.Result != ResultSuccess || f.act.units != 5 || spot.units != 4 || d.Plan.CostPerHour != 6.2 {
		t.Fatalf("%+v; units %d + %d", d, f.act.units, spot.units)
	}
	if d.Pools[1] != "checkout_spot" || d.Current[1] != 0 || d.Plan.Target[1] != 4 {
		t.Errorf("decision pools %v current %v target %v", d.Pools, d.Current, d.Plan.Target)
	}

	// A spot pool whose every write conflicts: re-read and re-decided each
	// time, then result="conflict" with a retry scheduled.
	f.reader.set("http_requests", shadowcast.Value{Point: 1000, Lower: 900, Upper: 1100, PeakUpper: 1150, Actual: 950})
	f.act.units, spot.units = 2, 0
	spot.readErr = nil
	spot.beforeWrite = func(a *fakeActuator) { a.mu.Lock(); a.version += 100; a.mu.Unlock() } // every write conflicts
	f.advance(time.Hour)
	d = f.engine.Evaluate(context.Background(), "checkout", Cause{Reason: "test"})
	if d.Result != ResultConflict || d.Conflicts != 4 || d.RetryAt.IsZero() {
		t.Fatalf("%+v", d)
	}
}
