package shadow

import (
	"sort"
	"time"

	"github.com/shadowcast/shadowcast/collector"
)

// cleanCache keeps an instance's cleaned history window between steps, so a
// step re-cleans only the newest points instead of the whole window: the
// cost per step is O(new points + outlier window), not O(history).
//
// Cleaning is local: a point's clipped value depends on the raw values
// within half an outlier window of it (and on confirmation by later
// points), and gap filling on the observed neighbours within MaxGap. So
// recomputing the last `tail` points with enough context before them gives
// exactly what a full Clean would (TestIncrementalCleanMatchesFull).
type cleanCache struct {
	buf   []float64 // window is buf[off : off+n]
	off   int
	n     int
	start time.Time
	step  time.Duration
	opts  collector.CleanOptions
	valid bool
}

// cleaned returns the cleaned window of n points from start (reusing the
// cache's buffer: valid until the next call). inst.mu must be held.
func (inst *instance) cleaned(start time.Time, step time.Duration, n int, opts collector.CleanOptions) []float64 {
	c := &inst.cc
	window := opts.OutlierWindow
	if window <= 0 {
		window = collector.DefaultOutlierWindow
	}
	gap := int(opts.MaxGap / step)
	// Points whose clean value may still change once newer samples arrive,
	// and the context a recomputation needs before them.
	tail := window + gap + 8
	ctx := window/2 + gap + 2
	if c.valid && !inst.dirty && c.step == step && c.opts == opts && c.n == n && !start.Before(c.start) {
		shift := int(start.Sub(c.start) / step)
		from := n - tail - shift // first point to recompute
		if start.Equal(c.start.Add(time.Duration(shift)*step)) && from-ctx >= 0 {
			if c.off+shift+n > len(c.buf) {
				copy(c.buf, c.buf[c.off:c.off+n])
				c.off = 0
			}
			c.off += shift
			c.start = start
			segStart := start.Add(time.Duration(from-ctx) * step)
			seg, _, _ := collector.Clean(inst.samplesAfter(segStart.Add(-step)), segStart, step, n-from+ctx, opts)
			copy(c.buf[c.off+from:c.off+n], seg[ctx:])
			return c.buf[c.off : c.off+n]
		}
	}
	clean, _, _ := collector.Clean(inst.raw, start, step, n, opts)
	if cap(c.buf) < 2*n {
		c.buf = make([]float64, 2*n)
	}
	c.buf = c.buf[:2*n]
	copy(c.buf, clean)
	*c = cleanCache{buf: c.buf, n: n, start: start, step: step, opts: opts, valid: true}
	inst.dirty = false
	return c.buf[:n]
}

// samplesAfter returns the raw samples later than t. inst.mu must be held.
func (inst *instance) samplesAfter(t time.Time) []collector.Sample {
	ms := t.UnixMilli()
	i := sort.Search(len(inst.raw), func(i int) bool { return inst.raw[i].T > ms })
	return inst.raw[i:]
}
