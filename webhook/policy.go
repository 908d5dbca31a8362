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
// The policy runs in dry-run only: it chooses a headroom and a scale-down
// delay each epoch, computes what it would allocate, learns from what
// actually happened next and explains each choice at /api/v1/decisions.
// It never calls an actuator.
type PolicyOptions struct {
	// Mode is policy.ModeOff or policy.ModeDryRun; ModeActive is refused.
	Mode policy.Mode
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

func (o PolicyOptions) validate(resource string, sample time.Duration) error {
	switch {
	case o.Mode == policy.ModeActive:
		return fmt.Errorf("webhook: resource %q: policy mode active is not supported, only off and dry-run", resource)
	case o.Mode != policy.ModeOff && o.Mode != policy.ModeDryRun:
		return fmt.Errorf("webhook: resource %q: unknown policy mode %v", resource, o.Mode)
	case o.Mode == policy.ModeOff:
		return nil
	case o.Epoch < 2*sample:
		return fmt.Errorf("webhook: resource %q: policy epoch %s must be at least twice the sample interval %s", resource, o.Epoch, sample)
	case !(o.Lambda >= 0) || math.IsInf(o.Lambda, 0):
		return fmt.Errorf("webhook: resource %q: policy lambda must be a non-negative number", resource)
	}
	return nil
}

type policyMetrics struct {
	decisions   *prometheus.CounterVec
	epochs      *prometheus.GaugeVec
	stateErrors *prometheus.CounterVec
}

func newPolicyMetrics(reg prometheus.Registerer) *policyMetrics {
	f := promauto.With(reg)
	return &policyMetrics{
		decisions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_policy_decisions_total",
			Help: "Decisions of the learned allocation policy (dry-run: never applied), by resource and arm (headroom and scale-down delay).",
		}, []string{"resource", "arm"}),
		epochs: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowcast_policy_epochs_learned",
			Help: "Epoch outcomes the learned allocation policy of a resource has learned from (restored state included).",
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
	m.stateErrors.DeletePartialMatch(l)
}

// policyRunner holds the learners of the resources whose policy is on.
type policyRunner struct {
	logger  *slog.Logger
	metrics *policyMetrics
	step    time.Duration

	mu     sync.Mutex // guards states
	states map[string]*policyState
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
		if r != nil && ok && o == st.opts && r.LeadTime == st.lead {
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
		if !ok || o.Mode != policy.ModeDryRun || pr.states[name] != nil {
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
	p, err := policy.New(policy.Options{Lambda: o.Lambda, Seed: seed})
	if err != nil {
		return nil, err
	}
	if o.StateFile != "" {
		if err := loadPolicy(p, o.StateFile); err != nil {
			pr.metrics.stateErrors.WithLabelValues(name, "load").Inc()
			pr.logger.Warn("Learned policy state unusable, starting fresh", "resource", name, "file", o.StateFile, "err", err)
			if p, err = policy.New(policy.Options{Lambda: o.Lambda, Seed: seed}); err != nil {
				return nil, err
			}
		} else if n := p.Epochs(); n > 0 {
			pr.logger.Info("Learned policy state restored", "resource", name, "file", o.StateFile, "epochs", n)
		}
	}
	l, err := policy.NewLearner(p, policy.LearnerOptions{Epoch: o.Epoch, Step: pr.step, Delay: lead, Explore: true})
	if err != nil {
		return nil, err
	}
	st := &policyState{opts: o, lead: lead, pol: p, learner: l, lastSave: now}
	for _, a := range p.Options().Arms {
		st.maxDelay = max(st.maxDelay, a.ScaleDownDelay)
	}
	pr.metrics.epochs.WithLabelValues(name).Set(float64(p.Epochs()))
	return st, nil
}

// loadPolicy restores p from path; a missing file is not an error.
func loadPolicy(p *policy.Policy, path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = p.ReadFrom(bufio.NewReader(f))
	return err
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
	d, fresh := st.learner.Decide(ctx)

	// The arm provisions point + headroom·(upper − point), never below the
	// actual activity, and keeps the highest such need for its scale-down
	// delay; Mix keeps every pool within [min, max].
	demand := max(point+d.Arm.Headroom*max(upperOf(v)-point, 0), actual)
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
		st.learner.Observe(step)
	}
	pr.metrics.epochs.WithLabelValues(name).Set(float64(st.pol.Epochs()))
	if now.Sub(st.lastSave) >= st.opts.SaveInterval && st.opts.SaveInterval > 0 {
		pr.save(name, st, now)
	}
	return policyOutcome{decision: d, fresh: fresh, demand: held, target: target, capacity: capa, cost: costH}
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
// read (ok false when no usable forecast: the policy skips the step).
func (e *Engine) samplePolicies(s *settings, now time.Time, vals map[string]shadowcast.Value) {
	pr := e.policies
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.sync(s, now)
	for _, name := range s.order {
		st := pr.states[name]
		v, ok := vals[name]
		if st == nil || !ok {
			continue
		}
		r := s.resources[name]
		out := pr.observe(name, st, r, v, now)
		if !out.fresh {
			continue
		}
		pd := out.decision
		pr.metrics.decisions.WithLabelValues(name, pd.Arm.String()).Inc()
		d := Decision{
			Time: now, Resource: name, Mode: ModeDryRun, Source: SourcePolicy, Policy: &pd,
			Cause: Cause{Reason: "policy_epoch"},
			Inputs: &Inputs{
				Point: v.Point, Lower: v.Lower, Upper: v.Upper, Peak: v.Peak, PeakUpper: v.PeakUpper, Actual: v.Actual,
				Horizon: r.Horizon.String(), LeadTime: r.LeadTime.String(), Model: v.Model, Reason: v.Reason, Updated: v.Updated,
			},
			Plan: Plan{
				Rule: RulePolicy, Need: out.demand, Target: out.target, Capacity: out.capacity, CostPerHour: out.cost,
			},
			Result: ResultDryRun,
		}
		d.Plan.Explanation = fmt.Sprintf("%s; would allocate %s (capacity %.4g for need %.4g, cost %.4g/h); dry-run, nothing applied",
			pd.Explain(), formatUnits(r.Pools, out.target), out.capacity, out.demand, out.cost)
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
