// Package webhook receives Alertmanager notifications (payload version 4)
// and turns them into scaling decisions for the configured resource pool.
//
// The allocation logic is pure (see Plan and Mix); the Engine adds state
// (stabilisation history, cooldown, deduplication), a bounded queue, workers
// and retries, and executes decisions through Actuators supplied by the
// caller, so this package never talks to Kubernetes itself. Current
// forecasts come from a ShadowReader.
//
// Handlers answer 4xx for notifications that can never succeed, which
// Alertmanager does not retry, and 5xx only when a retry could help (queue
// full, shutting down). A failed action after acceptance is counted in
// shadowcast_actions_total and retried by the engine, never answered 5xx.
package webhook
