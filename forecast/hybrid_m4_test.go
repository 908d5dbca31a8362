package forecast

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The M4 Hourly harnesses of the hybrid. They run only when
// SHADOWCAST_M4_DIR names the folder with Hourly-train.csv and
// Hourly-test.csv; SHADOWCAST_M4_VALIDATION=1 scores the last 48 values of
// each training series instead of the test set (the protocol every choice
// was made with).

// TestM4HourlyHybrid fits the hybrid end to end with the options in
// SHADOWCAST_HYBRID_OPTS (JSON HybridOptions).
func TestM4HourlyHybrid(t *testing.T) {
	train, test, _ := loadM4Hourly(t)
	spec := Spec{Horizon: 48, Level: 0.9, Seed: 1}
	var opts HybridOptions
	if js := os.Getenv("SHADOWCAST_HYBRID_OPTS"); js != "" {
		if err := json.Unmarshal([]byte(js), &opts); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("options %s", os.Getenv("SHADOWCAST_HYBRID_OPTS"))
	m := NewHybrid(opts)
	series := m4Series(train)
	start := time.Now()
	ps, err := m.FitGlobal(series, spec)
	if err != nil {
		t.Fatal(err)
	}
	fit := time.Since(start)
	fcs := make([]Forecast, len(series))
	lstm := make([]Forecast, len(series))
	for i, s := range series {
		if fcs[i], err = ps[i].Predict(s); err != nil {
			t.Fatal(err)
		}
		if lstm[i], err = ps[i].(*HybridPredictor).Temporal().Predict(s); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("gate %.2f, holt-winters weight %.1f", ps[0].(*HybridPredictor).Gate(), ps[0].(*HybridPredictor).HoltWintersWeight())
	logM4(t, "hybrid (global)", train, test, fcs, fit)
	logM4(t, "its LSTM alone (trained without the residual window)", train, test, lstm, fit)
}

// TestM4HourlyHybridStages trains the LSTMs once per seed (options
// m4LSTMOptions overridden by LSTM_M4_OPTS, HYBRID_M4_SEEDS seeds, default
// 2), caching them under SHADOWCAST_M4_CACHE when set, then fits each
// residual model of SHADOWCAST_HYBRID_VARIANTS (a JSON array of
// HybridOptions; default one zero value) on the median of the seeds with
// FitGlobalOn, and logs the scores of the seeds, their median and every
// variant.
func TestM4HourlyHybridStages(t *testing.T) {
	train, test, _ := loadM4Hourly(t)
	spec := Spec{Horizon: 48, Level: 0.9, Seed: 1}
	lopts := m4LSTMOptions()
	if js := os.Getenv("LSTM_M4_OPTS"); js != "" {
		if err := json.Unmarshal([]byte(js), &lopts); err != nil {
			t.Fatal(err)
		}
	}
	seeds := 2
	if v := os.Getenv("HYBRID_M4_SEEDS"); v != "" {
		var err error
		if seeds, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	variants := []HybridOptions{{}}
	if js := os.Getenv("SHADOWCAST_HYBRID_VARIANTS"); js != "" {
		variants = nil
		if err := json.Unmarshal([]byte(js), &variants); err != nil {
			t.Fatal(err)
		}
	}
	series := m4Series(train)
	key, _ := json.Marshal(struct {
		O     LSTMOptions
		Valid string
		N     int
	}{lopts, os.Getenv("SHADOWCAST_M4_VALIDATION"), len(series)})
	sum := sha256.Sum256(key)
	tag := hex.EncodeToString(sum[:6])
	cache := os.Getenv("SHADOWCAST_M4_CACHE")
	t.Logf("LSTM options %+v, %d seeds, cache tag %s", lopts, seeds, tag)

	fits := make([][]*LSTMPredictor, seeds)
	var missing []int
	for sd := range seeds {
		if cache == "" {
			missing = append(missing, sd)
			continue
		}
		ps, err := loadLSTMFit(filepath.Join(cache, fmt.Sprintf("lstm-%s-seed%d", tag, sd+1)), len(series))
		if err != nil {
			t.Logf("seed %d: %v: training", sd+1, err)
			missing = append(missing, sd)
			continue
		}
		fits[sd] = ps
	}
	start := time.Now()
	if len(missing) > 0 {
		// Train the missing seeds in parallel (FitLSTMSeeds trains
		// consecutive seeds; train each separately to keep their numbers).
		done := make(chan error, len(missing))
		sem := make(chan struct{}, 2)
		for _, sd := range missing {
			go func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				sp := spec
				sp.Seed = int64(sd + 1)
				ps, err := NewLSTM(lopts).FitGlobal(series, sp)
				if err == nil {
					fits[sd] = ps
					if cache != "" {
						err = saveLSTMFit(filepath.Join(cache, fmt.Sprintf("lstm-%s-seed%d", tag, sd+1)), ps)
					}
				}
				done <- err
			}()
		}
		for range missing {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("LSTM training %v (%d seeds trained)", time.Since(start).Round(time.Second), len(missing))
	predictAll := func(p func(i int) (Forecast, error)) []Forecast {
		out := make([]Forecast, len(series))
		for i := range series {
			f, err := p(i)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = f
		}
		return out
	}
	for sd, ps := range fits {
		logM4(t, fmt.Sprintf("lstm seed %d", sd+1), train, test, predictAll(func(i int) (Forecast, error) { return ps[i].Predict(series[i]) }), 0)
	}
	ens := EnsembleOf(fits...)
	logM4(t, fmt.Sprintf("lstm median of %d", seeds), train, test, predictAll(func(i int) (Forecast, error) { return ens[i].Predict(series[i]) }), 0)
	for _, v := range variants {
		js, _ := json.Marshal(v)
		start := time.Now()
		hps, err := NewHybrid(v).FitGlobalOn(series, spec, ens)
		if err != nil {
			t.Fatal(err)
		}
		fit := time.Since(start)
		logM4(t, fmt.Sprintf("hybrid %s gate %.2f holt-winters weight %.1f", js, hps[0].Gate(), hps[0].HoltWintersWeight()), train, test, predictAll(func(i int) (Forecast, error) { return hps[i].Predict(series[i]) }), fit)
	}
}

// saveLSTMFit writes the shared weights and the per-series TrainEnd of a
// FitGlobal result.
func saveLSTMFit(path string, ps []*LSTMPredictor) error {
	b, err := ps[0].MarshalBinary()
	if err != nil {
		return err
	}
	ends := make([]int, len(ps))
	for i, p := range ps {
		ends[i] = p.TrainEnd()
	}
	js, _ := json.Marshal(ends)
	if err := os.WriteFile(path+".ends", js, 0o644); err != nil {
		return err
	}
	return os.WriteFile(path+".bin", b, 0o644)
}

func loadLSTMFit(path string, n int) ([]*LSTMPredictor, error) {
	b, err := os.ReadFile(path + ".bin")
	if err != nil {
		return nil, err
	}
	js, err := os.ReadFile(path + ".ends")
	if err != nil {
		return nil, err
	}
	var ends []int
	if err := json.Unmarshal(js, &ends); err != nil {
		return nil, err
	}
	if len(ends) != n {
		return nil, fmt.Errorf("%d train ends for %d series", len(ends), n)
	}
	p, err := UnmarshalLSTM(b)
	if err != nil {
		return nil, err
	}
	out := make([]*LSTMPredictor, n)
	for i := range out {
		out[i] = p.Clone()
		out[i].trainEnd = ends[i]
	}
	return out, nil
}
