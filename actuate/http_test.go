package actuate

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shadowcast/shadowcast/webhook"
)

// receiver is an HTTP endpoint that verifies signatures and answers from a
// script of status codes.
type receiver struct {
	mu     sync.Mutex
	codes  []int // answered in order; 200 once exhausted
	bodies []HTTPBody
	bad    int // requests with a wrong signature
	delay  time.Duration
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !hmac.Equal([]byte(r.Header.Get(SignatureHeader)), []byte(Sign([]byte("k3y"), b))) {
		rc.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var body HTTPBody
	_ = json.Unmarshal(b, &body)
	rc.bodies = append(rc.bodies, body)
	code := http.StatusOK
	if len(rc.codes) > 0 {
		code, rc.codes = rc.codes[0], rc.codes[1:]
	}
	if rc.delay > 0 {
		time.Sleep(rc.delay)
	}
	w.WriteHeader(code)
}

func newHTTPTest(t *testing.T, rc *receiver, mutate func(*HTTPOptions)) *HTTP {
	t.Helper()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	o := HTTPOptions{
		URL: srv.URL, Resource: "db_connections", Pool: "db_connections", Timeout: time.Second,
		Retries: 3, Backoff: time.Millisecond, Secret: []byte("k3y"),
		Now: func() time.Time { return time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC) },
	}
	if mutate != nil {
		mutate(&o)
	}
	h, err := NewHTTP(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHTTPWrite(t *testing.T) {
	rc := &receiver{codes: []int{503, 502}}
	h := newHTTPTest(t, rc, nil)
	ctx := context.Background()
	o, _ := h.Read(ctx)
	if o.Units != -1 {
		t.Fatalf("units before any write = %d, want -1", o.Units)
	}
	if err := h.Write(ctx, o, 40); err != nil {
		t.Fatal(err)
	}
	if len(rc.bodies) != 3 || rc.bad != 0 {
		t.Fatalf("bodies %d (want 2 failures + 1 success), bad signatures %d", len(rc.bodies), rc.bad)
	}
	want := HTTPBody{Resource: "db_connections", Pool: "db_connections", Units: 40, PreviousUnits: -1, Time: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	if rc.bodies[2] != want {
		t.Errorf("body = %+v, want %+v", rc.bodies[2], want)
	}
	if o, _ := h.Read(ctx); o.Units != 40 {
		t.Errorf("units after write = %d", o.Units)
	}
}

func TestHTTPWriteFailures(t *testing.T) {
	tests := []struct {
		name         string
		codes        []int
		secret       string
		wantAttempts int
		conflict     bool
	}{
		{"client error is not retried", []int{400}, "k3y", 1, false},
		{"conflict", []int{409}, "k3y", 1, true},
		{"retries exhausted", []int{500, 500, 500, 500, 500}, "k3y", 4, false},
		{"wrong secret", nil, "other", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{codes: tc.codes}
			h := newHTTPTest(t, rc, func(o *HTTPOptions) { o.Secret = []byte(tc.secret) })
			err := h.Write(context.Background(), Observed{Units: -1}, 3)
			if err == nil {
				t.Fatal("Write succeeded")
			}
			if len(rc.bodies) != tc.wantAttempts {
				t.Errorf("attempts = %d, want %d", len(rc.bodies), tc.wantAttempts)
			}
			if webhook.IsConflict(err) != tc.conflict {
				t.Errorf("IsConflict(%v) = %v", err, !tc.conflict)
			}
			if o, _ := h.Read(context.Background()); o.Units != -1 {
				t.Errorf("a failed write changed the known units to %d", o.Units)
			}
		})
	}
}

func TestHTTPTimeout(t *testing.T) {
	rc := &receiver{delay: 200 * time.Millisecond}
	h := newHTTPTest(t, rc, func(o *HTTPOptions) { o.Timeout = 20 * time.Millisecond; o.Retries = 1 })
	start := time.Now()
	err := h.Write(context.Background(), Observed{Units: -1}, 3)
	if err == nil || time.Since(start) > 150*time.Millisecond {
		t.Fatalf("err = %v after %s, want a timeout error after two 20ms attempts", err, time.Since(start))
	}
}
