package shadow

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/shadowcast/shadowcast"
	"github.com/shadowcast/shadowcast/forecast"
)

// Lookup returns the published values at horizon of the instances of shadow
// whose source labels contain every pair in match. It returns
// shadowcast.ErrUnknownShadow, ErrUnknownHorizon, or ErrNoForecast when no
// matching instance has a forecast yet.
func (e *Engine) Lookup(shadow string, match map[string]string, horizon time.Duration) ([]shadowcast.Value, error) {
	s := e.get(shadow)
	if s == nil {
		return nil, fmt.Errorf("%w: %q", shadowcast.ErrUnknownShadow, shadow)
	}
	k := -1
	for _, h := range s.opts.Horizons {
		if h == horizon {
			k = int(h / s.opts.Step)
		}
	}
	if k < 0 {
		return nil, fmt.Errorf("%w: %q has no horizon %s", shadowcast.ErrUnknownHorizon, shadow, horizon)
	}
	s.mu.Lock()
	insts := s.sortedInstances()
	s.mu.Unlock()
	var out []shadowcast.Value
	for _, inst := range insts {
		if !matches(inst.labels, match) {
			continue
		}
		p := inst.published()
		if p == nil || k > p.fc.Horizon() {
			continue
		}
		out = append(out, p.value(shadow, inst.labels, horizon, k))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: shadow %q, labels %v", shadowcast.ErrNoForecast, shadow, match)
	}
	return out, nil
}

func matches(lset labels.Labels, match map[string]string) bool {
	for k, v := range match {
		if lset.Get(k) != v {
			return false
		}
	}
	return true
}

func (p *published) value(shadow string, lset labels.Labels, h time.Duration, k int) shadowcast.Value {
	peak, peakUpper := p.fc.Peak(k)
	return shadowcast.Value{
		Shadow:     shadow,
		Labels:     lset.Map(),
		Horizon:    h,
		Point:      p.fc.Point[k-1],
		Lower:      p.fc.Lower[k-1],
		Upper:      p.fc.Upper[k-1],
		Peak:       peak,
		PeakUpper:  peakUpper,
		Actual:     p.actual,
		Confidence: p.confidence,
		Model:      p.model,
		Reason:     p.reasonLabel(),
		At:         p.fc.Origin,
		Updated:    p.updated,
	}
}

// reasonLabel is the reason published in shadowcast_model_info.
func (p *published) reasonLabel() string {
	if p.sourceErr {
		return ReasonSourceError
	}
	return p.reason
}

// ShadowStatus describes one shadow for the status page and readiness.
type ShadowStatus struct {
	Name       string
	Step       time.Duration
	History    time.Duration
	Horizons   []time.Duration
	Confidence float64
	Model      string // configured model
	Fetched    time.Time
	Err        string // last source error, empty when the last read succeeded
	Instances  []InstanceStatus
}

// InstanceStatus is the published state of one shadow instance.
type InstanceStatus struct {
	Labels    labels.Labels
	Model     string
	Reason    string
	TrainedAt time.Time
	Updated   time.Time
	Actual    float64
	Forecast  forecast.Forecast
	// History is the recent raw history (for plots), oldest first.
	History []float64
	// HistoryStart is the time of History[0].
	HistoryStart time.Time
	// Past holds, per horizon, the forecasts made earlier for recent
	// times (filled when history > 0).
	Past map[time.Duration][]PastPoint
	// Errors summarises the realised error per horizon (empty until scored).
	Errors string
}

// Snapshot returns the state of every shadow, sorted by name. With
// history > 0 each instance carries up to that many recent raw samples on
// the shadow's step grid.
func (e *Engine) Snapshot(history int) []ShadowStatus {
	states := e.list()
	out := make([]ShadowStatus, 0, len(states))
	for _, s := range states {
		name := s.opts.Name
		s.mu.Lock()
		st := ShadowStatus{
			Name: name, Step: s.opts.Step, History: s.opts.History, Horizons: s.opts.Horizons,
			Confidence: s.opts.Confidence, Model: s.opts.Model, Fetched: s.fetched,
		}
		if s.err != nil {
			st.Err = s.err.Error()
		}
		insts := s.sortedInstances()
		s.mu.Unlock()
		for _, inst := range insts {
			is := InstanceStatus{Labels: inst.labels, Actual: math.NaN()}
			if p := inst.published(); p != nil {
				is.Model, is.Reason, is.TrainedAt, is.Updated = p.model, p.reasonLabel(), p.trainedAt, p.updated
				is.Actual, is.Forecast = p.actual, p.fc
			}
			is.Errors = s.errorSummary(inst.key)
			if history > 0 {
				is.HistoryStart, is.History = inst.recent(s.opts.Step, history)
				is.Past = inst.pastPoints()
			}
			st.Instances = append(st.Instances, is)
		}
		out = append(out, st)
	}
	return out
}

func (inst *instance) pastPoints() map[time.Duration][]PastPoint {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	out := make(map[time.Duration][]PastPoint, len(inst.past))
	for h, r := range inst.past {
		out[h] = r.points()
	}
	return out
}

// recent returns up to n raw values on the step grid ending at the last
// sample (NaN where no sample fell).
func (inst *instance) recent(step time.Duration, n int) (time.Time, []float64) {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if len(inst.raw) == 0 {
		return time.Time{}, nil
	}
	end := time.UnixMilli(inst.raw[len(inst.raw)-1].T).Truncate(step)
	start := end.Add(-time.Duration(n-1) * step)
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = math.NaN()
	}
	from := sort.Search(len(inst.raw), func(i int) bool { return inst.raw[i].T >= start.UnixMilli() })
	for _, smp := range inst.raw[from:] {
		i := int(time.UnixMilli(smp.T).Sub(start) / step)
		if i >= 0 && i < n {
			vals[i] = smp.V
		}
	}
	return start, vals
}

// Ready reports whether every shadow serves a forecast for each of its
// instances or has a stated reason not to (source error, no data yet is
// not ready). It returns the names of shadows that are not ready.
func (e *Engine) Ready() (bool, []string) {
	var waiting []string
	for _, s := range e.list() {
		name := s.opts.Name
		s.mu.Lock()
		insts := s.sortedInstances()
		hasErr := s.err != nil
		s.mu.Unlock()
		if hasErr {
			continue // stated reason: source_error
		}
		ok := len(insts) > 0
		for _, inst := range insts {
			if inst.published() == nil {
				ok = false
				break
			}
		}
		if !ok {
			waiting = append(waiting, name)
		}
	}
	return len(waiting) == 0, waiting
}
