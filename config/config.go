// Package config defines shadowcast's YAML configuration: its schema,
// defaults and validation. It imports no other package of this module;
// cmd/ translates a Config into the Options of each component.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Limits that bound the cardinality of every label derived from config.
const (
	MaxShadows  = 500
	MaxHorizons = 16
)

// Model names accepted in a shadow's `model` key.
const (
	ModelAuto          = "auto"
	ModelSeasonalNaive = "seasonal_naive"
	ModelHoltWinters   = "holt_winters"
	ModelLSTM          = "lstm"
	ModelGBM           = "gbm"
	ModelHybrid        = "hybrid"
	ModelStack         = "stack"
)

var (
	validModels = []string{ModelAuto, ModelSeasonalNaive, ModelHoltWinters, ModelLSTM, ModelGBM, ModelHybrid, ModelStack}
	nameRE      = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Config is the whole configuration file.
type Config struct {
	Global      Global        `yaml:"global"`
	Prometheus  Prometheus    `yaml:"prometheus"`
	Shadows     []Shadow      `yaml:"shadows"`
	Events      []Event       `yaml:"events,omitempty"`
	Resources   []Resource    `yaml:"resources,omitempty"`
	Webhook     Webhook       `yaml:"webhook,omitempty"`
	RemoteWrite []RemoteWrite `yaml:"remote_write,omitempty"`
	KPIs        []KPI         `yaml:"kpis,omitempty"`
	// EventSources are dynamic event sources (iCal, API, PromQL).
	EventSources EventSources `yaml:"event_sources,omitempty"`

	// dir is the directory of the file, against which relative paths resolve.
	dir string
}

// Global holds settings shared by every shadow.
type Global struct {
	// ExternalLabels are added to every exported shadow series (e.g. to tell
	// HA replicas apart).
	ExternalLabels map[string]string `yaml:"external_labels,omitempty"`
}

// Prometheus is the connection used by shadows whose source is a PromQL query.
type Prometheus struct {
	URL        string                     `yaml:"url"`
	Timeout    model.Duration             `yaml:"timeout"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:",inline"`
}

// Shadow is one forecast definition. A source query may return many series;
// each becomes its own shadow instance carrying the source labels.
type Shadow struct {
	Name            string           `yaml:"name"`
	Help            string           `yaml:"help,omitempty"`
	Source          Source           `yaml:"source"`
	Step            model.Duration   `yaml:"step"`
	History         model.Duration   `yaml:"history"`
	Horizons        []model.Duration `yaml:"horizons"`
	Confidence      float64          `yaml:"confidence"`
	Model           string           `yaml:"model"`
	RetrainInterval model.Duration   `yaml:"retrain_interval"`
	// FullRetrainEvery makes every n-th scheduled retraining of an instance
	// a full fit (model selection included); the ones in between
	// warm-start from the serving learned model (hybrid, lstm). 1 disables
	// warm starts.
	FullRetrainEvery int      `yaml:"full_retrain_every"`
	Cleaning         Cleaning `yaml:"cleaning"`
}

// Source says where a shadow's activity comes from. Exactly one is set.
type Source struct {
	Prometheus *PrometheusSource `yaml:"prometheus,omitempty"`
	Scrape     *ScrapeSource     `yaml:"scrape,omitempty"`
	File       *FileSource       `yaml:"file,omitempty"`
}

// PrometheusSource reads a PromQL expression through the HTTP API.
type PrometheusSource struct {
	Query string `yaml:"query"`
}

// ScrapeSource scrapes a /metrics endpoint directly. Gauges are used as they
// are; counters become per-second rates with reset handling.
type ScrapeSource struct {
	URL        string                     `yaml:"url"`
	Metric     string                     `yaml:"metric"`
	Matchers   map[string]string          `yaml:"match_labels,omitempty"`
	Timeout    model.Duration             `yaml:"timeout"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:",inline"`
}

// FileSource replays a CSV file of `timestamp,value` rows.
type FileSource struct {
	// Path of the CSV file; relative paths resolve against the config file.
	Path string `yaml:"path,omitempty"`
	// Embedded names a trace bundled in the binary instead of Path
	// ("nasa-http").
	Embedded string `yaml:"embedded,omitempty"`
	// Speedup is how many seconds of the trace pass per wall-clock second.
	Speedup float64 `yaml:"speedup"`
	// Loop restarts the replay from the beginning at the end of the file.
	Loop bool `yaml:"loop,omitempty"`
}

// Cleaning controls how raw samples become a regular series.
type Cleaning struct {
	// MaxGap is the longest gap filled by interpolation; longer gaps stay
	// missing.
	MaxGap model.Duration `yaml:"max_gap"`
	// OutlierMADs clips values further than this many median absolute
	// deviations from a rolling median (0 disables clipping).
	OutlierMADs float64 `yaml:"outlier_mads"`
}

// Event is a known external event that shapes activity.
type Event struct {
	Name  string    `yaml:"name"`
	Kind  string    `yaml:"kind"`
	Start time.Time `yaml:"start"`
	End   time.Time `yaml:"end"`
	// Shadows restricts the event to these shadows (all when empty).
	Shadows []string `yaml:"shadows,omitempty"`
}

// Defaults.
var (
	DefaultPrometheusTimeout = model.Duration(30 * time.Second)
	DefaultStep              = model.Duration(time.Minute)
	DefaultHistory           = model.Duration(7 * 24 * time.Hour)
	DefaultHorizons          = []model.Duration{model.Duration(5 * time.Minute), model.Duration(15 * time.Minute), model.Duration(30 * time.Minute)}
	DefaultConfidence        = 0.9
	DefaultRetrainInterval   = model.Duration(6 * time.Hour)
	DefaultFullRetrainEvery  = 8
	DefaultSpeedup           = 60.0
	DefaultOutlierMADs       = 10.0
)

// Load parses a configuration document, applies defaults and validates it.
// dir is the directory relative paths resolve against. Every problem found
// is reported, joined in one error.
func Load(b []byte, dir string) (*Config, error) {
	c := &Config{dir: dir}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadFile reads and loads the file at path.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c, err := Load(b, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ResolvePath resolves p against the directory of the config file.
func (c *Config) ResolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *Config) applyDefaults() {
	if c.Prometheus.Timeout == 0 {
		c.Prometheus.Timeout = DefaultPrometheusTimeout
	}
	for i := range c.Shadows {
		s := &c.Shadows[i]
		if s.Step == 0 {
			s.Step = DefaultStep
		}
		if s.History == 0 {
			s.History = DefaultHistory
		}
		if len(s.Horizons) == 0 {
			s.Horizons = append([]model.Duration(nil), DefaultHorizons...)
		}
		if s.Confidence == 0 {
			s.Confidence = DefaultConfidence
		}
		if s.Model == "" {
			s.Model = ModelAuto
		}
		if s.RetrainInterval == 0 {
			s.RetrainInterval = DefaultRetrainInterval
		}
		if s.FullRetrainEvery == 0 {
			s.FullRetrainEvery = DefaultFullRetrainEvery
		}
		if s.Cleaning.MaxGap == 0 {
			s.Cleaning.MaxGap = model.Duration(5 * time.Duration(s.Step))
		}
		if s.Cleaning.OutlierMADs == 0 {
			s.Cleaning.OutlierMADs = DefaultOutlierMADs
		}
		if f := s.Source.File; f != nil && f.Speedup == 0 {
			f.Speedup = DefaultSpeedup
		}
		if sc := s.Source.Scrape; sc != nil && sc.Timeout == 0 {
			sc.Timeout = model.Duration(10 * time.Second)
		}
	}
	c.applyScalingDefaults()
	applyRemoteWriteDefaults(c.RemoteWrite)
	applyKPIDefaults(c.KPIs)
}

// Validate reports every problem in c, joined in one error.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(c.Shadows) > MaxShadows {
		add("shadows: %d configured, the limit is %d", len(c.Shadows), MaxShadows)
	}
	for k := range c.Global.ExternalLabels {
		if !model.LabelName(k).IsValidLegacy() {
			add("global.external_labels: invalid label name %q", k)
		}
	}
	needProm := false
	seen := map[string]bool{}
	for i, s := range c.Shadows {
		at := fmt.Sprintf("shadows[%d]", i)
		if s.Name != "" {
			at = fmt.Sprintf("shadows[%d] (%s)", i, s.Name)
		}
		switch {
		case s.Name == "":
			add("%s: name is required", at)
		case !nameRE.MatchString(s.Name):
			add("%s: name must match %s", at, nameRE)
		case seen[s.Name]:
			add("%s: duplicate shadow name %q", at, s.Name)
		}
		seen[s.Name] = true

		step := time.Duration(s.Step)
		if step <= 0 {
			add("%s: step must be positive", at)
		}
		if time.Duration(s.History) < step {
			add("%s: history %s is shorter than step %s", at, s.History, s.Step)
		}
		if len(s.Horizons) > MaxHorizons {
			add("%s: %d horizons, the limit is %d", at, len(s.Horizons), MaxHorizons)
		}
		hseen := map[model.Duration]bool{}
		for _, h := range s.Horizons {
			switch {
			case h <= 0:
				add("%s: horizon %s must be positive", at, h)
			case step > 0 && time.Duration(h)%step != 0:
				add("%s: horizon %s is not a multiple of step %s", at, h, s.Step)
			case hseen[h]:
				add("%s: duplicate horizon %s", at, h)
			case time.Duration(h) > time.Duration(s.History):
				add("%s: horizon %s is longer than history %s", at, h, s.History)
			}
			hseen[h] = true
		}
		if s.Confidence <= 0 || s.Confidence >= 1 {
			add("%s: confidence %g must be in (0, 1)", at, s.Confidence)
		}
		if !contains(validModels, s.Model) {
			add("%s: unknown model %q (want one of %v)", at, s.Model, validModels)
		}
		if s.RetrainInterval < 0 {
			add("%s: retrain_interval must not be negative", at)
		}
		if s.FullRetrainEvery < 0 {
			add("%s: full_retrain_every %d must not be negative (1 disables warm starts)", at, s.FullRetrainEvery)
		}
		if s.Cleaning.MaxGap < 0 {
			add("%s: cleaning.max_gap must not be negative", at)
		}
		if s.Cleaning.OutlierMADs < 0 {
			add("%s: cleaning.outlier_mads must not be negative", at)
		}

		n := 0
		if src := s.Source.Prometheus; src != nil {
			n++
			needProm = true
			if src.Query == "" {
				add("%s: source.prometheus.query is required", at)
			}
		}
		if src := s.Source.Scrape; src != nil {
			n++
			if err := validURL(src.URL); err != nil {
				add("%s: source.scrape.url: %v", at, err)
			}
			if src.Metric == "" {
				add("%s: source.scrape.metric is required", at)
			}
			if err := src.HTTPConfig.Validate(); err != nil {
				add("%s: source.scrape: %v", at, err)
			}
		}
		if src := s.Source.File; src != nil {
			n++
			switch {
			case src.Path == "" && src.Embedded == "":
				add("%s: source.file needs path or embedded", at)
			case src.Path != "" && src.Embedded != "":
				add("%s: source.file takes path or embedded, not both", at)
			case src.Embedded != "" && !contains(EmbeddedTraces, src.Embedded):
				add("%s: source.file.embedded: unknown trace %q (want one of %v)", at, src.Embedded, EmbeddedTraces)
			}
			if src.Speedup <= 0 {
				add("%s: source.file.speedup must be positive", at)
			}
		}
		if n != 1 {
			add("%s: source needs exactly one of prometheus, scrape, file (got %d)", at, n)
		}
	}
	if needProm {
		if err := validURL(c.Prometheus.URL); err != nil {
			add("prometheus.url: %v", err)
		}
		if err := c.Prometheus.HTTPConfig.Validate(); err != nil {
			add("prometheus: %v", err)
		}
	}
	for i, e := range c.Events {
		at := fmt.Sprintf("events[%d]", i)
		if e.Name == "" {
			add("%s: name is required", at)
		}
		if e.Start.IsZero() || e.End.IsZero() {
			add("%s: start and end are required (RFC 3339)", at)
		} else if !e.End.After(e.Start) {
			add("%s: end %s is not after start %s", at, e.End.Format(time.RFC3339), e.Start.Format(time.RFC3339))
		}
		for _, name := range e.Shadows {
			if !seen[name] {
				add("%s: unknown shadow %q", at, name)
			}
		}
	}
	errs = append(errs, c.validateScaling(seen)...)
	errs = append(errs, c.validateEvents(c.EventSources, seen)...)
	errs = append(errs, validateRemoteWrite(c.RemoteWrite)...)
	errs = append(errs, c.validateKPIs(c.KPIs)...)
	return errors.Join(errs...)
}

// EmbeddedTraces lists the traces bundled in the binary.
var EmbeddedTraces = []string{"nasa-http"}

func validURL(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("host is missing")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
