package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shadowcast/shadowcast"
	"github.com/shadowcast/shadowcast/actuate"
	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/policy"
)

// kubeconfigEnv names the kubeconfig of a real kube-apiserver
// (scripts/test.sh exports it after scripts/components.sh start_kube).
const kubeconfigEnv = "SHADOWCAST_TEST_KUBECONFIG"

// TestPolicyActiveE2E runs the scaling path built by newScaling from a
// real YAML config against a real kube-apiserver: Alertmanager
// notifications are POSTed to the webhook handler over HTTP with the
// bearer token, the engine's workers decide, and the kubernetes_scale
// actuator writes the Deployments' /scale subresource. Only the forecast
// is a test double (activeShadows). Both resources run an active learned
// policy that acts after 2 online epochs:
//
//   - before the gate opens, the enforce resource is scaled by the fixed
//     headroom (the peak upper bound);
//   - once the policy acts, the replicas written follow the arm's headroom
//     (point + headroom·(upper − point)), a different number than the fixed
//     headroom would give, never below what the actual activity needs and
//     never above max;
//   - the dry_run resource decides the same and its Deployment is never
//     written (read back from the API server, resourceVersion included);
//   - /api/v1/decisions explains policy_use (acting, arm, why).
func TestPolicyActiveE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test against a real kube-apiserver")
	}
	kubeconfig := os.Getenv(kubeconfigEnv)
	if kubeconfig == "" {
		t.Skipf("%s is not set: this test needs a real kube-apiserver (make test sets it; by hand: . scripts/components.sh; install_kube; start_kube 16643 12679; export %s=$RUNDIR/kube-16643/kubeconfig)", kubeconfigEnv, kubeconfigEnv)
	}
	kube, ns := policyTestCluster(t, kubeconfig)
	for _, name := range []string{"checkout", "search"} {
		policyTestDeployment(t, kube, ns, name, 2)
	}
	_, searchVersion := deploymentReplicas(t, kube, ns, "search")

	// Both policies start from a state as `shadowcast simulate
	// --policy.state-file` writes it: two tuned arms, trained offline.
	// Simulator epochs do not count towards min_dry_run_epochs.
	arms := []policy.Arm{{Headroom: 0.25, ScaleDownDelay: time.Minute}, {Headroom: 0.5, ScaleDownDelay: time.Minute}}
	dir := t.TempDir()
	for _, f := range []string{"checkout.policy", "search.policy"} {
		writePolicyState(t, filepath.Join(dir, f), arms)
	}
	const token = "e2e-secret-token"
	writeFile(t, filepath.Join(dir, "token"), token+"\n")

	// Timings are short so that the gate (2 online epochs of 1s, each
	// credited after the 2s lead time) opens within a few seconds, while
	// the decision before it has a margin of about 2s.
	cfg, err := config.Load(fmt.Appendf(nil, `
shadows:
  - name: http_requests
    source: {file: {path: trace.csv}}
    horizons: [5m]
webhook:
  mode: enforce
  kubeconfig: %q
  bearer_token_file: token
  sample_interval: 200ms
  cooldown: 50ms
resources:
  - name: checkout
    shadow: http_requests
    lead_time: 2s
    threshold_upper: 800
    threshold_lower: 300
    kind: kubernetes_scale
    kubernetes: {namespace: %q, name: checkout}
    capacity_per_unit: 100
    min: 2
    max: 20
    policy: {mode: active, min_dry_run_epochs: 2, epoch: 1s, state_file: checkout.policy}
  - name: search
    shadow: http_requests
    mode: dry_run
    lead_time: 2s
    threshold_upper: 800
    threshold_lower: 300
    kind: kubernetes_scale
    kubernetes: {namespace: %q, name: search}
    capacity_per_unit: 100
    min: 2
    max: 20
    policy: {mode: active, min_dry_run_epochs: 2, epoch: 1s, state_file: search.policy}
`, kubeconfig, ns, ns), dir)
	if err != nil {
		t.Fatal(err)
	}

	reader := &activeShadows{}
	phaseA := shadowcast.Value{Point: 700, Peak: 720, Lower: 600, Upper: 820, PeakUpper: 900, Actual: 500}
	reader.set(phaseA)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shadowcast log:\n%s", tail(logs.String(), 60))
		}
	})
	reg := prometheus.NewRegistry()
	s, err := newScaling(cfg, reader, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	router := chi.NewRouter()
	s.Routes(router)
	srv := httptest.NewServer(router)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			srv.Close()
		}
	}
	t.Cleanup(stop)
	api := &decisionsAPI{t: t, base: srv.URL, token: token}

	// A notification without the token changes nothing.
	if code := api.notify("unauth", "checkout"); code != http.StatusUnauthorized {
		t.Fatalf("notification without the bearer token answered %d, want 401", code)
	}

	// (a) Gate closed: the fixed headroom decides. The policies must have
	// sampled once so that their state is running and explains itself.
	waitFor(t, "the first learned-policy decisions", 10*time.Second, func() bool {
		return len(api.policyDecisions("checkout")) > 0 && len(api.policyDecisions("search")) > 0
	})
	firstEpoch := time.Now()
	chk, srch := api.alert("a")
	if chk.PolicyUse == nil || chk.PolicyUse.Acting {
		t.Fatalf("decision %s after the first policy epoch, before the gate should open: policy_use %+v, want not acting",
			time.Since(firstEpoch).Round(time.Millisecond), chk.PolicyUse)
	}
	u := chk.PolicyUse
	if u.Mode != "active" || u.MinDryRunEpochs != 2 || u.OnlineEpochs >= 2 || !strings.Contains(u.Why, "not yet acting") {
		t.Errorf("policy_use before the gate: %+v", u)
	}
	// Fixed headroom: ⌈peak upper 900 / 100⌉ = 9.
	checkDecision(t, chk, "scale_up", 2, 9, "success")
	if got, _ := deploymentReplicas(t, kube, ns, "checkout"); got != 9 {
		t.Errorf("checkout spec.replicas = %d after the fixed decision, want 9", got)
	}
	checkDecision(t, srch, "scale_up", 2, 9, "dry_run")
	checkUntouched(t, kube, ns, searchVersion)

	// The gate opens by itself once 2 epochs were learned online.
	waitFor(t, "both learned policies to act (shadowcast_policy_acting = 1)", 15*time.Second, func() bool {
		return gaugeValue(t, reg, "shadowcast_policy_acting", "checkout") == 1 &&
			gaugeValue(t, reg, "shadowcast_policy_acting", "search") == 1
	})
	t.Logf("gate opened %s after the first policy epoch", time.Since(firstEpoch).Round(10*time.Millisecond))
	// The arm in force when the gate opens was drawn by Thompson sampling
	// (it may be an exploring one) until the next epoch boundary; from
	// then on the acting policy chooses its best arm. Wait for that epoch.
	waitFor(t, "an epoch decided by both acting policies", 10*time.Second, func() bool {
		return actingEpoch(api.policyDecisions("checkout")) && actingEpoch(api.policyDecisions("search"))
	})
	if !strings.Contains(logs.String(), "Learned policy now active") {
		t.Error("the transition to acting was not logged")
	}

	// (b) Acting: the arm's headroom decides, within the bounds.
	const capacity, minUnits, maxUnits = 100.0, 2, 20
	phases := []struct {
		name string
		v    shadowcast.Value
		// want returns the replicas expected for the arm's headroom h and
		// checks why that number is the policy's and not the fixed one.
		want func(t *testing.T, h float64) int
	}{
		{"b: the arm's headroom", shadowcast.Value{Point: 1000, Peak: 1100, Lower: 900, Upper: 1400, PeakUpper: 1500, Actual: 900},
			func(t *testing.T, h float64) int {
				// point 1100 + h·(1500 − 1100): 12 (h=0.25) or 13 (h=0.5);
				// the fixed headroom would give ⌈1500/100⌉ = 15.
				n := units(1100+h*400, capacity)
				if n == 15 || n < units(900, capacity) {
					t.Fatalf("arm headroom %v gives %d replicas: the test needs a number different from the fixed 15 and above the actual need", h, n)
				}
				return n
			}},
		{"never below the actual need", shadowcast.Value{Point: 1200, Peak: 1250, Lower: 1100, Upper: 1400, PeakUpper: 1500, Actual: 1750},
			func(t *testing.T, h float64) int {
				// The arm alone provisions 1250 + h·250 ≤ 1375 (14 replicas);
				// the actual activity 1750 needs 18.
				if units(1250+h*250, capacity) >= 18 {
					t.Fatalf("arm headroom %v alone covers the actual need", h)
				}
				return 18
			}},
		{"never above max", shadowcast.Value{Point: 2400, Peak: 2500, Lower: 2300, Upper: 2700, PeakUpper: 2900, Actual: 2200},
			func(t *testing.T, h float64) int {
				if units(2500+h*400, capacity) <= maxUnits {
					t.Fatalf("arm headroom %v stays below max", h)
				}
				return maxUnits
			}},
	}
	current := 9
	for i, ph := range phases {
		reader.set(ph.v)
		time.Sleep(100 * time.Millisecond) // past the 50ms cooldown of the previous change
		chk, srch := api.alert(fmt.Sprintf("p%d", i))
		u := chk.PolicyUse
		if u == nil || !u.Acting || u.Arm == nil || chk.Policy == nil {
			t.Fatalf("%s: decision %d is not driven by the policy: policy_use %+v", ph.name, chk.ID, u)
		}
		h := u.Arm.Headroom
		if *u.Arm != chk.Policy.Arm || !containsArm(arms, h) {
			t.Errorf("%s: policy_use.arm %+v, policy.arm %+v: want the same arm, one of the state's", ph.name, *u.Arm, chk.Policy.Arm)
		}
		want := ph.want(t, h)
		if want < minUnits || want > maxUnits || want < min(units(ph.v.Actual, capacity), maxUnits) {
			t.Fatalf("%s: expected %d replicas outside the bounds", ph.name, want)
		}
		checkDecision(t, chk, "scale_up", current, want, "success")
		if got, _ := deploymentReplicas(t, kube, ns, "checkout"); int(got) != want {
			t.Errorf("%s: checkout spec.replicas = %d, want %d (arm headroom %v)", ph.name, got, want, h)
		}
		if !chk.Policy.Greedy || chk.Policy.Explored {
			t.Errorf("%s: an acting policy explored: arm %v greedy %v explored %v", ph.name, chk.Policy.Arm, chk.Policy.Greedy, chk.Policy.Explored)
		}
		if !strings.Contains(u.Why, "policy acting") || !strings.Contains(u.Why, chk.Policy.Arm.String()) ||
			u.OnlineEpochs < 2 || u.Reward.ViolationSource != policy.ViolationCapacity || u.Reward.Explanation == "" {
			t.Errorf("%s: policy_use does not explain the acting arm: %+v", ph.name, u)
		}
		if !strings.Contains(chk.Plan.Explanation, "learned policy (active)") {
			t.Errorf("%s: plan explanation does not name the policy: %s", ph.name, chk.Plan.Explanation)
		}
		t.Logf("%s: arm %v; need %.0f with the fixed headroom, %.0f with the arm; want %d replicas",
			ph.name, chk.Policy.Arm, math.Max(ph.v.PeakUpper, ph.v.Actual), chk.Plan.Need, want)
		current = want

		// (c) The dry_run resource decides by its own acting policy's
		// arm, from the 2 replicas it reads back, and is never written.
		if su := srch.PolicyUse; su == nil || !su.Acting || su.Arm == nil {
			t.Errorf("%s: search decision %d is not driven by its policy: policy_use %+v", ph.name, srch.ID, su)
		} else {
			checkDecision(t, srch, "scale_up", 2, ph.want(t, su.Arm.Headroom), "dry_run")
		}
		checkUntouched(t, kube, ns, searchVersion)
	}

	// (d) The policy's own epoch decisions are served too: the greedy arm
	// while acting, recorded as dry_run (the record itself changes nothing).
	for _, d := range api.policyDecisions("checkout") {
		if d.PolicyUse == nil || !d.PolicyUse.Acting {
			continue
		}
		if d.Plan.Rule != "policy" || d.Result != "dry_run" || d.Policy == nil || !d.Policy.Greedy ||
			!strings.Contains(d.Plan.Explanation, "this arm drives the engine's next decisions") {
			t.Errorf("acting epoch decision %d: rule %s result %s policy %+v: %s", d.ID, d.Plan.Rule, d.Result, d.Policy, d.Plan.Explanation)
		}
	}

	// The online epochs are persisted at shutdown: a restart keeps acting.
	stop()
	f, err := os.Open(filepath.Join(dir, "checkout.policy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := policy.NewFromState(f, policy.Options{Lambda: 8})
	if err != nil {
		t.Fatal(err)
	}
	if p.OnlineEpochs() < 2 {
		t.Errorf("state file holds %d online epochs, want at least 2", p.OnlineEpochs())
	}
	checkUntouched(t, kube, ns, searchVersion)
}

// actingEpoch reports whether an epoch decision of an acting policy was
// recorded.
func actingEpoch(ds []e2eDecision) bool {
	for _, d := range ds {
		if d.PolicyUse != nil && d.PolicyUse.Acting {
			return true
		}
	}
	return false
}

// units is the replicas of capacity c that serve need.
func units(need, c float64) int { return int(math.Ceil(need/c - 1e-9)) }

func containsArm(arms []policy.Arm, h float64) bool {
	for _, a := range arms {
		if a.Headroom == h {
			return true
		}
	}
	return false
}

// activeShadows serves one instance of every shadow at 5m, with the value
// the test sets.
type activeShadows struct {
	mu sync.Mutex
	v  shadowcast.Value
}

func (r *activeShadows) set(v shadowcast.Value) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v.Shadow, v.Horizon, v.Model, v.Confidence = "http_requests", 5*time.Minute, "e2e", 0.9
	r.v = v
}

func (r *activeShadows) Lookup(shadow string, _ map[string]string, h time.Duration) ([]shadowcast.Value, error) {
	if shadow != "http_requests" {
		return nil, shadowcast.ErrUnknownShadow
	}
	if h != 5*time.Minute {
		return nil, shadowcast.ErrUnknownHorizon
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.v
	v.At, v.Updated = time.Now(), time.Now()
	return []shadowcast.Value{v}, nil
}

// writePolicyState writes a policy state with arms, trained on 24
// offline (simulator) epochs.
func writePolicyState(t *testing.T, path string, arms []policy.Arm) {
	t.Helper()
	p, err := policy.New(policy.Options{Arms: arms, Lambda: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 24 {
		c := policy.Context{Time: at.Add(time.Duration(i) * time.Hour), Uncertainty: 0.2}
		d := p.Choose(c)
		p.Update(d, policy.Outcome{Cost: 1 + d.Arm.Headroom/4})
	}
	var b bytes.Buffer
	if _, err := p.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b.String())
}

// policyTestCluster connects to the API server and creates a namespace
// for the test, deleted at the end.
func policyTestCluster(t *testing.T, kubeconfig string) (*actuate.Clients, string) {
	t.Helper()
	rc, err := actuate.RESTConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := actuate.NewClients(rc, "shadowcast-e2e-test")
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("sc-policy-active-%d", time.Now().UnixNano()%1e9)
	if _, err := c.Typed.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.Typed.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	return c, ns
}

func policyTestDeployment(t *testing.T, c *actuate.Clients, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}},
			},
		},
	}
	if _, err := c.Typed.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
}

// deploymentReplicas reads spec.replicas and the resourceVersion back from
// the API server.
func deploymentReplicas(t *testing.T, c *actuate.Clients, ns, name string) (int32, string) {
	t.Helper()
	d, err := c.Typed.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas, d.ResourceVersion
}

// checkUntouched fails when the dry_run resource's Deployment changed.
func checkUntouched(t *testing.T, c *actuate.Clients, ns, version string) {
	t.Helper()
	if got, v := deploymentReplicas(t, c, ns, "search"); got != 2 || v != version {
		t.Errorf("dry_run Deployment search: spec.replicas %d resourceVersion %s, want 2 and %s (never written)", got, v, version)
	}
}

// checkDecision checks an engine decision of a one-pool resource.
func checkDecision(t *testing.T, d e2eDecision, rule string, current, target int, result string) {
	t.Helper()
	if d.Plan.Rule != rule || len(d.Current) != 1 || d.Current[0] != current ||
		len(d.Plan.Target) != 1 || d.Plan.Target[0] != target || d.Result != result {
		t.Errorf("%s decision %d: %s %v -> %v %s (%s), want %s %v -> %d %s: %s", d.Resource, d.ID, d.Plan.Rule, d.Current,
			d.Plan.Target, d.Result, d.Error, rule, current, target, result, d.Explanation)
	}
}

// e2eArm is policy.Arm as served (delay in seconds).
type e2eArm struct {
	Headroom              float64 `json:"headroom"`
	ScaleDownDelaySeconds float64 `json:"scale_down_delay_seconds"`
}

func (a e2eArm) String() string {
	return policy.Arm{Headroom: a.Headroom, ScaleDownDelay: time.Duration(a.ScaleDownDelaySeconds * float64(time.Second))}.String()
}

// e2eDecision is a decision as /api/v1/decisions serves it.
type e2eDecision struct {
	ID       uint64 `json:"id"`
	Resource string `json:"resource"`
	Source   string `json:"source"`
	Cause    struct {
		Reason      string `json:"reason"`
		Fingerprint string `json:"fingerprint"`
	} `json:"cause"`
	Current []int `json:"current"`
	Plan    struct {
		Rule        string  `json:"rule"`
		Need        float64 `json:"need"`
		Target      []int   `json:"target"`
		Explanation string  `json:"explanation"`
	} `json:"plan"`
	Explanation string `json:"explanation"`
	Result      string `json:"result"`
	Error       string `json:"error"`
	Policy      *struct {
		Arm      e2eArm `json:"arm"`
		Greedy   bool   `json:"greedy"`
		Explored bool   `json:"explored"`
	} `json:"policy"`
	PolicyUse *struct {
		Mode            string  `json:"mode"`
		Acting          bool    `json:"acting"`
		Arm             *e2eArm `json:"arm"`
		Why             string  `json:"why"`
		OnlineEpochs    int     `json:"online_epochs"`
		MinDryRunEpochs int     `json:"min_dry_run_epochs"`
		Reward          struct {
			ViolationSource string `json:"violation_source"`
			Explanation     string `json:"explanation"`
		} `json:"reward"`
	} `json:"policy_use"`
}

// decisionsAPI talks to the webhook and /api/v1/decisions over HTTP.
type decisionsAPI struct {
	t     *testing.T
	base  string
	token string
}

// notify posts an Alertmanager notification firing ShadowcastScaleUp for
// resources, with the token unless id is "unauth", and returns the status.
func (a *decisionsAPI) notify(id string, resources ...string) int {
	a.t.Helper()
	var alerts []string
	for _, r := range resources {
		alerts = append(alerts, fmt.Sprintf(`{"status":"firing","labels":{"alertname":"ShadowcastScaleUp","severity":"info","shadowcast_resource":%q,"shadow":"http_requests"},
"annotations":{},"startsAt":%q,"endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":%q}`,
			r, time.Now().UTC().Format(time.RFC3339Nano), id+"-"+r))
	}
	body := fmt.Sprintf(`{"receiver":"shadowcast","status":"firing","alerts":[%s],"groupLabels":{"alertname":"ShadowcastScaleUp"},
"commonLabels":{},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093","version":"4","groupKey":"{}:{alertname=\"ShadowcastScaleUp\"}","truncatedAlerts":0}`,
		strings.Join(alerts, ","))
	req, err := http.NewRequest(http.MethodPost, a.base+"/webhook/alertmanager", strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if id != "unauth" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// alert notifies both resources and returns their decisions for it.
func (a *decisionsAPI) alert(id string) (checkout, search e2eDecision) {
	a.t.Helper()
	if code := a.notify(id, "checkout", "search"); code != http.StatusAccepted {
		a.t.Fatalf("notification %s answered %d, want 202", id, code)
	}
	find := func(resource string) (e2eDecision, bool) {
		for _, d := range a.decisions(resource) {
			if d.Source == "" && d.Cause.Fingerprint == id+"-"+resource {
				return d, true
			}
		}
		return e2eDecision{}, false
	}
	var okC, okS bool
	waitFor(a.t, "the decisions of notification "+id, 10*time.Second, func() bool {
		checkout, okC = find("checkout")
		search, okS = find("search")
		return okC && okS
	})
	return checkout, search
}

func (a *decisionsAPI) decisions(resource string) []e2eDecision {
	a.t.Helper()
	resp, err := http.Get(a.base + "/api/v1/decisions?limit=1000&resource=" + resource)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string        `json:"status"`
		Data   []e2eDecision `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		a.t.Fatalf("/api/v1/decisions: %v (status %q)", err, body.Status)
	}
	return body.Data
}

func (a *decisionsAPI) policyDecisions(resource string) []e2eDecision {
	var out []e2eDecision
	for _, d := range a.decisions(resource) {
		if d.Source == "policy" {
			out = append(out, d)
		}
	}
	return out
}

// gaugeValue reads a gauge of resource from reg (NaN when absent).
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, resource string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "resource" && l.GetValue() == resource {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return math.NaN()
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
