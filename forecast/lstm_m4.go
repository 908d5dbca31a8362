package forecast

// M4HourlyLSTMOptions returns the LSTM settings chosen on the M4 Hourly
// validation protocol (train on each training series without its last 48
// values, score those; see docs/forecasting.md, "Accuracy on M4 Hourly"):
// a small global network reading one day, with a week of lookback into a
// wide head, learning the correction to seasonal naive, trained for up to
// 40,000 steps. They suit hourly series with a daily season and a 48-step
// horizon; the defaults (LSTMOptions{}) are sized for per-series training
// in the service.
func M4HourlyLSTMOptions() LSTMOptions {
	return LSTMOptions{
		Hidden: 16, Seq: 24, Lookback: 168, Dense: 256, Residual: true,
		Steps: 40000, BatchSize: 64, LR: 2e-3, EvalEvery: 2000, Patience: 4,
	}
}
