package simulate

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shadowcast/shadowcast/forecast"
)

func TestBetterFollowsTuneRule(t *testing.T) {
	row := func(under, hours float64) TuneRow { return TuneRow{UnderVsReactive: under, HoursVsReactive: hours} }
	tests := []struct {
		name string
		a, b TuneRow
		want bool
	}{
		{"within budget beats over budget", row(-0.5, 0.05), row(-0.95, 0.2), true},
		{"over budget loses to within budget", row(-0.95, 0.2), row(-0.5, 0.05), false},
		{"both within: larger reduction wins", row(-0.85, 0.09), row(-0.8, 0.01), true},
		{"both within, equal reduction: fewer hours", row(-0.8, 0.01), row(-0.8, 0.05), true},
		{"both over: fewer hours", row(-0.1, 0.15), row(-0.9, 0.3), true},
		{"exactly +10% is within", row(-0.9, 0.10), row(-0.1, 0.0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := better(tt.a, tt.b); got != tt.want {
				t.Errorf("better = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCandidates(t *testing.T) {
	got, err := ParseCandidates("lambdas=2,8 arms=default,quantile")
	if err != nil {
		t.Fatal(err)
	}
	want := []Candidate{{2, ArmsDefault, 0}, {8, ArmsDefault, 0}, {2, ArmsQuantile, 0}, {8, ArmsQuantile, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got, err = ParseCandidates("lambdas=4 arms=fine epochs=5m,30m")
	if err != nil {
		t.Fatal(err)
	}
	want = []Candidate{{4, ArmsFine, 5 * time.Minute}, {4, ArmsFine, 30 * time.Minute}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("with epochs (-want +got):\n%s", diff)
	}
	if c, err := ParseCandidates(" "); err != nil || c != nil {
		t.Errorf("empty grid: %v %v", c, err)
	}
	for _, bad := range []string{"lambdas=2", "arms=fine", "lambdas=-1 arms=fine", "lambdas=2 arms=coarse", "x=1", "lambdas", "lambdas=2 arms=fine epochs=0s"} {
		if _, err := ParseCandidates(bad); err == nil {
			t.Errorf("ParseCandidates(%q) succeeded", bad)
		}
	}
}

func tuneTrace() forecast.Series {
	s := forecast.Series{Start: t0, Step: 15 * time.Minute}
	for i := range 96 * 8 {
		h := float64(i%96) / 96
		s.Values = append(s.Values, 100+60*math.Sin(2*math.Pi*h)+15*math.Sin(float64(i)*1.7))
	}
	return s
}

// The tuning chooses on the training part only: changing the evaluated
// half of the trace changes neither the candidates' scores nor the choice,
// and the chosen candidate is the one the rule prefers.
func TestTuneNeverLooksAtTheEvaluationPart(t *testing.T) {
	cands := []Candidate{{2, ArmsDefault, 0}, {32, ArmsDefault, 0}, {8, ArmsFine, 2 * time.Hour}, {8, ArmsQuantile, 0}}
	opts := Options{Capacity: 10, Startup: 15 * time.Minute, Model: forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}),
		Epoch: time.Hour, Passes: 1, Tune: cands}
	a, err := Run(tuneTrace(), opts)
	if err != nil {
		t.Fatal(err)
	}
	s := tuneTrace()
	for i := len(s.Values) / 2; i < len(s.Values); i++ {
		s.Values[i] *= 3 // a very different evaluation part
	}
	b, err := Run(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a.Tuning == nil || b.Tuning == nil {
		t.Fatal("no tuning result")
	}
	if diff := cmp.Diff(a.Tuning, b.Tuning); diff != "" {
		t.Errorf("tuning depends on the evaluation part (-a +b):\n%s", diff)
	}
	if len(a.Tuning.Rows) != len(cands) || !a.Tuning.ValidTo.Before(a.EvalFrom) {
		t.Fatalf("tuning %+v evaluated from %v", a.Tuning, a.EvalFrom)
	}
	best := a.Tuning.Rows[0]
	for _, r := range a.Tuning.Rows[1:] {
		if r.Err == "" && better(r, best) {
			best = r
		}
	}
	if a.Tuning.Chosen != best.Candidate || a.Options.Lambda != best.Candidate.Lambda || a.Options.Arms != best.Candidate.Arms {
		t.Errorf("chose %v (options λ %v arms %s), the rule prefers %v", a.Tuning.Chosen, a.Options.Lambda, a.Options.Arms, best.Candidate)
	}
	var js, table bytes.Buffer
	if err := a.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Tuning struct {
			Candidates []struct {
				Chosen bool `json:"chosen"`
			} `json:"candidates"`
		} `json:"tuning"`
	}
	if err := json.Unmarshal(js.Bytes(), &parsed); err != nil || len(parsed.Tuning.Candidates) != len(cands) {
		t.Fatalf("JSON tuning %+v: %v", parsed, err)
	}
	if err := a.WriteTable(&table); err != nil || !strings.Contains(table.String(), "tuning (training part only)") {
		t.Errorf("table lacks the tuning: %v\n%s", err, table.String())
	}
}

func TestQuantileArms(t *testing.T) {
	// Residuals (load − point)/(upper − point) of 0, 0.01, …, 0.99 at
	// every step: the q-quantile arm has headroom ≈ q.
	n := 200
	sh := &shadows{ok: make([]bool, n), leadPoint: make([]float64, n), leadUpper: make([]float64, n)}
	load := make([]float64, n)
	for i := range n {
		sh.ok[i], sh.leadPoint[i], sh.leadUpper[i] = true, 100, 200
		load[i] = 100 + float64(i%100)
	}
	arms, err := Candidate{Arms: ArmsQuantile}.arms(sh, load, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	var hs []float64
	for k := 0; k < len(arms); k += len(armDelays) {
		hs = append(hs, arms[k].Headroom)
	}
	if diff := cmp.Diff([]float64{0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99}, hs); diff != "" {
		t.Errorf("quantile headrooms (-want +got):\n%s", diff)
	}
	if _, err := (Candidate{Arms: ArmsQuantile}).arms(sh, load, 0, 50); err == nil {
		t.Error("quantile arms from 50 residuals accepted")
	}
}

func TestTrailingMean(t *testing.T) {
	s := forecast.Series{Start: t0, Step: time.Minute, Values: []float64{1, 3, math.NaN(), 5, math.NaN(), math.NaN(), math.NaN()}}
	got := trailingMean(s, 3).Values
	want := []float64{1, 2, 2, 4, 5, 5, math.NaN()}
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs(), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSelectSmoothing(t *testing.T) {
	opts := Options{Capacity: 10, Startup: 15 * time.Minute, Model: forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}),
		Epoch: time.Hour, Passes: 1, Tune: []Candidate{{2, ArmsDefault, 0}, {16, ArmsDefault, 0}}}
	spans := []time.Duration{0, 30 * time.Minute, 2 * time.Hour}
	run := func(s forecast.Series) ([]SmoothRow, Options) {
		_, o, rows, err := SelectSmoothing(s, opts, spans)
		if err != nil {
			t.Fatal(err)
		}
		return rows, o
	}
	rows, o := run(tuneTrace())
	if len(rows) != len(spans) {
		t.Fatalf("rows %+v", rows)
	}
	best := rows[0]
	for _, r := range rows[1:] {
		if better(r.Best, best.Best) {
			best = r
		}
	}
	if o.Smooth != best.Smooth {
		t.Errorf("chose smoothing %v, the rule prefers %v (%+v)", o.Smooth, best.Smooth, rows)
	}
	s := tuneTrace()
	for i := len(s.Values) / 2; i < len(s.Values); i++ {
		s.Values[i] = 0
	}
	rows2, o2 := run(s)
	if diff := cmp.Diff(rows, rows2); diff != "" || o2.Smooth != o.Smooth {
		t.Errorf("smoothing selection depends on the evaluation part (-a +b):\n%s", diff)
	}
}
