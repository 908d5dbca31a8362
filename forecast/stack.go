package forecast

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// NameStack is the model name of NewStack's default combination.
const NameStack = "stack"

// StackOptions configures NewStack.
type StackOptions struct {
	// Name is the model name; default NameStack.
	Name string
	// Members are the combined models (at least one).
	Members []Model
	// Window is the number of trailing origins over which the members,
	// fitted on the history before them, are scored to set the initial
	// weights. Zero means max(4·horizon, two days of steps); it is capped
	// so that every member keeps its MinHistory.
	Window int
	// HalfLife is the half-life, in scored forecasts per horizon step, of
	// the exponentially weighted squared errors behind the weights; zero
	// means one day of steps (24 when the step does not divide a day).
	HalfLife int
	// Power sharpens the weights: w ∝ MSE^−Power. Zero means 1.
	Power float64
}

// NewStack returns a per-horizon forecast combination of several models,
// weighted by their recent out-of-sample accuracy.
//
// Fit fits every member on the history without its last Window samples,
// rolls forecast origins through that window (as serving would: Predict
// on the growing history) and scores each member at each horizon step k
// as the actuals arrive; then it refits the members on the whole history
// and keeps the scores. The point forecast at step k is
// Σ_m w_mk·point_mk with w_mk ∝ MSE_mk^−Power, where MSE_mk is the
// exponentially weighted mean squared error of member m at step k (half-life
// HalfLife scored forecasts). Predict keeps scoring: every forecast it
// returns is scored when the history it is later called with reaches the
// target, so the weights follow which member is currently right (e.g.
// a smoothing model after a level shift, a learned one on regular days).
// The bounds are the same weighted mean of the members' bounds; wrap the
// predictor's output in an AdaptiveCalibrator to calibrate them online.
//
// A member whose Fit fails for lack of data is left out; when every member
// fails, Fit returns ErrNotEnoughData.
func NewStack(opts StackOptions) Model { return &stack{opts: opts} }

type stack struct{ opts StackOptions }

func (m *stack) Name() string {
	if m.opts.Name != "" {
		return m.opts.Name
	}
	return NameStack
}

// MinHistory is the largest member MinHistory plus MinCalibrationErrors
// scoring origins.
func (m *stack) MinHistory(step time.Duration) int {
	need := 0
	for _, mb := range m.opts.Members {
		need = max(need, MinHistory(mb, step))
	}
	return need + MinCalibrationErrors
}

func (m *stack) Fit(s Series, spec Spec) (Predictor, error) {
	if spec.Horizon < 1 || !(spec.Level > 0 && spec.Level < 1) {
		return nil, fmt.Errorf("%s: horizon %d level %v: %w", m.Name(), spec.Horizon, spec.Level, errBadSpec)
	}
	if len(m.opts.Members) == 0 {
		return nil, fmt.Errorf("%s: no members: %w", m.Name(), errBadSpec)
	}
	n := s.Len()
	day := seasonOrDefault(s.Step)
	w := m.opts.Window
	if w <= 0 {
		w = max(4*spec.Horizon, 2*day)
	}
	need := 0
	for _, mb := range m.opts.Members {
		need = max(need, MinHistory(mb, s.Step))
	}
	w = min(w, n-need)
	if w < MinCalibrationErrors {
		return nil, fmt.Errorf("%s: %d samples leave %d scoring origins, need %d: %w", m.Name(), n, max(w, 0), MinCalibrationErrors, ErrNotEnoughData)
	}
	halfLife := m.opts.HalfLife
	if halfLife <= 0 {
		halfLife = day
	}
	power := m.opts.Power
	if power <= 0 {
		power = 1
	}
	start := n - w
	p := &stackPredictor{
		name: m.Name(), horizon: spec.Horizon, power: power,
		decay: math.Pow(0.5, 1/float64(halfLife)),
	}
	head := s.Slice(0, start)
	var names []string
	for _, mb := range m.opts.Members {
		pr, err := mb.Fit(head, spec)
		if errors.Is(err, ErrNotEnoughData) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: member %s: %w", m.Name(), mb.Name(), err)
		}
		p.members = append(p.members, pr)
		p.models = append(p.models, mb)
		names = append(names, mb.Name())
	}
	if len(p.members) == 0 {
		return nil, fmt.Errorf("%s: no member could be fitted on %d samples: %w", m.Name(), start, ErrNotEnoughData)
	}
	p.mse = make([][]float64, len(p.members))
	p.wsum = make([][]float64, len(p.members))
	for i := range p.members {
		p.mse[i] = make([]float64, spec.Horizon)
		p.wsum[i] = make([]float64, spec.Horizon)
	}
	for o := start; o <= n; o++ {
		if _, err := p.Predict(s.Slice(0, o)); err != nil {
			return nil, fmt.Errorf("%s: scoring at origin %d: %w", m.Name(), o, err)
		}
	}
	// Refit on the whole history; the scores carry over.
	for i, mb := range p.models {
		pr, err := mb.Fit(s, spec)
		if err != nil {
			return nil, fmt.Errorf("%s: refit of member %s: %w", m.Name(), names[i], err)
		}
		p.members[i] = pr
	}
	p.pending = p.pending[:0]
	p.last = time.Time{}
	return p, nil
}

// stackPredictor combines fitted members with online weights.
type stackPredictor struct {
	name    string
	horizon int
	power   float64
	decay   float64
	models  []Model
	members []Predictor
	// mse[i][k] / wsum[i][k] is member i's weighted MSE at step k+1.
	mse, wsum [][]float64
	pending   []stackPending
	last      time.Time // end of the history last seen
}

// stackPending is a forecast waiting for its actuals.
type stackPending struct {
	origin time.Time
	next   int         // next step to score (1-based)
	points [][]float64 // per member
}

// Weights returns the current weight of each member at step k (1-based).
func (p *stackPredictor) Weights(k int) []float64 {
	k = min(max(k, 1), p.horizon)
	w := make([]float64, len(p.members))
	p.weights(k-1, w)
	return w
}

func (p *stackPredictor) weights(k int, w []float64) {
	sum := 0.0
	for i := range p.members {
		w[i] = 1
		if p.wsum[i][k] > 0 {
			mse := p.mse[i][k] / p.wsum[i][k]
			w[i] = math.Pow(max(mse, 1e-12), -p.power)
		}
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
}

// score feeds the actuals of s to the pending forecasts.
func (p *stackPredictor) score(s Series) {
	if s.Len() == 0 {
		return
	}
	end := s.End()
	keep := p.pending[:0]
	for _, pd := range p.pending {
		for ; pd.next <= p.horizon; pd.next++ {
			t := pd.origin.Add(time.Duration(pd.next) * s.Step)
			if t.After(end) {
				break
			}
			d := t.Sub(s.Start)
			if d < 0 || d%s.Step != 0 {
				continue
			}
			y := s.Values[int(d/s.Step)]
			if math.IsNaN(y) {
				continue
			}
			k := pd.next - 1
			for i := range p.members {
				f := pd.points[i][k]
				if math.IsNaN(f) {
					continue
				}
				e := y - f
				p.mse[i][k] = p.decay*p.mse[i][k] + e*e
				p.wsum[i][k] = p.decay*p.wsum[i][k] + 1
			}
		}
		if pd.next <= p.horizon {
			keep = append(keep, pd)
		}
	}
	p.pending = keep
}

func (p *stackPredictor) Predict(s Series) (Forecast, error) {
	if s.Len() == 0 {
		return Forecast{}, fmt.Errorf("%s: empty history: %w", p.name, ErrNotEnoughData)
	}
	if end := s.End(); end.After(p.last) {
		p.score(s)
		p.last = end
	}
	out := Forecast{Model: p.name, Origin: s.End(), Step: s.Step,
		Point: make([]float64, p.horizon), Lower: make([]float64, p.horizon), Upper: make([]float64, p.horizon)}
	pd := stackPending{origin: s.End(), next: 1, points: make([][]float64, len(p.members))}
	w := make([]float64, len(p.members))
	fcs := make([]Forecast, len(p.members))
	for i, mb := range p.members {
		f, err := mb.Predict(s)
		if err != nil {
			return Forecast{}, fmt.Errorf("%s: member %d: %w", p.name, i, err)
		}
		if len(f.Point) < p.horizon || len(f.Lower) < p.horizon || len(f.Upper) < p.horizon {
			return Forecast{}, fmt.Errorf("%s: member %d returned %d steps, want %d", p.name, i, len(f.Point), p.horizon)
		}
		fcs[i] = f
		pd.points[i] = slices.Clone(f.Point[:p.horizon])
	}
	for k := range p.horizon {
		p.weights(k, w)
		var pt, lo, hi, ws float64
		for i, f := range fcs {
			if math.IsNaN(f.Point[k]) || math.IsNaN(f.Lower[k]) || math.IsNaN(f.Upper[k]) {
				continue
			}
			pt += w[i] * f.Point[k]
			lo += w[i] * f.Lower[k]
			hi += w[i] * f.Upper[k]
			ws += w[i]
		}
		if ws == 0 {
			out.Point[k], out.Lower[k], out.Upper[k] = math.NaN(), math.NaN(), math.NaN()
			continue
		}
		out.Point[k], out.Lower[k], out.Upper[k] = pt/ws, lo/ws, hi/ws
	}
	// Keep at most one pending forecast per origin.
	if n := len(p.pending); n == 0 || !p.pending[n-1].origin.Equal(pd.origin) {
		p.pending = append(p.pending, pd)
	}
	if len(p.pending) > 4*p.horizon+16 {
		p.pending = slices.Delete(p.pending, 0, len(p.pending)-(4*p.horizon+16))
	}
	return out, nil
}

// Describe returns "member=weight" pairs at step k, for logs and tests.
func (p *stackPredictor) Describe(k int) string {
	w := p.Weights(k)
	parts := make([]string, len(w))
	for i, x := range w {
		parts[i] = fmt.Sprintf("%s=%.2f", p.models[i].Name(), x)
	}
	return strings.Join(parts, " ")
}
