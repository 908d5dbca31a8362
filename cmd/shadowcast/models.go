package main

import (
	"fmt"
	"time"

	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/forecast"
)

// models maps config model names to forecast models for the engine.
type models struct{}

// New returns the model named in config.
func (models) New(name string, step time.Duration) (forecast.Model, error) {
	switch name {
	case config.ModelSeasonalNaive:
		return forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}), nil
	case config.ModelHoltWinters:
		return forecast.NewHoltWinters(forecast.HoltWintersOptions{}), nil
	}
	return nil, fmt.Errorf("model %q is not available", name)
}

// candidates are the models "auto" chooses among, in order of preference
// (simplest first: a later one must clearly beat the earlier ones).
func (m models) candidates() []forecast.Model {
	return []forecast.Model{
		forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}),
		forecast.NewHoltWinters(forecast.HoltWintersOptions{}),
	}
}

// Auto picks the best candidate by rolling-origin backtest on s.
func (m models) Auto(s forecast.Series, spec forecast.Spec) (forecast.Model, error) {
	var fits []forecast.Model
	for _, c := range m.candidates() {
		if forecast.MinHistory(c, s.Step) <= countValid(s.Values) {
			fits = append(fits, c)
		}
	}
	if len(fits) == 0 {
		return m.Fallback(s.Step), nil
	}
	best, _, err := forecast.Select(fits, s, spec, forecast.SelectOptions{MinImprovement: 0.05})
	return best, err
}

// Fallback is the baseline served when the chosen model fails.
func (models) Fallback(time.Duration) forecast.Model {
	return forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{})
}

// ColdStart serves while history is shorter than MinHistory.
func (models) ColdStart(time.Duration) forecast.Model {
	return forecast.NewLastValue(forecast.LastValueOptions{})
}

// MinHistory is what the fallback baseline needs.
func (m models) MinHistory(step time.Duration) int {
	return forecast.MinHistory(m.Fallback(step), step)
}

func countValid(v []float64) int {
	n := 0
	for _, x := range v {
		if x == x {
			n++
		}
	}
	return n
}
