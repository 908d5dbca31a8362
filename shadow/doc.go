// Package shadow runs the shadows: for every configured shadow it reads
// activity from a source, keeps the history (in memory and in an optional
// durable store), cleans it to a regular series, trains and retrains the
// forecasting models in the background, and publishes the latest forecast
// of every shadow instance and horizon.
//
// It is the orchestration layer between collector/ (data in) and forecast/
// (pure models). Consumers (the metrics exposition, the status page, the
// webhook and the KEDA scaler) read published values through Lookup and
// Snapshot; nothing they do can block collection or training.
//
// Time comes from each shadow's Source (wall clock for live sources, the
// replay cursor for file replay) and from Options.Now for wall-clock
// bookkeeping, so tests never sleep.
package shadow
