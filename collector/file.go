package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
)

// FileOptions configures a file replay source.
type FileOptions struct {
	// Shadow is the configured shadow name; it labels the metrics.
	Shadow string
	// Path of a CSV file of `timestamp,value` rows. Ignored when Reader is set.
	Path string
	// Reader supplies the CSV instead of Path (e.g. EmbeddedTrace). It is
	// read to the end by NewFile; the caller closes it.
	Reader io.Reader
	// Labels of the single instance the file describes (may be empty).
	Labels labels.Labels
	// Speedup is how many seconds of trace pass per wall-clock second; it
	// must be positive.
	Speedup float64
	// Loop replays the file again after its end, shifting timestamps by the
	// file's span plus one interval each time, so time keeps increasing.
	Loop bool
	// StartAfter puts the replay cursor this far after the first timestamp
	// when the source is created, so the first Fetch of a history window
	// returns that whole window at once.
	StartAfter time.Duration
	// Clock returns the wall time; nil means time.Now.
	Clock func() time.Time
}

// File replays a CSV trace as if it were live: its clock (Now) is a cursor
// into the trace that advances Speedup times faster than the wall clock.
type File struct {
	opts    FileOptions
	samples []Sample
	first   int64 // first timestamp, ms
	last    int64 // last timestamp, ms
	period  int64 // shift between loops, ms
	start   int64 // cursor when created, ms
	origin  time.Time
	cursorG prometheus.Gauge
}

var _ Source = (*File)(nil)

// NewFile reads the whole CSV and returns a replay source positioned
// opts.StartAfter after its first timestamp.
func NewFile(opts FileOptions, reg prometheus.Registerer, logger *slog.Logger) (*File, error) {
	if opts.Speedup <= 0 || math.IsNaN(opts.Speedup) || math.IsInf(opts.Speedup, 0) {
		return nil, fmt.Errorf("file source %q: speedup %g must be positive", opts.Shadow, opts.Speedup)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	r := opts.Reader
	name := "reader"
	if r == nil {
		if opts.Path == "" {
			return nil, fmt.Errorf("file source %q: path or reader is required", opts.Shadow)
		}
		f, err := os.Open(opts.Path)
		if err != nil {
			return nil, fmt.Errorf("file source %q: %w", opts.Shadow, err)
		}
		defer f.Close()
		r, name = f, opts.Path
	}
	samples, err := ReadCSV(r)
	if err != nil {
		return nil, fmt.Errorf("file source %q: %s: %w", opts.Shadow, name, err)
	}
	f := &File{
		opts:    opts,
		samples: samples,
		first:   samples[0].T,
		last:    samples[len(samples)-1].T,
		origin:  opts.Clock(),
		cursorG: newReplayMetrics(reg).cursor.WithLabelValues(opts.Shadow),
	}
	f.period = f.last - f.first + typicalInterval(samples)
	f.start = f.first + opts.StartAfter.Milliseconds()
	if logger != nil {
		logger.Debug("Trace loaded", "component", "collector", "source", "file", "shadow", opts.Shadow,
			"samples", len(samples), "first", samples[0].Time(), "last", samples[len(samples)-1].Time())
	}
	f.cursorG.Set(float64(f.cursor()) / 1000)
	return f, nil
}

// typicalInterval is the median spacing of the samples (1 minute for a
// single sample).
func typicalInterval(s []Sample) int64 {
	if len(s) < 2 {
		return time.Minute.Milliseconds()
	}
	d := make([]int64, len(s)-1)
	for i := 1; i < len(s); i++ {
		d[i-1] = s[i].T - s[i-1].T
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// Samples returns a copy of the file's samples, as read.
func (f *File) Samples() []Sample { return slices.Clone(f.samples) }

// cursor returns the trace time reached, in ms.
func (f *File) cursor() int64 {
	elapsed := f.opts.Clock().Sub(f.origin)
	c := f.start + int64(float64(elapsed.Milliseconds())*f.opts.Speedup)
	if !f.opts.Loop && c > f.last {
		c = f.last
	}
	return c
}

// Now returns the replay cursor. Without Loop it stops at the last
// timestamp of the file.
func (f *File) Now() time.Time {
	c := f.cursor()
	f.cursorG.Set(float64(c) / 1000)
	return time.UnixMilli(c).UTC()
}

// Done reports whether a replay without Loop has reached the end of the file.
func (f *File) Done() bool { return !f.opts.Loop && f.cursor() >= f.last }

// Fetch returns the trace's samples with from < T <= to that the cursor has
// reached, at the file's own resolution (step is ignored; Clean regularises).
func (f *File) Fetch(_ context.Context, from, to time.Time, _ time.Duration) ([]Series, error) {
	c := f.cursor()
	f.cursorG.Set(float64(c) / 1000)
	lo, hi := from.UnixMilli(), min(to.UnixMilli(), c)
	if hi <= lo {
		return nil, nil
	}
	var out []Sample
	kMax := int64(0)
	if f.opts.Loop {
		kMax = floorDiv(hi-f.first, f.period)
	}
	for k := max(0, floorDiv(lo-f.first, f.period)); k <= kMax; k++ {
		shift := k * f.period
		// Samples of loop k with lo < T+shift <= hi.
		i, _ := slices.BinarySearchFunc(f.samples, lo-shift+1, func(s Sample, t int64) int { return cmpInt(s.T, t) })
		for ; i < len(f.samples) && f.samples[i].T+shift <= hi; i++ {
			out = append(out, Sample{T: f.samples[i].T + shift, V: f.samples[i].V})
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return []Series{{Labels: f.opts.Labels, Samples: out}}, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ReadCSV parses `timestamp,value` rows. The first line is a header when its
// timestamp does not parse. Timestamps are RFC 3339, `YYYY-MM-DD hh:mm:ss`
// (UTC) or unix seconds; they must increase. Rows whose value is NaN are
// skipped (missing). Blank lines are ignored. A malformed row is an error
// naming its line number and content; so is a file without rows.
func ReadCSV(r io.Reader) ([]Sample, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var out []Sample
	lineNo, rows := 0, 0
	prev := int64(math.MinInt64)
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		rows++
		ts, val, ok := strings.Cut(line, ",")
		if !ok || strings.Contains(val, ",") {
			return nil, lineError(lineNo, line, errors.New("want 2 fields: timestamp,value"))
		}
		t, err := parseTimestamp(unquote(ts))
		if err != nil {
			if rows == 1 {
				continue // header
			}
			return nil, lineError(lineNo, line, err)
		}
		v, err := strconv.ParseFloat(unquote(val), 64)
		if err != nil {
			return nil, lineError(lineNo, line, fmt.Errorf("invalid value: %w", err))
		}
		if t <= prev {
			return nil, lineError(lineNo, line, errors.New("timestamp does not increase"))
		}
		prev = t
		if math.IsNaN(v) {
			continue
		}
		out = append(out, Sample{T: t, V: v})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	if len(out) == 0 {
		return nil, errors.New("no valid rows")
	}
	return out, nil
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}

func lineError(n int, line string, err error) error {
	if len(line) > 80 {
		line = line[:80] + "…"
	}
	return fmt.Errorf("line %d %q: %w", n, line, err)
}

// parseTimestamp accepts RFC 3339, `YYYY-MM-DD hh:mm:ss[.fff]` in UTC, and
// unix seconds (possibly fractional). It returns unix milliseconds.
func parseTimestamp(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty timestamp")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "nN") {
		if math.IsInf(f, 0) || math.Abs(f) > 1e13 {
			return 0, fmt.Errorf("unix timestamp %q out of range", s)
		}
		return int64(math.Round(f * 1000)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("invalid timestamp %q (want RFC 3339, YYYY-MM-DD hh:mm:ss or unix seconds)", s)
}
