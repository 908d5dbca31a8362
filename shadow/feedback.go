package shadow

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/shadowcast/shadowcast/collector"
	"github.com/shadowcast/shadowcast/feedback"
	"github.com/shadowcast/shadowcast/forecast"
)

// Reasons for early retraining, published in shadowcast_model_info.
const (
	ReasonDrift = "drift" // Page–Hinkley alarm on the scaled errors: retrained early
)

// maxBackfillOrigins bounds the origins scored when an instance's models
// are first scored on already-collected history.
const maxBackfillOrigins = 2000

// newTracker builds the feedback tracker of one shadow: predictions are kept
// until their target time and scored against the raw actuals.
func newTracker(so ShadowOptions) (*feedback.Tracker, error) {
	season := 24 * time.Hour
	if season%so.Step != 0 {
		season = 24 * so.Step
	}
	return feedback.NewTracker(feedback.TrackerOptions{Step: so.Step, Season: season, MaxAge: so.History})
}

// statePath is where the tracker of a shadow is persisted, or "".
func (e *Engine) statePath(shadow string) string {
	if e.opts.StateDir == "" {
		return ""
	}
	return filepath.Join(e.opts.StateDir, "feedback-"+shadow+".snapshot")
}

// loadTracker restores a shadow's scores from its snapshot, if any. A
// corrupt or incompatible snapshot is reported and scoring starts afresh.
func (e *Engine) loadTracker(s *shadowState) {
	e.loadAdaptive(s, s.adaptive)
	path := e.statePath(s.opts.Name)
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		s.logger.Warn("Opening the feedback snapshot failed", "path", path, "err", err)
		return
	}
	defer f.Close()
	if _, err := s.tracker.ReadFrom(bufio.NewReader(f)); err != nil {
		s.logger.Warn("Ignoring an unreadable feedback snapshot; scoring starts afresh", "path", path, "err", err)
		return
	}
	s.logger.Info("Restored forecast scores", "instances", len(s.tracker.Keys()))
}

// saveTracker writes a shadow's scores atomically, so a crash leaves either
// the old or the new snapshot.
func (e *Engine) saveTracker(s *shadowState) error {
	path := e.statePath(s.opts.Name)
	if path == "" {
		return nil
	}
	if err := e.saveAdaptive(s, s.adaptive); err != nil {
		return err
	}
	var b bytes.Buffer
	if _, err := s.tracker.WriteTo(&b); err != nil {
		return err
	}
	return writeAtomic(path, b.Bytes())
}

// observe feeds new raw samples of an instance to the tracker. Samples at
// or before liveFrom were scored by the backfill instead.
func (s *shadowState) observe(inst *instance, samples []collector.Sample) {
	inst.mu.Lock()
	from := inst.liveFrom
	inst.mu.Unlock()
	var live []collector.Sample
	for _, smp := range samples {
		if smp.T > from {
			s.tracker.Observe(inst.key, time.UnixMilli(smp.T), smp.V)
			live = append(live, smp)
		}
	}
	s.adaptive.observe(inst.key, live)
}

// record keeps the published forecast for scoring when its targets arrive.
func (s *shadowState) record(inst *instance, p *published) {
	for _, h := range p.horizons {
		k := int(h / s.opts.Step)
		if k < 1 || k > p.fc.Horizon() {
			continue
		}
		s.tracker.Record(inst.key, h, p.fc.Origin, p.fc.Point[k-1], p.fc.Lower[k-1], p.fc.Upper[k-1])
	}
}

// earlyRetrain reports whether the instance's errors call for retraining
// before the schedule, and why: a drift alarm, or actuals outside the bounds
// for long (deviation). A model gets at least the longest horizon of data
// before it can be judged again.
func (s *shadowState) earlyRetrain(inst *instance, end time.Time) (bool, string) {
	inst.mu.Lock()
	trained := inst.trainedData
	inst.mu.Unlock()
	if trained.IsZero() || end.Sub(trained) < s.opts.Horizons[len(s.opts.Horizons)-1] {
		return false, ""
	}
	for _, h := range s.opts.Horizons {
		if s.tracker.Deviating(inst.key, h) {
			return true, ReasonDeviation
		}
	}
	if drift, _ := s.tracker.Drift(inst.key); drift {
		return true, ReasonDrift
	}
	return false, ""
}

// backfillScores scores model on the history the instance had when it was
// first seen, as if it had been serving all along, so accuracy is visible
// on day one. It runs once per instance, in the training goroutine, and
// only when the tracker has nothing for the instance yet.
func (e *Engine) backfillScores(s *shadowState, inst *instance, m forecast.Model, series forecast.Series, spec forecast.Spec) {
	inst.mu.Lock()
	liveFrom, done := inst.liveFrom, inst.backfilled
	inst.backfilled = true
	inst.mu.Unlock()
	if done {
		return
	}
	for _, h := range s.opts.Horizons {
		if s.tracker.Scores(inst.key, h).N > 0 {
			return // restored from a snapshot
		}
	}
	n := 0
	for n < series.Len() && !series.TimeAt(n).After(time.UnixMilli(liveFrom)) {
		n++
	}
	hist := series.Slice(0, n)
	warmup := forecast.MinHistory(m, series.Step)
	if hist.Len() <= warmup {
		return
	}
	stride := max(1, (hist.Len()-warmup)/maxBackfillOrigins)
	refit := max(stride, int(s.opts.RetrainInterval/s.opts.Step))
	res, err := feedback.Backfill(s.tracker, inst.key, hist,
		s.adaptive.warmFrom(inst.key, feedback.RollingForecaster(m, feedback.RollingOptions{Spec: spec, Window: hist.Len(), RefitEvery: refit})),
		feedback.BackfillOptions{Horizons: s.opts.Horizons, Warmup: warmup, Stride: stride})
	if err != nil {
		s.logger.Warn("Scoring the model on past history failed", "instance", inst.key, "err", err)
		return
	}
	s.logger.Debug("Scored the model on past history", "instance", inst.key, "origins", res.Origins, "failed", res.Failed)
}

// errorSummary is the status page's one-line view of an instance's scores.
func (s *shadowState) errorSummary(key string) string {
	var parts []string
	for _, h := range s.opts.Horizons {
		sc := s.tracker.Scores(key, h)
		if sc.N == 0 {
			continue
		}
		part := fmt.Sprintf("%s: MAE %.3g", model.Duration(h), sc.MAE)
		if !math.IsNaN(sc.MASE) {
			part += fmt.Sprintf(", MASE %.2f", sc.MASE)
		}
		part += fmt.Sprintf(", coverage %.2f (n=%d)", sc.Coverage, sc.N)
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}
