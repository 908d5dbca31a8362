package backtest

import (
	"fmt"
	"slices"

	"github.com/shadowcast/shadowcast/forecast"
)

// Calibration modes of the rolling backtest.
const (
	// CalibrationStatic keeps each method's own bounds.
	CalibrationStatic = "static"
	// CalibrationRolling recalibrates the bounds online with a conformal
	// quantile over a rolling window of realised scores (no ACI).
	CalibrationRolling = "rolling"
	// CalibrationAdaptive adds adaptive conformal inference to the rolling
	// window (forecast.AdaptiveCalibrator with its default step size).
	CalibrationAdaptive = "adaptive"
)

// CalibrationModes lists the valid RollingOptions.Calibration values.
var CalibrationModes = []string{CalibrationAdaptive, CalibrationRolling, CalibrationStatic}

// adaptiveOptions returns the calibrator options of a mode (ok false for
// static).
func adaptiveOptions(mode string, base forecast.AdaptiveOptions, level float64) (forecast.AdaptiveOptions, bool, error) {
	base.Level = level
	switch mode {
	case "", CalibrationStatic:
		return base, false, nil
	case CalibrationRolling:
		base.Gamma = -1
		return base, true, nil
	case CalibrationAdaptive:
		return base, true, nil
	}
	return base, false, fmt.Errorf("calibration %q: want one of %v", mode, CalibrationModes)
}

// CalibrateOnline replays the forecasts of a rolling backtest in time
// order through a fresh forecast.AdaptiveCalibrator, as serving would:
// before the forecast at an origin is calibrated, every earlier forecast
// whose target time is at or before that origin (and only those: no
// look-ahead) has fed its realised error at that step. The point forecasts
// are unchanged; the returned traces carry the calibrated bounds (the
// input is not modified). fcs must be sorted by Origin.
func CalibrateOnline(s forecast.Series, fcs []RollingTrace, horizon int, opts forecast.AdaptiveOptions) []RollingTrace {
	cal := forecast.NewAdaptiveCalibrator(horizon, opts)
	out := make([]RollingTrace, len(fcs))
	next := make([]int, horizon+1) // per step k: next trace to feed
	for i, tr := range fcs {
		for k := 1; k <= horizon; k++ {
			for j := next[k]; j < i; j++ {
				t := fcs[j].Origin + k
				if t > tr.Origin {
					break
				}
				f := fcs[j].Forecast
				if k <= len(f.Point) && t < s.Len() {
					cal.Observe(k, s.Values[t], f.Point[k-1], f.Lower[k-1], f.Upper[k-1])
				}
				next[k] = j + 1
			}
		}
		f := tr.Forecast
		f.Lower, f.Upper = slices.Clone(f.Lower), slices.Clone(f.Upper)
		cal.Apply(&f)
		out[i] = RollingTrace{Origin: tr.Origin, Forecast: f}
	}
	return out
}
