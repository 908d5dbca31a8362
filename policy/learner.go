package policy

import (
	"errors"
	"sync"
	"time"
)

// LearnerOptions configures NewLearner.
type LearnerOptions struct {
	// Epoch is how long one decision holds. Required.
	Epoch time.Duration
	// Step is the interval between observed steps. Required.
	Step time.Duration
	// Delay is the time before a decision's capacity takes effect (the
	// start-up delay of a replica): a decision made at t is credited with
	// the steps in [t+Delay, t+Delay+Epoch).
	Delay time.Duration
	// Explore draws arms by Thompson sampling and learns from the
	// outcomes; otherwise the best arm by posterior mean is used and
	// nothing is learned (evaluation, or acting after training).
	Explore bool
	// Online marks outcomes as observed on the live service
	// (Policy.UpdateOnline): they count in Policy.OnlineEpochs.
	Online bool
}

// Step is what one step of the controlled service cost. The engine fills
// it from the resource and its KPIs; the simulator from its service model.
type Step struct {
	At time.Time
	// Paid and Needed are the replicas paid for and the replicas the load
	// needed at full utilisation (Needed is floored at 1 for the ratio).
	Paid, Needed float64
	// Violated marks an SLO violation in this step: load above the ready
	// capacity, or a latency/error KPI beyond its objective.
	Violated bool
	// Unserved and Demand, when known, add the share of unserved demand
	// to the violation.
	Unserved, Demand float64
	// SLOChecked counts the KPI samples taken during this step that were
	// compared with their objectives, SLOViolated those beyond one. When
	// the steps credited to a decision checked at least one KPI sample,
	// its violation is the share of violated KPI samples
	// (ViolationSLO) and Violated/Unserved are not used; otherwise the
	// capacity proxy applies (ViolationCapacity).
	SLOChecked, SLOViolated int
}

// Learner runs a Policy epoch by epoch: it makes a decision at each epoch
// boundary, credits it with the steps its capacity controls, and updates
// the policy when those steps are complete. It is safe for concurrent use.
type Learner struct {
	p    *Policy
	opts LearnerOptions

	mu      sync.Mutex // guards the fields below
	current Decision
	has     bool
	until   time.Time // end of the current epoch
	pending []pending
	recent  struct{ violated, steps int }
	exploit bool
	last    Outcome
	lastAt  time.Time
}

type pending struct {
	d          Decision
	from, to   time.Time
	paid, need float64
	violated   int
	steps      int
	unserved   float64
	demand     float64
	checked    int
	sloBad     int
}

// NewLearner returns a learner for p.
func NewLearner(p *Policy, opts LearnerOptions) (*Learner, error) {
	if p == nil || opts.Epoch <= 0 || opts.Step <= 0 || opts.Delay < 0 {
		return nil, errors.New("policy: learner needs a policy, a positive epoch and step, and a non-negative delay")
	}
	return &Learner{p: p, opts: opts}, nil
}

// Decide returns the decision in force at c.Time, making a new one (and
// filling c.Recent with the share of violated steps since the previous
// one) when the epoch is over. fresh reports whether a new decision was
// made.
func (l *Learner) Decide(c Context) (d Decision, fresh bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.has && c.Time.Before(l.until) {
		return l.current, false
	}
	if l.recent.steps > 0 {
		c.Recent = float64(l.recent.violated) / float64(l.recent.steps)
	}
	l.recent.violated, l.recent.steps = 0, 0
	if l.opts.Explore {
		if l.exploit {
			d = l.p.Best(c)
		} else {
			d = l.p.Choose(c)
		}
		from := c.Time.Add(l.opts.Delay)
		l.pending = append(l.pending, pending{d: d, from: from, to: from.Add(l.opts.Epoch)})
	} else {
		d = l.p.Best(c)
	}
	// Epochs are aligned to multiples of Epoch (e.g. :00, :15, :30, :45).
	l.current, l.has, l.until = d, true, c.Time.Truncate(l.opts.Epoch).Add(l.opts.Epoch)
	return d, true
}

// Observe accounts one step. Steps must arrive in time order.
func (l *Learner) Observe(st Step) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recent.steps++
	if st.Violated {
		l.recent.violated++
	}
	for k := range l.pending {
		p := &l.pending[k]
		if st.At.Before(p.from) || !st.At.Before(p.to) {
			continue
		}
		p.paid += st.Paid
		p.need += max(st.Needed, 1)
		p.steps++
		if st.Violated {
			p.violated++
		}
		p.unserved += st.Unserved
		p.demand += st.Demand
		p.checked += st.SLOChecked
		p.sloBad += st.SLOViolated
	}
	// A decision's credit window is complete once its last step (at
	// to − Step) or a later one was observed.
	done := 0
	for _, p := range l.pending {
		if st.At.Before(p.to.Add(-l.opts.Step)) {
			break
		}
		done++
		if p.steps == 0 {
			continue
		}
		o := Outcome{Cost: p.paid / p.need}
		if p.checked > 0 {
			o.Violation, o.Source = float64(p.sloBad)/float64(p.checked), ViolationSLO
		} else {
			o.Violation, o.Source = float64(p.violated)/float64(p.steps), ViolationCapacity
			if p.demand > 0 {
				o.Violation += p.unserved / p.demand
			}
		}
		if l.opts.Online {
			l.p.UpdateOnline(p.d, o)
		} else {
			l.p.Update(p.d, o)
		}
		l.last, l.lastAt = o, st.At
	}
	l.pending = l.pending[done:]
}

// SetExploit switches a learner that explores to choosing the best arm by
// posterior mean (Policy.Best) while still learning from the outcomes:
// what a policy that acts should do. false returns to Thompson sampling.
func (l *Learner) SetExploit(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if on && !l.exploit && l.has && l.current.Explored {
		// An arm drawn while exploring is not kept into exploitation: the
		// next Decide chooses the best one instead of holding it to the end
		// of its epoch.
		l.has = false
	}
	l.exploit = on
}

// LastOutcome returns the latest outcome learned and the time of the step
// that completed it (zero before the first).
func (l *Learner) LastOutcome() (Outcome, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, l.lastAt
}

// Pending returns the number of decisions waiting for their outcome.
func (l *Learner) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}
