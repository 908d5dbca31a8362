package forecast

import (
	"math"
	"testing"
)

func TestScores(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		// 200/2 · (10/210 + 20/380)
		{"smape", SMAPE([]float64{100, 200}, []float64{110, 180}), 100 * (10.0/210 + 20.0/380)},
		{"smape zero pair counts as zero", SMAPE([]float64{0, 100}, []float64{0, 100}), 0},
		{"smape skips NaN", SMAPE([]float64{100, nan}, []float64{110, 5}), 200 * 10.0 / 210},
		{"mase scale lag 1", MASEScale([]float64{1, 2, 4, 7}, 1), 2},
		{"mase scale lag 2", MASEScale([]float64{1, 2, 4, 7}, 2), 4},
		{"mase scale short falls back to lag 1", MASEScale([]float64{1, 2, 4, 7}, 4), 2},
		{"mase scale skips NaN", MASEScale([]float64{1, nan, 4, 7}, 1), 3},
		{"mae", MAE([]float64{3, 5}, []float64{2, 7}), 1.5},
		{"mase", MASE([]float64{3, 5}, []float64{2, 7}, 2), 0.75},
		{"owa of naive2 is 1", OWA(M4HourlyNaive2SMAPE, M4HourlyNaive2MASE, M4HourlyNaive2SMAPE, M4HourlyNaive2MASE), 1},
		{"owa seasonal naive", OWA(13.912, 1.193, M4HourlyNaive2SMAPE, M4HourlyNaive2MASE), 0.5 * (13.912/18.383 + 1.193/2.395)},
		{"coverage", Coverage([]float64{1, 2, 3, 4}, []float64{0, 2.5, 3, nan}, []float64{2, 3, 4, 5}), 2.0 / 3},
		{"scaled width", ScaledWidth([]float64{0, 1}, []float64{2, 5}, 2), 1.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if math.Abs(tc.got-tc.want) > 1e-12 {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestScoresEmptyAreNaN(t *testing.T) {
	nan := math.NaN()
	for name, v := range map[string]float64{
		"smape":    SMAPE(nil, nil),
		"mae":      MAE([]float64{nan}, []float64{1}),
		"scale":    MASEScale([]float64{1}, 1),
		"coverage": Coverage(nil, nil, nil),
		"width":    ScaledWidth(nil, nil, 1),
	} {
		if !math.IsNaN(v) {
			t.Errorf("%s of nothing = %v, want NaN", name, v)
		}
	}
}
