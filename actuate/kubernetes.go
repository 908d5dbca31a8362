// Package actuate changes resources: Kubernetes objects through client-go
// (the scale subresource, container requests, an HPA's minReplicas) and
// HTTP endpoints (a signed JSON POST). Each actuator reads the current
// units with a version and writes with optimistic concurrency, returning an
// error whose Conflict method reports true when the target changed in
// between. Each type implements webhook.Actuator.
package actuate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shadowcast/shadowcast/webhook"
)

// Observed is what a Read returns: units now and the version to write
// against.
type Observed = webhook.Observed

var (
	_ webhook.Actuator = (*Scale)(nil)
	_ webhook.Actuator = (*Requests)(nil)
	_ webhook.Actuator = (*HPAMin)(nil)
	_ webhook.Actuator = (*HTTP)(nil)
)

// ConflictError means the target changed between Read and Write.
type ConflictError struct{ Err error }

func (e *ConflictError) Error() string { return "conflict: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ConflictError) Unwrap() error { return e.Err }

// Conflict reports true; consumers test for it with errors.As.
func (e *ConflictError) Conflict() bool { return true }

func wrapConflict(err error) error {
	if apierrors.IsConflict(err) {
		return &ConflictError{Err: err}
	}
	return err
}

// Clients are the Kubernetes API clients actuators share.
type Clients struct {
	Typed   kubernetes.Interface
	Dynamic dynamic.Interface
	// Host is the API server URL, for logs.
	Host string
}

// RESTConfig returns the client configuration: the kubeconfig file when
// path is set, else the in-cluster service account, else $KUBECONFIG.
func RESTConfig(path string) (*rest.Config, error) {
	if path != "" {
		c, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
		}
		return c, nil
	}
	c, err := rest.InClusterConfig()
	if err == nil {
		return c, nil
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		c, err2 := clientcmd.BuildConfigFromFlags("", env)
		if err2 != nil {
			return nil, fmt.Errorf("kubeconfig $KUBECONFIG: %w", err2)
		}
		return c, nil
	}
	return nil, fmt.Errorf("no kubeconfig given and not in a cluster: %w", err)
}

// NewClients builds clients from cfg. A request timeout keeps a hung API
// server from holding a worker beyond the engine's action timeout.
func NewClients(cfg *rest.Config, userAgent string) (*Clients, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	if userAgent != "" {
		cfg.UserAgent = userAgent
	}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	return &Clients{Typed: typed, Dynamic: dyn, Host: cfg.Host}, nil
}

// Target addresses a Kubernetes object.
type Target struct {
	APIVersion string // "apps/v1"
	Resource   string // plural: "deployments"
	Namespace  string
	Name       string
}

func (t Target) gvr() (schema.GroupVersionResource, error) {
	gv, err := schema.ParseGroupVersion(t.APIVersion)
	if err != nil {
		return schema.GroupVersionResource{}, fmt.Errorf("api version %q: %w", t.APIVersion, err)
	}
	return gv.WithResource(t.Resource), nil
}

func (t Target) String() string {
	return fmt.Sprintf("%s %s/%s", t.Resource, t.Namespace, t.Name)
}

// Scale sets spec.replicas through the scale subresource of any object that
// has one, with the resourceVersion read as precondition.
type Scale struct {
	c      *Clients
	t      Target
	client dynamic.ResourceInterface
}

// NewScale returns a scale-subresource actuator for t.
func NewScale(c *Clients, t Target) (*Scale, error) {
	gvr, err := t.gvr()
	if err != nil {
		return nil, err
	}
	return &Scale{c: c, t: t, client: c.Dynamic.Resource(gvr).Namespace(t.Namespace)}, nil
}

// Read returns spec.replicas of the scale subresource.
func (s *Scale) Read(ctx context.Context) (Observed, error) {
	obj, err := s.client.Get(ctx, s.t.Name, metav1.GetOptions{}, "scale")
	if err != nil {
		return Observed{}, fmt.Errorf("get scale of %s: %w", s.t, err)
	}
	n, _, err := unstructured.NestedInt64(obj.Object, "spec", "replicas")
	if err != nil {
		return Observed{}, fmt.Errorf("scale of %s: spec.replicas: %w", s.t, err)
	}
	return Observed{Units: int(n), Version: obj.GetResourceVersion()}, nil
}

// Write sets spec.replicas; it fails with a *ConflictError when the object
// changed since prev was read.
func (s *Scale) Write(ctx context.Context, prev Observed, units int) error {
	if prev.Version == "" {
		return errors.New("scale write needs the resourceVersion of a read")
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "autoscaling/v1",
		"kind":       "Scale",
		"metadata": map[string]any{
			"name":            s.t.Name,
			"namespace":       s.t.Namespace,
			"resourceVersion": prev.Version,
		},
		"spec": map[string]any{"replicas": int64(units)},
	}}
	if _, err := s.client.Update(ctx, obj, metav1.UpdateOptions{FieldManager: "shadowcast"}, "scale"); err != nil {
		return fmt.Errorf("update scale of %s to %d: %w", s.t, units, wrapConflict(err))
	}
	return nil
}

// Requests sets a container's CPU or memory request in the pod template of
// a Deployment or StatefulSet. One unit is Unit of the resource; a read
// rounds the current request up to whole units.
type Requests struct {
	c         *Clients
	t         Target
	container string
	request   corev1.ResourceName
	unit      resource.Quantity
}

// NewRequests returns a requests actuator. request is "cpu" or "memory";
// unit is the quantity of one unit ("250m", "256Mi").
func NewRequests(c *Clients, t Target, container, request, unit string) (*Requests, error) {
	if t.APIVersion != "apps/v1" || (t.Resource != "deployments" && t.Resource != "statefulsets") {
		return nil, fmt.Errorf("requests actuator supports apps/v1 deployments and statefulsets, not %s %s", t.APIVersion, t.Resource)
	}
	if request != "cpu" && request != "memory" {
		return nil, fmt.Errorf("request must be cpu or memory, got %q", request)
	}
	q, err := resource.ParseQuantity(unit)
	if err != nil || q.Sign() <= 0 {
		return nil, fmt.Errorf("unit %q is not a positive quantity", unit)
	}
	return &Requests{c: c, t: t, container: container, request: corev1.ResourceName(request), unit: q}, nil
}

// workload is a Deployment or StatefulSet, read for its pod template.
type workload struct {
	deploy *appsv1.Deployment
	sts    *appsv1.StatefulSet
}

func (w workload) template() *corev1.PodTemplateSpec {
	if w.deploy != nil {
		return &w.deploy.Spec.Template
	}
	return &w.sts.Spec.Template
}

func (w workload) version() string {
	if w.deploy != nil {
		return w.deploy.ResourceVersion
	}
	return w.sts.ResourceVersion
}

func (r *Requests) get(ctx context.Context) (workload, error) {
	apps := r.c.Typed.AppsV1()
	if r.t.Resource == "statefulsets" {
		s, err := apps.StatefulSets(r.t.Namespace).Get(ctx, r.t.Name, metav1.GetOptions{})
		return workload{sts: s}, err
	}
	d, err := apps.Deployments(r.t.Namespace).Get(ctx, r.t.Name, metav1.GetOptions{})
	return workload{deploy: d}, err
}

func (r *Requests) containerOf(w workload) (*corev1.Container, error) {
	cs := w.template().Spec.Containers
	for i := range cs {
		if cs[i].Name == r.container {
			return &cs[i], nil
		}
	}
	return nil, fmt.Errorf("%s has no container %q", r.t, r.container)
}

// Read returns the request in units, rounded up (0 when unset).
func (r *Requests) Read(ctx context.Context) (Observed, error) {
	w, err := r.get(ctx)
	if err != nil {
		return Observed{}, fmt.Errorf("get %s: %w", r.t, err)
	}
	c, err := r.containerOf(w)
	if err != nil {
		return Observed{}, err
	}
	q := c.Resources.Requests[r.request]
	units := int(math.Ceil(float64(q.MilliValue())/float64(r.unit.MilliValue()) - 1e-9))
	return Observed{Units: units, Version: w.version()}, nil
}

// Quantity returns the request that units stand for.
func (r *Requests) Quantity(units int) resource.Quantity {
	q := resource.NewMilliQuantity(r.unit.MilliValue()*int64(units), r.unit.Format)
	return *q
}

// Write sets the request to units × unit with a strategic merge patch that
// carries the resourceVersion read: the API server refuses it with a
// conflict when the object changed since. Limits are left alone: a request
// above the limit is refused by the API server.
func (r *Requests) Write(ctx context.Context, prev Observed, units int) error {
	if prev.Version == "" {
		return errors.New("requests write needs the resourceVersion of a read")
	}
	q := r.Quantity(units)
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": prev.Version},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{
				"name":      r.container,
				"resources": map[string]any{"requests": map[string]any{string(r.request): q.String()}},
			}},
		}}},
	})
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: "shadowcast"}
	apps := r.c.Typed.AppsV1()
	if r.t.Resource == "statefulsets" {
		_, err = apps.StatefulSets(r.t.Namespace).Patch(ctx, r.t.Name, types.StrategicMergePatchType, patch, opts)
	} else {
		_, err = apps.Deployments(r.t.Namespace).Patch(ctx, r.t.Name, types.StrategicMergePatchType, patch, opts)
	}
	if err != nil {
		return fmt.Errorf("patch %s request of %s to %s: %w", r.request, r.t, q.String(), wrapConflict(err))
	}
	return nil
}

// HPAMin sets an HorizontalPodAutoscaler's minReplicas, so the reactive HPA
// keeps scaling above the forecast floor. A floor above the HPA's
// maxReplicas is clamped to it.
type HPAMin struct {
	c *Clients
	t Target
}

// NewHPAMin returns an HPA-floor actuator for t (autoscaling/v2).
func NewHPAMin(c *Clients, t Target) (*HPAMin, error) {
	if !strings.HasPrefix(t.APIVersion, "autoscaling/") || t.Resource != "horizontalpodautoscalers" {
		return nil, fmt.Errorf("hpa actuator targets autoscaling horizontalpodautoscalers, not %s %s", t.APIVersion, t.Resource)
	}
	return &HPAMin{c: c, t: t}, nil
}

// Read returns minReplicas (1 when unset, the API default).
func (h *HPAMin) Read(ctx context.Context) (Observed, error) {
	hpa, err := h.c.Typed.AutoscalingV2().HorizontalPodAutoscalers(h.t.Namespace).Get(ctx, h.t.Name, metav1.GetOptions{})
	if err != nil {
		return Observed{}, fmt.Errorf("get %s: %w", h.t, err)
	}
	n := 1
	if hpa.Spec.MinReplicas != nil {
		n = int(*hpa.Spec.MinReplicas)
	}
	return Observed{Units: n, Version: hpa.ResourceVersion}, nil
}

// Write sets minReplicas to units, clamped to [1, maxReplicas].
func (h *HPAMin) Write(ctx context.Context, prev Observed, units int) error {
	hpas := h.c.Typed.AutoscalingV2().HorizontalPodAutoscalers(h.t.Namespace)
	hpa, err := hpas.Get(ctx, h.t.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get %s: %w", h.t, err)
	}
	if hpa.ResourceVersion != prev.Version {
		return &ConflictError{Err: fmt.Errorf("%s changed since read (resourceVersion %s, now %s)", h.t, prev.Version, hpa.ResourceVersion)}
	}
	n := int32(min(max(units, 1), int(hpa.Spec.MaxReplicas)))
	hpa.Spec.MinReplicas = &n
	if _, err := hpas.Update(ctx, hpa, metav1.UpdateOptions{FieldManager: "shadowcast"}); err != nil {
		return fmt.Errorf("update minReplicas of %s to %d: %w", h.t, n, wrapConflict(err))
	}
	return nil
}
