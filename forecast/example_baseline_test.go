package forecast_test

import (
	"fmt"
	"math"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
)

// hourly returns days of an hourly series peaking at noon.
func hourly(days int) forecast.Series {
	v := make([]float64, 24*days)
	for i := range v {
		v[i] = 100 + 50*math.Sin(2*math.Pi*float64(i%24-6)/24) + float64(i%5)
	}
	return forecast.Series{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Hour, Values: v}
}

func ExampleNewSeasonalNaive() {
	s := hourly(3)
	m := forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{})
	p, err := m.Fit(s, forecast.Spec{Horizon: 3, Level: 0.9})
	if err != nil {
		fmt.Println(err)
		return
	}
	f, _ := p.Predict(s)
	for k := range f.Point {
		fmt.Printf("%s %.1f bounded=%v\n", s.End().Add(time.Duration(k+1)*s.Step).Format("15:04"), f.Point[k], f.Lower[k] <= f.Point[k] && f.Point[k] <= f.Upper[k])
	}
	// Output:
	// 00:00 53.0 bounded=true
	// 01:00 55.7 bounded=true
	// 02:00 56.7 bounded=true
}

func ExampleMinHistory() {
	hw := forecast.NewHoltWinters(forecast.HoltWintersOptions{})
	fmt.Println(forecast.MinHistory(hw, time.Minute), forecast.MinHistory(hw, time.Hour))
	// Output: 2900 68
}

func ExampleSelect() {
	s := hourly(10)
	cands := []forecast.Model{
		forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}),
		forecast.NewHoltWinters(forecast.HoltWintersOptions{}),
	}
	best, scores, err := forecast.Select(cands, s, forecast.Spec{Horizon: 6, Level: 0.9}, forecast.SelectOptions{MinImprovement: 0.05})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, sc := range scores {
		fmt.Printf("%s scored on %d values\n", sc.Model, sc.N)
	}
	fmt.Println("serving:", best.Name())
	// Output:
	// seasonal_naive scored on 24 values
	// holt_winters scored on 24 values
	// serving: holt_winters
}

func ExampleOWA() {
	// The M4 Hourly seasonal naive relative to Naive2.
	fmt.Printf("%.3f\n", forecast.OWA(13.912, 1.193, forecast.M4HourlyNaive2SMAPE, forecast.M4HourlyNaive2MASE))
	// Output: 0.627
}
