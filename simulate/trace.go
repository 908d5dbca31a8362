package simulate

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
)

// MaxTraceSamples bounds the length of a trace after regularisation.
const MaxTraceSamples = 5_000_000

var timeLayouts = []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04"}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if sec, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(sec*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("unrecognised timestamp %q", s)
}

// ReadCSV reads a `timestamp,value` trace (the NAB format: a header line,
// timestamps as "2006-01-02 15:04:05" in UTC, RFC 3339 or Unix seconds)
// into a regular series. The step is the most frequent positive interval
// between consecutive rows unless step is positive; samples are placed on
// that grid (rounded to the nearest slot, later rows win) and slots
// without a row are NaN (missing).
func ReadCSV(r io.Reader, step time.Duration) (forecast.Series, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var ts []time.Time
	var vs []float64
	line := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return forecast.Series{}, fmt.Errorf("read trace: %w", err)
		}
		if len(rec) < 2 {
			return forecast.Series{}, fmt.Errorf("read trace: line %d: want timestamp,value", line)
		}
		t, err := parseTime(rec[0])
		if err != nil {
			if line == 1 {
				continue // header
			}
			return forecast.Series{}, fmt.Errorf("read trace: line %d: %w", line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return forecast.Series{}, fmt.Errorf("read trace: line %d: value %q: %w", line, rec[1], err)
		}
		ts = append(ts, t)
		vs = append(vs, v)
	}
	if len(ts) < 2 {
		return forecast.Series{}, errors.New("read trace: fewer than two samples")
	}
	idx := make([]int, len(ts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ts[idx[a]].Before(ts[idx[b]]) })
	if step <= 0 {
		counts := map[time.Duration]int{}
		for i := 1; i < len(idx); i++ {
			if d := ts[idx[i]].Sub(ts[idx[i-1]]); d > 0 {
				counts[d]++
			}
		}
		best := 0
		for d, c := range counts {
			if c > best || (c == best && d < step) {
				step, best = d, c
			}
		}
		if step <= 0 {
			return forecast.Series{}, errors.New("read trace: all timestamps are equal")
		}
	}
	start := ts[idx[0]]
	n := int(ts[idx[len(idx)-1]].Sub(start)/step) + 1
	if n > MaxTraceSamples {
		return forecast.Series{}, fmt.Errorf("read trace: %d samples at step %v exceed the limit of %d", n, step, MaxTraceSamples)
	}
	s := forecast.Series{Start: start, Step: step, Values: make([]float64, n)}
	for i := range s.Values {
		s.Values[i] = math.NaN()
	}
	for _, i := range idx {
		d := ts[i].Sub(start)
		slot := int((d + step/2) / step)
		if slot >= 0 && slot < n {
			s.Values[slot] = vs[i]
		}
	}
	return s, nil
}

// ReadWide reads a wide trace with one row per function and columns
// minute_1 … minute_N (the Azure Functions 2019 invocation format; other
// leading columns are ignored) and returns the per-minute sum over the top
// rows by total volume (top ≤ 0: all rows). start is the time of minute_1.
func ReadWide(r io.Reader, start time.Time, top int) (forecast.Series, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return forecast.Series{}, fmt.Errorf("read wide trace header: %w", err)
	}
	var cols []int // column index of minute_i, in order of i
	for j, h := range header {
		if m, ok := strings.CutPrefix(strings.TrimSpace(h), "minute_"); ok {
			k, err := strconv.Atoi(m)
			if err != nil || k != len(cols)+1 {
				return forecast.Series{}, fmt.Errorf("read wide trace: unexpected column %q", h)
			}
			cols = append(cols, j)
		}
	}
	if len(cols) < 2 {
		return forecast.Series{}, errors.New("read wide trace: no minute_N columns")
	}
	var rows [][]float64
	var totals []float64
	line := 1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return forecast.Series{}, fmt.Errorf("read wide trace: %w", err)
		}
		row := make([]float64, len(cols))
		sum := 0.0
		for i, j := range cols {
			if j >= len(rec) {
				return forecast.Series{}, fmt.Errorf("read wide trace: line %d has %d columns", line, len(rec))
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[j]), 64)
			if err != nil {
				return forecast.Series{}, fmt.Errorf("read wide trace: line %d column %q: %w", line, header[j], err)
			}
			row[i] = v
			sum += v
		}
		rows = append(rows, row)
		totals = append(totals, sum)
	}
	if len(rows) == 0 {
		return forecast.Series{}, errors.New("read wide trace: no rows")
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return totals[order[a]] > totals[order[b]] })
	if top > 0 && top < len(order) {
		order = order[:top]
	}
	s := forecast.Series{Start: start, Step: time.Minute, Values: make([]float64, len(cols))}
	for _, i := range order {
		for k, v := range rows[i] {
			s.Values[k] += v
		}
	}
	return s, nil
}
