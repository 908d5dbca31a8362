package shadow

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/shadowcast/shadowcast"
	"github.com/shadowcast/shadowcast/collector"
	"github.com/shadowcast/shadowcast/forecast"
)

// Reasons published in shadowcast_model_info{reason}. A bounded enum.
const (
	ReasonColdStart   = "cold_start"           // not enough history yet: last value, wide bounds
	ReasonConfigured  = "configured"           // the model named in config serves
	ReasonSelected    = "selected_by_backtest" // auto: best rolling-origin backtest score
	ReasonFallback    = "fallback"             // the chosen model failed or its first training still runs; a baseline serves
	ReasonSourceError = "source_error"         // the last read failed; the last good forecast is served
	ReasonDeviation   = "deviation"            // actuals left the bounds for long; a baseline serves
)

// Source reads one shadow's activity (collector.Prometheus, collector.Scrape,
// collector.File satisfy it).
type Source interface {
	Fetch(ctx context.Context, from, to time.Time, step time.Duration) ([]collector.Series, error)
	Now() time.Time
}

// EventSource supplies known events for a shadow (past and future).
type EventSource interface {
	Events(shadow string) []forecast.Event
}

// Store keeps raw history across restarts (collector.Store satisfies it).
type Store interface {
	Append(ctx context.Context, shadow string, series []collector.Series) error
	Select(ctx context.Context, shadow string, from, to time.Time) ([]collector.Series, error)
}

// Models builds the forecasting models the engine trains.
type Models interface {
	// New returns the model called name (a config model name) for a series
	// with the given step. A model named forecast.NameAuto selects among
	// candidates by backtest on the series' own history; its forecasts
	// carry the name of the model that won.
	New(name string, step time.Duration) (forecast.Model, error)
	// Fallback returns the baseline served when the chosen model fails.
	Fallback(step time.Duration) forecast.Model
	// ColdStart returns the model served while history is too short.
	ColdStart(step time.Duration) forecast.Model
	// MinHistory is how many valid samples a non-cold-start model needs.
	MinHistory(step time.Duration) int
	// Restore decodes a persisted predictor; kind is its Go type as
	// printed by %T (e.g. "*forecast.HybridPredictor").
	Restore(kind string, data []byte) (forecast.Predictor, error)
}

// WarmStarter is implemented by Models that can continue training a fitted
// predictor on a newer history instead of fitting from scratch; the engine
// checks Options.Models for it and uses it for scheduled retrainings
// (ShadowOptions.FullRetrainEvery).
//
// WarmStart returns a new predictor trained from the state of prev on s,
// with its intervals recalibrated on the most recent out-of-sample part of
// s. prev is the training's own copy (decoded with Models.Restore from the
// serving predictor's encoding), so WarmStart may use it freely; the
// serving predictor keeps serving meanwhile. An error wrapping
// ErrNoWarmStart means prev's kind has no warm start: the engine fits from
// scratch and counts no failure. Any other error is counted
// (shadowcast_warm_starts_total{result="error"}) and a full fit follows.
type WarmStarter interface {
	WarmStart(prev forecast.Predictor, s forecast.Series, spec forecast.Spec) (forecast.Predictor, error)
}

// ErrNoWarmStart is returned by a Models' WarmStart for a predictor that
// cannot be warm-started.
var ErrNoWarmStart = errors.New("model cannot be warm-started")

// DefaultFullRetrainEvery is the default ShadowOptions.FullRetrainEvery.
const DefaultFullRetrainEvery = 8

// Options configures an Engine.
type Options struct {
	Shadows []ShadowOptions
	Models  Models
	// Store persists raw history; nil keeps history in memory only.
	Store Store
	// Events known to every shadow (per-shadow events in ShadowOptions).
	Events []forecast.Event
	// EventSource, when set, adds dynamic events (iCal files, the events
	// API, PromQL series) at every forecast.
	EventSource EventSource
	// TrainWorkers bounds concurrent trainings (default GOMAXPROCS).
	TrainWorkers int
	// ShardIndex and ShardTotal split instances across replicas by a
	// stable hash of shadow name and labels (ShardTotal 0 or 1: no sharding).
	ShardIndex, ShardTotal int
	// MaxInstances caps the instances of one shadow (default 10000).
	MaxInstances int
	// Now is the wall clock (default time.Now).
	Now func() time.Time
	// StateDir is where forecast scores are persisted across restarts
	// ("" keeps them in memory only).
	StateDir string
}

// ShadowOptions configures one shadow.
type ShadowOptions struct {
	Name     string
	Source   Source
	Persist  bool // write raw samples to Options.Store
	Step     time.Duration
	History  time.Duration
	Horizons []time.Duration
	// Confidence is the nominal coverage of the bounds.
	Confidence float64
	// Model is a config model name; "auto" selects by backtest.
	Model           string
	RetrainInterval time.Duration
	// FullRetrainEvery makes every FullRetrainEvery-th scheduled training
	// of an instance a full fit from scratch (model selection included);
	// the trainings in between warm-start from the serving model when
	// Options.Models can (see WarmStart). 0 means DefaultFullRetrainEvery;
	// 1 disables warm starts. The first training, a training after a
	// drift or deviation alarm or after a fallback, and a failed warm
	// start are always full fits.
	FullRetrainEvery int
	Clean            collector.CleanOptions
	Events           []forecast.Event
	// Interval between reads in wall-clock time (default Step). File
	// replay shortens it by the speed-up.
	Interval time.Duration
	// Fingerprint identifies the configuration the options came from; Update
	// keeps the state of shadows whose fingerprint is unchanged.
	Fingerprint string
}

// Engine runs every shadow. Create it with New, start it with Run.
type Engine struct {
	opts    Options
	logger  *slog.Logger
	metrics *metrics
	train   chan struct{} // semaphore bounding concurrent trainings
	trainWG sync.WaitGroup

	mu      sync.RWMutex
	shadows map[string]*shadowState
	names   []string
	runCtx  context.Context // set by Run; loops of shadows added later start under it
	loops   sync.WaitGroup
}

// New builds an Engine. It validates the options but starts nothing.
func New(opts Options, reg prometheus.Registerer, logger *slog.Logger) (*Engine, error) {
	if opts.Models == nil {
		return nil, errors.New("shadow: Options.Models is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TrainWorkers <= 0 {
		opts.TrainWorkers = runtime.GOMAXPROCS(0)
	}
	if opts.MaxInstances <= 0 {
		opts.MaxInstances = 10000
	}
	if opts.ShardTotal > 1 && (opts.ShardIndex < 0 || opts.ShardIndex >= opts.ShardTotal) {
		return nil, fmt.Errorf("shadow: shard index %d out of range [0, %d)", opts.ShardIndex, opts.ShardTotal)
	}
	e := &Engine{
		opts:    opts,
		logger:  logger,
		metrics: newMetrics(reg),
		train:   make(chan struct{}, opts.TrainWorkers),
		shadows: map[string]*shadowState{},
	}
	states, names, err := e.build(opts.Shadows)
	if err != nil {
		return nil, err
	}
	e.shadows, e.names = states, names
	for _, st := range states {
		e.loadTracker(st)
	}
	return e, nil
}

// build validates shadow options and creates their (empty) states.
func (e *Engine) build(shadows []ShadowOptions) (map[string]*shadowState, []string, error) {
	states := map[string]*shadowState{}
	var names []string
	for _, so := range shadows {
		if err := validateShadow(so); err != nil {
			return nil, nil, err
		}
		if _, dup := states[so.Name]; dup {
			return nil, nil, fmt.Errorf("shadow %q: duplicate name", so.Name)
		}
		if so.Interval <= 0 {
			so.Interval = so.Step
		}
		if so.FullRetrainEvery == 0 {
			so.FullRetrainEvery = DefaultFullRetrainEvery
		}
		hs := append([]time.Duration(nil), so.Horizons...)
		sort.Slice(hs, func(i, j int) bool { return hs[i] < hs[j] })
		so.Horizons = hs
		tr, err := newTracker(so)
		if err != nil {
			return nil, nil, fmt.Errorf("shadow %q: %w", so.Name, err)
		}
		states[so.Name] = &shadowState{opts: so, instances: map[string]*instance{}, tracker: tr, adaptive: newAdaptiveBounds(so), logger: e.logger.With("shadow", so.Name)}
		names = append(names, so.Name)
	}
	sort.Strings(names)
	return states, names, nil
}

// Update applies a new set of shadows atomically: a shadow whose
// Fingerprint is unchanged keeps its history, models and loop; changed and
// new shadows start afresh (reloading stored history); removed shadows
// stop. Invalid options change nothing.
func (e *Engine) Update(shadows []ShadowOptions) error {
	commit, err := e.Prepare(shadows)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Prepare validates shadows and builds their state, and returns the
// function that swaps them in (see Update), which cannot fail; nothing
// changes until it is called.
func (e *Engine) Prepare(shadows []ShadowOptions) (commit func(), err error) {
	states, names, err := e.build(shadows)
	if err != nil {
		return nil, err
	}
	return func() { e.swap(states, names) }, nil
}

func (e *Engine) swap(states map[string]*shadowState, names []string) {
	e.mu.Lock()
	old := e.shadows
	for name, st := range states {
		if prev, ok := old[name]; ok && prev.opts.Fingerprint != "" && prev.opts.Fingerprint == st.opts.Fingerprint {
			states[name] = prev
		} else {
			e.loadTracker(st)
		}
	}
	e.shadows, e.names = states, names
	ctx := e.runCtx
	e.mu.Unlock()
	for name, prev := range old {
		if states[name] != prev && prev.cancel != nil {
			prev.cancel()
		}
	}
	if ctx != nil {
		for _, name := range names {
			if st := states[name]; st.cancel == nil {
				e.startLoop(ctx, st)
			}
		}
	}
}

// get returns the state of a shadow, or nil.
func (e *Engine) get(name string) *shadowState {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.shadows[name]
}

// list returns the shadow states sorted by name.
func (e *Engine) list() []*shadowState {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*shadowState, len(e.names))
	for i, n := range e.names {
		out[i] = e.shadows[n]
	}
	return out
}

func validateShadow(so ShadowOptions) error {
	switch {
	case so.Name == "":
		return errors.New("shadow: empty name")
	case so.Source == nil:
		return fmt.Errorf("shadow %q: no source", so.Name)
	case so.Step <= 0:
		return fmt.Errorf("shadow %q: step must be positive", so.Name)
	case so.History < so.Step:
		return fmt.Errorf("shadow %q: history shorter than step", so.Name)
	case len(so.Horizons) == 0:
		return fmt.Errorf("shadow %q: no horizons", so.Name)
	case so.Confidence <= 0 || so.Confidence >= 1:
		return fmt.Errorf("shadow %q: confidence must be in (0, 1)", so.Name)
	case so.FullRetrainEvery < 0:
		return fmt.Errorf("shadow %q: full retrain every %d trainings must not be negative", so.Name, so.FullRetrainEvery)
	}
	for _, h := range so.Horizons {
		if h <= 0 || h%so.Step != 0 {
			return fmt.Errorf("shadow %q: horizon %s is not a positive multiple of step %s", so.Name, h, so.Step)
		}
	}
	return nil
}

// Names returns the configured shadow names, sorted.
func (e *Engine) Names() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return append([]string(nil), e.names...)
}

// Run loads stored history and then collects and forecasts every shadow
// until ctx is done.
func (e *Engine) Run(ctx context.Context) {
	e.mu.Lock()
	e.runCtx = ctx
	states := make([]*shadowState, 0, len(e.names))
	for _, n := range e.names {
		states = append(states, e.shadows[n])
	}
	e.mu.Unlock()
	for _, s := range states {
		e.startLoop(ctx, s)
	}
	<-ctx.Done()
	e.loops.Wait()
	e.trainWG.Wait()
}

func (e *Engine) startLoop(ctx context.Context, s *shadowState) {
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	e.loops.Add(1)
	go func() {
		defer e.loops.Done()
		e.runShadow(ctx, s)
	}()
}

// WaitTraining blocks until no training runs (for tests and backtests).
func (e *Engine) WaitTraining() { e.trainWG.Wait() }

func (e *Engine) runShadow(ctx context.Context, s *shadowState) {
	e.loadStored(ctx, s)
	delay := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	save := func() {
		if err := e.saveTracker(s); err != nil {
			s.logger.Error("Saving forecast scores failed", "err", err)
		}
	}
	defer save()
	lastSave := e.opts.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if now := e.opts.Now(); now.Sub(lastSave) >= saveInterval {
			save()
			lastSave = now
		}
		if err := e.step(ctx, s); err != nil {
			// Exponential backoff on source errors, capped at 8 intervals.
			if delay == 0 {
				delay = s.opts.Interval / 4
			} else {
				delay *= 2
			}
			delay = min(delay, 8*s.opts.Interval)
			timer.Reset(delay)
			continue
		}
		delay = 0
		timer.Reset(s.opts.Interval)
	}
}

// saveInterval is how often forecast scores are written to StateDir.
const saveInterval = 5 * time.Minute

// loadStored fills the in-memory history from the store after a restart.
func (e *Engine) loadStored(ctx context.Context, s *shadowState) {
	if e.opts.Store == nil || !s.opts.Persist {
		return
	}
	now := s.opts.Source.Now()
	series, err := e.opts.Store.Select(ctx, s.opts.Name, now.Add(-s.opts.History), now)
	if err != nil {
		s.logger.Error("Loading stored history failed", "err", err)
		return
	}
	var last int64
	for _, ser := range series {
		if inst := s.instanceFor(ser.Labels, e); inst != nil {
			inst.merge(ser.Samples)
			inst.startLive(ser.Samples)
			if n := len(ser.Samples); n > 0 && ser.Samples[n-1].T > last {
				last = ser.Samples[n-1].T
			}
		}
	}
	if last > 0 {
		s.mu.Lock()
		s.fetched = time.UnixMilli(last)
		s.mu.Unlock()
		s.logger.Info("Loaded stored history", "instances", len(series), "last_sample", time.UnixMilli(last).UTC())
	}
}

// Step reads new activity for one shadow and refreshes its forecasts. Run
// calls it every interval; tests call it directly.
func (e *Engine) Step(ctx context.Context, name string) error {
	s := e.get(name)
	if s == nil {
		return fmt.Errorf("%w: %q", shadowcast.ErrUnknownShadow, name)
	}
	return e.step(ctx, s)
}

func (e *Engine) step(ctx context.Context, s *shadowState) error {
	name := s.opts.Name
	now := s.opts.Source.Now()
	to := now.Truncate(s.opts.Step)
	s.mu.Lock()
	from := s.fetched
	s.mu.Unlock()
	if earliest := to.Add(-s.opts.History); from.Before(earliest) {
		from = earliest
	}
	if !to.After(from) {
		// Nothing new to read (e.g. just restarted on an up-to-date store):
		// serve the instances that have no forecast yet right away.
		s.mu.Lock()
		insts := s.sortedInstances()
		s.mu.Unlock()
		for _, inst := range insts {
			if inst.published() == nil {
				e.forecastInstance(s, inst)
			}
		}
		return nil
	}
	series, err := s.opts.Source.Fetch(ctx, from, to, s.opts.Step)
	if err != nil {
		e.metrics.sourceErrors.WithLabelValues(name).Inc()
		s.setError(err)
		s.logger.Warn("Reading source failed; serving the last good forecasts", "err", err)
		e.refreshReasons(s)
		return err
	}
	if e.opts.Store != nil && s.opts.Persist && len(series) > 0 {
		if err := e.opts.Store.Append(ctx, name, series); err != nil {
			// The samples stay in memory; only durability suffers.
			s.logger.Error("Appending history to the store failed", "err", err)
			e.metrics.storeErrors.WithLabelValues(name).Inc()
		}
	}
	for _, ser := range series {
		if inst := s.instanceFor(ser.Labels, e); inst != nil {
			inst.merge(ser.Samples)
			if !inst.startLive(ser.Samples) {
				s.observe(inst, ser.Samples)
			}
		}
	}
	s.mu.Lock()
	s.fetched = to
	s.err = nil
	insts := s.sortedInstances()
	s.mu.Unlock()
	for _, inst := range insts {
		e.forecastInstance(s, inst)
	}
	return nil
}

// refreshReasons republishes every instance with the shadow's error state.
func (e *Engine) refreshReasons(s *shadowState) {
	s.mu.Lock()
	insts := s.sortedInstances()
	s.mu.Unlock()
	for _, inst := range insts {
		inst.mu.Lock()
		p := inst.pub
		inst.mu.Unlock()
		if p == nil {
			continue
		}
		cp := *p
		cp.sourceErr = true
		inst.publish(&cp)
	}
}

// inShard reports whether this replica serves the instance.
func (e *Engine) inShard(shadow string, lset labels.Labels) bool {
	if e.opts.ShardTotal <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(shadow))
	h.Write([]byte{0xff})
	h.Write([]byte(lset.String()))
	return int(h.Sum64()%uint64(e.opts.ShardTotal)) == e.opts.ShardIndex
}
