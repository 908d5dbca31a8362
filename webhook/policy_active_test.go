package webhook

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shadowcast/shadowcast"
	"github.com/shadowcast/shadowcast/policy"
)

func TestDecideWithPolicyChoice(t *testing.T) {
	r := Resource{
		Name: "checkout", ThresholdUpper: 800, ThresholdLower: 300, Stabilization: 5 * time.Minute,
		Pools: []Pool{{Name: "checkout", CapacityPerUnit: 100, Min: 2, Max: 20, CostPerUnitHour: 0.1}},
	}
	up := shadowcast.Value{Point: 700, Peak: 720, Lower: 600, Upper: 820, PeakUpper: 900, Actual: 500}
	down := shadowcast.Value{Point: 200, Peak: 210, Lower: 150, Upper: 260, PeakUpper: 280, Actual: 180}
	with := func(v shadowcast.Value, f func(*shadowcast.Value)) shadowcast.Value { f(&v); return v }
	history := []Sample{{At: t0.Add(-3 * time.Minute), Need: 900}}
	tests := []struct {
		name       string
		v          shadowcast.Value
		current    int
		choice     *PolicyChoice
		wantRule   string
		wantTarget int
		wantChange bool
	}{
		{"fixed headroom: the peak upper bound", up, 5, nil, RuleScaleUp, 9, true},
		{"headroom 0: the peak point", up, 5, &PolicyChoice{Headroom: 0, ScaleDownDelay: time.Minute}, RuleScaleUp, 8, true},
		{"headroom 0.5: halfway to the upper bound", up, 5, &PolicyChoice{Headroom: 0.5, ScaleDownDelay: time.Minute}, RuleScaleUp, 9, true},
		{"never below the actual activity", with(up, func(v *shadowcast.Value) { v.Actual = 1450 }), 5,
			&PolicyChoice{Headroom: 0}, RuleScaleUp, 15, true},
		{"never above max", with(up, func(v *shadowcast.Value) { v.Actual = 2500; v.PeakUpper = 2600 }), 5,
			&PolicyChoice{Headroom: 1.25}, RuleScaleUp, 20, true},
		{"fixed: the 5m stabilisation window holds the release", down, 9, nil, RuleScaleDown, 9, false},
		{"policy: a 1m scale-down delay follows the shadow", down, 9, &PolicyChoice{Headroom: 0, ScaleDownDelay: time.Minute}, RuleScaleDown, 3, true},
		{"policy: a 15m delay holds longer than the window", down, 9, &PolicyChoice{Headroom: 0, ScaleDownDelay: 15 * time.Minute}, RuleScaleDown, 9, false},
		{"never below min", with(down, func(v *shadowcast.Value) { v.Point, v.Peak, v.Actual = 50, 50, 40 }), 9,
			&PolicyChoice{Headroom: 0, ScaleDownDelay: time.Minute}, RuleScaleDown, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Decide(r, Input{Now: t0, Value: tt.v, Current: []int{tt.current}, History: history, Policy: tt.choice})
			got := struct {
				Rule   string
				Target []int
				Change bool
			}{p.Rule, p.Target, p.Change}
			want := struct {
				Rule   string
				Target []int
				Change bool
			}{tt.wantRule, []int{tt.wantTarget}, tt.wantChange}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s\n%s", diff, p.Explanation)
			}
			if tt.choice != nil && !strings.Contains(p.Explanation, "learned policy (active)") {
				t.Errorf("explanation does not name the policy: %s", p.Explanation)
			}
		})
	}
}

// fakeKPIs serves one KPI whose value the test sets; each read after a set
// returns a new evaluation time.
type fakeKPIs struct {
	mu  sync.Mutex
	val float64
	at  time.Time
}

func (k *fakeKPIs) set(v float64, at time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.val, k.at = v, at
}

func (k *fakeKPIs) KPIValues(name string) ([]float64, time.Time, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if name != "latency_p99" {
		return nil, time.Time{}, nil
	}
	return []float64{0.1, k.val}, k.at, nil
}

// steadyValue is a forecast whose capacity need is always met by the
// policy: the actual activity stays below every arm's allocation.
var steadyValue = shadowcast.Value{Point: 700, Peak: 720, Lower: 600, Upper: 820, PeakUpper: 900, Actual: 500, Model: "test"}

// driveSteady samples n minutes of steadyValue; kpi, when not nil, gets a
// fresh latency sample every minute (latency(i)).
func (f *fixture) driveSteady(n int, kpi *fakeKPIs, latency func(i int) float64) {
	for i := range n {
		f.advance(time.Minute)
		f.reader.set("http_requests", steadyValue)
		if kpi != nil {
			kpi.set(latency(i), f.clock())
		}
		f.engine.Sample()
	}
}

func TestPolicyRewardFromSLOs(t *testing.T) {
	slo := []SLO{{KPI: "latency_p99", Max: true, Limit: 0.3}}
	tests := []struct {
		name       string
		slos       []SLO
		wire       bool
		latency    func(i int) float64
		wantSource string
		wantViol   float64
	}{
		{"SLO violated by every KPI sample", slo, true, func(int) float64 { return 0.5 }, policy.ViolationSLO, 1},
		{"SLO violated by every other sample", slo, true, func(i int) float64 { return 0.2 + 0.2*float64(i%2) }, policy.ViolationSLO, 0.4},
		{"SLO met", slo, true, func(int) float64 { return 0.2 }, policy.ViolationSLO, 0},
		{"no SLO: capacity proxy", nil, true, func(int) float64 { return 0.5 }, policy.ViolationCapacity, 0},
		{"SLO but no KPI reader: capacity proxy", slo, false, func(int) float64 { return 0.5 }, policy.ViolationCapacity, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ModeEnforce, func(o *Options) {
				o.SampleInterval = time.Minute
				o.DecisionsKept = 64
				o.Policies = map[string]PolicyOptions{"checkout": {
					Mode: policy.ModeDryRun, Lambda: 8, Epoch: 5 * time.Minute, Seed: 1, SLOs: tt.slos,
				}}
			})
			kpi := &fakeKPIs{}
			if tt.wire {
				f.engine.SetKPIReader(kpi)
			}
			f.driveSteady(40, kpi, tt.latency)
			ds := policyDecisions(f.engine)
			if len(ds) == 0 || ds[0].PolicyUse == nil {
				t.Fatalf("no policy decision with policy_use: %+v", ds)
			}
			rw := ds[0].PolicyUse.Reward
			if rw.ViolationSource != tt.wantSource || rw.LastOutcome == nil {
				t.Fatalf("reward %+v, want violation source %s and an outcome", rw, tt.wantSource)
			}
			// Epochs of 5 one-minute samples: the share of violated KPI
			// samples is 1, 2/5 or 3/5 (every other one), or 0.
			o := rw.LastOutcome
			if o.Source != tt.wantSource || (tt.wantViol != 0.4 && o.Violation != tt.wantViol) ||
				(tt.wantViol == 0.4 && o.Violation != 0.4 && o.Violation != 0.6) {
				t.Errorf("last outcome %+v, want violation %v from %s", o, tt.wantViol, tt.wantSource)
			}
			if !strings.Contains(ds[0].Explanation, rw.Explanation) {
				t.Errorf("decision explanation %q does not state the reward %q", ds[0].Explanation, rw.Explanation)
			}
		})
	}
}

// activeFixture runs checkout with an active policy of one arm (headroom
// 0, 1-minute scale-down delay) that acts after minEpochs online epochs.
func activeFixture(t *testing.T, mode string, minEpochs int) *fixture {
	t.Helper()
	return newFixture(t, mode, func(o *Options) {
		o.SampleInterval = time.Minute
		o.DecisionsKept = 64
		o.Policies = map[string]PolicyOptions{"checkout": {
			Mode: policy.ModeActive, MinDryRunEpochs: minEpochs, Lambda: 8, Epoch: 5 * time.Minute, Seed: 1,
			Arms: []policy.Arm{{Headroom: 0, ScaleDownDelay: time.Minute}},
		}}
	})
}

// TestActivePolicyThroughWebhook posts a real Alertmanager notification
// and lets the engine's worker path evaluate it: an acting policy changes
// the replicas decided (within the bounds), a policy short of online
// experience does not, and a dry-run resource never writes.
func TestActivePolicyThroughWebhook(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		minEpochs  int
		wantActing bool
		wantTarget int
		wantResult string
		wantWrites []int
	}{
		{"acting, enforce: the policy's need (peak point 720) → 8", ModeEnforce, 2, true, 8, ResultSuccess, []int{8}},
		{"not enough online epochs: fixed upper bound 900 → 9", ModeEnforce, 1000, false, 9, ResultSuccess, []int{9}},
		{"acting, dry_run resource: decided, never written", ModeDryRun, 2, true, 8, ResultDryRun, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := activeFixture(t, tt.mode, tt.minEpochs)
			f.driveSteady(30, nil, nil)
			if rec := f.post(t, readTestdata(t, "firing.json"), testToken); rec.Code != http.StatusAccepted {
				t.Fatalf("webhook answered %d %s", rec.Code, rec.Body)
			}
			ds := f.drain(t)
			if len(ds) != 1 {
				t.Fatalf("%d decisions, want 1", len(ds))
			}
			d := ds[0]
			if d.PolicyUse == nil || d.PolicyUse.Acting != tt.wantActing {
				t.Fatalf("policy_use %+v, want acting %v", d.PolicyUse, tt.wantActing)
			}
			if d.Plan.Rule != RuleScaleUp || d.Plan.Target[0] != tt.wantTarget || d.Result != tt.wantResult {
				t.Errorf("decision %s target %v result %s, want scale_up %d %s: %s",
					d.Plan.Rule, d.Plan.Target, d.Result, tt.wantTarget, tt.wantResult, d.Explanation)
			}
			pool := Pool{CapacityPerUnit: 100, Min: 2, Max: 20}
			if u := d.Plan.Target[0]; u < int(math.Ceil(steadyValue.Actual/pool.CapacityPerUnit)) || u > pool.Max || u < pool.Min {
				t.Errorf("target %d outside the bounds", u)
			}
			if got := testutil.ToFloat64(f.engine.policies.metrics.acting.WithLabelValues("checkout")); (got == 1) != tt.wantActing {
				t.Errorf("shadowcast_policy_acting = %v, want acting %v", got, tt.wantActing)
			}
			if _, writes := f.act.state(); !cmp.Equal(writes, tt.wantWrites) {
				t.Errorf("actuator writes %v, want %v", writes, tt.wantWrites)
			}
			if tt.wantActing {
				if !strings.Contains(d.PolicyUse.Why, "policy acting") || d.Policy == nil || d.Policy.Arm.Headroom != 0 {
					t.Errorf("acting decision does not explain the arm: %+v", d.PolicyUse)
				}
			} else if !strings.Contains(d.PolicyUse.Why, "not yet acting") {
				t.Errorf("why = %q", d.PolicyUse.Why)
			}

			// The engine's decision is served with policy_use.
			rec := httptest.NewRecorder()
			f.router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/decisions?resource=checkout&limit=1", nil))
			var body struct {
				Data []struct {
					Source    string `json:"source"`
					PolicyUse struct {
						Acting       bool   `json:"acting"`
						Why          string `json:"why"`
						OnlineEpochs int    `json:"online_epochs"`
						Reward       struct {
							ViolationSource string `json:"violation_source"`
						} `json:"reward"`
					} `json:"policy_use"`
				} `json:"data"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Data) != 1 {
				t.Fatalf("decisions answer %s: %v", rec.Body, err)
			}
			got := body.Data[0]
			if got.Source != "" || got.PolicyUse.Acting != tt.wantActing || got.PolicyUse.OnlineEpochs < 2 ||
				got.PolicyUse.Reward.ViolationSource != policy.ViolationCapacity {
				t.Errorf("served decision %+v", got)
			}
		})
	}
}

// An acting policy whose arm is older than an epoch (no usable forecast
// sampled since) does not act.
func TestActivePolicyStaleArmDoesNotAct(t *testing.T) {
	f := activeFixture(t, ModeEnforce, 2)
	f.driveSteady(30, nil, nil)
	f.advance(6 * time.Minute) // no sample: the forecast was unusable
	d := f.engine.Evaluate(t.Context(), "checkout", Cause{Reason: "alert"})
	if d.PolicyUse == nil || d.PolicyUse.Acting || !strings.Contains(d.PolicyUse.Why, "stale") {
		t.Fatalf("policy_use %+v, want a stale arm that does not act", d.PolicyUse)
	}
	if d.Plan.Target[0] != 9 {
		t.Errorf("target %v, want the fixed upper bound's 9", d.Plan.Target)
	}
}

// An acting policy's needs fill the stabilisation history, so its short
// scale-down delay releases sooner than the fixed window would.
func TestActivePolicyReleasesWithItsDelay(t *testing.T) {
	f := activeFixture(t, ModeEnforce, 2)
	f.driveSteady(30, nil, nil)
	low := shadowcast.Value{Point: 200, Peak: 210, Lower: 150, Upper: 260, PeakUpper: 280, Actual: 180, Model: "test"}
	for range 2 {
		f.advance(time.Minute)
		f.reader.set("http_requests", low)
		f.engine.Sample()
	}
	d := f.engine.Evaluate(t.Context(), "checkout", Cause{Reason: "alert"})
	// Fixed: 5m window still holds the 900 needs of a minute ago → 9 > 5
	// current: no release. Acting (1m delay): release to ⌈210/100⌉ = 3.
	if d.Plan.Rule != RuleScaleDown || d.Plan.Target[0] != 3 || d.Result != ResultSuccess {
		t.Errorf("decision %s %v %s: %s", d.Plan.Rule, d.Plan.Target, d.Result, d.Explanation)
	}
}

// A state trained elsewhere (the simulator: tuned arms, uncertainty
// terciles) is restored with its arms and buckets, and its online epochs
// count towards acting.
func TestPolicyRestoresSimulatorState(t *testing.T) {
	arms := []policy.Arm{{Headroom: 0.3, ScaleDownDelay: time.Minute}}
	p, err := policy.New(policy.Options{Arms: arms, UncertaintyEdges: []float64{0.5, 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		c := policy.Context{Time: t0.Add(time.Duration(i) * time.Hour)}
		p.Update(p.Choose(c), policy.Outcome{Cost: 1})
	}
	state := filepath.Join(t.TempDir(), "sim.pol")
	if err := savePolicy(p, state); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, ModeEnforce, func(o *Options) {
		o.SampleInterval = time.Minute
		o.Policies = map[string]PolicyOptions{"checkout": {
			Mode: policy.ModeActive, MinDryRunEpochs: 1, Lambda: 8, Epoch: 5 * time.Minute, StateFile: state, SaveInterval: time.Hour,
		}}
	})
	f.driveSteady(1, nil, nil)
	if n, ok := f.engine.PolicyEpochs("checkout"); !ok || n != 10 {
		t.Fatalf("restored %d epochs (running %v), want 10", n, ok)
	}
	ds := policyDecisions(f.engine)
	if len(ds) != 1 || ds[0].Policy.Arm != arms[0] {
		t.Fatalf("decisions %+v, want one with the restored arm", ds)
	}
	// Simulator epochs are not online experience: not acting yet.
	if ds[0].PolicyUse.Acting || ds[0].PolicyUse.OnlineEpochs != 0 {
		t.Errorf("policy_use %+v: simulator epochs must not open the gate", ds[0].PolicyUse)
	}
}
