package simulate

import (
	"math"
	"testing"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
)

func benchTrace(days int) forecast.Series {
	s := forecast.Series{Start: t0, Step: time.Minute}
	for i := range days * 1440 {
		h := float64(i%1440) / 1440
		s.Values = append(s.Values, 50+30*math.Sin(2*math.Pi*h)+5*math.Sin(float64(i)*1.3))
	}
	return s
}

// BenchmarkForecast measures the forecasting pass over one week of
// minutes with hourly Holt-Winters refits on a two-day window.
func BenchmarkForecast(b *testing.B) {
	s := benchTrace(7)
	opts := Options{Capacity: 5, Model: forecast.NewHoltWinters(forecast.HoltWintersOptions{}), Window: 2 * 1440}
	for b.Loop() {
		if _, err := Forecast(s, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplay measures the four policies (three learned-policy
// training passes) over one week of minutes, forecasts precomputed.
func BenchmarkReplay(b *testing.B) {
	s := benchTrace(7)
	opts := Options{Capacity: 5, Model: forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{})}
	f, err := Forecast(s, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Replay(f, opts); err != nil {
			b.Fatal(err)
		}
	}
}
