package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/forecast"
	"github.com/shadowcast/shadowcast/shadow"
)

// models maps config model names to forecast models for the engine.
type models struct{}

// minImprovement is how much better (relative MASE) a later candidate must
// be than the earlier ones to be selected: baselines come first, so a more
// complex model serves only where it clearly beats them.
const minImprovement = 0.05

// New returns the model named in config.
//
//   - auto: the better of seasonal naive and damped Holt-Winters, per
//     instance, by rolling-origin backtest on the instance's own history.
//   - hybrid, lstm, gbm, stack: the same selection with that model as the
//     last candidate, so it serves an instance only when it beats the
//     baselines there (model_info names the winner). stack combines
//     Holt-Winters and the GBM with per-horizon weights that follow their
//     recent out-of-sample errors.
//   - seasonal_naive, holt_winters: that model.
func (m models) New(name string, step time.Duration) (forecast.Model, error) {
	switch name {
	case config.ModelAuto:
		return forecast.NewAuto(m.baselines(), forecast.SelectOptions{MinImprovement: minImprovement}), nil
	case config.ModelSeasonalNaive:
		return forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}), nil
	case config.ModelHoltWinters:
		return forecast.NewHoltWinters(forecast.HoltWintersOptions{}), nil
	case config.ModelLSTM:
		return m.gated(forecast.NewLSTM(forecast.LSTMOptions{})), nil
	case config.ModelGBM:
		return m.gated(forecast.NewGBM(forecast.GBMForecastOptions{})), nil
	case config.ModelHybrid:
		return m.gated(forecast.NewHybrid(forecast.HybridOptions{})), nil
	case config.ModelStack:
		return m.gated(forecast.NewStack(forecast.StackOptions{Members: []forecast.Model{
			forecast.NewHoltWinters(forecast.HoltWintersOptions{}),
			forecast.NewGBM(forecast.GBMForecastOptions{}),
		}})), nil
	}
	return nil, fmt.Errorf("model %q is not available", name)
}

func (models) baselines() []forecast.Model {
	return []forecast.Model{
		forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}),
		forecast.NewHoltWinters(forecast.HoltWintersOptions{}),
	}
}

// gated lets a learned model serve only where it beats the baselines.
func (m models) gated(learned forecast.Model) forecast.Model {
	return forecast.NewAuto(append(m.baselines(), learned), forecast.SelectOptions{MinImprovement: minImprovement})
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

// warmLSTMSteps is the optimisation budget of an LSTM warm start (a fit
// takes up to 300 steps); the hybrid's budget is HybridRefitOptions' default
// (60 LSTM steps, 20 trees).
const warmLSTMSteps = 60

var _ shadow.WarmStarter = models{}

// WarmStart continues training a learned predictor on a newer history
// (shadow.WarmStarter): the LSTM from its weights, the hybrid from its
// weights and trees (HybridPredictor.Refit), each recalibrated on the most
// recent out-of-sample part of s. The GBM forecaster has no warm start: its
// fit refits on the whole history, which leaves no recent out-of-sample
// window to recalibrate appended trees on, and a full fit is cheap.
// Baselines are not encodable, so the engine never asks for them.
func (models) WarmStart(prev forecast.Predictor, s forecast.Series, spec forecast.Spec) (forecast.Predictor, error) {
	switch p := prev.(type) {
	case *forecast.HybridPredictor:
		q, err := p.Refit(s, spec, forecast.HybridRefitOptions{})
		if errors.Is(err, forecast.ErrNewEventKinds) {
			// Not a failure: a full fit adds the new kind.
			return nil, fmt.Errorf("%w: %w", shadow.ErrNoWarmStart, err)
		}
		return q, err
	case *forecast.LSTMPredictor:
		return p.Refit(s, spec, warmLSTMSteps)
	}
	return nil, fmt.Errorf("%T: %w", prev, shadow.ErrNoWarmStart)
}

// Restore decodes a persisted predictor by its Go type.
func (models) Restore(kind string, data []byte) (forecast.Predictor, error) {
	var p interface {
		forecast.Predictor
		UnmarshalBinary([]byte) error
	}
	switch kind {
	case "*forecast.LSTMPredictor":
		p = &forecast.LSTMPredictor{}
	case "*forecast.GBMPredictor":
		p = &forecast.GBMPredictor{}
	case "*forecast.HybridPredictor":
		p = &forecast.HybridPredictor{}
	default:
		return nil, fmt.Errorf("no decoder for persisted %s", kind)
	}
	if err := p.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return p, nil
}
