package webhook

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shadowcast/shadowcast"
	"github.com/shadowcast/shadowcast/policy"
)

// policyFixture is the engine fixture with the learned policy of
// "checkout" in dry-run, sampled every minute, 5-minute epochs.
func policyFixture(t *testing.T, stateFile string) *fixture {
	t.Helper()
	return newFixture(t, ModeEnforce, func(o *Options) {
		o.SampleInterval = time.Minute
		o.DecisionsKept = 256
		o.Policies = map[string]PolicyOptions{"checkout": {
			Mode: policy.ModeDryRun, Lambda: 8, Epoch: 5 * time.Minute, StateFile: stateFile,
			SaveInterval: time.Hour, Seed: 7,
		}}
	})
}

// drive samples n minutes of a daily-ish load whose actual activity
// sometimes exceeds the forecast, advancing the fake clock.
func (f *fixture) drive(n int) {
	for i := range n {
		f.advance(time.Minute)
		base := 600 + 400*math.Sin(float64(i)/30)
		actual := base
		if i%7 == 3 {
			actual = base * 1.5 // bursts above the forecast's upper bound
		}
		f.reader.set("http_requests", shadowcast.Value{
			Point: base, Lower: base * 0.8, Upper: base * 1.2, Peak: base * 1.05, PeakUpper: base * 1.25,
			Actual: actual, Model: "test",
		})
		f.engine.Sample()
	}
}

func policyDecisions(e *Engine) []Decision {
	var out []Decision
	for _, d := range e.Decisions("", 1000) {
		if d.Source == SourcePolicy {
			out = append(out, d)
		}
	}
	return out
}

func TestPolicyDryRunDecidesLearnsAndNeverActs(t *testing.T) {
	state := filepath.Join(t.TempDir(), "policy", "checkout.pol")
	f := policyFixture(t, state)
	f.drive(120)

	ds := policyDecisions(f.engine)
	// One-minute samples from 08:01 to 10:00, 5-minute epochs aligned to
	// :00, :05...: a decision at 08:01, then one at each boundary 08:05 ...
	// 10:00.
	if len(ds) != 25 {
		t.Fatalf("policy decisions = %d, want 25", len(ds))
	}
	var counted float64
	for _, a := range policy.DefaultArms() {
		counted += testutil.ToFloat64(f.engine.policies.metrics.decisions.WithLabelValues("checkout", a.String()))
	}
	if counted != 25 {
		t.Errorf("shadowcast_policy_decisions_total summed = %v, want 25", counted)
	}
	pool := Pool{CapacityPerUnit: 100, Min: 2, Max: 20}
	troubled := 0
	for _, d := range ds {
		if d.Policy != nil && d.Policy.Context.Recent > 0 {
			troubled++ // the bursts were scored as violations of the previous epoch
		}
		if d.Result != ResultDryRun || d.Mode != ModeDryRun || d.Policy == nil || d.Plan.Rule != RulePolicy {
			t.Fatalf("decision %+v is not a dry-run policy decision", d)
		}
		u := d.Plan.Target[0]
		need := int(math.Ceil(d.Inputs.Actual / pool.CapacityPerUnit))
		if u < pool.Min || u > pool.Max || u < min(need, pool.Max) {
			t.Errorf("target %d outside [min %d, max %d] or below the actual need %d", u, pool.Min, pool.Max, need)
		}
		if !strings.Contains(d.Explanation, "chose headroom=") || !strings.Contains(d.Explanation, "dry-run, nothing applied") {
			t.Errorf("explanation %q", d.Explanation)
		}
	}
	if troubled == 0 {
		t.Error("no decision saw a violated previous epoch, yet the load bursts above every arm's capacity")
	}
	// Outcomes of completed epochs were learned: 120 minutes, 10-minute
	// lead, 5-minute epochs leave at most three pending.
	epochs, ok := f.engine.PolicyEpochs("checkout")
	if !ok || epochs < 20 {
		t.Fatalf("policy learned %d epochs (running %v), want >= 20", epochs, ok)
	}
	if got := testutil.ToFloat64(f.engine.policies.metrics.epochs.WithLabelValues("checkout")); int(got) != epochs {
		t.Errorf("shadowcast_policy_epochs_learned = %v, want %d", got, epochs)
	}
	// Nothing was actuated.
	if units, writes := f.act.state(); units != 5 || len(writes) != 0 {
		t.Errorf("actuator units %d writes %v: the policy must never act", units, writes)
	}

	// Served at /api/v1/decisions with its source and explanation.
	rec := httptest.NewRecorder()
	f.router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/decisions?resource=checkout&limit=1", nil))
	var body struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Data) != 1 {
		t.Fatalf("decisions answer %s: %v", rec.Body, err)
	}
	if body.Data[0]["source"] != "policy" || body.Data[0]["policy"] == nil {
		t.Errorf("decision served without source/policy: %v", body.Data[0])
	}

	// State persists (atomically: no temporary file left) and reloads.
	f.engine.SavePolicies()
	entries, err := os.ReadDir(filepath.Dir(state))
	if err != nil || len(entries) != 1 || entries[0].Name() != "checkout.pol" {
		t.Fatalf("state directory holds %v (%v), want only checkout.pol", entries, err)
	}
	g := policyFixture(t, state)
	g.drive(1)
	if got, _ := g.engine.PolicyEpochs("checkout"); got != epochs {
		t.Errorf("reloaded policy knows %d epochs, want %d", got, epochs)
	}
	if got := testutil.ToFloat64(g.engine.policies.metrics.stateErrors.WithLabelValues("checkout", "load")); got != 0 {
		t.Errorf("load errors = %v, want 0", got)
	}
}

func TestPolicyCorruptStateStartsFresh(t *testing.T) {
	state := filepath.Join(t.TempDir(), "checkout.pol")
	if err := os.WriteFile(state, []byte("SCPOL\x01garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := policyFixture(t, state)
	f.drive(1)
	if got, ok := f.engine.PolicyEpochs("checkout"); !ok || got != 0 {
		t.Errorf("epochs = %d (running %v), want a fresh running policy", got, ok)
	}
	if got := testutil.ToFloat64(f.engine.policies.metrics.stateErrors.WithLabelValues("checkout", "load")); got != 1 {
		t.Errorf("load errors = %v, want 1", got)
	}
	if len(policyDecisions(f.engine)) != 1 {
		t.Errorf("a fresh policy should still decide")
	}
}

func TestPolicyOffDoesNothing(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, ModeEnforce, func(o *Options) {
		o.SampleInterval = time.Minute
		o.Policies = map[string]PolicyOptions{"checkout": {Mode: policy.ModeOff, StateFile: filepath.Join(dir, "x.pol")}}
	})
	f.drive(30)
	f.engine.SavePolicies()
	if ds := policyDecisions(f.engine); len(ds) != 0 {
		t.Errorf("off policy recorded %d decisions", len(ds))
	}
	if _, ok := f.engine.PolicyEpochs("checkout"); ok {
		t.Error("off policy is running")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("off policy wrote %v", entries)
	}
}

func TestPolicyOptionsRejected(t *testing.T) {
	for name, po := range map[string]PolicyOptions{
		"negative min epochs": {Mode: policy.ModeActive, Epoch: time.Hour, MinDryRunEpochs: -1},
		"slo without kpi":     {Mode: policy.ModeDryRun, Epoch: time.Hour, SLOs: []SLO{{Max: true, Limit: 1}}},
		"short epoch":         {Mode: policy.ModeDryRun, Epoch: 90 * time.Second},
		"unknown mode":        {Mode: policy.Mode(9), Epoch: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, ModeEnforce, func(o *Options) { o.SampleInterval = time.Minute })
			opts := Options{Resources: f.engine.set.Load().order2resources(), Reader: f.reader,
				Policies: map[string]PolicyOptions{"checkout": po}}
			if err := f.engine.Update(opts); err == nil {
				t.Error("Update accepted the policy options")
			}
		})
	}
}

// Reloading with the policy removed stops it and saves its state.
func TestPolicyReloadOff(t *testing.T) {
	state := filepath.Join(t.TempDir(), "checkout.pol")
	f := policyFixture(t, state)
	f.drive(20)
	opts := Options{Resources: f.engine.set.Load().order2resources(), Reader: f.reader}
	if err := f.engine.Update(opts); err != nil {
		t.Fatal(err)
	}
	f.drive(1)
	if _, ok := f.engine.PolicyEpochs("checkout"); ok {
		t.Error("policy still running after reload without it")
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("state not saved when the policy stopped: %v", err)
	}
}

func (s *settings) order2resources() []Resource {
	out := make([]Resource, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, *s.resources[n])
	}
	return out
}
