package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
)

const scalingBase = `
shadows:
  - name: http_requests
    source: {file: {path: trace.csv}}
    horizons: [5m, 15m, 30m]
`

func TestScalingValid(t *testing.T) {
	doc := scalingBase + `
webhook:
  mode: enforce
  bearer_token_file: token
  kubeconfig: kube/config
resources:
  - name: checkout
    shadow: http_requests
    match_labels: {service: checkout}
    threshold_upper: 800
    threshold_lower: 300
    lead_time: 10m
    kind: kubernetes_scale
    kubernetes: {name: checkout}
    capacity_per_unit: 100
    max: 20
    cost_per_unit_hour: 0.05
    alternatives:
      - name: checkout_spot
        kind: http
        http: {url: "http://127.0.0.1:19210/scale", secret_file: hmac.key}
        capacity_per_unit: 100
        max: 10
        cost_per_unit_hour: 0.02
  - name: checkout_cpu
    shadow: http_requests
    horizon: 5m
    threshold_upper: 800
    threshold_lower: 300
    threshold_mode: dynamic
    mode: dry_run
    kind: kubernetes_requests
    kubernetes: {resource: statefulsets, namespace: shop, name: db, container: postgres, request: cpu, unit: 250m}
    capacity_per_unit: 50
    min: 2
    max: 16
  - name: checkout_floor
    shadow: http_requests
    horizon: 30m
    threshold_upper: 800
    threshold_lower: 300
    kind: kubernetes_hpa_min
    kubernetes: {name: checkout}
    capacity_per_unit: 100
    max: 30
`
	c, err := Load([]byte(doc), "/etc/shadowcast")
	if err != nil {
		t.Fatal(err)
	}
	w := c.Webhook
	if w.Mode != ModeEnforce || w.BearerTokenFile != "/etc/shadowcast/token" || w.Kubeconfig != "/etc/shadowcast/kube/config" ||
		w.QueueSize != DefaultQueueSize || w.Cooldown != DefaultCooldown || w.MaxBodyBytes != 1<<20 {
		t.Errorf("webhook defaults: %+v", w)
	}
	r := c.Resources[0]
	three := DefaultHTTPRetries
	want := Resource{
		Name: "checkout", Shadow: "http_requests", MatchLabels: map[string]string{"service": "checkout"},
		Horizon:        model.Duration(15 * time.Minute), // shortest horizon covering the lead time
		ThresholdUpper: 800, ThresholdLower: 300, ThresholdMode: ThresholdStatic, DynamicWidthFactor: 1,
		Mode: ModeEnforce, Cooldown: DefaultCooldown, ScaleDownStabilization: DefaultScaleDownStabilization,
		LeadTime: model.Duration(10 * time.Minute),
		Pool: Pool{
			Kind: KindKubernetesScale, CapacityPerUnit: 100, Min: 1, Max: 20, CostPerUnitHour: 0.05,
			Kubernetes: &KubernetesTarget{APIVersion: "apps/v1", Resource: "deployments", Namespace: "default", Name: "checkout"},
		},
		Alternatives: []Alternative{{Name: "checkout_spot", Pool: Pool{
			Kind: KindHTTP, CapacityPerUnit: 100, Max: 10, CostPerUnitHour: 0.02,
			HTTP: &HTTPTarget{URL: "http://127.0.0.1:19210/scale", Timeout: DefaultHTTPTimeout, Retries: &three,
				Backoff: DefaultHTTPBackoff, SecretFile: "/etc/shadowcast/hmac.key"},
		}}},
		Policy: ResourcePolicy{Mode: PolicyOff, Lambda: DefaultPolicyLambda, Epoch: DefaultPolicyEpoch, SaveInterval: DefaultPolicySaveInterval,
			MinDryRunEpochs: DefaultPolicyMinDryRunEpochs},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("resource (-want +got):\n%s", diff)
	}
	if r := c.Resources[1]; r.Mode != ModeDryRun || r.LeadTime != r.Horizon || r.Kubernetes.APIVersion != "apps/v1" {
		t.Errorf("resource 1: %+v", r)
	}
	if k := c.Resources[2].Kubernetes; k.APIVersion != "autoscaling/v2" || k.Resource != "horizontalpodautoscalers" {
		t.Errorf("hpa defaults: %+v", k)
	}
}

func TestScalingDefaultModeIsDryRun(t *testing.T) {
	c, err := Load([]byte(scalingBase+`
resources:
  - {name: a, shadow: http_requests, threshold_upper: 2, threshold_lower: 1, kind: kubernetes_scale, kubernetes: {name: a}, capacity_per_unit: 1, max: 3}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhook.Mode != ModeDryRun || c.Resources[0].Mode != ModeDryRun {
		t.Errorf("mode = %q / %q, want dry_run", c.Webhook.Mode, c.Resources[0].Mode)
	}
	if c.Resources[0].Horizon != model.Duration(5*time.Minute) {
		t.Errorf("horizon = %s, want the shortest", c.Resources[0].Horizon)
	}
}

func TestScalingPolicyDefaults(t *testing.T) {
	c, err := Load([]byte(scalingBase+`
resources:
  - {name: a, shadow: http_requests, threshold_upper: 2, threshold_lower: 1, kind: kubernetes_scale, kubernetes: {name: a}, capacity_per_unit: 1, max: 3}
  - {name: b, shadow: http_requests, threshold_upper: 2, threshold_lower: 1, kind: kubernetes_scale, kubernetes: {name: b}, capacity_per_unit: 1, max: 3,
     policy: {mode: dry_run, lambda: 4, epoch: 5m, state_file: state/b.pol}}
`), "/etc/shadowcast")
	if err != nil {
		t.Fatal(err)
	}
	want := ResourcePolicy{Mode: PolicyOff, Lambda: 8, Epoch: model.Duration(15 * time.Minute), SaveInterval: model.Duration(5 * time.Minute), MinDryRunEpochs: 672}
	if diff := cmp.Diff(want, c.Resources[0].Policy); diff != "" {
		t.Errorf("default policy (-want +got):\n%s", diff)
	}
	want = ResourcePolicy{Mode: PolicyDryRun, Lambda: 4, Epoch: model.Duration(5 * time.Minute),
		StateFile: "/etc/shadowcast/state/b.pol", SaveInterval: model.Duration(5 * time.Minute), MinDryRunEpochs: 672}
	if diff := cmp.Diff(want, c.Resources[1].Policy); diff != "" {
		t.Errorf("configured policy (-want +got):\n%s", diff)
	}
}

func TestScalingInvalid(t *testing.T) {
	res := func(extra string) string {
		return scalingBase + "resources:\n  - {name: a, shadow: http_requests, threshold_upper: 2, threshold_lower: 1, capacity_per_unit: 1, max: 3, " + extra + "}\n"
	}
	kube := "kind: kubernetes_scale, kubernetes: {name: a}"
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"bad mode", scalingBase + "webhook: {mode: yolo}\n", `webhook.mode: unknown mode "yolo"`},
		{"unknown shadow", strings.Replace(res(kube), "shadow: http_requests", "shadow: nope", 1), `unknown shadow "nope"`},
		{"horizon not of shadow", res(kube + ", horizon: 7m"), "horizon 7m is not a horizon"},
		{"lead time beyond horizon", res(kube + ", horizon: 5m, lead_time: 10m"), "shorter than lead_time"},
		{"thresholds inverted", strings.Replace(res(kube), "threshold_upper: 2", "threshold_upper: 0.5", 1), "must be above threshold_lower"},
		{"unknown kind", res("kind: ssh"), `unknown kind "ssh"`},
		{"kube without block", res("kind: kubernetes_scale"), "needs a kubernetes block"},
		{"http without block", res("kind: http"), "needs an http block"},
		{"http with kube block", res("kind: http, kubernetes: {name: a}, http: {url: 'http://x'}"), "takes no kubernetes block"},
		{"bad object name", res("kind: kubernetes_scale, kubernetes: {name: Not_OK}"), "not a valid object name"},
		{"requests on a crd", res("kind: kubernetes_requests, kubernetes: {api_version: example.com/v1, resource: widgets, name: a, container: c, request: cpu, unit: 1}"), "supports apps/v1 deployments and statefulsets"},
		{"requests bad unit", res("kind: kubernetes_requests, kubernetes: {name: a, container: c, request: gpu, unit: lots}"), "must be cpu or memory"},
		{"requests unit", res("kind: kubernetes_requests, kubernetes: {name: a, container: c, request: cpu, unit: lots}"), `unit "lots" must be a positive quantity`},
		{"container on scale", res("kind: kubernetes_scale, kubernetes: {name: a, container: c}"), "apply to kubernetes_requests only"},
		{"hpa on deployments", res("kind: kubernetes_hpa_min, kubernetes: {name: a, resource: deployments}"), "targets autoscaling horizontalpodautoscalers"},
		{"http url", res("kind: http, http: {url: 'ftp://x'}"), "http.url"},
		{"zero capacity", strings.Replace(res(kube), "capacity_per_unit: 1", "capacity_per_unit: 0", 1), "capacity_per_unit must be positive"},
		{"max below min", res(kube + ", min: 5"), "max 3 is below min 5"},
		{"duplicate", scalingBase + "resources:\n" + strings.Repeat("  - {name: a, shadow: http_requests, threshold_upper: 2, threshold_lower: 1, capacity_per_unit: 1, max: 3, "+kube+"}\n", 2), `duplicate resource name "a"`},
		{"alternative without name", res(kube + ", alternatives: [{kind: http, http: {url: 'http://x'}, capacity_per_unit: 1, max: 1}]"), "alternatives[0]: name is required"},
		{"alternative named like resource", res(kube + ", alternatives: [{name: a, kind: http, http: {url: 'http://x'}, capacity_per_unit: 1, max: 1}]"), `duplicate pool name "a"`},
		{"unknown key", res(kube + ", capacity: 3"), "field capacity not found"},
		{"policy min epochs", res(kube + ", policy: {mode: active, min_dry_run_epochs: -1}"), "policy: min_dry_run_epochs must not be negative"},
		{"policy slo unknown kpi", res(kube + ", policy: {mode: dry_run, slo: [{kpi: nope, max: 1}]}"), `policy: slo[0]: unknown kpi "nope"`},
		{"policy mode", res(kube + ", policy: {mode: dry-run}"), `policy: unknown mode "dry-run" (want one of [off dry_run active])`},
		{"policy lambda", res(kube + ", policy: {mode: dry_run, lambda: -1}"), "policy: lambda must be a positive number"},
		{"policy epoch", res(kube + ", policy: {mode: dry_run, epoch: 20s}"), "policy: epoch 20s must be a multiple"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.doc), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load() error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestScalingPolicySLO(t *testing.T) {
	kpis := `
prometheus: {url: 'http://127.0.0.1:9090'}
kpis:
  - {name: latency_p99, query: 'histogram_quantile(0.99, rate(h_bucket[5m]))', kind: latency, resource: a}
  - {name: availability, query: 'avg(up)', kind: slo_violation}
  - {name: other_latency, query: 'vector(1)', kind: latency, resource: b}
`
	res := func(policy string) string {
		return scalingBase + kpis + `resources:
  - {name: a, shadow: http_requests, threshold_upper: 2, threshold_lower: 1, kind: kubernetes_scale, kubernetes: {name: a}, capacity_per_unit: 1, max: 3,
     policy: ` + policy + `}
  - {name: b, shadow: http_requests, threshold_upper: 2, threshold_lower: 1, kind: kubernetes_scale, kubernetes: {name: b}, capacity_per_unit: 1, max: 3}
`
	}
	c, err := Load([]byte(res("{mode: active, min_dry_run_epochs: 96, slo: [{kpi: latency_p99, max: 0.3}, {kpi: availability, min: 0.999}]}")), "")
	if err != nil {
		t.Fatal(err)
	}
	maxv, minv := 0.3, 0.999
	want := ResourcePolicy{Mode: PolicyActive, MinDryRunEpochs: 96, Lambda: DefaultPolicyLambda, Epoch: DefaultPolicyEpoch,
		SaveInterval: DefaultPolicySaveInterval, SLO: []PolicySLO{{KPI: "latency_p99", Max: &maxv}, {KPI: "availability", Min: &minv}}}
	if diff := cmp.Diff(want, c.Resources[0].Policy); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}

	// Every problem is reported at once.
	_, err = Load([]byte(res("{mode: active, min_dry_run_epochs: -3, slo: [{kpi: nope, max: 1}, {kpi: other_latency, max: 1}, {kpi: latency_p99}, {kpi: availability, max: 1, min: 0}, {max: .inf}]}")), "")
	if err == nil {
		t.Fatal("invalid SLOs accepted")
	}
	for _, want := range []string{
		"resources[0] (a): policy: min_dry_run_epochs must not be negative",
		`policy: slo[0]: unknown kpi "nope"`,
		`policy: slo[1]: kpi "other_latency" is attached to resource "b"`,
		"policy: slo[2]: exactly one of max and min is required",
		"policy: slo[3]: exactly one of max and min is required",
		"policy: slo[4]: kpi is required",
		"policy: slo[4]: max must be a finite number",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
}
