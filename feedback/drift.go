package feedback

import "math"

// Defaults of PageHinkleyOptions, chosen on the synthetic tests in
// drift_test.go (scaled errors of a well-specified model have mean ≈ 0.8
// and a standard deviation ≈ 0.6).
const (
	DefaultPHDelta      = 0.1
	DefaultPHLambda     = 25
	DefaultPHMinSamples = 30
	DefaultPHClip       = 5
)

// PageHinkleyOptions configures the Page–Hinkley test run on the scaled
// absolute errors x = |actual − point| / scale of each instance and horizon.
//
// Upward test (the default): m_t = Σ (x_i − x̄_i − δ), M_t = min m_t; alarm
// when m_t − M_t > λ. With TwoSided, the mirrored test on a drop of the
// errors also alarms (useful to learn that a model became much better than
// its calibration assumes).
type PageHinkleyOptions struct {
	// Delta is the magnitude of change tolerated (in scale units). Default 0.1.
	Delta float64
	// Lambda is the alarm threshold. Default 25.
	Lambda float64
	// MinSamples is the number of scaled errors needed before an alarm may
	// fire. Default 30.
	MinSamples int
	// Clip caps each scaled error so that a single burst cannot alarm on
	// its own. Default 5; negative disables clipping.
	Clip float64
	// TwoSided also alarms on a sustained decrease of the errors.
	TwoSided bool
}

func (o *PageHinkleyOptions) setDefaults() {
	if o.Delta <= 0 {
		o.Delta = DefaultPHDelta
	}
	if o.Lambda <= 0 {
		o.Lambda = DefaultPHLambda
	}
	if o.MinSamples <= 0 {
		o.MinSamples = DefaultPHMinSamples
	}
	if o.Clip == 0 {
		o.Clip = DefaultPHClip
	}
}

// PageHinkley is the state of one Page–Hinkley test. The zero value is
// ready to use; pass options with defaults applied (see
// PageHinkleyOptions; NewTracker applies them).
type PageHinkley struct {
	N         int
	Mean      float64
	Up, UpMin float64 // cumulative upward statistic and its minimum
	Dn, DnMax float64 // cumulative downward statistic and its maximum
	Statistic float64 // value of the statistic that alarmed (or the latest)
	Alarm     bool
	Direction string // "increase" or "decrease" once alarmed
}

// Add feeds one scaled error and reports whether the test is in alarm.
// An alarm latches until Reset.
func (p *PageHinkley) Add(x float64, o PageHinkleyOptions) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return p.Alarm
	}
	if o.Clip > 0 && x > o.Clip {
		x = o.Clip
	}
	p.N++
	p.Mean += (x - p.Mean) / float64(p.N)
	p.Up += x - p.Mean - o.Delta
	p.UpMin = math.Min(p.UpMin, p.Up)
	p.Dn += x - p.Mean + o.Delta
	p.DnMax = math.Max(p.DnMax, p.Dn)
	if p.Alarm {
		return true
	}
	up := p.Up - p.UpMin
	dn := p.DnMax - p.Dn
	p.Statistic = up
	if p.N < o.MinSamples {
		return false
	}
	switch {
	case up > o.Lambda:
		p.Alarm, p.Direction, p.Statistic = true, "increase", up
	case o.TwoSided && dn > o.Lambda:
		p.Alarm, p.Direction, p.Statistic = true, "decrease", dn
	}
	return p.Alarm
}

// Reset restarts the test.
func (p *PageHinkley) Reset() { *p = PageHinkley{} }
