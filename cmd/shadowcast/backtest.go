package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/shadowcast/shadowcast/backtest"
	"github.com/shadowcast/shadowcast/forecast"
)

// backtestMethods is the registry of methods `shadowcast backtest` knows,
// in display order.
func backtestMethods() []backtest.Method {
	return []backtest.Method{
		{Name: forecast.NameSeasonalNaive, New: func() forecast.Model {
			return forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{})
		}},
		{Name: forecast.NameSeasonalNaiveWeekly, New: func() forecast.Model {
			return forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{Weekly: true})
		}},
		{Name: forecast.NameNaive2, New: func() forecast.Model {
			return forecast.NewNaive2(forecast.Naive2Options{})
		}},
		{Name: forecast.NameHoltWinters, New: func() forecast.Model {
			return forecast.NewHoltWinters(forecast.HoltWintersOptions{})
		}},
		{Name: "holt_winters_daily", New: func() forecast.Model {
			return forecast.NewHoltWinters(forecast.HoltWintersOptions{Seasonality: forecast.SeasonDaily})
		}},
		{Name: "holt_winters_weekly", New: func() forecast.Model {
			return forecast.NewHoltWinters(forecast.HoltWintersOptions{Seasonality: forecast.SeasonWeekly})
		}},
		{Name: "holt_winters_raw", New: func() forecast.Model {
			return forecast.NewHoltWinters(forecast.HoltWintersOptions{Transform: forecast.TransformNone})
		}},
		{Name: "holt_winters_log", New: func() forecast.Model {
			return forecast.NewHoltWinters(forecast.HoltWintersOptions{Transform: forecast.TransformLog})
		}},
		{Name: forecast.NameAuto, New: func() forecast.Model {
			return forecast.NewAuto([]forecast.Model{
				forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}),
				forecast.NewHoltWinters(forecast.HoltWintersOptions{}),
			}, forecast.SelectOptions{MinImprovement: 0.05})
		}},
		{Name: forecast.NameLastValue, New: func() forecast.Model {
			return forecast.NewLastValue(forecast.LastValueOptions{})
		}},
		// Global and learned models (fitted once over all training series
		// when they implement backtest.GlobalFitter).
		{Name: "lstm", New: func() forecast.Model { return lstmGlobal{forecast.NewLSTM(forecast.LSTMOptions{})} }},
		{Name: "gbm", New: func() forecast.Model { return forecast.NewGBM(forecast.GBMForecastOptions{}) }},
		{Name: "hybrid", New: func() forecast.Model { return forecast.NewHybrid(forecast.HybridOptions{}) }},
		{Name: forecast.NameStack, New: func() forecast.Model {
			return forecast.NewStack(forecast.StackOptions{Members: []forecast.Model{forecast.NewHoltWinters(forecast.HoltWintersOptions{}), forecast.NewGBM(forecast.GBMForecastOptions{})}})
		}},
	}
}

// lstmGlobal adapts the LSTM's typed FitGlobal to backtest.GlobalFitter.
type lstmGlobal struct{ *forecast.LSTM }

func (m lstmGlobal) FitGlobal(series []forecast.Series, spec forecast.Spec) ([]forecast.Predictor, error) {
	return forecast.Predictors(m.LSTM.FitGlobal(series, spec))
}

var (
	_ backtest.GlobalFitter = lstmGlobal{}
	_ backtest.GlobalFitter = (*forecast.Hybrid)(nil)
	_ backtest.GlobalFitter = m4LSTM{}
	_ backtest.GlobalFitter = m4Hybrid{}
)

type backtestFlags struct {
	source   string
	file     string
	data     string
	series   int
	valid    bool
	methods  string
	format   string
	svg      string
	level    float64
	workers  int
	step     string
	horizons string
	origins  int
	history  string
	refit    string
	profile  bool
	seeds    int
	calib    string
	calibWin int
	calibGam float64
}

func backtestCommand(app *kingpin.Application) command {
	c := app.Command("backtest", "Backtest forecasting methods on M4 Hourly (`backtest m4 --data DIR`) or on a timestamp,value CSV (`backtest csv FILE --step 5m --horizons 5m,15m`).")
	f := addBacktestFlags(c)
	return command{clause: c, run: func() int {
		if err := f.run(os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "shadowcast backtest: %v\n", err)
			return 1
		}
		return 0
	}}
}

// addBacktestFlags registers the arguments and flags of the backtest
// command on c.
func addBacktestFlags(c *kingpin.CmdClause) *backtestFlags {
	f := &backtestFlags{}
	c.Arg("source", "Data set: m4 or csv.").Required().EnumVar(&f.source, "m4", "csv")
	c.Arg("file", "CSV file (csv source).").StringVar(&f.file)
	c.Flag("data", "M4 directory holding Hourly-train.csv and Hourly-test.csv (m4 source).").Default("../shared/data/m4").StringVar(&f.data)
	c.Flag("series", "Use only the first N M4 series (0 = all 414).").Default("0").IntVar(&f.series)
	c.Flag("validation", "Score on the last 48 hours of the M4 training set instead of the test set (for tuning without touching the test set).").BoolVar(&f.valid)
	c.Flag("methods", "Comma-separated methods: "+strings.Join(methodNames(), ", ")+".").Default("seasonal_naive,holt_winters").StringVar(&f.methods)
	c.Flag("format", "Output format: table or json.").Default("table").EnumVar(&f.format, "table", "json")
	c.Flag("svg", "Write an SVG plot of sample series (actual, forecast, bounds) to this file.").StringVar(&f.svg)
	c.Flag("level", "Nominal coverage of the bounds.").Default("0.9").Float64Var(&f.level)
	c.Flag("workers", "Parallel workers (0 = GOMAXPROCS).").Default("0").IntVar(&f.workers)
	c.Flag("step", "Resample the CSV to this step (mean of the samples in each step).").Default("5m").StringVar(&f.step)
	c.Flag("horizons", "Comma-separated lead times to score (csv source), multiples of --step.").Default("5m,15m,30m,1h").StringVar(&f.horizons)
	c.Flag("origins", "Number of rolling forecast origins, one per step at the end of the series (0 = last fifth).").Default("0").IntVar(&f.origins)
	c.Flag("history", "Sliding training window (0 = all history before each refit).").Default("7d").StringVar(&f.history)
	c.Flag("refit", "Refit interval between origins (csv source).").Default("1d").StringVar(&f.refit)
	c.Flag("m4-profile", "m4 source: lstm and hybrid use the settings chosen on the M4 Hourly validation split and share one LSTM fit (--no-m4-profile: the library defaults).").Default("true").BoolVar(&f.profile)
	c.Flag("seeds", "m4 profile: number of LSTM seeds whose per-point median lstm and hybrid use.").Default(strconv.Itoa(m4DefaultSeeds)).IntVar(&f.seeds)
	c.Flag("calibration", "Bounds (csv source): static keeps each method's own; rolling and adaptive recalibrate every method online from realised errors (rolling conformal window; adaptive adds ACI).").Default(backtest.CalibrationAdaptive).EnumVar(&f.calib, backtest.CalibrationModes...)
	c.Flag("calibration-window", "Realised scores per horizon step kept by the online calibrator.").Default(fmt.Sprint(forecast.DefaultAdaptiveWindow)).IntVar(&f.calibWin)
	c.Flag("calibration-gamma", "ACI step size of the adaptive calibration.").Default(fmt.Sprint(forecast.DefaultAdaptiveGamma)).Float64Var(&f.calibGam)
	return f
}

func methodNames() []string {
	var names []string
	for _, m := range backtestMethods() {
		names = append(names, m.Name)
	}
	return names
}

func (f *backtestFlags) selectMethods() ([]backtest.Method, error) {
	all := backtestMethods()
	var out []backtest.Method
	for _, name := range strings.Split(f.methods, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		i := slices.IndexFunc(all, func(m backtest.Method) bool { return m.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown method %q (want one of %s)", name, strings.Join(methodNames(), ", "))
		}
		out = append(out, all[i])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no method selected")
	}
	return out, nil
}

func (f *backtestFlags) run(w io.Writer) error {
	methods, err := f.selectMethods()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := backtest.Options{Level: f.level, Workers: f.workers}
	var (
		results []backtest.Result
		panels  []backtest.Panel
	)
	began := time.Now()
	switch f.source {
	case "m4":
		data, err := backtest.LoadM4(f.data, f.series)
		if err != nil {
			return err
		}
		if f.valid {
			data = backtest.M4Validation(data)
		}
		if f.profile {
			methods = m4Profile(methods, f.seeds)
		}
		var fcs [][]backtest.M4Forecast
		results, fcs, err = backtest.RunM4(ctx, data, methods, opts)
		if err != nil {
			return err
		}
		panels = backtest.M4Panels(data, methods, fcs, 4)
	case "csv":
		if f.file == "" {
			return fmt.Errorf("csv source needs a FILE argument")
		}
		step, err := parseDuration("step", f.step)
		if err != nil {
			return err
		}
		ro := backtest.RollingOptions{Options: opts, Origins: f.origins, Calibration: f.calib,
			Adaptive: forecast.AdaptiveOptions{Window: f.calibWin, Gamma: f.calibGam}}
		for _, h := range strings.Split(f.horizons, ",") {
			d, err := parseDuration("horizons", strings.TrimSpace(h))
			if err != nil {
				return err
			}
			if d <= 0 || d%step != 0 {
				return fmt.Errorf("horizon %s is not a positive multiple of step %s", d, step)
			}
			ro.Horizons = append(ro.Horizons, int(d/step))
		}
		if ro.History, err = stepsOf("history", f.history, step); err != nil {
			return err
		}
		if ro.Refit, err = stepsOf("refit", f.refit, step); err != nil {
			return err
		}
		file, err := os.Open(f.file)
		if err != nil {
			return err
		}
		pts, err := backtest.ReadCSV(file)
		file.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
		s, err := backtest.Resample(pts, step)
		if err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
		var traces [][]backtest.RollingTrace
		results, traces, err = backtest.RunRolling(ctx, s, methods, ro)
		if err != nil {
			return err
		}
		panels = backtest.RollingPanels(s, methods, traces, ro.Horizons[len(ro.Horizons)-1])
	}
	if f.svg != "" {
		out, err := os.Create(f.svg)
		if err != nil {
			return err
		}
		if err := backtest.WriteSVG(out, panels); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
	if f.format == "json" {
		return writeResultsJSON(w, results, f.source == "csv")
	}
	return writeResultsTable(w, results, f.source == "csv", time.Since(began))
}

func parseDuration(flag, s string) (time.Duration, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", flag, err)
	}
	return time.Duration(d), nil
}

func stepsOf(flag, s string, step time.Duration) (int, error) {
	d, err := parseDuration(flag, s)
	if err != nil {
		return 0, err
	}
	return int(d / step), nil
}

// jsonFloat encodes NaN and ±Inf as null.
type jsonFloat float64

func (v jsonFloat) MarshalJSON() ([]byte, error) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(math.Round(f*1e6) / 1e6)
}

func writeResultsJSON(w io.Writer, results []backtest.Result, withHorizon bool) error {
	type row struct {
		Method   string    `json:"method"`
		Horizon  string    `json:"horizon,omitempty"`
		SMAPE    jsonFloat `json:"smape"`
		MASE     jsonFloat `json:"mase"`
		OWA      jsonFloat `json:"owa"`
		Coverage jsonFloat `json:"coverage"`
		Width    jsonFloat `json:"width"`
	}
	rows := make([]row, 0, len(results))
	for _, r := range results {
		x := row{Method: r.Method, SMAPE: jsonFloat(r.SMAPE), MASE: jsonFloat(r.MASE), OWA: jsonFloat(r.OWA),
			Coverage: jsonFloat(r.Coverage), Width: jsonFloat(r.Width)}
		if withHorizon {
			x.Horizon = model.Duration(r.Horizon).String()
		}
		rows = append(rows, x)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func writeResultsTable(w io.Writer, results []backtest.Result, withHorizon bool, total time.Duration) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "method\t"
	if withHorizon {
		head += "horizon\t"
	}
	fmt.Fprintln(tw, head+"sMAPE\tMASE\tOWA\tcoverage\twidth\tn\tfallbacks\tseconds\t")
	for _, r := range results {
		line := r.Method + "\t"
		if withHorizon {
			line += model.Duration(r.Horizon).String() + "\t"
		}
		fmt.Fprintf(tw, "%s%.3f\t%.3f\t%.3f\t%.3f\t%.2f\t%d\t%d\t%.1f\t\n", line,
			r.SMAPE, r.MASE, r.OWA, r.Coverage, r.Width, r.Series, r.Fallbacks, r.Elapsed.Seconds())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "total %.1fs\n", total.Seconds())
	return err
}
