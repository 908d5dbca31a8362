package collector

import (
	"math"
	"slices"
	"time"
)

// DefaultOutlierWindow is the number of grid points of the rolling window
// used for outlier clipping when CleanOptions.OutlierWindow is 0.
const DefaultOutlierWindow = 31

// confirmPoints is how many observed points must follow a value before it
// may be clipped as an outlier.
const confirmPoints = 3

// CleanOptions controls how raw samples become a regular series.
type CleanOptions struct {
	// MaxGap is the longest run of missing grid points, as a duration
	// (points × step), filled by linear interpolation between the observed
	// neighbours. Longer runs, and runs at either end of the grid, stay NaN.
	// 0 disables filling.
	MaxGap time.Duration
	// OutlierMADs clips an observed value further than this many median
	// absolute deviations from the median of a rolling window centred on it
	// back to that bound. 0 disables clipping.
	OutlierMADs float64
	// OutlierWindow is the width of the rolling window in grid points (made
	// odd; 0 means DefaultOutlierWindow). Near the ends of the grid the window
	// is truncated. Clipping needs at least 5 observed values in the window
	// and a non-zero MAD: a window without spread gives no scale to judge by.
	OutlierWindow int
}

// CleanStats counts what Clean did.
type CleanStats struct {
	Points     int // grid points (n)
	Observed   int // points that had at least one sample in their bucket
	Superseded int // samples dropped because a later one fell in the same bucket
	Outside    int // samples outside the grid's buckets
	Invalid    int // NaN or ±Inf samples ignored
	Filled     int // missing points filled by interpolation
	Missing    int // points left NaN
	Clipped    int // observed points clipped as outliers
}

// Clean puts samples (in time order; counters already turned into rates) on
// the grid start + i·step, i in [0, n). Point i takes the latest sample in
// its bucket (start + (i-1)·step, start + i·step], the value an instant
// PromQL query at that time would see. raw holds those values with NaN where
// a bucket is empty: the observed truth, for error measurement. clean is raw
// with outliers clipped (rolling median ± OutlierMADs·MAD) and then gaps of
// at most MaxGap filled by linear interpolation; longer gaps stay NaN.
func Clean(samples []Sample, start time.Time, step time.Duration, n int, opts CleanOptions) (clean, raw []float64, stats CleanStats) {
	if n <= 0 || step <= 0 {
		return nil, nil, CleanStats{Outside: len(samples)}
	}
	stats.Points = n
	raw = make([]float64, n)
	for i := range raw {
		raw[i] = math.NaN()
	}
	startMs, stepMs := start.UnixMilli(), step.Milliseconds()
	if stepMs <= 0 {
		stepMs = 1
	}
	for _, s := range samples {
		if math.IsNaN(s.V) || math.IsInf(s.V, 0) {
			stats.Invalid++
			continue
		}
		// Bucket i covers (start+(i-1)·step, start+i·step].
		d := s.T - startMs
		i := ceilDiv(d, stepMs)
		if i < 0 || i >= int64(n) {
			stats.Outside++
			continue
		}
		if !math.IsNaN(raw[i]) {
			stats.Superseded++
		}
		raw[i] = s.V
	}
	clean = slices.Clone(raw)
	for _, v := range raw {
		if !math.IsNaN(v) {
			stats.Observed++
		}
	}
	if opts.OutlierMADs > 0 {
		stats.Clipped = clipOutliers(clean, raw, opts.OutlierMADs, opts.OutlierWindow)
	}
	maxPts := 0
	if opts.MaxGap > 0 {
		maxPts = int(opts.MaxGap / step)
	}
	stats.Filled = fillGaps(clean, maxPts)
	for _, v := range clean {
		if math.IsNaN(v) {
			stats.Missing++
		}
	}
	return clean, raw, stats
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}

// clipOutliers clips dst[i] to median ± k·MAD of the observed values of src
// in a window centred on i. It returns how many values it changed.
//
// A point is judged only once confirmPoints observed points follow it:
// whether a jump at the end of the series is a spike or the start of a new
// level is unknown until later samples arrive, and clipping a level shift
// there would hide it from the forecast and from shadowcast_actual.
func clipOutliers(dst, src []float64, k float64, window int) int {
	if window <= 0 {
		window = DefaultOutlierWindow
	}
	half := window / 2
	const minObserved = 5
	n := len(src)
	// sorted holds the observed values of src[lo:hi] in order; it slides
	// with i, one insertion and one deletion per step.
	// after[i] counts the observed points after i (capped at confirmPoints).
	after := make([]int, n)
	for i, c := n-2, 0; i >= 0; i-- {
		if !math.IsNaN(src[i+1]) {
			c = min(c+1, confirmPoints)
		}
		after[i] = c
	}
	var sorted []float64
	lo, hi := 0, 0
	clipped := 0
	for i := range n {
		for hi < n && hi <= i+half {
			if v := src[hi]; !math.IsNaN(v) {
				sorted = insertSorted(sorted, v)
			}
			hi++
		}
		for lo < i-half {
			if v := src[lo]; !math.IsNaN(v) {
				sorted = removeSorted(sorted, v)
			}
			lo++
		}
		v := src[i]
		if math.IsNaN(v) || len(sorted) < minObserved || after[i] < confirmPoints {
			continue
		}
		med := median(sorted)
		mad := madSorted(sorted, med)
		if mad == 0 {
			continue
		}
		upper, lower := med+k*mad, med-k*mad
		switch {
		case v > upper:
			dst[i] = upper
			clipped++
		case v < lower:
			dst[i] = lower
			clipped++
		}
	}
	return clipped
}

func insertSorted(s []float64, v float64) []float64 {
	i, _ := slices.BinarySearch(s, v)
	return slices.Insert(s, i, v)
}

func removeSorted(s []float64, v float64) []float64 {
	i, found := slices.BinarySearch(s, v)
	if !found {
		return s
	}
	return slices.Delete(s, i, i+1)
}

// madSorted returns the median absolute deviation of the sorted, non-empty
// slice s from med. The deviations grow outward from med on both sides, so
// merging the two runs yields them in order without sorting.
func madSorted(s []float64, med float64) float64 {
	n := len(s)
	r, _ := slices.BinarySearch(s, med) // s[r] >= med
	l := r - 1
	var prev, cur float64
	for k := 0; k <= n/2; k++ {
		prev = cur
		if r >= n || (l >= 0 && med-s[l] <= s[r]-med) {
			cur = med - s[l]
			l--
		} else {
			cur = s[r] - med
			r++
		}
	}
	if n%2 == 1 {
		return cur
	}
	return (prev + cur) / 2
}

// median of a sorted, non-empty slice.
func median(s []float64) float64 {
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// fillGaps linearly interpolates runs of at most maxPts NaN values that have
// an observed value on both sides. It returns the number of points filled.
func fillGaps(v []float64, maxPts int) int {
	if maxPts <= 0 {
		return 0
	}
	filled := 0
	prev := -1 // index of the last observed value
	for i, x := range v {
		if math.IsNaN(x) {
			continue
		}
		if gap := i - prev - 1; prev >= 0 && gap > 0 && gap <= maxPts {
			a, b := v[prev], x
			for j := prev + 1; j < i; j++ {
				f := float64(j-prev) / float64(i-prev)
				v[j] = a + (b-a)*f
			}
			filled += gap
		}
		prev = i
	}
	return filled
}
