package forecast

import "math"

// Naive2 accuracy on the M4 Hourly subset, the denominators of the official
// M4 OWA for hourly data.
const (
	M4HourlyNaive2SMAPE = 18.383
	M4HourlyNaive2MASE  = 2.395
)

// Score summarises the accuracy of a model over a set of forecasts. Point
// errors follow the official M4 definitions; interval metrics are at the
// nominal Level of the forecasts.
type Score struct {
	// Model is the model's name.
	Model string
	// SMAPE is the symmetric MAPE in percent (0–200).
	SMAPE float64
	// MASE is the mean absolute scaled error.
	MASE float64
	// Coverage is the share of actuals inside [Lower, Upper].
	Coverage float64
	// Width is the mean interval width divided by the MASE scale.
	Width float64
	// N is the number of forecast values scored.
	N int
	// Err is set when the model could not be scored (e.g. it failed to fit).
	Err error
}

// SMAPE returns the symmetric mean absolute percentage error of pred
// against actual, in percent, as defined for the M4 competition:
//
//	sMAPE = (200/h) Σ |y−ŷ| / (|y|+|ŷ|)
//
// A term where y and ŷ are both zero counts as zero error. Pairs with a NaN
// are skipped; the result is NaN when no pair is left.
func SMAPE(actual, pred []float64) float64 {
	var sum float64
	n := 0
	for i := range min(len(actual), len(pred)) {
		y, f := actual[i], pred[i]
		if math.IsNaN(y) || math.IsNaN(f) {
			continue
		}
		n++
		if d := math.Abs(y) + math.Abs(f); d > 0 {
			sum += math.Abs(y-f) / d
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return 200 * sum / float64(n)
}

// MASEScale returns the M4 MASE denominator of a training series: the mean
// of |y_t − y_{t−m}| over the whole series. Pairs with a NaN are skipped.
// When the series is not longer than m, m falls back to 1. It returns NaN
// when no pair is available.
func MASEScale(train []float64, m int) float64 {
	if m < 1 || len(train) <= m {
		m = 1
	}
	var sum float64
	n := 0
	for t := m; t < len(train); t++ {
		a, b := train[t], train[t-m]
		if math.IsNaN(a) || math.IsNaN(b) {
			continue
		}
		sum += math.Abs(a - b)
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// MAE returns the mean absolute error, skipping pairs with a NaN (NaN when
// none is left).
func MAE(actual, pred []float64) float64 {
	var sum float64
	n := 0
	for i := range min(len(actual), len(pred)) {
		y, f := actual[i], pred[i]
		if math.IsNaN(y) || math.IsNaN(f) {
			continue
		}
		sum += math.Abs(y - f)
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// MASE returns the mean absolute error of pred divided by scale (see
// MASEScale).
func MASE(actual, pred []float64, scale float64) float64 {
	return MAE(actual, pred) / scale
}

// OWA returns the M4 overall weighted average of a method's sMAPE and MASE
// relative to the Naive2 benchmark:
//
//	OWA = ½ (sMAPE/sMAPE_Naive2 + MASE/MASE_Naive2)
//
// For M4 Hourly use M4HourlyNaive2SMAPE and M4HourlyNaive2MASE.
func OWA(smape, mase, naive2SMAPE, naive2MASE float64) float64 {
	return (smape/naive2SMAPE + mase/naive2MASE) / 2
}

// Coverage returns the share of actuals that fall inside [lower, upper]
// (bounds included). Triples with a NaN are skipped; NaN when none is left.
func Coverage(actual, lower, upper []float64) float64 {
	in, n := 0, 0
	for i := range min(len(actual), len(lower), len(upper)) {
		y, lo, hi := actual[i], lower[i], upper[i]
		if math.IsNaN(y) || math.IsNaN(lo) || math.IsNaN(hi) {
			continue
		}
		n++
		if y >= lo && y <= hi {
			in++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return float64(in) / float64(n)
}

// ScaledWidth returns the mean interval width divided by scale (the MASE
// scale of the series), so widths are comparable across series. Pairs with
// a NaN are skipped.
func ScaledWidth(lower, upper []float64, scale float64) float64 {
	var sum float64
	n := 0
	for i := range min(len(lower), len(upper)) {
		lo, hi := lower[i], upper[i]
		if math.IsNaN(lo) || math.IsNaN(hi) {
			continue
		}
		sum += hi - lo
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n) / scale
}
