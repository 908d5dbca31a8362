package webhook

import (
	"sync"
	"time"

	"github.com/shadowcast/shadowcast/policy"
)

// Decision explains one evaluation of a resource: its inputs, the rule
// that applied, the result. Decisions are logged and the latest are served
// at /api/v1/decisions.
type Decision struct {
	ID       uint64    `json:"id"`
	Time     time.Time `json:"time"`
	Resource string    `json:"resource"`
	Mode     string    `json:"mode"`
	Cause    Cause     `json:"cause"`
	Inputs   *Inputs   `json:"inputs,omitempty"`
	// Pools names the pools, in the order of Current and Plan.Target.
	Pools   []string `json:"pools,omitempty"`
	Current []int    `json:"current,omitempty"`
	Plan    Plan     `json:"plan"`
	// Explanation is Plan.Explanation, or why no plan could be made.
	Explanation string    `json:"explanation"`
	Conflicts   int       `json:"conflicts,omitempty"`
	Result      string    `json:"result"`
	Error       string    `json:"error,omitempty"`
	RetryAt     time.Time `json:"retry_at,omitzero"`
	// Source is SourcePolicy for the learned policy's dry-run decisions,
	// empty for the engine's own.
	Source string `json:"source,omitempty"`
	// Policy is the learned policy's explained choice: on its own epoch
	// decisions (Source policy), and on the engine's decisions of a
	// resource whose policy runs (the arm in force).
	Policy *policy.Decision `json:"policy,omitempty"`
	// PolicyUse says whether the policy's arm drove the decision, why,
	// and how the policy is rewarded (resources whose policy runs).
	PolicyUse *PolicyUse `json:"policy_use,omitempty"`
}

// Inputs are the forecast values a decision used.
type Inputs struct {
	Point     float64   `json:"point"`
	Lower     float64   `json:"lower"`
	Upper     float64   `json:"upper"`
	Peak      float64   `json:"peak"`
	PeakUpper float64   `json:"peak_upper"`
	Actual    float64   `json:"actual"`
	Horizon   string    `json:"horizon"`
	LeadTime  string    `json:"lead_time"`
	Model     string    `json:"model,omitempty"`
	Reason    string    `json:"model_reason,omitempty"`
	Instances int       `json:"instances"`
	Updated   time.Time `json:"updated,omitzero"`
}

// ring keeps the latest decisions.
type ring struct {
	mu   sync.Mutex // guards buf, next, full
	buf  []Decision
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]Decision, n)} }

func (r *ring) add(d Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = d
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// list returns up to limit decisions, newest first, optionally only those
// of one resource.
func (r *ring) list(resource string, limit int) []Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]Decision, 0, min(n, limit))
	for i := 0; i < n && len(out) < limit; i++ {
		d := r.buf[(r.next-1-i+len(r.buf))%len(r.buf)]
		if resource == "" || d.Resource == resource {
			out = append(out, d)
		}
	}
	return out
}

// Decisions returns up to limit recorded decisions, newest first; resource
// filters when not empty.
func (e *Engine) Decisions(resource string, limit int) []Decision {
	return e.decisions.list(resource, limit)
}
