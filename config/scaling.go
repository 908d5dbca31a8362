package config

// Resource is a scalable resource in the allocation pool (issue: scaling path).
type Resource struct {
	Name string `yaml:"name"`
}

// Webhook configures the Alertmanager receiver.
type Webhook struct{}

func (c *Config) applyScalingDefaults() {}

// validateScaling reports problems in resources and webhook; shadows holds
// the configured shadow names.
func (c *Config) validateScaling(shadows map[string]bool) []error { return nil }
