package shadow

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/shadowcast/shadowcast/collector"
	"github.com/shadowcast/shadowcast/feedback"
	"github.com/shadowcast/shadowcast/forecast"

	"github.com/shadowcast/shadowcast/internal/iox"
)

// Bounds of the online calibration state.
const (
	adaptiveMaxPending = 4096  // raw forecasts waiting per instance, model and horizon
	adaptiveMaxKeys    = 10000 // instances per shadow
	adaptiveMaxModels  = 4     // calibrated models per instance (least recently used go)
)

// adaptiveBounds recalibrates the bounds a shadow serves online, per
// instance and published horizon, with a forecast.AdaptiveCalibrator fed
// with the realised errors of earlier forecasts: apply records the model's
// raw forecast and replaces its bounds; observe scores the recorded raw
// forecasts when their actuals arrive. Forecast steps between published
// horizons use the calibrator of the next published horizon (the last one
// beyond). Scores are kept per model: errors measured in one model's
// half-widths say nothing about another's (the cold start's wide bounds
// would shrink Holt-Winters' far below their nominal coverage), so each
// model serving an instance (cold start, baseline, learned model,
// fallback) has its own calibrator, fed only with its own forecasts; a
// retrained model of the same name keeps it. It is safe for concurrent use.
type adaptiveBounds struct {
	step     time.Duration
	horizons []time.Duration
	opts     forecast.AdaptiveOptions

	mu   sync.Mutex
	keys map[string]*adaptiveInstance
}

type adaptiveInstance struct {
	Updated int64 // unix nanoseconds of the last apply or observe
	Models  map[string]*adaptiveModel
}

// adaptiveModel is the calibration of one model's forecasts.
type adaptiveModel struct {
	Used    int64 // unix nanoseconds of the last apply
	Cal     *forecast.AdaptiveCalibrator
	Pending [][]adaptivePending // per horizon, sorted by Target
}

// model returns the calibration of the named model, creating it (and
// evicting the least recently used beyond adaptiveMaxModels).
func (a *adaptiveBounds) model(in *adaptiveInstance, name string, now int64) *adaptiveModel {
	m := in.Models[name]
	if m == nil {
		if len(in.Models) >= adaptiveMaxModels {
			var oldest string
			first := true
			for k, v := range in.Models {
				if first || v.Used < in.Models[oldest].Used {
					oldest, first = k, false
				}
			}
			delete(in.Models, oldest)
		}
		m = &adaptiveModel{
			Cal:     forecast.NewAdaptiveCalibrator(len(a.horizons), a.opts),
			Pending: make([][]adaptivePending, len(a.horizons)),
		}
		in.Models[name] = m
	}
	m.Used = max(m.Used, now)
	return m
}

// adaptivePending is a raw forecast waiting for its actual.
type adaptivePending struct {
	Target              int64 // unix milliseconds
	Point, Lower, Upper float64
}

// newAdaptiveBounds returns the online calibration of one shadow.
func newAdaptiveBounds(so ShadowOptions) *adaptiveBounds {
	return &adaptiveBounds{
		step: so.Step, horizons: so.Horizons,
		opts: forecast.AdaptiveOptions{Level: so.Confidence},
		keys: map[string]*adaptiveInstance{},
	}
}

// slot returns the index of the published horizon that calibrates
// forecast step k.
func (a *adaptiveBounds) slot(k int) int {
	for i, h := range a.horizons {
		if int(h/a.step) >= k {
			return i
		}
	}
	return len(a.horizons) - 1
}

func (a *adaptiveBounds) instance(key string, now int64) *adaptiveInstance {
	in := a.keys[key]
	if in == nil {
		if len(a.keys) >= adaptiveMaxKeys {
			var oldest string
			var ts int64
			first := true
			for k, v := range a.keys {
				if first || v.Updated < ts {
					oldest, ts, first = k, v.Updated, false
				}
			}
			delete(a.keys, oldest)
		}
		in = &adaptiveInstance{Models: map[string]*adaptiveModel{}}
		a.keys[key] = in
	}
	in.Updated = max(in.Updated, now)
	return in
}

// apply records fc's raw forecasts at the published horizons for scoring
// and replaces all of fc's bounds by the calibrated ones. fc's bounds must
// be the model's own (call it once per forecast, before publishing).
func (a *adaptiveBounds) apply(key string, fc *forecast.Forecast) {
	if a == nil || len(a.horizons) == 0 || a.step <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	in := a.instance(key, fc.Origin.UnixNano())
	m := a.model(in, fc.Model, fc.Origin.UnixNano())
	for i, h := range a.horizons {
		k := int(h / a.step)
		if k < 1 || k > fc.Horizon() || k > len(fc.Lower) || k > len(fc.Upper) {
			continue
		}
		p := adaptivePending{Target: fc.Origin.Add(h).UnixMilli(), Point: fc.Point[k-1], Lower: fc.Lower[k-1], Upper: fc.Upper[k-1]}
		q := m.Pending[i]
		// Keep the queue sorted by target: a backfill may record older
		// forecasts after a live one. One forecast per target.
		j, found := slices.BinarySearchFunc(q, p.Target, func(x adaptivePending, t int64) int { return cmp.Compare(x.Target, t) })
		if found {
			continue
		}
		q = slices.Insert(q, j, p)
		if len(q) > adaptiveMaxPending {
			q = slices.Delete(q, 0, len(q)-adaptiveMaxPending)
		}
		m.Pending[i] = q
	}
	for k := 1; k <= min(fc.Horizon(), len(fc.Lower), len(fc.Upper)); k++ {
		fc.Lower[k-1], fc.Upper[k-1] = m.Cal.Interval(a.slot(k)+1, fc.Point[k-1], fc.Lower[k-1], fc.Upper[k-1])
	}
}

// observe feeds new raw actuals: each recorded forecast whose target lies
// within half a step of an actual is scored with it; recorded forecasts
// whose target passed without an actual are dropped.
func (a *adaptiveBounds) observe(key string, samples []collector.Sample) {
	if a == nil || len(samples) == 0 {
		return
	}
	tol := a.step.Milliseconds() / 2
	a.mu.Lock()
	defer a.mu.Unlock()
	in := a.keys[key]
	if in == nil {
		return
	}
	in.Updated = max(in.Updated, time.UnixMilli(samples[len(samples)-1].T).UnixNano())
	for _, m := range in.Models {
		for i, q := range m.Pending {
			j := 0
			for _, smp := range samples {
				for j < len(q) && q[j].Target < smp.T-tol {
					j++ // expired: no actual near its target
				}
				for j < len(q) && q[j].Target <= smp.T+tol {
					m.Cal.Observe(i+1, smp.V, q[j].Point, q[j].Lower, q[j].Upper)
					j++
				}
			}
			m.Pending[i] = append(q[:0], q[j:]...)
		}
	}
}

// warmFrom wraps the forecaster of a backfill (feedback.Backfill scores a
// new instance's model on its past history) so that the same past
// forecasts also warm the instance's calibrator: each call first feeds the
// samples of the history that are newer than the previous call's, then
// records the raw forecast. The forecast returned is the raw one. Calls
// must come in time order, as Backfill makes them.
func (a *adaptiveBounds) warmFrom(key string, ff feedback.ForecastFunc) feedback.ForecastFunc {
	if a == nil {
		return ff
	}
	var seen time.Time
	return func(h forecast.Series) (forecast.Forecast, error) {
		var fresh []collector.Sample
		for i := h.Len() - 1; i >= 0; i-- {
			t := h.TimeAt(i)
			if !seen.IsZero() && !t.After(seen) {
				break
			}
			if v := h.Values[i]; !math.IsNaN(v) {
				fresh = append(fresh, collector.Sample{T: t.UnixMilli(), V: v})
			}
		}
		slices.Reverse(fresh)
		if h.Len() > 0 {
			seen = h.End()
		}
		a.observe(key, fresh)
		f, err := ff(h)
		if err != nil {
			return f, err
		}
		c := f
		c.Lower, c.Upper = slices.Clone(f.Lower), slices.Clone(f.Upper)
		a.apply(key, &c)
		return f, nil
	}
}

// state returns the calibrator state of an instance's model at a
// published horizon; model "" means the most recently applied one (false
// when there is none).
func (a *adaptiveBounds) state(key, model string, h time.Duration) (forecast.AdaptiveStepState, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	in := a.keys[key]
	if in == nil {
		return forecast.AdaptiveStepState{}, false
	}
	m := in.Models[model]
	if model == "" {
		for _, x := range in.Models {
			if m == nil || x.Used > m.Used {
				m = x
			}
		}
	}
	if m == nil {
		return forecast.AdaptiveStepState{}, false
	}
	for i, x := range a.horizons {
		if x == h {
			return m.Cal.State(i + 1), true
		}
	}
	return forecast.AdaptiveStepState{}, false
}

// adaptiveSnapshot is the persisted form of adaptiveBounds.
type adaptiveSnapshot struct {
	Version  int
	Step     time.Duration
	Horizons []time.Duration
	Keys     []adaptiveSnapshotKey
}

type adaptiveSnapshotKey struct {
	Key     string
	Updated int64
	Models  []adaptiveSnapshotModel // sorted by name
}

type adaptiveSnapshotModel struct {
	Name    string
	Used    int64
	Cal     []byte
	Pending [][]adaptivePending
}

// WriteTo encodes the state (gob; calibrators in their checksummed binary
// form), instances sorted by key.
func (a *adaptiveBounds) WriteTo(w io.Writer) (int64, error) {
	a.mu.Lock()
	snap := adaptiveSnapshot{Version: 2, Step: a.step, Horizons: a.horizons}
	keys := make([]string, 0, len(a.keys))
	for k := range a.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		in := a.keys[k]
		sk := adaptiveSnapshotKey{Key: k, Updated: in.Updated}
		for name, m := range in.Models {
			b, err := m.Cal.MarshalBinary()
			if err != nil {
				a.mu.Unlock()
				return 0, err
			}
			sk.Models = append(sk.Models, adaptiveSnapshotModel{Name: name, Used: m.Used, Cal: b, Pending: m.Pending})
		}
		slices.SortFunc(sk.Models, func(x, y adaptiveSnapshotModel) int { return cmp.Compare(x.Name, y.Name) })
		snap.Keys = append(snap.Keys, sk)
	}
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(snap)
	a.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := w.Write(buf.Bytes())
	return int64(n), err
}

// errAdaptiveMismatch means a snapshot was written for other steps or
// horizons; it is discarded.
var errAdaptiveMismatch = errors.New("adaptive bounds snapshot is for another step or horizons")

// ReadFrom replaces the state with a snapshot written by WriteTo. Nothing
// changes when the snapshot is unreadable, corrupt, or for another step or
// horizons.
func (a *adaptiveBounds) ReadFrom(r io.Reader) (int64, error) {
	cr := &iox.CountingReader{R: r}
	var snap adaptiveSnapshot
	if err := gob.NewDecoder(cr).Decode(&snap); err != nil {
		return cr.N, fmt.Errorf("adaptive bounds: %w", err)
	}
	if snap.Version != 2 {
		return cr.N, fmt.Errorf("adaptive bounds: version %d: %w", snap.Version, forecast.ErrCorruptModel)
	}
	if snap.Step != a.step || len(snap.Horizons) != len(a.horizons) {
		return cr.N, errAdaptiveMismatch
	}
	for i, h := range snap.Horizons {
		if h != a.horizons[i] {
			return cr.N, errAdaptiveMismatch
		}
	}
	keys := make(map[string]*adaptiveInstance, len(snap.Keys))
	for _, k := range snap.Keys {
		in := &adaptiveInstance{Updated: k.Updated, Models: make(map[string]*adaptiveModel, len(k.Models))}
		for _, m := range k.Models {
			cal := &forecast.AdaptiveCalibrator{}
			if err := cal.UnmarshalBinary(m.Cal); err != nil {
				return cr.N, fmt.Errorf("adaptive bounds %q, model %q: %w", k.Key, m.Name, err)
			}
			if cal.Horizon() != len(a.horizons) || len(m.Pending) != len(a.horizons) {
				return cr.N, errAdaptiveMismatch
			}
			in.Models[m.Name] = &adaptiveModel{Used: m.Used, Cal: cal, Pending: m.Pending}
		}
		keys[k.Key] = in
	}
	a.mu.Lock()
	a.keys = keys
	a.mu.Unlock()
	return cr.N, nil
}

// adaptivePath is where the online calibration of a shadow is persisted,
// next to its feedback snapshot, or "".
func (e *Engine) adaptivePath(shadow string) string {
	if e.opts.StateDir == "" {
		return ""
	}
	return filepath.Join(e.opts.StateDir, "bounds-"+shadow+".snapshot")
}

// loadAdaptive restores a shadow's online calibration, if persisted. An
// unreadable or mismatched snapshot is reported and calibration starts
// afresh.
func (e *Engine) loadAdaptive(s *shadowState, a *adaptiveBounds) {
	path := e.adaptivePath(s.opts.Name)
	if path == "" || a == nil {
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		s.logger.Warn("Opening the bounds calibration snapshot failed", "path", path, "err", err)
		return
	}
	defer f.Close()
	if _, err := a.ReadFrom(bufio.NewReader(f)); err != nil {
		s.logger.Warn("Ignoring an unreadable bounds calibration snapshot; calibration starts afresh", "path", path, "err", err)
	}
}

// saveAdaptive writes a shadow's online calibration atomically.
func (e *Engine) saveAdaptive(s *shadowState, a *adaptiveBounds) error {
	path := e.adaptivePath(s.opts.Name)
	if path == "" || a == nil {
		return nil
	}
	var b bytes.Buffer
	if _, err := a.WriteTo(&b); err != nil {
		return err
	}
	return writeAtomic(path, b.Bytes())
}

// adaptiveCoverage is a helper for tests and the status page: the share of
// scores that fell inside the calibrated quantiles, per published horizon.
func (a *adaptiveBounds) adaptiveCoverage(key string) []float64 {
	out := make([]float64, len(a.horizons))
	for i, h := range a.horizons {
		st, ok := a.state(key, "", h)
		out[i] = math.NaN()
		if ok && st.Seen > 0 {
			out[i] = 1 - float64(st.Missed)/float64(st.Seen)
		}
	}
	return out
}
