package actuate

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/shadowcast/shadowcast"
	"github.com/shadowcast/shadowcast/webhook"
)

// KubeconfigEnv names the kubeconfig of a real API server for the tests in
// this file (scripts/components.sh: start_kube 16443 12379 writes
// $RUNDIR/kube-16443/kubeconfig).
const KubeconfigEnv = "SHADOWCAST_TEST_KUBECONFIG"

// testCluster connects to the API server and creates a namespace for t.
func testCluster(t *testing.T) (*Clients, string) {
	t.Helper()
	path := os.Getenv(KubeconfigEnv)
	if path == "" {
		t.Skipf("%s is not set: these tests need a real kube-apiserver (scripts/components.sh install_kube; start_kube 16443 12379; export %s=$RUNDIR/kube-16443/kubeconfig)", KubeconfigEnv, KubeconfigEnv)
	}
	rc, err := RESTConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClients(rc, "shadowcast-test")
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("sc-%s-%d", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), time.Now().UnixNano()%1e6)
	if len(ns) > 63 {
		ns = ns[len(ns)-63:]
	}
	ctx := context.Background()
	if _, err := c.Typed.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Typed.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	return c, ns
}

func ptr[T any](v T) *T { return &v }

func createDeployment(t *testing.T, c *Clients, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "example.invalid/app:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
					}},
				}}},
			},
		},
	}
	if _, err := c.Typed.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
}

func replicas(t *testing.T, c *Clients, ns, name string) int32 {
	t.Helper()
	d, err := c.Typed.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

func TestKubeScale(t *testing.T) {
	c, ns := testCluster(t)
	ctx := context.Background()
	createDeployment(t, c, ns, "web", 1)
	s, err := NewScale(c, Target{APIVersion: "apps/v1", Resource: "deployments", Namespace: ns, Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Read(ctx)
	if err != nil || o.Units != 1 || o.Version == "" {
		t.Fatalf("Read() = %+v, %v", o, err)
	}
	if err := s.Write(ctx, o, 4); err != nil {
		t.Fatal(err)
	}
	if got := replicas(t, c, ns, "web"); got != 4 {
		t.Fatalf("spec.replicas = %d, want 4", got)
	}
	// o is stale now: the write must be refused as a conflict.
	err = s.Write(ctx, o, 7)
	if !webhook.IsConflict(err) {
		t.Fatalf("stale write: err = %v, want a conflict", err)
	}
	if got := replicas(t, c, ns, "web"); got != 4 {
		t.Fatalf("spec.replicas after refused write = %d, want 4", got)
	}

	// Any object with a scale subresource: a StatefulSet.
	labels := map[string]string{"app": "db"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels}, ServiceName: "db",
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "example.invalid/db:1"}}}},
		},
	}
	if _, err := c.Typed.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ss, _ := NewScale(c, Target{APIVersion: "apps/v1", Resource: "statefulsets", Namespace: ns, Name: "db"})
	o, err = ss.Read(ctx)
	if err != nil || o.Units != 2 {
		t.Fatalf("statefulset Read() = %+v, %v", o, err)
	}
	if err := ss.Write(ctx, o, 5); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Typed.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
	if *got.Spec.Replicas != 5 {
		t.Fatalf("statefulset replicas = %d", *got.Spec.Replicas)
	}
}

func TestKubeRequests(t *testing.T) {
	c, ns := testCluster(t)
	ctx := context.Background()
	createDeployment(t, c, ns, "web", 1)
	tgt := Target{APIVersion: "apps/v1", Resource: "deployments", Namespace: ns, Name: "web"}
	cpu, err := NewRequests(c, tgt, "app", "cpu", "100m")
	if err != nil {
		t.Fatal(err)
	}
	o, err := cpu.Read(ctx)
	if err != nil || o.Units != 3 { // 250m rounds up to 3 × 100m
		t.Fatalf("Read() = %+v, %v", o, err)
	}
	if err := cpu.Write(ctx, o, 12); err != nil {
		t.Fatal(err)
	}
	mem, _ := NewRequests(c, tgt, "app", "memory", "64Mi")
	o, err = mem.Read(ctx)
	if err != nil || o.Units != 2 {
		t.Fatalf("memory Read() = %+v, %v", o, err)
	}
	if err := mem.Write(ctx, o, 5); err != nil {
		t.Fatal(err)
	}
	d, _ := c.Typed.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	req := d.Spec.Template.Spec.Containers[0].Resources.Requests
	if q := req[corev1.ResourceCPU]; q.Cmp(resource.MustParse("1200m")) != 0 {
		t.Errorf("cpu request = %s, want 1200m", q.String())
	}
	if q := req[corev1.ResourceMemory]; q.Cmp(resource.MustParse("320Mi")) != 0 {
		t.Errorf("memory request = %s, want 320Mi", q.String())
	}
	// The cpu actuator's last read is stale after the memory write.
	if err := cpu.Write(ctx, Observed{Units: 12, Version: "1"}, 2); !webhook.IsConflict(err) {
		t.Errorf("stale requests write: err = %v, want a conflict", err)
	}
	if _, err := NewRequests(c, tgt, "nope", "cpu", "100m"); err != nil {
		t.Fatal(err)
	} else if _, err := (&Requests{c: c, t: tgt, container: "nope", request: corev1.ResourceCPU, unit: resource.MustParse("1")}).Read(ctx); err == nil {
		t.Error("reading a missing container succeeded")
	}
}

func TestKubeHPAMin(t *testing.T) {
	c, ns := testCluster(t)
	ctx := context.Background()
	createDeployment(t, c, ns, "web", 1)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr(int32(1)), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(70))},
			}}},
		},
	}
	hpas := c.Typed.AutoscalingV2().HorizontalPodAutoscalers(ns)
	if _, err := hpas.Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h, err := NewHPAMin(c, Target{APIVersion: "autoscaling/v2", Resource: "horizontalpodautoscalers", Namespace: ns, Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := h.Read(ctx)
	if err != nil || o.Units != 1 {
		t.Fatalf("Read() = %+v, %v", o, err)
	}
	if err := h.Write(ctx, o, 3); err != nil {
		t.Fatal(err)
	}
	got, _ := hpas.Get(ctx, "web", metav1.GetOptions{})
	if *got.Spec.MinReplicas != 3 || got.Spec.MaxReplicas != 10 {
		t.Fatalf("min/max = %d/%d, want 3/10", *got.Spec.MinReplicas, got.Spec.MaxReplicas)
	}
	o, _ = h.Read(ctx)
	if err := h.Write(ctx, o, 25); err != nil {
		t.Fatal(err)
	}
	got, _ = hpas.Get(ctx, "web", metav1.GetOptions{})
	if *got.Spec.MinReplicas != 10 {
		t.Fatalf("minReplicas = %d, want clamped to maxReplicas 10", *got.Spec.MinReplicas)
	}
	if replicas(t, c, ns, "web") != 1 {
		t.Error("the HPA floor actuator touched the deployment")
	}
}

// interleaved runs fn once between the engine's read and its first write,
// as another shadowcast replica (or kubectl) would.
type interleaved struct {
	webhook.Actuator
	once sync.Once
	fn   func()
}

func (i *interleaved) Write(ctx context.Context, prev Observed, units int) error {
	i.once.Do(i.fn)
	return i.Actuator.Write(ctx, prev, units)
}

type oneValue struct{ v shadowcast.Value }

func (o oneValue) Lookup(string, map[string]string, time.Duration) ([]shadowcast.Value, error) {
	return []shadowcast.Value{o.v}, nil
}

func newTestEngine(t *testing.T, a webhook.Actuator, reg prometheus.Registerer) *webhook.Engine {
	t.Helper()
	e, err := webhook.New(webhook.Options{
		Resources: []webhook.Resource{{
			Name: "web", Shadow: "http_requests", Horizon: 15 * time.Minute, ThresholdUpper: 800, ThresholdLower: 300,
			Mode: webhook.ModeEnforce, Stabilization: 5 * time.Minute,
			Pools: []webhook.Pool{{Name: "web", CapacityPerUnit: 100, Min: 1, Max: 20, Actuator: a}},
		}},
		// Needs ceil(850/100) = 9 replicas.
		Reader:       oneValue{shadowcast.Value{Point: 700, Lower: 600, Upper: 820, PeakUpper: 850, Actual: 500}},
		RetryBackoff: time.Hour,
	}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestKubeConflictIsRedecided(t *testing.T) {
	c, ns := testCluster(t)
	ctx := context.Background()
	createDeployment(t, c, ns, "web", 2)
	s, _ := NewScale(c, Target{APIVersion: "apps/v1", Resource: "deployments", Namespace: ns, Name: "web"})
	scaleTo := func(n int32) func() {
		return func() {
			d, err := c.Typed.AppsV1().Deployments(ns).GetScale(ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			d.Spec.Replicas = n
			if _, err := c.Typed.AppsV1().Deployments(ns).UpdateScale(ctx, "web", d, metav1.UpdateOptions{}); err != nil {
				t.Error(err)
			}
		}
	}

	// Someone scales to 3 between our read (2) and write (9): refused,
	// re-read 3, re-decided 9, written.
	reg := prometheus.NewRegistry()
	e := newTestEngine(t, &interleaved{Actuator: s, fn: scaleTo(3)}, reg)
	d := e.Evaluate(ctx, "web", webhook.Cause{Reason: "test"})
	if d.Result != webhook.ResultSuccess || d.Conflicts != 1 || d.Current[0] != 3 {
		t.Fatalf("decision = %+v", d)
	}
	if got := replicas(t, c, ns, "web"); got != 9 {
		t.Fatalf("spec.replicas = %d, want 9", got)
	}

	// Someone scales to 12 in between: re-decided, 12 already covers the
	// need, nothing written; the other writer's value stands.
	scaleTo(2)()
	e2 := newTestEngine(t, &interleaved{Actuator: s, fn: scaleTo(12)}, prometheus.NewRegistry())
	d = e2.Evaluate(ctx, "web", webhook.Cause{Reason: "test"})
	if d.Result != webhook.ResultNoChange || d.Conflicts != 1 {
		t.Fatalf("decision = %+v", d)
	}
	if got := replicas(t, c, ns, "web"); got != 12 {
		t.Fatalf("spec.replicas = %d, want 12", got)
	}
	want := `
# HELP shadowcast_action_conflicts_total Writes refused because the target changed since it was read; each is re-read and re-decided.
# TYPE shadowcast_action_conflicts_total counter
shadowcast_action_conflicts_total{resource="web"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shadowcast_action_conflicts_total"); err != nil {
		t.Error(err)
	}
}

// TestKubeUnreachable needs no cluster: nothing listens on the port.
func TestKubeUnreachable(t *testing.T) {
	c, err := NewClients(&rest.Config{Host: "https://127.0.0.1:19249", Timeout: 2 * time.Second,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, "shadowcast-test")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewScale(c, Target{APIVersion: "apps/v1", Resource: "deployments", Namespace: "default", Name: "web"})
	reg := prometheus.NewRegistry()
	e := newTestEngine(t, s, reg)
	d := e.Evaluate(context.Background(), "web", webhook.Cause{Reason: "test"})
	if d.Result != webhook.ResultError || d.RetryAt.IsZero() || !strings.Contains(d.Error, "connection refused") {
		t.Fatalf("decision = %+v", d)
	}
	want := `
# HELP shadowcast_actions_total Scaling decisions by resource, action (scale_up, scale_down, hold, none) and result (success, dry_run, no_change, deferred, conflict, error, skipped).
# TYPE shadowcast_actions_total counter
shadowcast_actions_total{action="none",resource="web",result="error"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shadowcast_actions_total"); err != nil {
		t.Error(err)
	}
}
