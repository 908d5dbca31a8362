package forecast

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSelect(t *testing.T) {
	s := synth(42, 24*14, time.Hour, 200, 0.5, 50, 8)
	spec := Spec{Horizon: 12, Level: 0.9}
	sn := NewSeasonalNaive(SeasonalNaiveOptions{})
	hw := NewHoltWinters(HoltWintersOptions{})
	weekly := NewHoltWinters(HoltWintersOptions{Seasonality: SeasonWeekly}) // needs two weeks: fails on 12 days

	best, scores, err := Select([]Model{sn, weekly, hw}, s, spec, SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if best != hw {
		t.Errorf("best = %s, want %s", best.Name(), hw.Name())
	}
	if len(scores) != 3 || scores[1].Err == nil || !errors.Is(scores[1].Err, ErrNotEnoughData) {
		t.Fatalf("scores %+v: want the weekly candidate to fail with ErrNotEnoughData", scores)
	}
	for _, i := range []int{0, 2} {
		sc := scores[i]
		if sc.Err != nil || sc.N != 4*12 || math.IsNaN(sc.MASE) || math.IsNaN(sc.Coverage) || !(sc.Width > 0) {
			t.Errorf("score %+v", sc)
		}
	}

	// A margin the challenger cannot meet keeps the first candidate.
	best, _, err = Select([]Model{sn, hw}, s, spec, SelectOptions{MinImprovement: 0.99})
	if err != nil || best != sn {
		t.Errorf("with a 99%% margin: best = %v, err = %v; want %s", best, err, sn.Name())
	}

	// Nothing fits: an error that wraps the causes.
	_, _, err = Select([]Model{weekly}, s.Slice(0, 24*4), spec, SelectOptions{})
	if !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("no candidate fits: err = %v, want ErrNotEnoughData", err)
	}
	if _, _, err := Select([]Model{sn}, s.Slice(0, 30), spec, SelectOptions{}); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("series shorter than the window: err = %v, want ErrNotEnoughData", err)
	}
}

func TestAuto(t *testing.T) {
	spec := Spec{Horizon: 12, Level: 0.9}
	a := NewAuto([]Model{NewSeasonalNaive(SeasonalNaiveOptions{}), NewHoltWinters(HoltWintersOptions{})}, SelectOptions{})
	if got := MinHistory(a, time.Hour); got != 24+MinCalibrationErrors {
		t.Errorf("MinHistory = %d, want the smallest candidate's", got)
	}
	tests := []struct {
		name      string
		s         Series
		wantModel string
	}{
		{"selects holt-winters on trend + season", synth(42, 24*14, time.Hour, 200, 0.5, 50, 8), NameHoltWinters},
		{"only seasonal naive fits", synth(42, 60, time.Hour, 200, 0.5, 50, 8), NameSeasonalNaive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := a.Fit(tc.s, spec)
			if err != nil {
				t.Fatal(err)
			}
			f, err := p.Predict(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			checkForecast(t, f, spec.Horizon)
			if f.Model != tc.wantModel {
				t.Errorf("served %s, want %s", f.Model, tc.wantModel)
			}
		})
	}
	if _, err := a.Fit(synth(1, 30, time.Hour, 1, 0, 0, 0), spec); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("30 samples: err = %v, want ErrNotEnoughData", err)
	}
}

// warmCounter is a WarmFitter wrapping Holt-Winters that records its fits
// and warm starts.
type warmCounter struct {
	fitLens  []int // history lengths of Fit calls
	fromLens []int // history lengths of the predictors FitFrom started from
	fail     bool  // FitFrom fails
}

type lenPredictor struct {
	Predictor
	n int
}

func (w *warmCounter) Name() string { return NameHoltWinters }

func (w *warmCounter) Fit(s Series, spec Spec) (Predictor, error) {
	w.fitLens = append(w.fitLens, s.Len())
	p, err := NewHoltWinters(HoltWintersOptions{}).Fit(s, spec)
	if err != nil {
		return nil, err
	}
	return lenPredictor{p, s.Len()}, nil
}

func (w *warmCounter) FitFrom(prev Predictor, s Series, spec Spec) (Predictor, error) {
	w.fromLens = append(w.fromLens, prev.(lenPredictor).n)
	if w.fail {
		return nil, errors.New("no warm start")
	}
	p, err := NewHoltWinters(HoltWintersOptions{}).Fit(s, spec)
	if err != nil {
		return nil, err
	}
	return lenPredictor{p, s.Len()}, nil
}

func TestAutoWarmStartsTheWinner(t *testing.T) {
	spec := Spec{Horizon: 12, Level: 0.9}
	s := synth(42, 24*14, time.Hour, 200, 0.5, 50, 8)
	start := s.Len() - (4-1)*12 - 12 // the default evaluation window
	for _, fail := range []bool{false, true} {
		w := &warmCounter{fail: fail}
		p, err := NewAuto([]Model{NewSeasonalNaive(SeasonalNaiveOptions{}), w}, SelectOptions{}).Fit(s, spec)
		if err != nil {
			t.Fatal(err)
		}
		lp, ok := p.(lenPredictor)
		if !ok || lp.n != s.Len() {
			t.Fatalf("fail=%v: served %T, want the winner on the whole history", fail, p)
		}
		// One fit for the backtest, on the history before the evaluation
		// window; then a warm start from it, or a full fit if it fails.
		wantFits := []int{start}
		if fail {
			wantFits = append(wantFits, s.Len())
		}
		if diff := cmp.Diff(wantFits, w.fitLens); diff != "" {
			t.Errorf("fail=%v: fits (-want +got):\n%s", fail, diff)
		}
		if diff := cmp.Diff([]int{start}, w.fromLens); diff != "" {
			t.Errorf("fail=%v: warm starts from (-want +got):\n%s", fail, diff)
		}
	}
}
