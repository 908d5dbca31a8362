package webhook

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/shadowcast/shadowcast"
	"github.com/shadowcast/shadowcast/policy"
)

// SourcePolicy marks the decisions of the learned policy in the decisions
// ring (Decision.Source); the engine's own decisions leave it empty.
const SourcePolicy = "policy"

// RulePolicy is the Plan.Rule of a learned-policy decision.
const RulePolicy = "policy"

// PolicyOptions configure the learned allocation policy of one resource.
// The policy chooses a headroom and a scale-down delay each epoch,
// computes what it would allocate, learns from what actually happened next
// and explains each choice at /api/v1/decisions. In dry-run it never acts.
// Active, once it has learned MinDryRunEpochs epochs online, its chosen
// arm replaces the fixed headroom and the stabilisation window in the
// engine's decisions (Decide with Input.Policy); the bounds, the cooldown
// and the resource's own mode still apply, so a dry-run resource never
// writes.
type PolicyOptions struct {
	// Mode is policy.ModeOff, policy.ModeDryRun or policy.ModeActive.
	Mode policy.Mode
	// MinDryRunEpochs is how many epochs the policy must have learned
	// online (Policy.OnlineEpochs, persisted) before an active policy acts.
	MinDryRunEpochs int
	// SLOs, when set, make an epoch's violation the share of its KPI
	// samples beyond an objective (read through Options.KPIs); epochs
	// without a KPI sample fall back to the capacity proxy.
	SLOs []SLO
	// Arms overrides policy.DefaultArms (tests, or arms tuned in the
	// simulator).
	Arms []policy.Arm
	// Lambda weighs SLO violations against cost in the reward.
	Lambda float64
	// Epoch is how long one decision holds; at least twice SampleInterval.
	Epoch time.Duration
	// StateFile persists what the policy learned; empty: not persisted.
	StateFile string
	// SaveInterval is how often StateFile is rewritten (default 5m).
	SaveInterval time.Duration
	// Seed of the Thompson sampling; 0 draws one from the clock.
	Seed uint64
}

// SLO is an objective over a KPI: every series of the KPI must stay at
// or below Limit (Max) or at or above it (!Max).
type SLO struct {
	KPI   string
	Max   bool
	Limit float64
}

func (o SLO) String() string {
	if o.Max {
		return fmt.Sprintf("%s <= %g", o.KPI, o.Limit)
	}
	return fmt.Sprintf("%s >= %g", o.KPI, o.Limit)
}

// violated reports whether v breaks the objective.
func (o SLO) violated(v float64) bool {
	if o.Max {
		return v > o.Limit
	}
	return v < o.Limit
}

// KPIReader returns the latest values of a KPI (one per series) and the
// time they were evaluated. The KPI collector satisfies it through a small
// adapter.
type KPIReader interface {
	KPIValues(name string) ([]float64, time.Time, error)
}

// PolicyChoice is the learned policy's arm as it drives a decision (Input.Policy).
type PolicyChoice struct {
	// Headroom: the need is point + Headroom·(upper − point), never below the actual activity.
	Headroom float64
	// ScaleDownDelay replaces the resource's stabilisation window.
	ScaleDownDelay time.Duration
}

// PolicyNeed is the activity an arm of headroom h provisions for:
// point + h·(upper − point), where point is the higher of the point
// forecast and its peak over the horizon and upper the peak upper bound,
// never below the actual activity.
func PolicyNeed(v shadowcast.Value, h float64) float64 {
	point := v.Point
	if !math.IsNaN(v.Peak) && v.Peak > point {
		point = v.Peak
	}
	return max(point+h*max(upperOf(v)-point, 0), actualOf(v))
}

// PolicyUse says how the learned policy of a resource took part in a
// decision, and how it is rewarded. It is served at /api/v1/decisions.
type PolicyUse struct {
	// Mode is dry_run or active (the configured policy mode).
	Mode string `json:"mode"`
	// Acting is true when the policy's arm drove this decision.
	Acting bool `json:"acting"`
	// Arm is the arm in force (the decision's arm when Acting).
	Arm *policy.Arm `json:"arm,omitempty"`
	// Why says why the policy acts or not, in one line.
	Why string `json:"why"`
	// OnlineEpochs learned online so far, and the minimum before acting.
	OnlineEpochs    int    `json:"online_epochs"`
	MinDryRunEpochs int    `json:"min_dry_run_epochs"`
	Reward          Reward `json:"reward"`
}

// Reward describes the reward the policy learns from.
type Reward struct {
	Lambda float64 `json:"lambda"`
	// ViolationSource is policy.ViolationSLO when SLOs are configured and
	// a KPI reader is wired (epochs without a KPI sample still use the
	// proxy), else policy.ViolationCapacity.
	ViolationSource string   `json:"violation_source"`
	SLOs            []string `json:"slos,omitempty"`
	// LastOutcome is the latest epoch outcome learned (with the source its
	// violation actually came from).
	LastOutcome   *policy.Outcome `json:"last_outcome,omitempty"`
	LastOutcomeAt time.Time       `json:"last_outcome_at,omitzero"`
	Explanation   string          `json:"explanation"`
}

func (o PolicyOptions) validate(resource string, sample time.Duration) error {
	switch {
	case o.Mode != policy.ModeOff && o.Mode != policy.ModeDryRun && o.Mode != policy.ModeActive:
		return fmt.Errorf("webhook: resource %q: unknown policy mode %v", resource, o.Mode)
	case o.Mode == policy.ModeOff:
		return nil
	case o.Epoch < 2*sample:
		return fmt.Errorf("webhook: resource %q: policy epoch %s must be at least twice the sample interval %s", resource, o.Epoch, sample)
	case !(o.Lambda >= 0) || math.IsInf(o.Lambda, 0):
		return fmt.Errorf("webhook: resource %q: policy lambda must be a non-negative number", resource)
	case o.MinDryRunEpochs < 0:
		return fmt.Errorf("webhook: resource %q: policy min dry-run epochs must not be negative", resource)
	}
	for _, slo := range o.SLOs {
		if slo.KPI == "" || !finite(slo.Limit) {
			return fmt.Errorf("webhook: resource %q: policy SLO %v needs a KPI and a finite limit", resource, slo)
		}
	}
	return nil
}

type policyMetrics struct {
	decisions   *prometheus.CounterVec
	epochs      *prometheus.GaugeVec
	online      *prometheus.GaugeVec
	acting      *prometheus.GaugeVec
	stateErrors *prometheus.CounterVec
}

func newPolicyMetrics(reg prometheus.Registerer) *policyMetrics {
	f := promauto.With(reg)
	return &policyMetrics{
		decisions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_policy_decisions_total",
			Help: "Decisions of the learned allocation policy, by resource and arm (headroom and scale-down delay); applied only when the policy is active and acting.",
		}, []string{"resource", "arm"}),
		epochs: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_policy_epochs_learned",
			Help: "Epoch outcomes the learned allocation policy of a resource has learned from (restored state included).",
		}, []string{"resource"}),
		online: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_policy_online_epochs",
			Help: "Epoch outcomes the learned allocation policy of a resource has learned on the live service (persisted; simulator training excluded). An active policy acts from min_dry_run_epochs on.",
		}, []string{"resource"}),
		acting: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_policy_acting",
			Help: "1 when the learned allocation policy of a resource drives the engine's decisions (mode active and enough online epochs), else 0.",
		}, []string{"resource"}),
		stateErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_policy_state_errors_total",
			Help: "Failures to load (corrupt or incompatible: the policy starts fresh) or save the learned policy state, by resource and operation.",
		}, []string{"resource", "operation"}),
	}
}

func (m *policyMetrics) forget(resource string) {
	l := prometheus.Labels{"resource": resource}
	m.decisions.DeletePartialMatch(l)
	m.epochs.DeletePartialMatch(l)
	m.online.DeletePartialMatch(l)
	m.acting.DeletePartialMatch(l)
	m.stateErrors.DeletePartialMatch(l)
}

// policyRunner holds the learners of the resources whose policy is on.
type policyRunner struct {
	logger  *slog.Logger
	metrics *policyMetrics
	step    time.Duration

	mu     sync.Mutex // guards states, kpis
	states map[string]*policyState
	kpis   KPIReader
}

// policyState is the learned policy of one resource.
type policyState struct {
	opts     PolicyOptions
	lead     time.Duration
	pol      *policy.Policy
	learner  *policy.Learner
	maxDelay time.Duration
	recs     []policyRec // what the policy would have provisioned, oldest first
	lastSave time.Time
	// acting: the policy is active and has learned enough online.
	acting  bool
	current policy.Decision
	has     bool
	at      time.Time            // when the sampler last ran the policy
	need    float64              // the current arm's need at the last sample
	kpiSeen map[string]time.Time // evaluation time of the last KPI sample counted, per KPI
}

// policyRec is one sample of the policy's would-be allocation.
type policyRec struct {
	at       time.Time
	demand   float64 // activity the arm provisions for
	capacity float64 // capacity of the allocation after the scale-down delay
}

func newPolicyRunner(reg prometheus.Registerer, logger *slog.Logger, step time.Duration) *policyRunner {
	return &policyRunner{logger: logger, metrics: newPolicyMetrics(reg), step: step, states: map[string]*policyState{}}
}

// sync drops the learners of resources whose policy is gone or changed
// (saving their state first) and creates the missing ones, restoring their
// state file. pr.mu is held.
func (pr *policyRunner) sync(s *settings, now time.Time) {
	for name, st := range pr.states {
		r := s.resources[name]
		o, ok := s.policies[name]
		if r != nil && ok && samePolicy(o, st.opts) && r.LeadTime == st.lead {
			continue
		}
		pr.save(name, st, now)
		delete(pr.states, name)
		if r == nil || o.Mode == policy.ModeOff {
			pr.metrics.forget(name)
		}
	}
	for _, name := range s.order {
		o, ok := s.policies[name]
		if !ok || o.Mode == policy.ModeOff || pr.states[name] != nil {
			continue
		}
		st, err := pr.start(name, o, s.resources[name].LeadTime, now)
		if err != nil {
			pr.logger.Error("Cannot start the learned policy", "resource", name, "err", err)
			continue
		}
		pr.states[name] = st
	}
}

func (pr *policyRunner) start(name string, o PolicyOptions, lead time.Duration, now time.Time) (*policyState, error) {
	seed := o.Seed
	if seed == 0 {
		seed = uint64(now.UnixNano())
	}
	popts := policy.Options{Lambda: o.Lambda, Seed: seed, Arms: o.Arms}
	p, err := policy.New(popts)
	if err != nil {
		return nil, err
	}
	if o.StateFile != "" {
		restored, err := loadPolicy(o.StateFile, popts)
		switch {
		case err != nil:
			pr.metrics.stateErrors.WithLabelValues(name, "load").Inc()
			pr.logger.Warn("Learned policy state unusable, starting fresh", "resource", name, "file", o.StateFile, "err", err)
		case restored != nil:
			p = restored
			pr.logger.Info("Learned policy state restored", "resource", name, "file", o.StateFile, "epochs", p.Epochs(),
				"online_epochs", p.OnlineEpochs(), "arms", len(p.Options().Arms))
		}
	}
	l, err := policy.NewLearner(p, policy.LearnerOptions{Epoch: o.Epoch, Step: pr.step, Delay: lead, Explore: true, Online: true})
	if err != nil {
		return nil, err
	}
	st := &policyState{opts: o, lead: lead, pol: p, learner: l, lastSave: now, kpiSeen: map[string]time.Time{}}
	for _, a := range p.Options().Arms {
		st.maxDelay = max(st.maxDelay, a.ScaleDownDelay)
	}
	pr.metrics.epochs.WithLabelValues(name).Set(float64(p.Epochs()))
	return st, nil
}

// loadPolicy restores a policy from path, with the arms and context
// buckets of the file (policy.NewFromState); a missing file is not an
// error (nil, nil).
func loadPolicy(path string, opts policy.Options) (*policy.Policy, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return policy.NewFromState(bufio.NewReader(f), opts)
}

// savePolicy writes p to path atomically: a temporary file in the same
// directory, fsynced, renamed over path, then the directory fsynced.
func savePolicy(p *policy.Policy, path string) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary state file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriter(f)
	if _, err := p.WriteTo(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write policy state: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync policy state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close policy state: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename policy state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every file system syncs directories
		_ = d.Close()
	}
	return nil
}

// save persists one resource's policy when it has a state file. pr.mu is
// held.
func (pr *policyRunner) save(name string, st *policyState, now time.Time) {
	if st.opts.StateFile == "" {
		return
	}
	st.lastSave = now
	if err := savePolicy(st.pol, st.opts.StateFile); err != nil {
		pr.metrics.stateErrors.WithLabelValues(name, "save").Inc()
		pr.logger.Error("Cannot save the learned policy state", "resource", name, "file", st.opts.StateFile, "err", err)
	}
}

// saveAll persists every policy (at shutdown).
func (pr *policyRunner) saveAll(now time.Time) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for name, st := range pr.states {
		pr.save(name, st, now)
	}
}

// policyOutcome is what a sample yields: a fresh decision to record, or nothing.
type policyOutcome struct {
	decision policy.Decision
	fresh    bool
	demand   float64
	target   []int
	capacity float64
	cost     float64
}

// observe runs one sample of a resource's policy: decide (a new decision
// at each epoch boundary), compute what the policy would allocate, and
// account the step to the learner from what actually happened. It never
// acts. pr.mu is held.
func (pr *policyRunner) observe(name string, st *policyState, r *Resource, v shadowcast.Value, now time.Time) policyOutcome {
	actual := actualOf(v)
	point := v.Point
	if !math.IsNaN(v.Peak) && v.Peak > point {
		point = v.Peak
	}
	ctx := policy.Context{Time: now}
	if v.Point > 0 {
		ctx.Uncertainty = max(v.Upper-v.Point, 0) / v.Point
	}
	if actual > 0 && finite(point) {
		ctx.Trend = (point - actual) / actual
	}
	pr.gate(name, st)
	d, fresh := st.learner.Decide(ctx)
	st.current, st.has, st.at = d, true, now

	// The arm provisions point + headroom·(upper − point), never below the
	// actual activity, and keeps the highest such need for its scale-down
	// delay; Mix keeps every pool within [min, max].
	demand := PolicyNeed(v, d.Arm.Headroom)
	st.need = demand
	held := demand
	keep := st.recs[:0]
	for _, x := range st.recs {
		if now.Sub(x.at) <= max(st.maxDelay, st.lead)+pr.step {
			keep = append(keep, x)
		}
		if now.Sub(x.at) < d.Arm.ScaleDownDelay {
			held = max(held, x.demand)
		}
	}
	target, capa, costH := Mix(r.Pools, held)
	if len(r.Pools) == 1 {
		p := r.Pools[0]
		need := int(math.Ceil(actual/p.CapacityPerUnit - 1e-9))
		target[0] = policy.Bounds{Min: p.Min, Max: p.Max}.Apply(target[0], need)
		capa, _ = capacity(r.Pools, target)
		costH = cost(r.Pools, target)
	}
	st.recs = append(keep, policyRec{at: now, demand: demand, capacity: capa})

	// Ready capacity: a scale-up serves after the lead time, a release at
	// once. Without a recorded allocation that old, the step is not scored.
	ready, known := capa, false
	for i := len(st.recs) - 1; i >= 0; i-- {
		if !st.recs[i].at.After(now.Add(-st.lead)) {
			ready, known = min(capa, st.recs[i].capacity), true
			break
		}
	}
	if known {
		needUnits, _, needCost := Mix(r.Pools, actual)
		step := policy.Step{At: now, Paid: paidUnits(r.Pools, target, costH), Needed: paidUnits(r.Pools, needUnits, needCost), Demand: actual}
		if actual > ready {
			step.Violated, step.Unserved = true, actual-ready
		}
		step.SLOChecked, step.SLOViolated = pr.checkSLOs(name, st)
		st.learner.Observe(step)
	}
	pr.metrics.epochs.WithLabelValues(name).Set(float64(st.pol.Epochs()))
	if now.Sub(st.lastSave) >= st.opts.SaveInterval && st.opts.SaveInterval > 0 {
		pr.save(name, st, now)
	}
	return policyOutcome{decision: d, fresh: fresh, demand: held, target: target, capacity: capa, cost: costH}
}

// samePolicy compares options (SLOs and Arms are slices).
func samePolicy(a, b PolicyOptions) bool {
	return a.Mode == b.Mode && a.MinDryRunEpochs == b.MinDryRunEpochs && a.Lambda == b.Lambda && a.Epoch == b.Epoch &&
		a.StateFile == b.StateFile && a.SaveInterval == b.SaveInterval && a.Seed == b.Seed &&
		slices.Equal(a.SLOs, b.SLOs) && slices.Equal(a.Arms, b.Arms)
}

// gate opens (or keeps closed) an active policy: it acts once it has
// learned MinDryRunEpochs epochs online, and from then on chooses its best
// arm (no exploration on the live service) while still learning. pr.mu is
// held.
func (pr *policyRunner) gate(name string, st *policyState) {
	acting := st.opts.Mode == policy.ModeActive && st.pol.OnlineEpochs() >= st.opts.MinDryRunEpochs
	pr.metrics.online.WithLabelValues(name).Set(float64(st.pol.OnlineEpochs()))
	v := 0.0
	if acting {
		v = 1
	}
	pr.metrics.acting.WithLabelValues(name).Set(v)
	if acting == st.acting {
		return
	}
	st.acting = acting
	st.learner.SetExploit(acting)
	if acting {
		pr.logger.Info("Learned policy now active: its arm drives the engine's decisions", "resource", name,
			"online_epochs", st.pol.OnlineEpochs(), "min_dry_run_epochs", st.opts.MinDryRunEpochs)
	}
}

// checkSLOs counts the KPI samples evaluated since the previous call and
// those beyond an objective (any series). pr.mu is held.
func (pr *policyRunner) checkSLOs(name string, st *policyState) (checked, violated int) {
	if pr.kpis == nil {
		return 0, 0
	}
	for _, o := range st.opts.SLOs {
		vals, at, _ := pr.kpis.KPIValues(o.KPI)
		if at.IsZero() || len(vals) == 0 || !at.After(st.kpiSeen[o.KPI]) {
			continue // no new sample (a failed query keeps the last values and their time)
		}
		st.kpiSeen[o.KPI] = at
		checked++
		for _, v := range vals {
			if !math.IsNaN(v) && o.violated(v) {
				violated++
				break
			}
		}
	}
	return checked, violated
}

// use returns how the policy of a resource takes part in a decision made
// now: the arm to apply when it acts (nil otherwise), the explanation, and
// the policy decision in force. All are nil when the resource has no
// policy running. An arm older than an epoch (the sampler found no usable
// forecast since) does not act.
func (pr *policyRunner) use(name string, now time.Time) (choice *PolicyChoice, u *PolicyUse, d *policy.Decision) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	st := pr.states[name]
	if st == nil {
		return nil, nil, nil
	}
	pr.gate(name, st)
	u = &PolicyUse{
		Mode: policyModeName(st.opts.Mode), OnlineEpochs: st.pol.OnlineEpochs(), MinDryRunEpochs: st.opts.MinDryRunEpochs,
		Reward: pr.reward(st),
	}
	if st.has {
		arm := st.current.Arm
		u.Arm = &arm
		dc := st.current
		d = &dc
	}
	switch {
	case st.opts.Mode != policy.ModeActive:
		u.Why = "policy in dry_run: the fixed headroom (the forecast upper bound) and the resource's stabilisation window decide"
	case !st.acting:
		u.Why = fmt.Sprintf("policy active but not yet acting: %d of %d online dry-run epochs learned; the fixed headroom and stabilisation window decide",
			u.OnlineEpochs, u.MinDryRunEpochs)
	case !st.has:
		u.Why = "policy active but no epoch decided yet (no forecast sampled): the fixed headroom decides"
	case st.current.Explored:
		u.Why = fmt.Sprintf("policy acting from its next choice (%d online epochs >= %d): the arm in force was explored before the gate opened; the fixed headroom decides until the policy chooses its best arm",
			u.OnlineEpochs, u.MinDryRunEpochs)
	case now.Sub(st.at) > st.opts.Epoch:
		u.Why = fmt.Sprintf("policy active but its arm is stale (last sampled %s ago, longer than an epoch: no usable forecast since): the fixed headroom decides",
			now.Sub(st.at).Round(time.Second))
	default:
		u.Acting = true
		choice = &PolicyChoice{Headroom: st.current.Arm.Headroom, ScaleDownDelay: st.current.Arm.ScaleDownDelay}
		u.Why = fmt.Sprintf("policy acting (%d online epochs >= %d): arm %v, the best posterior mean in context %s (expected reward %.3f)",
			u.OnlineEpochs, u.MinDryRunEpochs, st.current.Arm, st.current.Bucket, st.current.Expected)
	}
	return choice, u, d
}

// reward describes the reward of st. pr.mu is held.
func (pr *policyRunner) reward(st *policyState) Reward {
	r := Reward{Lambda: st.opts.Lambda, ViolationSource: policy.ViolationCapacity}
	for _, o := range st.opts.SLOs {
		r.SLOs = append(r.SLOs, o.String())
	}
	switch {
	case len(st.opts.SLOs) > 0 && pr.kpis != nil:
		r.ViolationSource = policy.ViolationSLO
		r.Explanation = fmt.Sprintf("reward −cost − %g·violation; violation = share of the KPI samples in the credited window beyond an objective (%s); windows without a KPI sample use the capacity proxy",
			st.opts.Lambda, strings.Join(r.SLOs, ", "))
	case len(st.opts.SLOs) > 0:
		r.Explanation = fmt.Sprintf("reward −cost − %g·violation; SLOs configured but no KPI reader wired: violation = capacity proxy (share of steps with activity above the ready capacity + unserved share)", st.opts.Lambda)
	default:
		r.Explanation = fmt.Sprintf("reward −cost − %g·violation; no SLO configured: violation = capacity proxy (share of steps with activity above the ready capacity + unserved share)", st.opts.Lambda)
	}
	if o, at := st.learner.LastOutcome(); !at.IsZero() {
		r.LastOutcome, r.LastOutcomeAt = &o, at
	}
	return r
}

// historyWindow is how long a resource's needs are kept: its stabilisation
// window, or the longest scale-down delay of its policy's arms when longer.
func (pr *policyRunner) historyWindow(name string, stab time.Duration) time.Duration {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if st := pr.states[name]; st != nil {
		return max(stab, st.maxDelay)
	}
	return stab
}

func policyModeName(m policy.Mode) string {
	if m == policy.ModeActive {
		return "active"
	}
	return ModeDryRun
}

// SetKPIReader wires the KPIs the policies' SLOs are read from (nil: the
// capacity proxy for every policy).
func (e *Engine) SetKPIReader(r KPIReader) {
	e.policies.mu.Lock()
	defer e.policies.mu.Unlock()
	e.policies.kpis = r
}

// paidUnits expresses an allocation in primary-pool units: its cost per
// hour over the primary pool's unit cost, or its unit count when the
// primary pool has no cost.
func paidUnits(pools []Pool, units []int, costPerHour float64) float64 {
	if c := pools[0].CostPerUnitHour; c > 0 {
		return costPerHour / c
	}
	n := 0
	for _, u := range units {
		n += u
	}
	return float64(n)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// samplePolicies runs the learned policy of every resource whose policy is
// on, recording each fresh decision. Sample calls it with the value it
// read (absent when no usable forecast: the policy skips the step). It
// returns the needs of the acting policies, which replace the fixed need
// in the stabilisation history.
func (e *Engine) samplePolicies(s *settings, now time.Time, vals map[string]shadowcast.Value) map[string]float64 {
	pr := e.policies
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.sync(s, now)
	needs := map[string]float64{}
	for _, name := range s.order {
		st := pr.states[name]
		v, ok := vals[name]
		if st == nil || !ok {
			continue
		}
		r := s.resources[name]
		out := pr.observe(name, st, r, v, now)
		if st.acting {
			needs[name] = st.need
		}
		if !out.fresh {
			continue
		}
		pd := out.decision
		pr.metrics.decisions.WithLabelValues(name, pd.Arm.String()).Inc()
		use := &PolicyUse{
			Mode: policyModeName(st.opts.Mode), Acting: st.acting, Arm: &pd.Arm, OnlineEpochs: st.pol.OnlineEpochs(),
			MinDryRunEpochs: st.opts.MinDryRunEpochs, Reward: pr.reward(st),
		}
		result, applied := ResultDryRun, "dry-run, nothing applied"
		switch {
		case st.acting:
			use.Why = fmt.Sprintf("greedy arm (best posterior mean; no exploration while acting), %d online epochs >= %d", use.OnlineEpochs, use.MinDryRunEpochs)
			applied = "active: this arm drives the engine's next decisions (threshold rules, bounds, cooldown and the resource's mode still apply)"
		case st.opts.Mode == policy.ModeActive:
			use.Why = fmt.Sprintf("Thompson sampling (exploring); not acting yet: %d of %d online dry-run epochs", use.OnlineEpochs, use.MinDryRunEpochs)
		default:
			use.Why = "Thompson sampling (exploring); policy in dry_run"
		}
		d := Decision{
			Time: now, Resource: name, Mode: ModeDryRun, Source: SourcePolicy, Policy: &pd, PolicyUse: use,
			Cause: Cause{Reason: "policy_epoch"},
			Inputs: &Inputs{
				Point: v.Point, Lower: v.Lower, Upper: v.Upper, Peak: v.Peak, PeakUpper: v.PeakUpper, Actual: v.Actual,
				Horizon: r.Horizon.String(), LeadTime: r.LeadTime.String(), Model: v.Model, Reason: v.Reason, Updated: v.Updated,
			},
			Plan: Plan{
				Rule: RulePolicy, Need: out.demand, Target: out.target, Capacity: out.capacity, CostPerHour: out.cost,
			},
			Result: result,
		}
		d.Plan.Explanation = fmt.Sprintf("%s; would allocate %s (capacity %.4g for need %.4g, cost %.4g/h); %s; %s",
			pd.Explain(), formatUnits(r.Pools, out.target), out.capacity, out.demand, out.cost, applied, use.Reward.Explanation)
		d.Explanation = d.Plan.Explanation
		d.Pools = make([]string, len(r.Pools))
		for i, p := range r.Pools {
			d.Pools[i] = p.Name
		}
		e.mu.Lock()
		e.nextID++
		d.ID = e.nextID
		e.mu.Unlock()
		e.logger.Info("Learned policy decision", "id", d.ID, "resource", name, "arm", pd.Arm.String(),
			"bucket", pd.Bucket, "explored", pd.Explored, "target", formatUnits(r.Pools, out.target), "explanation", d.Explanation)
		e.decisions.add(d)
	}
	return needs
}

// SavePolicies writes the state of every running learned policy to its
// state file now. Run does it at shutdown.
func (e *Engine) SavePolicies() { e.policies.saveAll(e.now()) }

// PolicyEpochs returns the epochs the learned policy of resource learned
// from, and false when its policy is not running.
func (e *Engine) PolicyEpochs(resource string) (int, bool) {
	e.policies.mu.Lock()
	defer e.policies.mu.Unlock()
	st := e.policies.states[resource]
	if st == nil {
		return 0, false
	}
	return st.pol.Epochs(), true
}
