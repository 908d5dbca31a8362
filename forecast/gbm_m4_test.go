package forecast

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// M4 Hourly runs of the GBM and the hybrid, on the official protocol
// (fit on Hourly-train, score the 48 values of Hourly-test). They run only
// when SHADOWCAST_M4_DIR names the folder with the two files:
//
//	SHADOWCAST_M4_DIR=/work/shared/data/m4 go test ./forecast -run 'M4Hourly(GBM|Hybrid)' -v -timeout 60m
//
// SHADOWCAST_M4_STRIDE=k scores every k-th series only (default 1);
// SHADOWCAST_GBM_OPTS is a JSON GBMForecastOptions for the GBM run,
// SHADOWCAST_HYBRID_OPTS a JSON HybridOptions for the hybrid run, and
// SHADOWCAST_GBM_GLOBAL=1 fits the GBM with FitGlobal, and
// SHADOWCAST_M4_VALIDATION=1 scores the last 48 training values instead of
// the test set (for tuning). The
// hybrid run is TestM4HourlyHybrid in hybrid_m4_test.go.

func loadM4Hourly(t *testing.T) (train, test [][]float64, stride int) {
	dir := os.Getenv("SHADOWCAST_M4_DIR")
	if dir == "" {
		t.Skip("SHADOWCAST_M4_DIR not set")
	}
	read := func(name string) [][]float64 {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		var rows [][]float64
		for line := 0; sc.Scan(); line++ {
			if line == 0 {
				continue
			}
			var row []float64
			for _, fl := range strings.Split(sc.Text(), ",")[1:] {
				fl = strings.Trim(fl, "\" \r")
				if fl == "" || fl == "NA" {
					continue
				}
				v, err := strconv.ParseFloat(fl, 64)
				if err != nil {
					t.Fatal(err)
				}
				row = append(row, v)
			}
			rows = append(rows, row)
		}
		return rows
	}
	train, test = read("Hourly-train.csv"), read("Hourly-test.csv")
	stride = 1
	if v := os.Getenv("SHADOWCAST_M4_STRIDE"); v != "" {
		stride, _ = strconv.Atoi(v)
		stride = max(stride, 1)
	}
	valid := os.Getenv("SHADOWCAST_M4_VALIDATION") == "1"
	var tr, te [][]float64
	for i := 0; i < len(train); i += stride {
		if valid { // score the last 48 training values instead of the test set
			r := train[i]
			tr, te = append(tr, r[:len(r)-48]), append(te, r[len(r)-48:])
			continue
		}
		tr, te = append(tr, train[i]), append(te, test[i])
	}
	return tr, te, stride
}

func m4Series(rows [][]float64) []Series {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]Series, len(rows))
	for i, r := range rows {
		out[i] = Series{Start: start, Step: time.Hour, Values: r}
	}
	return out
}

func logM4(t *testing.T, name string, train, test [][]float64, fcs []Forecast, fit time.Duration) {
	var smape, mase float64
	in, n := 0, 0
	var inBy, nBy [4]int // coverage by 12-step block of the horizon
	for i, f := range fcs {
		smape += SMAPE(test[i], f.Point)
		mase += MASE(test[i], f.Point, MASEScale(train[i], 24))
		for k, y := range test[i] {
			n++
			nBy[min(k/12, 3)]++
			if y >= f.Lower[k] && y <= f.Upper[k] {
				in++
				inBy[min(k/12, 3)]++
			}
		}
	}
	t.Logf("%s coverage by horizon block 1-12/13-24/25-36/37-48: %.3f %.3f %.3f %.3f", name,
		float64(inBy[0])/float64(nBy[0]), float64(inBy[1])/float64(nBy[1]), float64(inBy[2])/float64(nBy[2]), float64(inBy[3])/float64(nBy[3]))
	smape /= float64(len(fcs))
	mase /= float64(len(fcs))
	t.Logf("%s on %d M4 Hourly series: sMAPE %.3f MASE %.3f OWA %.3f, 90%% coverage %.3f, fit %.1f s (%.2f s/series)",
		name, len(fcs), smape, mase, OWA(smape, mase, M4HourlyNaive2SMAPE, M4HourlyNaive2MASE),
		float64(in)/float64(n), fit.Seconds(), fit.Seconds()/float64(len(fcs)))
}

func TestM4HourlyGBM(t *testing.T) {
	train, test, _ := loadM4Hourly(t)
	spec := Spec{Horizon: 48, Level: 0.9, Seed: 1}
	var opts GBMForecastOptions
	if js := os.Getenv("SHADOWCAST_GBM_OPTS"); js != "" {
		if err := json.Unmarshal([]byte(js), &opts); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("options %s", os.Getenv("SHADOWCAST_GBM_OPTS"))
	m := NewGBM(opts)
	var fcs []Forecast
	start := time.Now()
	if os.Getenv("SHADOWCAST_GBM_GLOBAL") == "1" {
		series := m4Series(train)
		ps, err := m.FitGlobal(series, spec)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range series {
			f, err := ps[i].Predict(s)
			if err != nil {
				t.Fatal(err)
			}
			fcs = append(fcs, f)
		}
		logM4(t, "gbm (global)", train, test, fcs, time.Since(start))
		return
	}
	for _, s := range m4Series(train) {
		p, err := m.Fit(s, spec)
		if err != nil {
			t.Fatal(err)
		}
		f, err := p.Predict(s)
		if err != nil {
			t.Fatal(err)
		}
		fcs = append(fcs, f)
	}
	logM4(t, "gbm", train, test, fcs, time.Since(start))
}
