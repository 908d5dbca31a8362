package config

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Resource kinds: how a resource's units are changed.
const (
	// KindKubernetesScale sets spec.replicas through the scale subresource
	// of any object that has one (Deployment, StatefulSet, ReplicaSet, CRDs).
	KindKubernetesScale = "kubernetes_scale"
	// KindKubernetesRequests sets a container's CPU or memory request in
	// the pod template of a Deployment or StatefulSet; one unit is
	// kubernetes.unit of that resource.
	KindKubernetesRequests = "kubernetes_requests"
	// KindKubernetesHPAMin sets an HorizontalPodAutoscaler's minReplicas, so
	// the reactive HPA keeps working above the forecast floor.
	KindKubernetesHPAMin = "kubernetes_hpa_min"
	// KindHTTP posts the decision to an HTTP endpoint (cloud APIs, internal
	// platforms, database connection pools, bandwidth...).
	KindHTTP = "http"
)

// Modes of the allocation engine.
const (
	// ModeDryRun decides, logs and counts, and changes nothing.
	ModeDryRun = "dry_run"
	// ModeEnforce applies decisions through the actuators.
	ModeEnforce = "enforce"
)

// Threshold modes.
const (
	// ThresholdStatic compares the forecast with threshold_upper and
	// threshold_lower as written.
	ThresholdStatic = "static"
	// ThresholdDynamic narrows the band by the forecast's interval width:
	// the effective upper threshold is threshold_upper − k·w and the lower
	// one threshold_lower + k·w, with w the half-width (upper − lower)/2 of
	// the interval and k = dynamic_width_factor. A wider, less certain
	// forecast provisions earlier and releases later.
	ThresholdDynamic = "dynamic"
)

// Limits of the resource pool.
const (
	MaxResources    = 200
	MaxAlternatives = 3
)

var (
	validKinds          = []string{KindKubernetesScale, KindKubernetesRequests, KindKubernetesHPAMin, KindHTTP}
	validModes          = []string{ModeDryRun, ModeEnforce}
	validThresholdModes = []string{ThresholdStatic, ThresholdDynamic}
	// Kubernetes object names (DNS-1123 subdomain, simplified).
	k8sNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	// Group/version: "v1", "apps/v1", "example.com/v1beta1".
	apiVersionRE = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?$`)
)

// Resource is a scalable resource in the allocation pool. The webhook acts
// on configured resources only: alerts select one by its name in the
// `shadowcast_resource` label and can never name anything else.
type Resource struct {
	// Name identifies the resource; alerts select it by the
	// `shadowcast_resource` label. [a-zA-Z_][a-zA-Z0-9_]*
	Name string `yaml:"name"`
	// Shadow is the shadow whose forecast drives the resource.
	Shadow string `yaml:"shadow"`
	// MatchLabels selects the shadow instance (source labels). When several
	// instances match, their values are summed.
	MatchLabels map[string]string `yaml:"match_labels,omitempty"`
	// Horizon is the shadow horizon compared against the thresholds. It
	// defaults to the shortest horizon of the shadow that covers LeadTime.
	Horizon model.Duration `yaml:"horizon"`
	// ThresholdUpper: a forecast upper bound above it asks for scale-up.
	ThresholdUpper float64 `yaml:"threshold_upper"`
	// ThresholdLower: a forecast lower bound below it allows scale-down.
	ThresholdLower float64 `yaml:"threshold_lower"`

	// ThresholdMode is static (default) or dynamic.
	ThresholdMode string `yaml:"threshold_mode,omitempty"`
	// DynamicWidthFactor is k of the dynamic thresholds (default 1).
	DynamicWidthFactor float64 `yaml:"dynamic_width_factor,omitempty"`
	// Mode overrides webhook.mode for this resource (dry_run or enforce).
	Mode string `yaml:"mode,omitempty"`
	// Cooldown is the least time between two changes of the resource
	// (default webhook.cooldown).
	Cooldown model.Duration `yaml:"cooldown,omitempty"`
	// ScaleDownStabilization: a release takes the highest need recommended
	// over this window (default 5m), so releasing is slower than growing.
	ScaleDownStabilization model.Duration `yaml:"scale_down_stabilization,omitempty"`
	// LeadTime is how long a new unit takes to be ready (default: Horizon).
	LeadTime model.Duration `yaml:"lead_time,omitempty"`

	// Pool is the primary way to add capacity.
	Pool `yaml:",inline"`
	// Alternatives are other pools serving the same activity (say spot and
	// on-demand nodes); the engine picks the cheapest mix covering the need.
	Alternatives []Alternative `yaml:"alternatives,omitempty"`

	// Policy runs the learned allocation policy for this resource (off by
	// default).
	Policy ResourcePolicy `yaml:"policy,omitempty"`
}

// Learned-policy modes.
const (
	// PolicyOff: the learned policy is not consulted (the default).
	PolicyOff = "off"
	// PolicyDryRun: the policy chooses, learns from what actually happened
	// and explains each choice at /api/v1/decisions; it never acts.
	PolicyDryRun = "dry_run"
	// PolicyActive: as dry_run until the policy has learned
	// MinDryRunEpochs epochs online; then its chosen headroom and
	// scale-down delay drive the engine's decisions (within the same
	// bounds, cooldown and the resource's own mode).
	PolicyActive = "active"
)

var validPolicyModes = []string{PolicyOff, PolicyDryRun, PolicyActive}

// DefaultPolicyMinDryRunEpochs is one week of 15-minute epochs.
const DefaultPolicyMinDryRunEpochs = 672

// ResourcePolicy configures the learned allocation policy of a resource.
type ResourcePolicy struct {
	// Mode is off (default), dry_run or active.
	Mode string `yaml:"mode,omitempty"`
	// MinDryRunEpochs is the number of epochs the policy must have learned
	// online (persisted state counts; simulator training does not) before
	// an active policy may act (default 672: a week of 15-minute epochs).
	MinDryRunEpochs int `yaml:"min_dry_run_epochs,omitempty"`
	// SLO lists objectives over the KPIs (kpis[]); when set, an epoch's
	// violation is the share of its KPI samples beyond an objective
	// (the capacity proxy applies to epochs without a KPI sample).
	SLO []PolicySLO `yaml:"slo,omitempty"`
	// Lambda weighs SLO violations against cost in the reward (default 8).
	Lambda float64 `yaml:"lambda,omitempty"`
	// Epoch is how long one policy decision holds (default 15m); it must
	// be a multiple of webhook.sample_interval and at least twice it.
	Epoch model.Duration `yaml:"epoch,omitempty"`
	// StateFile persists what the policy learned (relative to the config
	// file). Empty: the policy starts from scratch at every start.
	StateFile string `yaml:"state_file,omitempty"`
	// SaveInterval is how often the state file is rewritten (default 5m);
	// it is also written at shutdown.
	SaveInterval model.Duration `yaml:"save_interval,omitempty"`
}

// PolicySLO is one objective over a KPI: every series of the KPI must
// stay at or below Max, or at or above Min (exactly one is set).
type PolicySLO struct {
	// KPI names an entry of kpis[].
	KPI string   `yaml:"kpi"`
	Max *float64 `yaml:"max,omitempty"`
	Min *float64 `yaml:"min,omitempty"`
}

// Alternative is an extra pool of a resource.
type Alternative struct {
	// Name identifies the pool in decisions and metrics.
	Name string `yaml:"name"`
	Pool `yaml:",inline"`
}

// Pool is one kind of unit that serves a resource's activity.
type Pool struct {
	// Kind is kubernetes_scale, kubernetes_requests, kubernetes_hpa_min or http.
	Kind string `yaml:"kind"`
	// Kubernetes addresses the object for the kubernetes_* kinds.
	Kubernetes *KubernetesTarget `yaml:"kubernetes,omitempty"`
	// HTTP is the endpoint of the http kind.
	HTTP *HTTPTarget `yaml:"http,omitempty"`
	// CapacityPerUnit is the activity one unit sustains (required, > 0).
	CapacityPerUnit float64 `yaml:"capacity_per_unit"`
	// Min and Max bound the units (min defaults to 1 for the primary pool, 0
	// for alternatives; max is required).
	Min int `yaml:"min"`
	Max int `yaml:"max"`
	// CostPerUnitHour weighs alternatives against each other.
	CostPerUnitHour float64 `yaml:"cost_per_unit_hour,omitempty"`
}

// KubernetesTarget is the object a kubernetes_* pool changes.
type KubernetesTarget struct {
	// APIVersion of the object (default apps/v1; autoscaling/v2 for
	// kubernetes_hpa_min).
	APIVersion string `yaml:"api_version,omitempty"`
	// Resource is the plural resource name (default deployments;
	// horizontalpodautoscalers for kubernetes_hpa_min). kubernetes_requests
	// supports deployments and statefulsets.
	Resource  string `yaml:"resource,omitempty"`
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	// Container whose request is set (kubernetes_requests only).
	Container string `yaml:"container,omitempty"`
	// Request is cpu or memory (kubernetes_requests only).
	Request string `yaml:"request,omitempty"`
	// Unit is the quantity of one unit, e.g. 250m or 256Mi
	// (kubernetes_requests only).
	Unit string `yaml:"unit,omitempty"`
}

// HTTPTarget is the endpoint of an http pool. Each change is a POST of a
// JSON body signed with HMAC-SHA256.
type HTTPTarget struct {
	URL string `yaml:"url"`
	// Timeout of one attempt (default 10s).
	Timeout model.Duration `yaml:"timeout,omitempty"`
	// Retries after a failed attempt (network error or 5xx; default 3).
	Retries *int `yaml:"retries,omitempty"`
	// Backoff before the first retry, doubled after each (default 500ms).
	Backoff model.Duration `yaml:"backoff,omitempty"`
	// SecretFile holds the HMAC key; relative to the config file.
	SecretFile string `yaml:"secret_file,omitempty"`
	// Headers are added to every request.
	Headers map[string]string `yaml:"headers,omitempty"`
}

// Webhook configures the Alertmanager receiver and the allocation engine.
type Webhook struct {
	// Mode is dry_run (default) or enforce.
	Mode string `yaml:"mode,omitempty"`
	// BearerTokenFile holds the token callers must send
	// (Authorization: Bearer ...). Empty: no token check (use
	// --web.config.file for TLS client certificates or basic auth).
	BearerTokenFile string `yaml:"bearer_token_file,omitempty"`
	// MaxBodyBytes caps a notification's size (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes,omitempty"`
	// QueueSize is how many resources may wait for evaluation (default 64).
	QueueSize int `yaml:"queue_size,omitempty"`
	// Workers evaluate queued resources (default 2).
	Workers int `yaml:"workers,omitempty"`
	// Cooldown is the default per-resource cooldown (default 3m).
	Cooldown model.Duration `yaml:"cooldown,omitempty"`
	// DedupeTTL is how long a notified (fingerprint, startsAt) is remembered
	// (default 24h).
	DedupeTTL model.Duration `yaml:"dedupe_ttl,omitempty"`
	// DecisionsKept is the size of the ring served at /api/v1/decisions
	// (default 256).
	DecisionsKept int `yaml:"decisions_kept,omitempty"`
	// RetryBackoff and RetryBackoffMax bound the engine's retries of failed
	// actions (defaults 1s and 5m).
	RetryBackoff    model.Duration `yaml:"retry_backoff,omitempty"`
	RetryBackoffMax model.Duration `yaml:"retry_backoff_max,omitempty"`
	// ActionTimeout bounds one evaluation, actuator calls included
	// (default 30s).
	ActionTimeout model.Duration `yaml:"action_timeout,omitempty"`
	// RequestTimeout bounds reading a notification and writing the answer
	// (default 10s).
	RequestTimeout model.Duration `yaml:"request_timeout,omitempty"`
	// SampleInterval is how often the engine records each resource's need
	// for the stabilisation window between alerts (default 15s).
	SampleInterval model.Duration `yaml:"sample_interval,omitempty"`
	// Kubeconfig is the path of a kubeconfig file for kubernetes_* pools;
	// empty: in-cluster config, else $KUBECONFIG.
	Kubeconfig string `yaml:"kubeconfig,omitempty"`
}

// Scaling defaults.
var (
	DefaultMaxBodyBytes           int64 = 1 << 20
	DefaultQueueSize                    = 64
	DefaultWorkers                      = 2
	DefaultCooldown                     = model.Duration(3 * time.Minute)
	DefaultDedupeTTL                    = model.Duration(24 * time.Hour)
	DefaultDecisionsKept                = 256
	DefaultRetryBackoff                 = model.Duration(time.Second)
	DefaultRetryBackoffMax              = model.Duration(5 * time.Minute)
	DefaultActionTimeout                = model.Duration(30 * time.Second)
	DefaultRequestTimeout               = model.Duration(10 * time.Second)
	DefaultSampleInterval               = model.Duration(15 * time.Second)
	DefaultScaleDownStabilization       = model.Duration(5 * time.Minute)
	DefaultHTTPTimeout                  = model.Duration(10 * time.Second)
	DefaultHTTPRetries                  = 3
	DefaultHTTPBackoff                  = model.Duration(500 * time.Millisecond)
	DefaultPolicyLambda                 = 8.0
	DefaultPolicyEpoch                  = model.Duration(15 * time.Minute)
	DefaultPolicySaveInterval           = model.Duration(5 * time.Minute)
)

func (c *Config) applyScalingDefaults() {
	w := &c.Webhook
	if w.Mode == "" {
		w.Mode = ModeDryRun
	}
	if w.MaxBodyBytes == 0 {
		w.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if w.QueueSize == 0 {
		w.QueueSize = DefaultQueueSize
	}
	if w.Workers == 0 {
		w.Workers = DefaultWorkers
	}
	if w.Cooldown == 0 {
		w.Cooldown = DefaultCooldown
	}
	if w.DedupeTTL == 0 {
		w.DedupeTTL = DefaultDedupeTTL
	}
	if w.DecisionsKept == 0 {
		w.DecisionsKept = DefaultDecisionsKept
	}
	if w.RetryBackoff == 0 {
		w.RetryBackoff = DefaultRetryBackoff
	}
	if w.RetryBackoffMax == 0 {
		w.RetryBackoffMax = DefaultRetryBackoffMax
	}
	if w.ActionTimeout == 0 {
		w.ActionTimeout = DefaultActionTimeout
	}
	if w.RequestTimeout == 0 {
		w.RequestTimeout = DefaultRequestTimeout
	}
	if w.SampleInterval == 0 {
		w.SampleInterval = DefaultSampleInterval
	}
	w.BearerTokenFile = c.ResolvePath(w.BearerTokenFile)
	w.Kubeconfig = c.ResolvePath(w.Kubeconfig)

	horizons := map[string][]model.Duration{}
	for _, s := range c.Shadows {
		horizons[s.Name] = s.Horizons
	}
	for i := range c.Resources {
		r := &c.Resources[i]
		if r.Horizon == 0 {
			r.Horizon = defaultHorizon(horizons[r.Shadow], r.LeadTime)
		}
		if r.LeadTime == 0 {
			r.LeadTime = r.Horizon
		}
		if r.ThresholdMode == "" {
			r.ThresholdMode = ThresholdStatic
		}
		if r.DynamicWidthFactor == 0 {
			r.DynamicWidthFactor = 1
		}
		if r.Mode == "" {
			r.Mode = w.Mode
		}
		if r.Cooldown == 0 {
			r.Cooldown = w.Cooldown
		}
		if r.ScaleDownStabilization == 0 {
			r.ScaleDownStabilization = DefaultScaleDownStabilization
		}
		if r.Min == 0 {
			r.Min = 1
		}
		c.applyPoolDefaults(&r.Pool)
		{
			p := &r.Policy
			if p.Mode == "" {
				p.Mode = PolicyOff
			}
			if p.Lambda == 0 {
				p.Lambda = DefaultPolicyLambda
			}
			if p.Epoch == 0 {
				p.Epoch = DefaultPolicyEpoch
			}
			if p.SaveInterval == 0 {
				p.SaveInterval = DefaultPolicySaveInterval
			}
			if p.MinDryRunEpochs == 0 {
				p.MinDryRunEpochs = DefaultPolicyMinDryRunEpochs
			}
			p.StateFile = c.ResolvePath(p.StateFile)
		}
		for j := range r.Alternatives {
			c.applyPoolDefaults(&r.Alternatives[j].Pool)
		}
	}
}

// defaultHorizon is the shortest configured horizon covering lead (the
// longest horizon when none does; 0 when the shadow is unknown).
func defaultHorizon(hs []model.Duration, lead model.Duration) model.Duration {
	var best, longest model.Duration
	for _, h := range hs {
		if h > longest {
			longest = h
		}
		if h >= lead && (best == 0 || h < best) {
			best = h
		}
	}
	if best == 0 {
		return longest
	}
	return best
}

func (c *Config) applyPoolDefaults(p *Pool) {
	if k := p.Kubernetes; k != nil {
		if k.Namespace == "" {
			k.Namespace = "default"
		}
		switch p.Kind {
		case KindKubernetesHPAMin:
			if k.APIVersion == "" {
				k.APIVersion = "autoscaling/v2"
			}
			if k.Resource == "" {
				k.Resource = "horizontalpodautoscalers"
			}
		default:
			if k.APIVersion == "" {
				k.APIVersion = "apps/v1"
			}
			if k.Resource == "" {
				k.Resource = "deployments"
			}
		}
	}
	if h := p.HTTP; h != nil {
		if h.Timeout == 0 {
			h.Timeout = DefaultHTTPTimeout
		}
		if h.Retries == nil {
			n := DefaultHTTPRetries
			h.Retries = &n
		}
		if h.Backoff == 0 {
			h.Backoff = DefaultHTTPBackoff
		}
		h.SecretFile = c.ResolvePath(h.SecretFile)
	}
}

// validateScaling reports problems in resources and webhook; shadows holds
// the configured shadow names.
func (c *Config) validateScaling(shadows map[string]bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	w := c.Webhook
	if !contains(validModes, w.Mode) {
		add("webhook.mode: unknown mode %q (want one of %v)", w.Mode, validModes)
	}
	if w.MaxBodyBytes < 0 {
		add("webhook.max_body_bytes must be positive")
	}
	if w.QueueSize < 0 {
		add("webhook.queue_size must be positive")
	}
	if w.Workers < 0 || w.Workers > 64 {
		add("webhook.workers %d must be in [1, 64]", w.Workers)
	}
	if w.Cooldown < 0 {
		add("webhook.cooldown must not be negative")
	}
	if w.DedupeTTL < 0 {
		add("webhook.dedupe_ttl must not be negative")
	}
	if w.DecisionsKept < 0 {
		add("webhook.decisions_kept must be positive")
	}
	if w.RetryBackoff < 0 || w.RetryBackoffMax < w.RetryBackoff {
		add("webhook: retry_backoff %s must be positive and at most retry_backoff_max %s", w.RetryBackoff, w.RetryBackoffMax)
	}
	if w.ActionTimeout < 0 {
		add("webhook.action_timeout must not be negative")
	}
	if w.RequestTimeout < 0 {
		add("webhook.request_timeout must not be negative")
	}
	if w.SampleInterval < 0 {
		add("webhook.sample_interval must not be negative")
	}

	horizons := map[string][]model.Duration{}
	for _, s := range c.Shadows {
		horizons[s.Name] = s.Horizons
	}
	if len(c.Resources) > MaxResources {
		add("resources: %d configured, the limit is %d", len(c.Resources), MaxResources)
	}
	seen := map[string]bool{}
	for i, r := range c.Resources {
		at := fmt.Sprintf("resources[%d]", i)
		if r.Name != "" {
			at = fmt.Sprintf("resources[%d] (%s)", i, r.Name)
		}
		switch {
		case r.Name == "":
			add("%s: name is required", at)
		case !nameRE.MatchString(r.Name):
			add("%s: name must match %s", at, nameRE)
		case seen[r.Name]:
			add("%s: duplicate resource name %q", at, r.Name)
		}
		seen[r.Name] = true

		switch {
		case r.Shadow == "":
			add("%s: shadow is required", at)
		case !shadows[r.Shadow]:
			add("%s: unknown shadow %q", at, r.Shadow)
		default:
			if r.Horizon <= 0 {
				add("%s: horizon must be positive", at)
			} else if !durationIn(horizons[r.Shadow], r.Horizon) {
				add("%s: horizon %s is not a horizon of shadow %q %v", at, r.Horizon, r.Shadow, horizons[r.Shadow])
			}
		}
		for k := range r.MatchLabels {
			if !model.LabelName(k).IsValidLegacy() {
				add("%s: match_labels: invalid label name %q", at, k)
			}
		}
		if r.LeadTime < 0 {
			add("%s: lead_time must not be negative", at)
		} else if r.Horizon > 0 && r.LeadTime > r.Horizon {
			add("%s: horizon %s is shorter than lead_time %s: the forecast would not cover the time a new unit takes to be ready", at, r.Horizon, r.LeadTime)
		}
		if !finite(r.ThresholdUpper) || !finite(r.ThresholdLower) {
			add("%s: thresholds must be finite numbers", at)
		} else if r.ThresholdUpper <= r.ThresholdLower {
			add("%s: threshold_upper %g must be above threshold_lower %g", at, r.ThresholdUpper, r.ThresholdLower)
		}
		if !contains(validThresholdModes, r.ThresholdMode) {
			add("%s: unknown threshold_mode %q (want one of %v)", at, r.ThresholdMode, validThresholdModes)
		}
		if !finite(r.DynamicWidthFactor) || r.DynamicWidthFactor < 0 {
			add("%s: dynamic_width_factor must be a non-negative number", at)
		}
		if !contains(validModes, r.Mode) {
			add("%s: unknown mode %q (want one of %v)", at, r.Mode, validModes)
		}
		if r.Cooldown < 0 {
			add("%s: cooldown must not be negative", at)
		}
		if r.ScaleDownStabilization < 0 {
			add("%s: scale_down_stabilization must not be negative", at)
		}
		for _, e := range validatePool(r.Pool) {
			add("%s: %v", at, e)
		}
		for _, e := range validatePolicy(r.Name, r.Policy, w.SampleInterval, c.KPIs) {
			add("%s: policy: %v", at, e)
		}
		if len(r.Alternatives) > MaxAlternatives {
			add("%s: %d alternatives, the limit is %d", at, len(r.Alternatives), MaxAlternatives)
		}
		pools := map[string]bool{r.Name: true}
		for j, a := range r.Alternatives {
			aat := fmt.Sprintf("%s: alternatives[%d]", at, j)
			switch {
			case a.Name == "":
				add("%s: name is required", aat)
			case !nameRE.MatchString(a.Name):
				add("%s: name must match %s", aat, nameRE)
			case pools[a.Name]:
				add("%s: duplicate pool name %q", aat, a.Name)
			}
			pools[a.Name] = true
			for _, e := range validatePool(a.Pool) {
				add("%s: %v", aat, e)
			}
		}
	}
	return errs
}

func validatePolicy(resource string, p ResourcePolicy, sample model.Duration, kpis []KPI) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !contains(validPolicyModes, p.Mode) {
		add("unknown mode %q (want one of %v)", p.Mode, validPolicyModes)
	}
	if p.MinDryRunEpochs < 0 {
		add("min_dry_run_epochs must not be negative")
	}
	byName := map[string]KPI{}
	for _, k := range kpis {
		byName[k.Name] = k
	}
	for i, o := range p.SLO {
		at := fmt.Sprintf("slo[%d]", i)
		k, ok := byName[o.KPI]
		switch {
		case o.KPI == "":
			add("%s: kpi is required", at)
		case !ok:
			add("%s: unknown kpi %q (configure it under kpis)", at, o.KPI)
		case k.Resource != "" && k.Resource != resource:
			add("%s: kpi %q is attached to resource %q", at, o.KPI, k.Resource)
		}
		switch {
		case (o.Max == nil) == (o.Min == nil):
			add("%s: exactly one of max and min is required", at)
		case o.Max != nil && !finite(*o.Max):
			add("%s: max must be a finite number", at)
		case o.Min != nil && !finite(*o.Min):
			add("%s: min must be a finite number", at)
		}
	}
	if !finite(p.Lambda) || p.Lambda <= 0 {
		add("lambda must be a positive number")
	}
	if sample <= 0 {
		sample = DefaultSampleInterval
	}
	if p.Epoch < 2*sample || p.Epoch%sample != 0 {
		add("epoch %s must be a multiple of webhook.sample_interval %s and at least twice it", p.Epoch, sample)
	}
	if p.SaveInterval <= 0 {
		add("save_interval must be positive")
	}
	return errs
}

func validatePool(p Pool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !contains(validKinds, p.Kind) {
		add("unknown kind %q (want one of %v)", p.Kind, validKinds)
	}
	if !finite(p.CapacityPerUnit) || p.CapacityPerUnit <= 0 {
		add("capacity_per_unit must be positive")
	}
	if p.Min < 0 {
		add("min must not be negative")
	}
	if p.Max <= 0 {
		add("max must be positive")
	} else if p.Max < p.Min {
		add("max %d is below min %d", p.Max, p.Min)
	}
	if !finite(p.CostPerUnitHour) || p.CostPerUnitHour < 0 {
		add("cost_per_unit_hour must not be negative")
	}
	isKube := strings.HasPrefix(p.Kind, "kubernetes_")
	switch {
	case isKube && p.Kubernetes == nil:
		add("kind %s needs a kubernetes block", p.Kind)
	case !isKube && p.Kubernetes != nil:
		add("kind %q takes no kubernetes block", p.Kind)
	case p.Kind == KindHTTP && p.HTTP == nil:
		add("kind http needs an http block")
	case p.Kind != KindHTTP && p.HTTP != nil:
		add("kind %q takes no http block", p.Kind)
	}
	if k := p.Kubernetes; k != nil && isKube {
		if !k8sNameRE.MatchString(k.Name) {
			add("kubernetes.name %q is not a valid object name", k.Name)
		}
		if !k8sNameRE.MatchString(k.Namespace) {
			add("kubernetes.namespace %q is not a valid namespace", k.Namespace)
		}
		if !apiVersionRE.MatchString(k.APIVersion) {
			add("kubernetes.api_version %q is not group/version", k.APIVersion)
		}
		if !k8sNameRE.MatchString(k.Resource) {
			add("kubernetes.resource %q is not a plural resource name", k.Resource)
		}
		switch p.Kind {
		case KindKubernetesRequests:
			if k.APIVersion != "apps/v1" || (k.Resource != "deployments" && k.Resource != "statefulsets") {
				add("kubernetes_requests supports apps/v1 deployments and statefulsets, not %s %s", k.APIVersion, k.Resource)
			}
			if k.Container == "" {
				add("kubernetes.container is required for kubernetes_requests")
			}
			if k.Request != "cpu" && k.Request != "memory" {
				add("kubernetes.request must be cpu or memory, got %q", k.Request)
			}
			if q, err := resource.ParseQuantity(k.Unit); err != nil || q.Sign() <= 0 {
				add("kubernetes.unit %q must be a positive quantity (e.g. 250m, 256Mi)", k.Unit)
			}
		case KindKubernetesHPAMin:
			if k.Resource != "horizontalpodautoscalers" || !strings.HasPrefix(k.APIVersion, "autoscaling/") {
				add("kubernetes_hpa_min targets autoscaling horizontalpodautoscalers, not %s %s", k.APIVersion, k.Resource)
			}
			if p.Min < 1 {
				add("kubernetes_hpa_min needs min >= 1 (an HPA's minReplicas)")
			}
		}
		if p.Kind != KindKubernetesRequests && (k.Container != "" || k.Request != "" || k.Unit != "") {
			add("kubernetes.container, request and unit apply to kubernetes_requests only")
		}
	}
	if h := p.HTTP; h != nil && p.Kind == KindHTTP {
		if err := validURL(h.URL); err != nil {
			add("http.url: %v", err)
		}
		if h.Timeout <= 0 {
			add("http.timeout must be positive")
		}
		if h.Retries != nil && (*h.Retries < 0 || *h.Retries > 10) {
			add("http.retries %d must be in [0, 10]", *h.Retries)
		}
		if h.Backoff < 0 {
			add("http.backoff must not be negative")
		}
	}
	return errs
}

func durationIn(list []model.Duration, d model.Duration) bool {
	for _, v := range list {
		if v == d {
			return true
		}
	}
	return false
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
