package shadow

import (
	"encoding"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/shadowcast/shadowcast/collector"
	"github.com/shadowcast/shadowcast/feedback"
	"github.com/shadowcast/shadowcast/forecast"
)

type shadowState struct {
	opts   ShadowOptions
	logger *slog.Logger

	mu        sync.Mutex
	instances map[string]*instance
	fetched   time.Time // source time up to which data has been read
	err       error     // last source error, nil after a good read
	errors    int       // consecutive source errors
	dropped   int       // instances refused by MaxInstances
	cancel    func()    // stops the shadow's loop; nil until started
	tracker   *feedback.Tracker
	adaptive  *adaptiveBounds // online recalibration of the served bounds
}

func (s *shadowState) setError(err error) {
	s.mu.Lock()
	s.err = err
	s.errors++
	s.mu.Unlock()
}

// instanceFor returns (creating it if needed) the instance with these
// source labels, or nil when another shard serves it or the cap is reached.
func (s *shadowState) instanceFor(lset labels.Labels, e *Engine) *instance {
	key := lset.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if inst, ok := s.instances[key]; ok {
		return inst
	}
	if !e.inShard(s.opts.Name, lset) {
		return nil
	}
	if len(s.instances) >= e.opts.MaxInstances {
		if s.dropped == 0 {
			s.logger.Warn("Too many instances; ignoring new ones", "limit", e.opts.MaxInstances)
		}
		s.dropped++
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(s.opts.Name + key))
	inst := &instance{labels: lset, key: key, seed: int64(h.Sum64() >> 1)}
	s.instances[key] = inst
	return inst
}

// sortedInstances returns the instances ordered by key. s.mu must be held.
func (s *shadowState) sortedInstances() []*instance {
	out := make([]*instance, 0, len(s.instances))
	for _, inst := range s.instances {
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// instance is one series returned by a shadow's source.
type instance struct {
	labels labels.Labels
	key    string
	seed   int64

	fmu          sync.Mutex // serialises forecastInstance (it reuses cc's buffer)
	mu           sync.Mutex
	raw          []collector.Sample // time-ordered, unique timestamps
	pred         forecast.Predictor
	model        string
	reason       string
	trainedAt    time.Time // wall clock of the last successful training
	trainedData  time.Time // data time the last training ended at
	training     bool
	gen          int // incremented when a newly trained model replaces pred
	pub          *published
	past         map[time.Duration]*pastRing // forecasts made, by horizon, for the plot
	liveFrom     int64                       // samples after this (unix ms) are scored live
	live         bool                        // liveFrom is set
	backfilled   bool                        // past history was scored once
	early        string                      // reason of a pending early retrain
	warmStarts   int                         // warm starts since the last full fit
	needFull     bool                        // the next training must be a full fit
	cc           cleanCache                  // cleaned history window
	restoreTried bool                        // a persisted model was looked for (guarded by fmu)
	interim      forecast.Predictor          // baseline serving while the first training runs (guarded by fmu)
	dirty        bool                        // raw changed before its end: cc must be rebuilt
}

// startLive marks where live scoring starts: at the end of the first batch
// of samples (stored or backfilled history is scored by backfillScores).
// It reports whether this batch was that first one.
func (inst *instance) startLive(samples []collector.Sample) bool {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.live {
		return false
	}
	inst.live = true
	if n := len(samples); n > 0 {
		inst.liveFrom = samples[n-1].T
	}
	return true
}

// pastLen is how many past forecasts per horizon an instance keeps for
// plotting the shadow against what happened.
const pastLen = 120

// pastRing is a fixed-size ring of past forecasts at one horizon.
type pastRing struct {
	buf  [pastLen]pastEntry
	next int
	n    int
}

type pastEntry struct {
	t                   int64 // target time, unix ms
	point, lower, upper float32
}

func (r *pastRing) add(e pastEntry) {
	if r.n > 0 && r.buf[(r.next+pastLen-1)%pastLen].t == e.t {
		r.buf[(r.next+pastLen-1)%pastLen] = e // same origin republished
		return
	}
	r.buf[r.next] = e
	r.next = (r.next + 1) % pastLen
	r.n = min(r.n+1, pastLen)
}

func (r *pastRing) points() []PastPoint {
	out := make([]PastPoint, 0, r.n)
	for i := 0; i < r.n; i++ {
		e := r.buf[(r.next-r.n+i+pastLen)%pastLen]
		out = append(out, PastPoint{Target: time.UnixMilli(e.t), Point: float64(e.point), Lower: float64(e.lower), Upper: float64(e.upper)})
	}
	return out
}

// PastPoint is a forecast made earlier for Target.
type PastPoint struct {
	Target              time.Time
	Point, Lower, Upper float64
}

// published is an immutable forecast snapshot of one instance.
type published struct {
	fc         forecast.Forecast
	horizons   []time.Duration
	actual     float64
	model      string
	reason     string
	sourceErr  bool
	trainedAt  time.Time
	updated    time.Time
	confidence float64
}

func (inst *instance) publish(p *published) {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	inst.publishLocked(p)
}

func (inst *instance) publishLocked(p *published) {
	inst.pub = p
	if p.sourceErr {
		return
	}
	if inst.past == nil {
		inst.past = map[time.Duration]*pastRing{}
	}
	for _, h := range p.horizons {
		k := int(h / p.fc.Step)
		if k < 1 || k > p.fc.Horizon() {
			continue
		}
		r := inst.past[h]
		if r == nil {
			r = &pastRing{}
			inst.past[h] = r
		}
		r.add(pastEntry{t: p.fc.Origin.Add(h).UnixMilli(), point: float32(p.fc.Point[k-1]), lower: float32(p.fc.Lower[k-1]), upper: float32(p.fc.Upper[k-1])})
	}
}

func (inst *instance) published() *published {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return inst.pub
}

// merge adds samples, replacing values at equal timestamps.
func (inst *instance) merge(samples []collector.Sample) {
	if len(samples) == 0 {
		return
	}
	inst.mu.Lock()
	defer inst.mu.Unlock()
	n := len(inst.raw)
	if n == 0 || samples[0].T > inst.raw[n-1].T {
		inst.raw = append(inst.raw, samples...)
		return
	}
	merged := make([]collector.Sample, 0, n+len(samples))
	i, j := 0, 0
	for i < n || j < len(samples) {
		switch {
		case j == len(samples) || (i < n && inst.raw[i].T < samples[j].T):
			merged = append(merged, inst.raw[i])
			i++
		case i == n || samples[j].T < inst.raw[i].T:
			merged = append(merged, samples[j])
			j++
		default: // equal timestamps: the newer read wins
			merged = append(merged, samples[j])
			i++
			j++
		}
	}
	inst.raw = merged
	inst.dirty = true
}

// trim drops samples older than from (unix ms), in batches so that the
// copy is amortised over many steps.
func (inst *instance) trim(from int64) {
	k := sort.Search(len(inst.raw), func(i int) bool { return inst.raw[i].T >= from })
	if k > 0 && k >= len(inst.raw)/16 {
		inst.raw = append(inst.raw[:0], inst.raw[k:]...)
	}
}

// forecastInstance cleans the instance's history, makes sure a model is
// trained or training, predicts and publishes.
func (e *Engine) forecastInstance(s *shadowState, inst *instance) {
	so := s.opts
	inst.fmu.Lock()
	defer inst.fmu.Unlock()
	if !inst.restoreTried {
		inst.restoreTried = true
		e.restoreModel(s, inst)
	}
	inst.mu.Lock()
	if len(inst.raw) == 0 {
		inst.mu.Unlock()
		return
	}
	last := time.UnixMilli(inst.raw[len(inst.raw)-1].T)
	end := last.Truncate(so.Step)
	n := int(so.History / so.Step)
	start := end.Add(-time.Duration(n-1) * so.Step)
	inst.trim(start.Add(-so.Step).UnixMilli())
	clean := inst.cleaned(start, so.Step, n, so.Clean)
	pred, model, reason := inst.pred, inst.model, inst.reason
	gen := inst.gen
	due := pred == nil || (so.RetrainInterval > 0 && end.Sub(inst.trainedData) >= so.RetrainInterval)
	training := inst.training
	trainedAt := inst.trainedAt
	inst.mu.Unlock()

	series := forecast.Series{Start: start, Step: so.Step, Values: clean}
	spec := forecast.Spec{
		Horizon: int(so.Horizons[len(so.Horizons)-1] / so.Step),
		Level:   so.Confidence,
		Events:  e.events(so),
		Seed:    inst.seed,
	}
	valid := 0
	actual := math.NaN()
	maxAbs := 0.0
	for _, v := range clean {
		if !math.IsNaN(v) {
			valid++
			actual = v
			maxAbs = max(maxAbs, math.Abs(v))
		}
	}
	// A forecast beyond this is a numerical failure of the model, not a
	// prediction: it is never published (a baseline serves instead).
	limit := implausibleFactor * max(maxAbs, 1)
	if valid == 0 {
		return
	}

	minHist := e.opts.Models.MinHistory(so.Step)
	if valid < minHist {
		pred, model, reason = nil, "", ReasonColdStart
	} else if !training {
		if early, why := s.earlyRetrain(inst, end); early && !due {
			s.logger.Info("Retraining early", "instance", inst.key, "reason", why, "model", model)
			inst.mu.Lock()
			inst.early = why
			inst.mu.Unlock()
			due = true
		}
		if due {
			e.startTraining(s, inst, series, spec)
		}
	}
	if pred == nil && valid >= minHist {
		// The first training is still running (a learned model may take
		// seconds per instance, and trainings queue behind the bounded
		// workers): the fallback baseline, fitted once in milliseconds,
		// serves meanwhile rather than the cold start's wide bounds.
		fb := e.opts.Models.Fallback(so.Step)
		if inst.interim == nil {
			if p, err := fb.Fit(series, spec); err == nil {
				inst.interim = p
			}
		}
		if inst.interim != nil {
			pred, model, reason = inst.interim, fb.Name(), ReasonFallback
		}
	} else if pred != nil {
		inst.interim = nil
	}
	if pred == nil {
		// Cold start: serve the honest cold-start forecast.
		m := e.opts.Models.ColdStart(so.Step)
		p, err := m.Fit(series, spec)
		if err != nil {
			s.logger.Warn("Cold-start model failed", "instance", inst.key, "err", err)
			return
		}
		pred, model, reason = p, m.Name(), ReasonColdStart
	}
	if se, ok := pred.(interface{ SetEvents([]forecast.Event) }); ok {
		// Events announced since the last training shape this forecast.
		se.SetEvents(spec.Events)
	}
	t0 := time.Now()
	fc, err := pred.Predict(series)
	e.metrics.predictDuration.Observe(time.Since(t0).Seconds())
	if err == nil {
		err = plausible(fc, limit)
	}
	if err != nil {
		m := e.opts.Models.Fallback(so.Step)
		p, ferr := m.Fit(series, spec)
		if ferr == nil {
			fc, ferr = p.Predict(series)
		}
		if ferr == nil {
			ferr = plausible(fc, limit)
		}
		if ferr != nil {
			s.logger.Warn("Prediction failed; keeping the last forecast", "instance", inst.key, "model", model, "err", err, "fallback_err", ferr)
			return
		}
		s.logger.Warn("Prediction failed; a baseline serves", "instance", inst.key, "model", model, "err", err)
		model, reason = m.Name(), ReasonFallback
	}
	if fc.Model != "" {
		model = fc.Model // e.g. the candidate an auto model selected
	}
	s.adaptive.apply(inst.key, &fc)
	e.publishForecast(s, inst, gen, &published{
		fc:         fc,
		horizons:   so.Horizons,
		actual:     actual,
		model:      model,
		reason:     reason,
		trainedAt:  trainedAt,
		updated:    e.opts.Now(),
		confidence: so.Confidence,
	})
}

// publishForecast publishes p (unless a newer model replaced the one it
// was made with) and keeps it for scoring.
func (e *Engine) publishForecast(s *shadowState, inst *instance, gen int, p *published) {
	inst.mu.Lock()
	current := inst.gen == gen
	if current {
		inst.publishLocked(p)
	}
	inst.mu.Unlock()
	if current {
		s.record(inst, p)
	}
}

// startTraining trains a model for inst in the background, bounded by the
// engine's training semaphore; the instance keeps serving meanwhile. It
// runs under inst.fmu (from forecastInstance).
func (e *Engine) startTraining(s *shadowState, inst *instance, series forecast.Series, spec forecast.Spec) {
	plan := e.planTraining(s, inst)
	// The series is reused by the caller; training gets its own copy.
	series.Values = append([]float64(nil), series.Values...)
	e.trainWG.Add(1)
	go func() {
		defer e.trainWG.Done()
		e.train <- struct{}{}
		defer func() { <-e.train }()
		e.trainInstance(s, inst, series, spec, plan)
	}()
}

// trainingPlan says how a training starts.
type trainingPlan struct {
	early string // reason of an early retrain ("" when scheduled or first)
	warm  bool   // continue the serving model instead of a full fit
	kind  string // Go type of the serving predictor, for Models.Restore
	prev  []byte // its encoding (the training's private copy); nil when it has none
	// winner is the baseline the last selection chose (model auto), when
	// that is what serves: it is refitted alone, without a new selection.
	winner string
}

// planTraining marks inst as training and chooses between continuing the
// serving model and a full fit (see ShadowOptions.FullRetrainEvery). It
// runs under inst.fmu, when no Predict uses the serving predictor, so that
// encoding it is safe.
func (e *Engine) planTraining(s *shadowState, inst *instance) trainingPlan {
	inst.mu.Lock()
	plan := trainingPlan{early: inst.early}
	inst.early = ""
	inst.training = true
	prev, warmStarts, needFull := inst.pred, inst.warmStarts, inst.needFull
	if pub := inst.pub; inst.reason == ReasonSelected && pub != nil && (pub.reason == ReasonSelected || pub.reason == ReasonSourceError) {
		plan.winner = pub.model
	}
	inst.mu.Unlock()
	if prev == nil || plan.early != "" || needFull || warmStarts+1 >= s.opts.FullRetrainEvery {
		plan.winner = ""
		return plan
	}
	if _, can := e.opts.Models.(WarmStarter); can {
		if enc, ok := prev.(encoding.BinaryMarshaler); ok {
			data, err := enc.MarshalBinary()
			if err != nil {
				s.logger.Warn("Cannot copy the serving model for a warm start", "instance", inst.key, "err", err)
			} else {
				plan.kind, plan.prev = fmt.Sprintf("%T", prev), data
			}
		}
	}
	plan.warm = plan.prev != nil || plan.winner != ""
	return plan
}

func (e *Engine) trainInstance(s *shadowState, inst *instance, series forecast.Series, spec forecast.Spec, plan trainingPlan) {
	if plan.warm && e.warmStart(s, inst, series, spec, plan) {
		return
	}
	so := s.opts
	var (
		m      forecast.Model
		err    error
		reason = ReasonConfigured
	)
	early := plan.early
	t0 := time.Now()
	switch {
	case early == ReasonDeviation:
		// The forecast no longer describes the series: a baseline serves
		// until the next scheduled training tries the chosen model again.
		m = e.opts.Models.Fallback(so.Step)
	default:
		m, err = e.opts.Models.New(so.Model, so.Step)
		if err == nil && m.Name() == forecast.NameAuto {
			reason = ReasonSelected
		}
	}
	if early != "" {
		reason = early
	}
	var pred forecast.Predictor
	if err == nil {
		pred, err = m.Fit(series, spec)
	}
	if err != nil {
		s.logger.Warn("Training failed; falling back to a baseline", "instance", inst.key, "model", so.Model, "err", err)
		e.metrics.trainings.WithLabelValues(so.Name, "error").Inc()
		m = e.opts.Models.Fallback(so.Step)
		reason = ReasonFallback
		pred, err = m.Fit(series, spec)
	}
	inst.mu.Lock()
	inst.training = false
	inst.mu.Unlock()
	if err != nil {
		s.logger.Error("Fallback training failed", "instance", inst.key, "err", err)
		return
	}
	e.metrics.trainDuration.WithLabelValues(m.Name()).Observe(time.Since(t0).Seconds())
	e.metrics.trainings.WithLabelValues(so.Name, "success").Inc()
	s.tracker.ResetDrift(inst.key)
	e.backfillScores(s, inst, m, series, spec)
	if err := e.saveModel(s, inst, pred, modelHeader{
		Shadow: so.Name, Instance: inst.key, Model: m.Name(), Reason: reason, Fingerprint: so.Fingerprint,
		TrainedAt: e.opts.Now(), TrainedData: series.End(),
	}); err != nil {
		e.metrics.saveErrors.Inc()
		s.logger.Warn("Persisting the trained model failed", "instance", inst.key, "err", err)
	}
	inst.mu.Lock()
	inst.pred, inst.model, inst.reason = pred, m.Name(), reason
	inst.gen++
	inst.trainedAt = e.opts.Now()
	inst.trainedData = series.End()
	inst.warmStarts = 0
	// A baseline serving after a deviation or a failure is no model to
	// continue from: the next training selects and fits afresh.
	inst.needFull = reason == ReasonDeviation || reason == ReasonFallback
	inst.mu.Unlock()
	e.forecastInstance(s, inst)
}

// warmStart continues the serving model of inst on series and installs
// the result: a learned model warm-starts from its copy plan.prev
// (WarmStarter); a baseline chosen by selection (plan.winner) is refitted
// alone. It reports false when the caller must fit from scratch instead
// (nothing to continue, or it failed).
func (e *Engine) warmStart(s *shadowState, inst *instance, series forecast.Series, spec forecast.Spec, plan trainingPlan) bool {
	so := s.opts
	t0 := time.Now()
	var pred forecast.Predictor
	err := ErrNoWarmStart
	if plan.prev != nil {
		var prev forecast.Predictor
		if prev, err = e.opts.Models.Restore(plan.kind, plan.prev); err == nil {
			pred, err = e.opts.Models.(WarmStarter).WarmStart(prev, series, spec)
		}
	}
	if errors.Is(err, ErrNoWarmStart) && plan.winner != "" {
		// Models.New of a learned name gives the gated selection again:
		// only a model that is what its name says is refitted alone.
		if m, merr := e.opts.Models.New(plan.winner, so.Step); merr == nil && m.Name() == plan.winner {
			pred, err = m.Fit(series, spec)
		}
	}
	if errors.Is(err, ErrNoWarmStart) {
		return false
	}
	if err != nil {
		e.metrics.warmStarts.WithLabelValues(so.Name, "error").Inc()
		s.logger.Warn("Warm start failed; fitting from scratch", "instance", inst.key, "err", err)
		return false
	}
	e.metrics.warmDuration.Observe(time.Since(t0).Seconds())
	e.metrics.warmStarts.WithLabelValues(so.Name, "success").Inc()
	e.metrics.trainings.WithLabelValues(so.Name, "success").Inc()
	s.tracker.ResetDrift(inst.key)
	inst.mu.Lock()
	model, reason, n := inst.model, inst.reason, inst.warmStarts+1
	inst.mu.Unlock()
	if err := e.saveModel(s, inst, pred, modelHeader{
		Shadow: so.Name, Instance: inst.key, Model: model, Reason: reason, Fingerprint: so.Fingerprint,
		TrainedAt: e.opts.Now(), TrainedData: series.End(), WarmStarts: n,
	}); err != nil {
		e.metrics.saveErrors.Inc()
		s.logger.Warn("Persisting the trained model failed", "instance", inst.key, "err", err)
	}
	inst.mu.Lock()
	inst.pred = pred
	inst.gen++
	inst.trainedAt = e.opts.Now()
	inst.trainedData = series.End()
	inst.warmStarts = n
	inst.training = false
	inst.mu.Unlock()
	s.logger.Debug("Warm-started the model", "instance", inst.key, "model", model, "warm_starts", n, "seconds", time.Since(t0).Seconds())
	e.forecastInstance(s, inst)
	return true
}

// events returns the events known for a shadow: static ones from the
// options and dynamic ones from the EventSource.
func (e *Engine) events(so ShadowOptions) []forecast.Event {
	ev := append(append([]forecast.Event(nil), e.opts.Events...), so.Events...)
	if e.opts.EventSource != nil {
		ev = append(ev, e.opts.EventSource.Events(so.Name)...)
	}
	return ev
}

// implausibleFactor bounds published values to this many times the largest
// absolute value in the instance's history window.
const implausibleFactor = 100

// plausible checks that a forecast is complete, finite, and within
// limit: what a model returns past that is a numerical failure.
func plausible(fc forecast.Forecast, limit float64) error {
	if len(fc.Point) == 0 || len(fc.Lower) != len(fc.Point) || len(fc.Upper) != len(fc.Point) {
		return fmt.Errorf("incomplete forecast (%d points, %d lower, %d upper)", len(fc.Point), len(fc.Lower), len(fc.Upper))
	}
	for i := range fc.Point {
		for _, v := range [3]float64{fc.Point[i], fc.Lower[i], fc.Upper[i]} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("non-finite value at step %d", i+1)
			}
			if math.Abs(v) > limit {
				return fmt.Errorf("implausible value %.4g at step %d (more than %d times the largest value in the history)", v, i+1, implausibleFactor)
			}
		}
	}
	return nil
}
