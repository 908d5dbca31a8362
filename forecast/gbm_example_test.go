package forecast_test

import (
	"fmt"

	"github.com/shadowcast/shadowcast/forecast"
)

func ExampleTrainGBM() {
	// y = 1 when x ≥ 50, else 0; one feature.
	X := forecast.NewMatrix(100, 1)
	y := make([]float64, 100)
	for i := range 100 {
		X.Row(i)[0] = float64(i)
		if i >= 50 {
			y[i] = 1
		}
	}
	b, err := forecast.TrainGBM(X, y, forecast.GBMOptions{Rounds: 50, LearningRate: 0.3, MaxLeaves: 2, MinDataInLeaf: 5})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.2f %.2f %d trees\n", b.Predict([]float64{10}), b.Predict([]float64{80}), b.NumTrees())
	// Output: 0.00 1.00 50 trees
}
