package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/shadowcast/shadowcast/forecast"
	"github.com/shadowcast/shadowcast/policy"
	"github.com/shadowcast/shadowcast/simulate"
)

// simulateFlags are the flags of `shadowcast simulate`.
type simulateFlags struct {
	trace         string
	traceFormat   string
	wideTop       int
	wideStart     string
	step          time.Duration
	capacity      float64
	startup       time.Duration
	targetUtil    float64
	tolerance     float64
	stabilization time.Duration
	minReplicas   int
	maxReplicas   int
	cost          float64
	model         string
	season        time.Duration
	scaleWindow   time.Duration
	level         float64
	window        time.Duration
	refit         time.Duration
	smooth        time.Duration
	smoothTune    string
	headroom      float64
	train         float64
	lambda        float64
	epoch         time.Duration
	passes        int
	arms          string
	tune          string
	seed          uint64
	policyOut     string
	format        string
	svg           string
	svgFrom       string
	svgWindow     time.Duration
}

func simulateCommand(app *kingpin.Application) command {
	c := app.Command("simulate", "Replay a timestamp,value trace through a service model and compare reactive, predictive, predictive+learned and oracle allocation.")
	var f simulateFlags
	c.Flag("trace", "Trace file: timestamp,value CSV (NAB format) or a wide per-minute CSV (see --trace.format).").Required().StringVar(&f.trace)
	c.Flag("trace.format", "csv (timestamp,value) or wide (rows of minute_1..minute_N columns, summed).").Default("csv").EnumVar(&f.traceFormat, "csv", "wide")
	c.Flag("trace.wide-top", "With --trace.format=wide: sum only the N rows with the most volume (0: all).").Default("0").IntVar(&f.wideTop)
	c.Flag("trace.wide-start", "With --trace.format=wide: time of minute_1 (RFC 3339).").Default("2019-07-15T00:00:00Z").StringVar(&f.wideStart)
	c.Flag("step", "Step of the trace (0: the most frequent interval between rows).").Default("0s").DurationVar(&f.step)
	c.Flag("capacity", "Load one ready replica serves per step, in the trace's unit.").Required().Float64Var(&f.capacity)
	c.Flag("startup", "Start-up delay: a new replica serves only after it (rounded up to whole steps).").Default("5m").DurationVar(&f.startup)
	c.Flag("target-utilization", "Reactive policy: HPA target utilisation.").Default("0.8").Float64Var(&f.targetUtil)
	c.Flag("tolerance", "Reactive policy: HPA tolerance around the target.").Default("0.1").Float64Var(&f.tolerance)
	c.Flag("stabilization", "Scale-down stabilisation window of the reactive and predictive policies.").Default("5m").DurationVar(&f.stabilization)
	c.Flag("min-replicas", "Minimum replicas of every policy.").Default("1").IntVar(&f.minReplicas)
	c.Flag("max-replicas", "Maximum replicas of every policy (0: unbounded).").Default("0").IntVar(&f.maxReplicas)
	c.Flag("cost", "Cost of one replica-hour.").Default("1").Float64Var(&f.cost)
	c.Flag("model", "Forecasting model: holt_winters, holt_winters_nonseasonal, seasonal_naive, level_profile (level + a --season profile), or auto (Holt-Winters, non-seasonal when the trace is shorter than 3 days).").Default("auto").EnumVar(&f.model, "auto", "holt_winters", "holt_winters_nonseasonal", "seasonal_naive", "level_profile")
	c.Flag("season", "Period of the level_profile model.").Default("1h").DurationVar(&f.season)
	c.Flag("scale-window", "Span of the local scale of the conformal bounds (0: one day of steps).").Default("0s").DurationVar(&f.scaleWindow)
	c.Flag("level", "Confidence level of the forecast bounds.").Default("0.9").Float64Var(&f.level)
	c.Flag("window", "Sliding training window of the model.").Default("168h").DurationVar(&f.window)
	c.Flag("refit", "Refit interval of the model (it predicts incrementally every step in between).").Default("1h").DurationVar(&f.refit)
	c.Flag("smooth", "Forecast the trailing mean of the load over this span instead of the raw load (0: raw); the service model still sees the raw load.").Default("0s").DurationVar(&f.smooth)
	c.Flag("smooth.tune", "Comma-separated --smooth spans to choose from on the training part only (each is forecast and tuned; the rule of --policy.tune picks one); empty: use --smooth.").StringVar(&f.smoothTune)
	c.Flag("headroom", "Predictive policy: multiplier on the forecast upper bound.").Default("1").Float64Var(&f.headroom)
	c.Flag("train", "Leading share of the trace the learned policy trains on; every policy is reported on the rest.").Default("0.5").Float64Var(&f.train)
	c.Flag("policy.lambda", "Learned policy: weight of SLO violations against cost in the reward.").Default("8").Float64Var(&f.lambda)
	c.Flag("policy.epoch", "Learned policy: how long one decision holds.").Default("15m").DurationVar(&f.epoch)
	c.Flag("policy.passes", "Learned policy: training passes over the training part.").Default("3").IntVar(&f.passes)
	c.Flag("policy.arms", "Learned policy: arm set when --policy.tune is empty: default (headroom 0.25..1.25), fine (0..1 by 0.125, 1.25, 1.5), long (fine × delays up to 1h) or quantile (headroom = quantile levels of the normalised forecast error on the training part).").Default("default").EnumVar(&f.arms, simulate.ArmsDefault, simulate.ArmsFine, simulate.ArmsLong, simulate.ArmsQuantile)
	c.Flag("policy.tune", "Learned policy: choose λ, the arm set and the epoch on the training part only (train on its first half, validate on its second half) among this grid (lambdas=… arms=default,fine,long,quantile epochs=…); empty: use --policy.lambda, --policy.arms and --policy.epoch.").Default(simulate.DefaultGrid).StringVar(&f.tune)
	c.Flag("policy.seed", "Learned policy: random seed of Thompson sampling.").Default("1").Uint64Var(&f.seed)
	c.Flag("policy.state-file", "Write the trained policy state to this file (loadable by the engine).").StringVar(&f.policyOut)
	c.Flag("format", "Report format.").Default("table").EnumVar(&f.format, "table", "json")
	c.Flag("svg", "Write an SVG plot of load, capacity per policy and the shadow band to this file.").StringVar(&f.svg)
	c.Flag("svg.from", "Start of the plotted range (RFC 3339; default: start of the evaluation part).").StringVar(&f.svgFrom)
	c.Flag("svg.window", "Length of the plotted range.").Default("48h").DurationVar(&f.svgWindow)
	return command{clause: c, run: func() int {
		if err := runSimulate(f, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "shadowcast simulate: %v\n", err)
			return 1
		}
		return 0
	}}
}

func runSimulate(f simulateFlags, stdout io.Writer) error {
	data, err := os.ReadFile(f.trace)
	if err != nil {
		return err
	}
	var s forecast.Series
	switch f.traceFormat {
	case "wide":
		start, err := time.Parse(time.RFC3339, f.wideStart)
		if err != nil {
			return fmt.Errorf("--trace.wide-start: %w", err)
		}
		s, err = simulate.ReadWide(bytes.NewReader(data), start, f.wideTop)
		if err != nil {
			return err
		}
	default:
		s, err = simulate.ReadCSV(bytes.NewReader(data), f.step)
		if err != nil {
			return err
		}
	}
	cal := forecast.CalibrationOptions{ScaleWindow: int(f.scaleWindow / s.Step)}
	var model forecast.Model
	switch f.model {
	case "holt_winters":
		model = forecast.NewHoltWinters(forecast.HoltWintersOptions{Calibration: cal})
	case "holt_winters_nonseasonal":
		model = forecast.NewHoltWinters(forecast.HoltWintersOptions{Seasonality: forecast.SeasonNone, Calibration: cal})
	case "seasonal_naive":
		model = forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{Calibration: cal})
	case "level_profile":
		model = simulate.NewLevelProfile(simulate.LevelProfileOptions{Period: f.season, Calibration: cal})
	default:
		if time.Duration(s.Len())*s.Step < 72*time.Hour {
			model = forecast.NewHoltWinters(forecast.HoltWintersOptions{Seasonality: forecast.SeasonNone, Calibration: cal})
		} else {
			model = forecast.NewHoltWinters(forecast.HoltWintersOptions{Calibration: cal})
		}
	}
	opts := simulate.Options{
		Capacity: f.capacity, Startup: f.startup, TargetUtilization: f.targetUtil, Tolerance: f.tolerance,
		Stabilization: f.stabilization, MinReplicas: f.minReplicas, MaxReplicas: f.maxReplicas,
		CostPerReplicaHour: f.cost, Model: model, Level: f.level, Window: int(f.window / s.Step),
		Refit: f.refit, Smooth: f.smooth, Headroom: f.headroom, TrainFraction: f.train,
		Policy: policy.Options{Lambda: f.lambda, Seed: f.seed}, Epoch: f.epoch, Passes: f.passes, Arms: f.arms,
	}
	if opts.Tune, err = simulate.ParseCandidates(f.tune); err != nil {
		return err
	}
	var res *simulate.Result
	if f.smoothTune != "" {
		var spans []time.Duration
		for _, x := range strings.Split(f.smoothTune, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(x))
			if err != nil || d < 0 {
				return fmt.Errorf("--smooth.tune: bad span %q", x)
			}
			spans = append(spans, d)
		}
		if len(opts.Tune) == 0 {
			return errors.New("--smooth.tune needs --policy.tune")
		}
		fc, o, rows, err := simulate.SelectSmoothing(s, opts, spans)
		if err != nil {
			return err
		}
		if res, err = simulate.Replay(fc, o); err != nil {
			return err
		}
		res.SmoothTuning = rows
	} else if res, err = simulate.Run(s, opts); err != nil {
		return err
	}
	if f.policyOut != "" {
		if err := writeSimulateFile(f.policyOut, res.PolicyState); err != nil {
			return err
		}
	}
	if f.svg != "" {
		so := simulate.SVGOptions{Title: fmt.Sprintf("%s — load, ready capacity per policy, shadow band", filepath.Base(f.trace))}
		if f.svgFrom != "" {
			t, err := time.Parse(time.RFC3339, f.svgFrom)
			if err != nil {
				return fmt.Errorf("--svg.from: %w", err)
			}
			so.From = t
		} else {
			so.From = res.EvalFrom
		}
		so.To = so.From.Add(f.svgWindow)
		if err := writeSimulateFile(f.svg, func(w io.Writer) error { return res.WriteSVG(w, so) }); err != nil {
			return err
		}
	}
	if strings.EqualFold(f.format, "json") {
		return res.WriteJSON(stdout)
	}
	return res.WriteTable(stdout)
}

// writeSimulateFile writes through a temporary file renamed into place.
func writeSimulateFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".shadowcast-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
