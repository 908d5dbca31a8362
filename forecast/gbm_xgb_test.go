package forecast

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loadCSVSeries reads a timestamp,value CSV onto a regular grid of the
// given step (absent rows become NaN).
func loadCSVSeries(path string, step time.Duration) (Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return Series{}, err
	}
	defer f.Close()
	recs, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
	if err != nil {
		return Series{}, err
	}
	var s Series
	for i, r := range recs {
		if i == 0 {
			continue
		}
		t, err := time.Parse("2006-01-02 15:04:05", r[0])
		if err != nil {
			return Series{}, err
		}
		v, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			return Series{}, err
		}
		if s.Step == 0 {
			s = Series{Start: t, Step: step}
		}
		idx := int(t.Sub(s.Start) / step)
		for len(s.Values) < idx {
			s.Values = append(s.Values, math.NaN())
		}
		if idx == len(s.Values) {
			s.Values = append(s.Values, v)
		}
	}
	return s, nil
}

// writeFeatureCSV writes X and y (last column) with a header.
func writeFeatureCSV(path string, names []string, X *Matrix, y []float64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, strings.Join(append(append([]string{}, names...), "target"), ","))
	for i := 0; i < X.Rows; i++ {
		for _, v := range X.Row(i) {
			w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			w.WriteByte(',')
		}
		w.WriteString(strconv.FormatFloat(y[i], 'g', -1, 64))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type xgbResult struct {
	Version      string  `json:"xgboost"`
	TrainRows    int     `json:"train_rows"`
	Features     int     `json:"features"`
	TrainSeconds float64 `json:"train_seconds"`
	PredictUS    float64 `json:"predict_us_per_row"`
	RMSE         float64 `json:"rmse"`
	MAE          float64 `json:"mae"`
}

// TestXGBoostCompare trains the Go GBM and XGBoost (hist, loss-guided,
// same leaves/rounds/learning rate/min child weight/lambda/bins, one
// thread) on the same feature matrices built from real series, and logs
// test RMSE/MAE and training time. Run with
//
//	SHADOWCAST_XGB=1 go test ./forecast -run XGBoostCompare -v
//
// It needs /usr/bin/python3 with the Debian package python3-xgboost
// (SHADOWCAST_PYTHON overrides the interpreter) and the data under
// /work/shared/data (SHADOWCAST_DATA overrides).
func TestXGBoostCompare(t *testing.T) {
	if os.Getenv("SHADOWCAST_XGB") != "1" {
		t.Skip("set SHADOWCAST_XGB=1 to compare with XGBoost")
	}
	py := os.Getenv("SHADOWCAST_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	data := os.Getenv("SHADOWCAST_DATA")
	if data == "" {
		data = "/work/shared/data"
	}
	_, thisFile, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(thisFile), "..", "scripts", "xgboost_compare.py")
	for _, ds := range []struct {
		name     string
		path     string
		step     time.Duration
		horizons int
	}{
		{"nyc_taxi (30 min, h=1..6)", "nab/data/realKnownCause/nyc_taxi.csv", 30 * time.Minute, 6},
		{"nasa requests/min (h=1)", "nasa-http/nasa_requests_per_minute.csv", time.Minute, 1},
	} {
		t.Run(ds.name, func(t *testing.T) {
			s, err := loadCSVSeries(filepath.Join(data, ds.path), ds.step)
			if err != nil {
				t.Skip(err)
			}
			n := s.Len()
			split := n * 8 / 10
			fs := DefaultFeatureSpec(s.Step, nil)
			sc := FitScaler(s.Values[:split], true)
			z := sc.ApplySeries(s)
			first := fs.BaseWindow
			Xtr, ytr, _ := gbmRows(z, nil, fs, first, split-1, ds.horizons, split-1, 1, nil)
			Xte, yte, _ := gbmRows(z, nil, fs, split, n-2, ds.horizons, n-1, 1, nil)
			dir := t.TempDir()
			names := fs.Names()
			if err := writeFeatureCSV(filepath.Join(dir, "train.csv"), names, Xtr, ytr); err != nil {
				t.Fatal(err)
			}
			if err := writeFeatureCSV(filepath.Join(dir, "test.csv"), names, Xte, yte); err != nil {
				t.Fatal(err)
			}
			opts := GBMOptions{Rounds: 100, MaxLeaves: 31, LearningRate: 0.1, MinDataInLeaf: 20, MinChildWeight: 20, Lambda: 1}
			start := time.Now()
			b, err := TrainGBM(Xtr, ytr, opts)
			if err != nil {
				t.Fatal(err)
			}
			goTrain := time.Since(start)
			start = time.Now()
			pred := b.PredictMatrix(Xte)
			goPredict := time.Since(start)
			var se, ae float64
			for i, p := range pred {
				se += (p - yte[i]) * (p - yte[i])
				ae += math.Abs(p - yte[i])
			}
			goRMSE, goMAE := math.Sqrt(se/float64(len(pred))), ae/float64(len(pred))

			out, err := exec.Command(py, script, filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv"),
				"--rounds", "100", "--max-leaves", "31", "--lr", "0.1", "--min-child-weight", "20", "--lambda", "1",
				"--threads", "1").Output()
			if err != nil {
				t.Skipf("xgboost: %v", err)
			}
			var xr xgbResult
			if err := json.Unmarshal(out, &xr); err != nil {
				t.Fatalf("xgboost output %q: %v", out, err)
			}
			t.Logf("%d train rows × %d features, %d test rows (targets: scaled value relative to the base level)", Xtr.Rows, Xtr.Cols, Xte.Rows)
			t.Logf("| impl | train s | predict µs/row | test RMSE | test MAE |")
			t.Logf("| Go GBM | %.2f | %.2f | %.4f | %.4f |", goTrain.Seconds(), goPredict.Seconds()*1e6/float64(len(pred)), goRMSE, goMAE)
			t.Logf("| XGBoost %s | %.2f | %.2f | %.4f | %.4f |", xr.Version, xr.TrainSeconds, xr.PredictUS, xr.RMSE, xr.MAE)
			if xr.TrainRows != Xtr.Rows || xr.Features != Xtr.Cols {
				t.Errorf("xgboost read %d×%d, wrote %d×%d", xr.TrainRows, xr.Features, Xtr.Rows, Xtr.Cols)
			}
			if goRMSE > 1.1*xr.RMSE {
				t.Errorf("Go RMSE %.4f more than 10%% above XGBoost's %.4f", goRMSE, xr.RMSE)
			}
		})
	}
}
