package forecast

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The M4 Hourly harness of the LSTM. It runs only when SHADOWCAST_M4_DIR
// names the folder with Hourly-train.csv and Hourly-test.csv:
//
//	SHADOWCAST_M4_DIR=/work/shared/data/m4 go test -run TestLSTMM4Hourly -v -timeout 30m ./forecast
//
// LSTM_M4_MODE=val (default) trains on each training series less its last
// 48 values and scores those 48 (the validation protocol every choice was
// made with); LSTM_M4_MODE=test trains on the full training series and
// scores the official test set. LSTM_M4_SEEDS (default 3) seeds are trained
// in parallel; the score of each and of their per-point median is logged.
// LSTM_M4_OPTS is a JSON LSTMOptions overriding m4LSTMOptions.

// m4LSTMOptions are the settings chosen on the validation protocol.
func m4LSTMOptions() LSTMOptions { return M4HourlyLSTMOptions() }

func readM4CSV(path string) ([][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var rows [][]float64
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		fields := strings.Split(sc.Text(), ",")
		var row []float64
		for _, fl := range fields[1:] {
			fl = strings.Trim(fl, "\" \r")
			if fl == "" || fl == "NA" {
				continue
			}
			v, err := strconv.ParseFloat(fl, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

type m4Score struct{ smape, mase, owa, cover float64 }

func scoreM4(train, actual, point, lower, upper [][]float64) m4Score {
	var s m4Score
	var in, n int
	for i := range actual {
		s.smape += SMAPE(actual[i], point[i])
		s.mase += MASE(actual[i], point[i], MASEScale(train[i], 24))
		if lower != nil {
			for k, y := range actual[i] {
				n++
				if y >= lower[i][k] && y <= upper[i][k] {
					in++
				}
			}
		}
	}
	s.smape /= float64(len(actual))
	s.mase /= float64(len(actual))
	s.owa = OWA(s.smape, s.mase, M4HourlyNaive2SMAPE, M4HourlyNaive2MASE)
	if n > 0 {
		s.cover = float64(in) / float64(n)
	}
	return s
}

func TestLSTMM4Hourly(t *testing.T) {
	dir := os.Getenv("SHADOWCAST_M4_DIR")
	if dir == "" {
		t.Skip("SHADOWCAST_M4_DIR not set")
	}
	trainRows, err := readM4CSV(filepath.Join(dir, "Hourly-train.csv"))
	if err != nil {
		t.Fatal(err)
	}
	testRows, err := readM4CSV(filepath.Join(dir, "Hourly-test.csv"))
	if err != nil {
		t.Fatal(err)
	}
	const h = 48
	mode := os.Getenv("LSTM_M4_MODE")
	var fitRows, actual [][]float64
	switch mode {
	case "", "val":
		mode = "val"
		for _, r := range trainRows {
			fitRows = append(fitRows, r[:len(r)-h])
			actual = append(actual, r[len(r)-h:])
		}
	case "test":
		fitRows, actual = trainRows, testRows
	default:
		t.Fatalf("LSTM_M4_MODE %q", mode)
	}
	opts := m4LSTMOptions()
	if js := os.Getenv("LSTM_M4_OPTS"); js != "" {
		if err := json.Unmarshal([]byte(js), &opts); err != nil {
			t.Fatal(err)
		}
	}
	seeds := 3
	if v := os.Getenv("LSTM_M4_SEEDS"); v != "" {
		if seeds, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	series := make([]Series, len(fitRows))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range fitRows {
		series[i] = Series{Start: start, Step: time.Hour, Values: r}
	}
	t.Logf("mode %s, %d series, options %+v", mode, len(series), opts)

	// Seasonal naive on the same protocol, as the bar.
	snaive := make([][]float64, len(series))
	for i, r := range fitRows {
		snaive[i] = make([]float64, h)
		for k := range h {
			snaive[i][k] = r[len(r)-24+k%24]
		}
	}
	sn := scoreM4(fitRows, actual, snaive, nil, nil)
	t.Logf("seasonal naive: sMAPE %.3f MASE %.3f OWA %.3f", sn.smape, sn.mase, sn.owa)

	type run struct {
		point, lower, upper [][]float64
		dur                 time.Duration
		stats               LSTMStats
		err                 error
	}
	runs := make([]run, seeds)
	began := time.Now()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for sd := range seeds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t0 := time.Now()
			ps, err := NewLSTM(opts).FitGlobal(series, Spec{Horizon: h, Level: 0.9, Seed: int64(sd + 1)})
			if err != nil {
				runs[sd].err = err
				return
			}
			r := run{stats: ps[0].Stats()}
			for i, p := range ps {
				f, err := p.Predict(series[i])
				if err != nil {
					runs[sd].err = err
					return
				}
				r.point = append(r.point, f.Point)
				r.lower = append(r.lower, f.Lower)
				r.upper = append(r.upper, f.Upper)
			}
			r.dur = time.Since(t0)
			runs[sd] = r
		})
	}
	wg.Wait()
	for sd, r := range runs {
		if r.err != nil {
			t.Fatalf("seed %d: %v", sd+1, r.err)
		}
		s := scoreM4(fitRows, actual, r.point, r.lower, r.upper)
		t.Logf("seed %d: sMAPE %.3f MASE %.3f OWA %.3f coverage(90%%) %.3f; %v, steps %d best %d val %.4f (init %.4f), %d train windows",
			sd+1, s.smape, s.mase, s.owa, s.cover, r.dur.Round(time.Second), r.stats.Steps, r.stats.BestStep, r.stats.ValLoss, r.stats.InitValLoss, r.stats.TrainWindows)
	}
	// Per-point median over seeds.
	med := func(get func(run) [][]float64) [][]float64 {
		out := make([][]float64, len(series))
		vals := make([]float64, seeds)
		for i := range series {
			out[i] = make([]float64, h)
			for k := range h {
				for sd, r := range runs {
					vals[sd] = get(r)[i][k]
				}
				slices.Sort(vals)
				if seeds%2 == 1 {
					out[i][k] = vals[seeds/2]
				} else {
					out[i][k] = (vals[seeds/2-1] + vals[seeds/2]) / 2
				}
			}
		}
		return out
	}
	ms := scoreM4(fitRows, actual, med(func(r run) [][]float64 { return r.point }), med(func(r run) [][]float64 { return r.lower }), med(func(r run) [][]float64 { return r.upper }))
	t.Logf("median of %d seeds: sMAPE %.3f MASE %.3f OWA %.3f coverage(90%%) %.3f; wall time %v, CPU time %v on %d cores",
		seeds, ms.smape, ms.mase, ms.owa, ms.cover, time.Since(began).Round(time.Second), (cpuTime() - cpu0).Round(time.Second), runtime.GOMAXPROCS(0))
	if math.IsNaN(ms.owa) || ms.owa >= sn.owa {
		t.Errorf("LSTM OWA %.3f does not beat seasonal naive %.3f", ms.owa, sn.owa)
	}
}

// cpuTime returns the user+system CPU time of the process (the machine is
// shared, so wall time overstates the cost).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
