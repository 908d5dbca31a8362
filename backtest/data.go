// Package backtest evaluates forecasting methods on real data: the M4
// Hourly competition set and any `timestamp,value` CSV (NAB format), by
// rolling-origin backtests with the official M4 accuracy formulas.
//
// It owns the data loading (file I/O); the models and the scoring are
// pure computations of package forecast.
package backtest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
)

// M4 Hourly constants.
const (
	M4Horizon = 48
	M4Period  = 24
)

// M4Series is one series of the M4 Hourly set.
type M4Series struct {
	ID    string
	Train []float64
	Test  []float64
}

// LoadM4 reads Hourly-train.csv and Hourly-test.csv from dir. limit > 0
// keeps the first limit series.
func LoadM4(dir string, limit int) ([]M4Series, error) {
	train, err := readM4File(filepath.Join(dir, "Hourly-train.csv"), limit)
	if err != nil {
		return nil, err
	}
	test, err := readM4File(filepath.Join(dir, "Hourly-test.csv"), limit)
	if err != nil {
		return nil, err
	}
	if len(train) != len(test) {
		return nil, fmt.Errorf("m4: %d train series but %d test series", len(train), len(test))
	}
	out := make([]M4Series, len(train))
	for i := range train {
		if train[i].id != test[i].id {
			return nil, fmt.Errorf("m4: series %d is %s in train but %s in test", i+1, train[i].id, test[i].id)
		}
		out[i] = M4Series{ID: train[i].id, Train: train[i].values, Test: test[i].values}
	}
	return out, nil
}

// M4Validation returns the validation split of the M4 series: the last
// M4Horizon values of each training part become the test part. Use it to
// tune methods without looking at the test set.
func M4Validation(data []M4Series) []M4Series {
	out := make([]M4Series, len(data))
	for i, d := range data {
		n := len(d.Train) - M4Horizon
		out[i] = M4Series{ID: d.ID, Train: d.Train[:n:n], Test: d.Train[n:]}
	}
	return out
}

type m4Row struct {
	id     string
	values []float64
}

func readM4File(path string, limit int) ([]m4Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("m4: %w", err)
	}
	defer f.Close()
	rows, err := parseM4(f, limit)
	if err != nil {
		return nil, fmt.Errorf("m4: %s: %w", path, err)
	}
	return rows, nil
}

// parseM4 parses an M4 file: a header row, then rows of an id followed by
// values, padded with empty fields.
func parseM4(r io.Reader, limit int) ([]m4Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	if _, err := cr.Read(); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var rows []m4Row
	for limit <= 0 || len(rows) < limit {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) < 2 {
			return nil, fmt.Errorf("line %d: no values", line)
		}
		row := m4Row{id: rec[0]}
		for j, field := range rec[1:] {
			if field == "" {
				break
			}
			v, err := strconv.ParseFloat(field, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d, field %d: %w", line, j+2, err)
			}
			row.values = append(row.values, v)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// Point is one sample of a CSV series.
type Point struct {
	T time.Time
	V float64
}

// ReadCSV parses a `timestamp,value` file (NAB format). The header line is
// optional. Timestamps are `YYYY-MM-DD hh:mm:ss` (UTC), RFC 3339, or unix
// seconds; values are floats (empty or NaN marks a missing sample). Errors
// name the line. Points are returned sorted by time.
func ReadCSV(r io.Reader) ([]Point, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	var pts []Point
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err // csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			if len(rec) >= 1 && strings.EqualFold(strings.TrimSpace(rec[0]), "timestamp") {
				continue
			}
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("line %d: want 2 fields (timestamp,value), got %d", line, len(rec))
		}
		t, err := parseTime(strings.TrimSpace(rec[0]))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		vs := strings.TrimSpace(rec[1])
		v := math.NaN()
		if vs != "" {
			v, err = strconv.ParseFloat(vs, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: value %q: %w", line, vs, err)
			}
		}
		pts = append(pts, Point{T: t, V: v})
	}
	if len(pts) == 0 {
		return nil, errors.New("no data rows")
	}
	slices.SortStableFunc(pts, func(a, b Point) int { return a.T.Compare(b.T) })
	return pts, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateTime, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q: want YYYY-MM-DD hh:mm:ss, RFC 3339 or unix seconds", s)
}

// Resample aggregates points onto a regular grid of the given step: each
// bucket [t, t+step) starting at the first timestamp truncated to step
// holds the mean of its observed values, or NaN when it has none. It fails
// when the data are coarser than step (median spacing > step), since
// resampling cannot make them finer.
func Resample(pts []Point, step time.Duration) (forecast.Series, error) {
	if step <= 0 {
		return forecast.Series{}, fmt.Errorf("step %s must be positive", step)
	}
	if len(pts) == 0 {
		return forecast.Series{}, errors.New("no points")
	}
	if len(pts) > 2 {
		gaps := make([]time.Duration, 0, len(pts)-1)
		for i := 1; i < len(pts); i++ {
			gaps = append(gaps, pts[i].T.Sub(pts[i-1].T))
		}
		slices.Sort(gaps)
		if med := gaps[len(gaps)/2]; med > step {
			return forecast.Series{}, fmt.Errorf("data spacing %s is coarser than step %s", med, step)
		}
	}
	start := pts[0].T.Truncate(step)
	n := int(pts[len(pts)-1].T.Sub(start)/step) + 1
	sum := make([]float64, n)
	cnt := make([]int, n)
	for _, p := range pts {
		if math.IsNaN(p.V) {
			continue
		}
		i := int(p.T.Sub(start) / step)
		sum[i] += p.V
		cnt[i]++
	}
	for i := range sum {
		if cnt[i] == 0 {
			sum[i] = math.NaN()
		} else {
			sum[i] /= float64(cnt[i])
		}
	}
	return forecast.Series{Start: start, Step: step, Values: sum}, nil
}
