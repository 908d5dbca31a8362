package main

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast/config"
)

var (
	thresholdUpperDesc = prometheus.NewDesc("shadowcast_threshold_upper",
		"Configured upper threshold of a resource: a shadow upper bound above it asks for scale-up.",
		[]string{"shadow", "resource"}, nil)
	thresholdLowerDesc = prometheus.NewDesc("shadowcast_threshold_lower",
		"Configured lower threshold of a resource: a shadow lower bound below it allows scale-down.",
		[]string{"shadow", "resource"}, nil)
)

// thresholdCollector exports the configured resource thresholds, so rules
// compare shadows against one source of truth.
type thresholdCollector struct {
	mu        sync.Mutex
	resources []config.Resource
}

func newThresholdCollector(cfg *config.Config) *thresholdCollector {
	c := &thresholdCollector{}
	c.set(cfg)
	return c
}

func (c *thresholdCollector) set(cfg *config.Config) {
	c.mu.Lock()
	c.resources = append([]config.Resource(nil), cfg.Resources...)
	c.mu.Unlock()
}

func (c *thresholdCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- thresholdUpperDesc
	ch <- thresholdLowerDesc
}

func (c *thresholdCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.resources {
		ch <- prometheus.MustNewConstMetric(thresholdUpperDesc, prometheus.GaugeValue, r.ThresholdUpper, r.Shadow, r.Name)
		ch <- prometheus.MustNewConstMetric(thresholdLowerDesc, prometheus.GaugeValue, r.ThresholdLower, r.Shadow, r.Name)
	}
}
