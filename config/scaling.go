package config

import "github.com/prometheus/common/model"

// Resource is a scalable resource in the allocation pool. The webhook acts
// on configured resources only.
type Resource struct {
	// Name identifies the resource; alerts select it by the
	// `shadowcast_resource` label. [a-zA-Z_][a-zA-Z0-9_]*
	Name string `yaml:"name"`
	// Shadow is the shadow whose forecast drives the resource.
	Shadow string `yaml:"shadow"`
	// MatchLabels selects the shadow instance (source labels).
	MatchLabels map[string]string `yaml:"match_labels,omitempty"`
	// Horizon is the shadow horizon compared against the thresholds.
	Horizon model.Duration `yaml:"horizon"`
	// ThresholdUpper: a forecast upper bound above it asks for scale-up.
	ThresholdUpper float64 `yaml:"threshold_upper"`
	// ThresholdLower: a forecast lower bound below it allows scale-down.
	ThresholdLower float64 `yaml:"threshold_lower"`
}

// Webhook configures the Alertmanager receiver.
type Webhook struct{}

func (c *Config) applyScalingDefaults() {}

// validateScaling reports problems in resources and webhook; shadows holds
// the configured shadow names.
func (c *Config) validateScaling(shadows map[string]bool) []error { return nil }
