// Package rules generates the per-resource Prometheus alerting rules from
// shadowcast's configuration, so a resource's thresholds have one source of
// truth: the config file, exported by the engine as
// shadowcast_threshold_upper / shadowcast_threshold_lower and compared
// against the shadows by the generated rules.
//
// The static recording and alerting rules live beside this file
// (shadowcast.rules.yml, shadowcast.alerts.yml) and are unit-tested with
// `promtool test rules` (tests/*.test.yml). Generate is a pure function: it
// reads no file and the same Options always give the same bytes.
package rules
