package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast"
)

// ShadowReader returns the current forecast of the shadow instances whose
// labels match, at one horizon. The forecast engine satisfies it.
type ShadowReader interface {
	Lookup(shadow string, match map[string]string, horizon time.Duration) ([]shadowcast.Value, error)
}

// Observed is what an Actuator read: the units allocated now and an opaque
// version for optimistic concurrency.
type Observed struct {
	// Units allocated now; -1 when the actuator cannot tell.
	Units int
	// Version is passed back to Write, which fails with a conflict when the
	// target changed since (a Kubernetes resourceVersion, say).
	Version string
}

// Actuator changes the units of one pool.
type Actuator interface {
	Read(ctx context.Context) (Observed, error)
	// Write sets the units. An error whose Conflict method reports true
	// means the target changed since prev was read; the engine then reads
	// again and decides again.
	Write(ctx context.Context, prev Observed, units int) error
}

// IsConflict reports whether err says the target changed between Read and
// Write.
func IsConflict(err error) bool {
	var c interface{ Conflict() bool }
	return errors.As(err, &c) && c.Conflict()
}

// Errors of Enqueue, answered with 503 so Alertmanager retries.
var (
	ErrQueueFull    = errors.New("action queue full")
	ErrShuttingDown = errors.New("shutting down")
)

// Action results, the `result` label of shadowcast_actions_total.
const (
	ResultSuccess  = "success"   // the change was applied
	ResultDryRun   = "dry_run"   // a change was decided and not applied (dry_run mode)
	ResultNoChange = "no_change" // the decision keeps the current allocation
	ResultDeferred = "deferred"  // a change waits for the cooldown to end
	ResultConflict = "conflict"  // the target kept changing under us; retried later
	ResultError    = "error"     // reading or writing the target failed; retried later
	ResultSkipped  = "skipped"   // no usable forecast; retried later when it may appear
)

// Options configure an Engine.
type Options struct {
	Resources []Resource
	Reader    ShadowReader
	// BearerToken callers must present; empty disables the check.
	BearerToken   string
	MaxBodyBytes  int64
	QueueSize     int
	Workers       int
	DedupeTTL     time.Duration
	DecisionsKept int
	// RetryBackoff is the first delay before re-evaluating a resource whose
	// action failed; it doubles up to RetryBackoffMax.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// ActionTimeout bounds one evaluation, actuator calls included.
	ActionTimeout time.Duration
	// SampleInterval is how often Run records every resource's need for the
	// stabilisation window between alerts (default 15s).
	SampleInterval time.Duration
	// RequestTimeout bounds reading a notification and writing the answer
	// (read and write deadlines on the connection; default 10s).
	RequestTimeout time.Duration
	// Policies configure the learned allocation policy per resource name;
	// resources not listed have it off.
	Policies map[string]PolicyOptions
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// settings are the reloadable part of Options.
type settings struct {
	resources     map[string]*Resource
	order         []string
	reader        ShadowReader
	token         string
	maxBody       int64
	dedupeTTL     time.Duration
	backoff       time.Duration
	backoffMax    time.Duration
	actionTimeout time.Duration
	reqTimeout    time.Duration
	policies      map[string]PolicyOptions
}

// Engine receives triggers, decides and acts. Create it with New; Run must
// be running for queued triggers to be evaluated.
type Engine struct {
	logger    *slog.Logger
	now       func() time.Time
	metrics   *metrics
	decisions *ring
	dedupe    *dedupe
	workers   int
	sampleInt time.Duration
	queue     chan trigger
	set       atomic.Pointer[settings]
	policies  *policyRunner

	mu      sync.Mutex // guards pending, states, closed, nextID
	pending map[string]bool
	states  map[string]*resourceState
	closed  bool
	nextID  uint64
}

// trigger asks for one evaluation of a resource.
type trigger struct {
	resource string
	cause    Cause
}

// Cause says why a decision was taken.
type Cause struct {
	Reason      string    `json:"reason"` // alert, retry, recheck
	Alertname   string    `json:"alertname,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	StartsAt    time.Time `json:"starts_at,omitzero"`
}

type resourceState struct {
	mu         sync.Mutex // serializes evaluations; guards lastChange, failures
	lastChange time.Time
	failures   int

	hmu     sync.Mutex // guards history (also written by the sampler)
	history []Sample

	tmu     sync.Mutex // guards timer, timerAt
	timer   *time.Timer
	timerAt time.Time
}

// New returns an Engine.
func New(opts Options, reg prometheus.Registerer, logger *slog.Logger) (*Engine, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	qs := max(opts.QueueSize, 1)
	if opts.SampleInterval <= 0 {
		opts.SampleInterval = 15 * time.Second
	}
	e := &Engine{
		logger:    logger,
		now:       opts.Now,
		decisions: newRing(max(opts.DecisionsKept, 1)),
		dedupe:    newDedupe(100000),
		workers:   max(opts.Workers, 1),
		sampleInt: opts.SampleInterval,
		queue:     make(chan trigger, qs),
		pending:   map[string]bool{},
		states:    map[string]*resourceState{},
	}
	e.metrics = newMetrics(reg, func() float64 { return float64(len(e.queue)) })
	e.policies = newPolicyRunner(reg, logger, opts.SampleInterval)
	if err := e.Update(opts); err != nil {
		return nil, err
	}
	return e, nil
}

// Update swaps the reloadable settings (resources, reader, token, limits)
// atomically; on error the old ones stay. Queue size, worker count and
// sample interval are fixed at New. State of resources kept across the swap (history,
// cooldown) survives; metrics of removed resources are deleted.
func (e *Engine) Update(opts Options) error {
	commit, err := e.Prepare(opts)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Prepare validates opts and returns the function that swaps them in,
// which cannot fail; nothing changes until it is called. A configuration
// reload prepares every component first and commits only when all of them
// accepted their part.
func (e *Engine) Prepare(opts Options) (commit func(), err error) {
	if opts.Reader == nil {
		return nil, errors.New("webhook: a ShadowReader is required")
	}
	s := &settings{
		resources:     map[string]*Resource{},
		reader:        opts.Reader,
		token:         opts.BearerToken,
		maxBody:       opts.MaxBodyBytes,
		dedupeTTL:     opts.DedupeTTL,
		backoff:       opts.RetryBackoff,
		backoffMax:    opts.RetryBackoffMax,
		actionTimeout: opts.ActionTimeout,
		reqTimeout:    opts.RequestTimeout,
		policies:      map[string]PolicyOptions{},
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	if s.backoff <= 0 {
		s.backoff = time.Second
	}
	if s.backoffMax < s.backoff {
		s.backoffMax = max(s.backoff, 5*time.Minute)
	}
	if s.actionTimeout <= 0 {
		s.actionTimeout = 30 * time.Second
	}
	if s.reqTimeout <= 0 {
		s.reqTimeout = 10 * time.Second
	}
	for i := range opts.Resources {
		r := opts.Resources[i]
		switch {
		case r.Name == "":
			return nil, errors.New("webhook: resource without name")
		case s.resources[r.Name] != nil:
			return nil, fmt.Errorf("webhook: duplicate resource %q", r.Name)
		case len(r.Pools) == 0:
			return nil, fmt.Errorf("webhook: resource %q has no pool", r.Name)
		case r.Mode != ModeDryRun && r.Mode != ModeEnforce:
			return nil, fmt.Errorf("webhook: resource %q: unknown mode %q", r.Name, r.Mode)
		}
		for _, p := range r.Pools {
			if p.Actuator == nil || p.CapacityPerUnit <= 0 || p.Max < p.Min || p.Min < 0 {
				return nil, fmt.Errorf("webhook: resource %q: pool %q needs an actuator, positive capacity and 0 <= min <= max", r.Name, p.Name)
			}
		}
		s.resources[r.Name] = &r
		s.order = append(s.order, r.Name)
	}
	for name, po := range opts.Policies {
		if s.resources[name] == nil {
			return nil, fmt.Errorf("webhook: policy for unknown resource %q", name)
		}
		if err := po.validate(name, e.sampleInt); err != nil {
			return nil, err
		}
		if po.SaveInterval <= 0 {
			po.SaveInterval = 5 * time.Minute
		}
		s.policies[name] = po
	}
	return func() {
		old := e.set.Swap(s)
		if old != nil {
			for name := range old.resources {
				if s.resources[name] == nil {
					e.metrics.forget(name)
				}
			}
		}
	}, nil
}

// Enqueue asks for an evaluation of the named resource. A resource already
// waiting is not queued twice. It fails with ErrQueueFull or
// ErrShuttingDown, both worth a retry, and with an error
// when the resource is not configured.
func (e *Engine) Enqueue(resource string, cause Cause) (coalesced bool, err error) {
	if e.set.Load().resources[resource] == nil {
		return false, fmt.Errorf("resource %q is not configured: %w", resource, errUnknownResource)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false, ErrShuttingDown
	}
	if e.pending[resource] {
		return true, nil
	}
	select {
	case e.queue <- trigger{resource: resource, cause: cause}:
		e.pending[resource] = true
		return false, nil
	default:
		return false, ErrQueueFull
	}
}

var errUnknownResource = errors.New("unknown resource")

// Run evaluates queued triggers with the configured number of workers
// until ctx is done. Then Enqueue fails with ErrShuttingDown, pending
// rechecks are cancelled and Run returns once the workers have finished.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(e.sampleInt)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				e.Sample()
			}
		}
	})
	for range e.workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case t := <-e.queue:
					e.mu.Lock()
					delete(e.pending, t.resource)
					e.mu.Unlock()
					e.Evaluate(ctx, t.resource, t.cause)
				}
			}
		})
	}
	<-ctx.Done()
	e.mu.Lock()
	e.closed = true
	states := make([]*resourceState, 0, len(e.states))
	for _, st := range e.states {
		states = append(states, st)
	}
	e.mu.Unlock()
	for _, st := range states {
		st.tmu.Lock()
		if st.timer != nil {
			st.timer.Stop()
		}
		st.tmu.Unlock()
	}
	wg.Wait()
	e.SavePolicies()
}

func (e *Engine) state(name string) *resourceState {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.states[name]
	if st == nil {
		st = &resourceState{}
		e.states[name] = st
	}
	return st
}

// Evaluate decides for one resource now and acts according to its mode.
// It records the decision and returns it. Workers call it for queued
// triggers; it is exported for tests and tools.
func (e *Engine) Evaluate(ctx context.Context, name string, cause Cause) Decision {
	s := e.set.Load()
	r := s.resources[name]
	if r == nil {
		return Decision{Resource: name, Cause: cause, Result: ResultSkipped, Error: "resource no longer configured"}
	}
	st := e.state(name)
	st.mu.Lock()
	defer st.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, s.actionTimeout)
	defer cancel()
	now := e.now()
	d := Decision{Time: now, Resource: name, Mode: r.Mode, Cause: cause}
	e.mu.Lock()
	e.nextID++
	d.ID = e.nextID
	e.mu.Unlock()

	finish := func() Decision {
		e.record(r, &d)
		return d
	}

	vals, err := s.reader.Lookup(r.Shadow, r.Match, r.Horizon)
	if err == nil && len(vals) == 0 {
		err = shadowcast.ErrNoForecast
	}
	if err != nil {
		d.Result, d.Error = ResultSkipped, err.Error()
		d.Explanation = "no usable forecast"
		if !errors.Is(err, shadowcast.ErrUnknownShadow) && !errors.Is(err, shadowcast.ErrUnknownHorizon) {
			d.RetryAt = e.retry(s, st, name, now)
		}
		return finish()
	}
	v := aggregate(vals)
	if bad := !finiteValue(v); bad {
		d.Result, d.Error = ResultSkipped, "forecast holds NaN or Inf"
		d.RetryAt = e.retry(s, st, name, now)
		return finish()
	}
	d.Inputs = &Inputs{
		Point: v.Point, Lower: v.Lower, Upper: v.Upper, Peak: v.Peak, PeakUpper: v.PeakUpper, Actual: v.Actual,
		Horizon: r.Horizon.String(), LeadTime: r.LeadTime.String(), Model: v.Model, Reason: v.Reason,
		Instances: len(vals), Updated: v.Updated,
	}

	const attempts = 4
	recorded := false
	for attempt := 0; attempt < attempts; attempt++ {
		obs := make([]Observed, len(r.Pools))
		cur := make([]int, len(r.Pools))
		for i, p := range r.Pools {
			t0 := time.Now()
			o, err := p.Actuator.Read(ctx)
			e.metrics.actuatorDuration.WithLabelValues("read").Observe(time.Since(t0).Seconds())
			if err != nil {
				d.Result, d.Error = ResultError, fmt.Sprintf("read pool %s: %v", p.Name, err)
				d.RetryAt = e.retry(s, st, name, now)
				return finish()
			}
			obs[i], cur[i] = o, o.Units
		}
		st.hmu.Lock()
		hist := append([]Sample(nil), st.history...)
		st.hmu.Unlock()
		choice, use, pd := e.policies.use(name, now)
		p := Decide(*r, Input{Now: now, Value: v, Current: cur, History: hist, Policy: choice})
		if !recorded {
			st.record(Sample{At: now, Need: p.Need}, now, e.policies.historyWindow(name, r.Stabilization))
			recorded = true
		}
		d.Plan, d.Current, d.PolicyUse, d.Policy = p, cur, use, pd
		if !p.RecheckAt.IsZero() {
			e.schedule(st, name, p.RecheckAt.Sub(now)+time.Millisecond, "recheck")
		}
		switch {
		case !p.Change:
			d.Result = ResultNoChange
			st.failures = 0
			return finish()
		case now.Before(st.lastChange.Add(r.Cooldown)):
			d.Result = ResultDeferred
			at := st.lastChange.Add(r.Cooldown)
			d.RetryAt = at
			e.schedule(st, name, at.Sub(now), "recheck")
			return finish()
		case r.Mode == ModeDryRun:
			d.Result = ResultDryRun
			st.lastChange = now
			return finish()
		}
		conflict, wrote := false, false
		for i, pool := range r.Pools {
			if p.Target[i] == cur[i] {
				continue
			}
			t0 := time.Now()
			err := pool.Actuator.Write(ctx, obs[i], p.Target[i])
			e.metrics.actuatorDuration.WithLabelValues("write").Observe(time.Since(t0).Seconds())
			if err == nil {
				wrote = true
				continue
			}
			if IsConflict(err) {
				d.Conflicts++
				e.metrics.conflicts.WithLabelValues(name).Inc()
				e.logger.Info("Conflicting update, deciding again", "resource", name, "pool", pool.Name, "attempt", attempt+1)
				conflict = true
				break
			}
			d.Result, d.Error = ResultError, fmt.Sprintf("write pool %s: %v", pool.Name, err)
			d.RetryAt = e.retry(s, st, name, now)
			if wrote {
				st.lastChange = now // earlier pools were changed
			}
			return finish()
		}
		if !conflict {
			d.Result = ResultSuccess
			st.lastChange = now
			st.failures = 0
			return finish()
		}
	}
	d.Result, d.Error = ResultConflict, fmt.Sprintf("target changed during each of %d attempts", attempts)
	d.RetryAt = e.retry(s, st, name, now)
	return finish()
}

// retry schedules a re-evaluation after an exponential backoff and returns
// when it will run. st.mu is held.
func (e *Engine) retry(s *settings, st *resourceState, name string, now time.Time) time.Time {
	st.failures++
	d := s.backoff
	for i := 1; i < st.failures && d < s.backoffMax; i++ {
		d *= 2
	}
	d = min(d, s.backoffMax)
	e.schedule(st, name, d, "retry")
	return now.Add(d)
}

// schedule enqueues a re-evaluation after d, unless an earlier one is
// already scheduled.
func (e *Engine) schedule(st *resourceState, name string, d time.Duration, reason string) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return
	}
	at := time.Now().Add(d)
	st.tmu.Lock()
	defer st.tmu.Unlock()
	if st.timer != nil && st.timerAt.After(time.Now()) && !st.timerAt.After(at) {
		return
	}
	if st.timer != nil {
		st.timer.Stop()
	}
	st.timerAt = at
	st.timer = time.AfterFunc(d, func() {
		_, err := e.Enqueue(name, Cause{Reason: reason})
		if errors.Is(err, ErrQueueFull) {
			e.schedule(st, name, max(d, time.Second), reason)
		}
	})
}

// record adds a need to the history, dropping samples older than window.
func (st *resourceState) record(s Sample, now time.Time, window time.Duration) {
	st.hmu.Lock()
	defer st.hmu.Unlock()
	keep := st.history[:0]
	for _, x := range st.history {
		if now.Sub(x.At) <= window {
			keep = append(keep, x)
		}
	}
	const maxSamples = 1024
	if len(keep) >= maxSamples {
		keep = append(keep[:0], keep[len(keep)-maxSamples+1:]...)
	}
	st.history = append(keep, s)
}

// Sample records the current need of every resource for the stabilisation
// window, without deciding or acting. Run calls it every SampleInterval,
// so a release is bounded by the needs seen between alerts too. It also
// runs the learned policy of resources whose policy is in dry-run (which
// decides, learns and explains, and never acts).
func (e *Engine) Sample() {
	s := e.set.Load()
	now := e.now()
	read := make(map[string]shadowcast.Value, len(s.order))
	for _, name := range s.order {
		r := s.resources[name]
		vals, err := s.reader.Lookup(r.Shadow, r.Match, r.Horizon)
		if err != nil || len(vals) == 0 {
			continue
		}
		v := aggregate(vals)
		if !finiteValue(v) {
			continue
		}
		read[name] = v
	}
	// An acting learned policy's need replaces the fixed one in the
	// stabilisation history.
	needs := e.samplePolicies(s, now, read)
	for _, name := range s.order {
		v, ok := read[name]
		if !ok {
			continue
		}
		need, acting := needs[name]
		if !acting {
			need = Need(v)
		}
		r := s.resources[name]
		e.state(name).record(Sample{At: now, Need: need}, now, e.policies.historyWindow(name, r.Stabilization))
	}
}

// aggregate sums the values of several matching instances (the resource
// serves them all); the sum of bounds is a conservative bound of the sum.
func aggregate(vals []shadowcast.Value) shadowcast.Value {
	if len(vals) == 1 {
		return vals[0]
	}
	var v shadowcast.Value
	for i, x := range vals {
		if i == 0 {
			v = x
			v.Labels = nil
			continue
		}
		v.Point += x.Point
		v.Lower += x.Lower
		v.Upper += x.Upper
		v.Peak += x.Peak
		v.PeakUpper += x.PeakUpper
		v.Actual += x.Actual
		if x.Model != v.Model {
			v.Model = "mixed"
		}
		if x.Updated.Before(v.Updated) {
			v.Updated = x.Updated
		}
	}
	return v
}

func finiteValue(v shadowcast.Value) bool {
	for _, f := range []float64{v.Point, v.Lower, v.Upper, v.PeakUpper} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

// record logs d, counts it, updates gauges and keeps it in the ring.
func (e *Engine) record(r *Resource, d *Decision) {
	action := d.Plan.Rule
	if action == "" {
		action = "none"
	}
	e.metrics.actions.WithLabelValues(r.Name, action, d.Result).Inc()
	for i, p := range r.Pools {
		if i < len(d.Current) && d.Current[i] >= 0 {
			e.metrics.current.WithLabelValues(r.Name, p.Name).Set(float64(d.Current[i]))
		}
		if i < len(d.Plan.Target) && d.Plan.Target[i] >= 0 && d.Plan.Rule != "" {
			e.metrics.desired.WithLabelValues(r.Name, p.Name).Set(float64(d.Plan.Target[i]))
		}
	}
	d.Pools = make([]string, len(r.Pools))
	for i, p := range r.Pools {
		d.Pools[i] = p.Name
	}
	if d.Explanation == "" {
		d.Explanation = d.Plan.Explanation
	}
	attrs := []any{
		"id", d.ID, "resource", d.Resource, "mode", d.Mode, "reason", d.Cause.Reason,
		"rule", d.Plan.Rule, "result", d.Result, "explanation", d.Explanation,
	}
	if d.Inputs != nil {
		attrs = append(attrs, "point", d.Inputs.Point, "lower", d.Inputs.Lower, "upper", d.Inputs.Upper,
			"peak_upper", d.Inputs.PeakUpper, "actual", d.Inputs.Actual,
			"threshold_upper", d.Plan.ThresholdUpper, "threshold_lower", d.Plan.ThresholdLower,
			"current", formatUnits(r.Pools, d.Current), "target", formatUnits(r.Pools, d.Plan.Target),
			"cost_per_hour", d.Plan.CostPerHour)
	}
	if d.Conflicts > 0 {
		attrs = append(attrs, "conflicts", d.Conflicts)
	}
	level := slog.LevelInfo
	switch d.Result {
	case ResultError, ResultConflict, ResultSkipped:
		level = slog.LevelWarn
		attrs = append(attrs, "err", d.Error)
	case ResultNoChange:
		level = slog.LevelDebug
	}
	e.logger.Log(context.Background(), level, "Scaling decision", attrs...)
	e.decisions.add(*d)
}
