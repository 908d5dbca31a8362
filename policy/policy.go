// Package policy is the learned allocation policy: a contextual bandit that
// chooses, per decision epoch, how much of the forecast's uncertainty
// margin to provision for and how long to wait before scaling down.
//
// Method: Thompson sampling over a small discrete set of arms (headroom
// multiplier × scale-down delay), with a tabular context (time-of-day
// bucket × forecast-uncertainty bucket × forecast-trend bucket) and a
// Gaussian reward model per (context, arm) that is shrunk towards the
// arm's mean over all contexts. Why a bandit and not full RL: the action
// acts on the next epoch only through the capacity it provisions, the
// state that matters (time of day, how uncertain and how steep the
// forecast is) is observed, and a tabular posterior is cheap, converges in
// a few thousand epochs a simulator provides, explores only where it is
// still uncertain, and every choice can be explained by the posterior
// means it compared. Delayed effects (a replica started now serves after
// the start-up delay; a long scale-down delay costs in the next epoch) are
// folded into the epoch's reward, which is the usual contextual-bandit
// approximation; the simulator measures whether it pays.
//
// Reward of an epoch = −cost − λ·violation, where the caller normalises
// both (the simulator uses replica-minutes relative to what the load
// needed, and the share of the epoch's minutes under-provisioned plus the
// share of demand unserved).
//
// The violation of an epoch is the share of its KPI samples beyond their
// SLOs when the caller supplies KPI samples (Step.SLOChecked), else the
// capacity proxy (Outcome.Source says which).
//
// Safety is the caller's obligation and Bounds.Apply its tool: whatever
// the arm, the replicas never go below what the actual load needs nor
// above the configured maximum. The policy is off by default (ModeOff);
// ModeDryRun learns and explains without acting; ModeActive acts, and the
// engine lets it only after OnlineEpochs outcomes learned on the live
// service (persisted; simulator training does not count), choosing greedily
// (Learner.SetExploit) while it acts.
//
// The package is pure: no I/O except through the io.Writer/io.Reader of
// WriteTo/ReadFrom. It imports nothing from this module.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Mode says whether the policy may act.
type Mode int

// Modes.
const (
	// ModeOff: the policy is not consulted (the default).
	ModeOff Mode = iota
	// ModeDryRun: the policy chooses and learns, decisions are logged and
	// explained, but the fixed headroom is what acts.
	ModeDryRun
	// ModeActive: the policy's choices act (within Bounds).
	ModeActive
)

func (m Mode) String() string {
	switch m {
	case ModeOff:
		return "off"
	case ModeDryRun:
		return "dry-run"
	case ModeActive:
		return "active"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "off", "dry-run" or "active".
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeOff, ModeDryRun, ModeActive} {
		if m.String() == s {
			return m, nil
		}
	}
	return ModeOff, fmt.Errorf("unknown policy mode %q (want off, dry-run or active)", s)
}

// MarshalJSON renders the delay in seconds.
func (a Arm) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Headroom              float64 `json:"headroom"`
		ScaleDownDelaySeconds float64 `json:"scale_down_delay_seconds"`
	}{a.Headroom, a.ScaleDownDelay.Seconds()})
}

// Arm is one action: provision the forecast point plus Headroom × the
// margin of the upper bound above it (point + Headroom·(upper − point);
// 1 is the upper bound, 0 the point), and keep capacity for
// ScaleDownDelay after the need dropped.
type Arm struct {
	Headroom       float64
	ScaleDownDelay time.Duration
}

func (a Arm) String() string {
	return fmt.Sprintf("headroom=%.2f,scale_down_delay=%v", a.Headroom, a.ScaleDownDelay)
}

// DefaultArms returns headroom {0.25, 0.5, 0.75, 1, 1.25} × scale-down
// delay {1m, 5m, 15m}.
func DefaultArms() []Arm {
	var out []Arm
	for _, h := range []float64{0.25, 0.5, 0.75, 1, 1.25} {
		for _, d := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute} {
			out = append(out, Arm{Headroom: h, ScaleDownDelay: d})
		}
	}
	return out
}

// Context is what the policy sees when it chooses.
type Context struct {
	// Time of the decision; its hour of day (in Time's location) is bucketed.
	Time time.Time `json:"time"`
	// Uncertainty is the relative width of the forecast above the point at
	// the lead horizon: (upper − point) / point.
	Uncertainty float64 `json:"uncertainty"`
	// Trend is the relative change the forecast expects over the lead
	// horizon: (peak point − current) / current.
	Trend float64 `json:"trend"`
	// Recent is the share of the previous epoch's time that was
	// under-provisioned (the feedback of the last decision): bursts
	// cluster in time.
	Recent float64 `json:"recent_under_provisioned_ratio"`
}

// Options configures New. Zero values take the defaults.
type Options struct {
	// Arms to choose from; DefaultArms() when empty.
	Arms []Arm
	// HourBuckets splits the day into equal buckets (default 4).
	HourBuckets int
	// UncertaintyEdges are the upper edges of the uncertainty buckets
	// (default 0.15, 0.4: low, medium, high).
	UncertaintyEdges []float64
	// TrendEdge separates falling (< −edge), flat and rising (> edge)
	// forecasts (default 0.05). Negative disables the trend dimension.
	TrendEdge float64
	// RecentEdge separates calm (Recent ≤ edge) from troubled previous
	// epochs (default 0). Negative disables the dimension.
	RecentEdge float64
	// Lambda weighs violations against cost in the reward (default 4).
	Lambda float64
	// PriorWeight is the number of pseudo-observations of the arm's
	// all-context mean that a context's estimate starts from (default 3).
	PriorWeight float64
	// Seed makes the sampling deterministic.
	Seed uint64
}

func (o *Options) setDefaults() error {
	if len(o.Arms) == 0 {
		o.Arms = DefaultArms()
	}
	for _, a := range o.Arms {
		if !(a.Headroom >= 0) || a.ScaleDownDelay < 0 {
			return fmt.Errorf("policy: invalid arm %v", a)
		}
	}
	if o.HourBuckets <= 0 {
		o.HourBuckets = 4
	}
	if o.HourBuckets > 24 {
		return errors.New("policy: more than 24 hour buckets")
	}
	if o.UncertaintyEdges == nil {
		o.UncertaintyEdges = []float64{0.15, 0.4}
	}
	for i := 1; i < len(o.UncertaintyEdges); i++ {
		if o.UncertaintyEdges[i] <= o.UncertaintyEdges[i-1] {
			return errors.New("policy: uncertainty edges must increase")
		}
	}
	if o.TrendEdge == 0 {
		o.TrendEdge = 0.05
	}
	if o.Lambda <= 0 {
		o.Lambda = 4
	}
	if o.PriorWeight <= 0 {
		o.PriorWeight = 3
	}
	return nil
}

// Violation sources of an Outcome.
const (
	// ViolationSLO: the share of the KPI samples of the epoch beyond an
	// objective.
	ViolationSLO = "slo"
	// ViolationCapacity: the capacity proxy, the share of the epoch's
	// steps whose load exceeded the ready capacity plus the share of
	// demand unserved.
	ViolationCapacity = "capacity_proxy"
)

// Outcome is what an epoch cost after a decision acted.
type Outcome struct {
	// Cost is the normalised resource cost of the epoch.
	Cost float64 `json:"cost"`
	// Violation is the normalised SLO violation of the epoch.
	Violation float64 `json:"violation"`
	// Source says where Violation came from (ViolationSLO or
	// ViolationCapacity); informational.
	Source string `json:"violation_source,omitempty"`
}

// stats is a running mean and variance (Welford).
type stats struct {
	N    float64
	Mean float64
	M2   float64
}

func (s *stats) add(x float64) {
	s.N++
	d := x - s.Mean
	s.Mean += d / s.N
	s.M2 += d * (x - s.Mean)
}

func (s stats) variance() float64 {
	if s.N < 2 {
		return math.NaN()
	}
	return s.M2 / (s.N - 1)
}

// ArmValue is the policy's belief about one arm in one context.
type ArmValue struct {
	Arm      Arm     `json:"arm"`
	Expected float64 `json:"expected_reward"` // posterior mean reward
	StdDev   float64 `json:"stddev"`          // posterior standard deviation of the mean
	Visits   int     `json:"visits"`          // epochs this arm was tried in this context
}

// Decision is one explained choice. It marshals to JSON (for an API
// such as /api/v1/decisions).
type Decision struct {
	At       time.Time `json:"at"`
	Context  Context   `json:"context"`
	Bucket   string    `json:"bucket"` // the context bucket, e.g. "hour=06-12,uncertainty=low,trend=rising,recent=calm"
	ArmIndex int       `json:"arm_index"`
	Arm      Arm       `json:"arm"`
	// Expected is the posterior mean reward of the chosen arm.
	Expected float64 `json:"expected_reward"`
	// Greedy is true when the arm was chosen by its posterior mean (Best);
	// false when drawn by Thompson sampling (Choose).
	Greedy bool `json:"greedy"`
	// Sampled is the Thompson draw that won (equal to Expected for greedy
	// choices).
	Sampled float64 `json:"sampled_reward"`
	// Explored is true when the chosen arm is not the one with the best
	// posterior mean (the sample favoured a less-known arm).
	Explored bool `json:"explored"`
	// Alternatives lists every arm's posterior in this context.
	Alternatives []ArmValue `json:"alternatives"`
	// Explanation is Explain() at the time of the choice.
	Explanation string `json:"explanation"`
}

// Explain renders the decision as one line for logs and the API.
func (d Decision) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "context %s (uncertainty %.2f, trend %+.2f): chose %v, expected reward %.3f",
		d.Bucket, d.Context.Uncertainty, d.Context.Trend, d.Arm, d.Expected)
	if d.Explored {
		b.WriteString(" (exploring)")
	}
	return b.String()
}

// Policy is a contextual Thompson-sampling bandit. It is safe for
// concurrent use.
type Policy struct {
	opts Options

	mu     sync.Mutex // guards cells, arms, all, online, rng
	cells  [][]stats  // [bucket][arm]
	arms   []stats    // per arm over all buckets (the prior)
	all    stats      // over everything (variance prior)
	online int        // outcomes learned online (UpdateOnline), persisted
	rng    *rand.Rand
}

// New returns a policy that knows nothing yet.
func New(opts Options) (*Policy, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	p := &Policy{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x5eed))}
	p.cells = make([][]stats, p.numBuckets())
	for i := range p.cells {
		p.cells[i] = make([]stats, len(opts.Arms))
	}
	p.arms = make([]stats, len(opts.Arms))
	return p, nil
}

// Options returns the options with defaults applied.
func (p *Policy) Options() Options { return p.opts }

func (p *Policy) trendBuckets() int {
	if p.opts.TrendEdge < 0 {
		return 1
	}
	return 3
}

func (p *Policy) recentBuckets() int {
	if p.opts.RecentEdge < 0 {
		return 1
	}
	return 2
}

func (p *Policy) numBuckets() int {
	return p.opts.HourBuckets * (len(p.opts.UncertaintyEdges) + 1) * p.trendBuckets() * p.recentBuckets()
}

// bucket maps a context to its index and name.
func (p *Policy) bucket(c Context) (int, string) {
	width := 24 / float64(p.opts.HourBuckets)
	h := float64(c.Time.Hour()) + float64(c.Time.Minute())/60
	hb := min(int(h/width), p.opts.HourBuckets-1)
	ub := len(p.opts.UncertaintyEdges)
	for i, e := range p.opts.UncertaintyEdges {
		if c.Uncertainty <= e {
			ub = i
			break
		}
	}
	ulabels := []string{"low", "medium", "high"}
	ul := fmt.Sprintf("u%d", ub)
	if len(p.opts.UncertaintyEdges) == 2 {
		ul = ulabels[ub]
	}
	name := fmt.Sprintf("hour=%02d-%02d,uncertainty=%s", int(float64(hb)*width), int(float64(hb+1)*width), ul)
	tb := 0
	if p.trendBuckets() == 3 {
		switch {
		case c.Trend < -p.opts.TrendEdge:
			tb, name = 0, name+",trend=falling"
		case c.Trend > p.opts.TrendEdge:
			tb, name = 2, name+",trend=rising"
		default:
			tb, name = 1, name+",trend=flat"
		}
	}
	rb := 0
	if p.recentBuckets() == 2 {
		if c.Recent > p.opts.RecentEdge {
			rb, name = 1, name+",recent=violated"
		} else {
			name += ",recent=calm"
		}
	}
	return ((hb*(len(p.opts.UncertaintyEdges)+1)+ub)*p.trendBuckets()+tb)*p.recentBuckets() + rb, name
}

// posterior returns the posterior mean and standard deviation of the mean
// reward of arm a in bucket b: the cell's observations shrunk towards the
// arm's all-context mean with PriorWeight pseudo-observations, and the
// arm's all-context mean towards the overall mean likewise.
func (p *Policy) posterior(b, a int) (mean, sd float64) {
	v := p.all.variance()
	if math.IsNaN(v) || v <= 0 {
		v = 1
	}
	k := p.opts.PriorWeight
	arm := p.arms[a]
	priorMean := (k*p.all.Mean + arm.N*arm.Mean) / (k + arm.N)
	if p.all.N == 0 {
		priorMean = 0
	}
	c := p.cells[b][a]
	mean = (k*priorMean + c.N*c.Mean) / (k + c.N)
	sd = math.Sqrt(v / (k + c.N))
	return mean, sd
}

func (p *Policy) alternatives(b int) []ArmValue {
	out := make([]ArmValue, len(p.opts.Arms))
	for a := range p.opts.Arms {
		m, sd := p.posterior(b, a)
		out[a] = ArmValue{Arm: p.opts.Arms[a], Expected: m, StdDev: sd, Visits: int(p.cells[b][a].N)}
	}
	return out
}

func bestMean(alts []ArmValue) int {
	best := 0
	for i, a := range alts {
		if a.Expected > alts[best].Expected {
			best = i
		}
	}
	return best
}

// Choose draws an arm by Thompson sampling (to learn).
func (p *Policy) Choose(c Context) Decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, name := p.bucket(c)
	alts := p.alternatives(b)
	greedy := bestMean(alts)
	best, bestDraw := 0, math.Inf(-1)
	for i, a := range alts {
		draw := a.Expected + a.StdDev*p.rng.NormFloat64()
		if draw > bestDraw {
			best, bestDraw = i, draw
		}
	}
	d := Decision{
		At: c.Time, Context: c, Bucket: name,
		ArmIndex: best, Arm: p.opts.Arms[best], Expected: alts[best].Expected,
		Sampled: bestDraw, Explored: best != greedy, Alternatives: alts,
	}
	d.Explanation = d.Explain()
	return d
}

// Best returns the arm with the highest posterior mean (to exploit, e.g.
// when evaluating a trained policy).
func (p *Policy) Best(c Context) Decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, name := p.bucket(c)
	alts := p.alternatives(b)
	best := bestMean(alts)
	d := Decision{
		At: c.Time, Context: c, Bucket: name,
		ArmIndex: best, Arm: p.opts.Arms[best], Expected: alts[best].Expected,
		Greedy: true, Sampled: alts[best].Expected, Alternatives: alts,
	}
	d.Explanation = d.Explain()
	return d
}

// Reward returns −Cost − λ·Violation.
func (p *Policy) Reward(o Outcome) float64 { return -o.Cost - p.opts.Lambda*o.Violation }

// Update learns from the outcome of a decision made by Choose or Best.
func (p *Policy) Update(d Decision, o Outcome) { p.update(d, o, false) }

// UpdateOnline is Update for an outcome observed on the live service (not
// in a simulator); OnlineEpochs counts them.
func (p *Policy) UpdateOnline(d Decision, o Outcome) { p.update(d, o, true) }

func (p *Policy) update(d Decision, o Outcome, online bool) {
	r := p.Reward(o)
	if math.IsNaN(r) || math.IsInf(r, 0) || d.ArmIndex < 0 || d.ArmIndex >= len(p.opts.Arms) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, _ := p.bucket(d.Context)
	p.cells[b][d.ArmIndex].add(r)
	p.arms[d.ArmIndex].add(r)
	p.all.add(r)
	if online {
		p.online++
	}
}

// OnlineEpochs returns the number of outcomes learned online
// (UpdateOnline), restored state included. Outcomes learned in the
// simulator do not count.
func (p *Policy) OnlineEpochs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.online
}

// Epochs returns the number of outcomes learned.
func (p *Policy) Epochs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int(p.all.N)
}

// Bounds are the hard limits every allocation respects.
type Bounds struct {
	Min, Max int
}

// Apply clamps a proposed replica count: never below need (what the
// actual load needs now) nor Min, never above Max (Max wins; 0 means no
// maximum).
func (b Bounds) Apply(proposed, need int) int {
	n := max(proposed, need, b.Min)
	if b.Max > 0 && n > b.Max {
		n = b.Max
	}
	return n
}
