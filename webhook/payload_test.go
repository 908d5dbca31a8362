package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		body    string // file in testdata/ or an inline body
		wantErr bool
		check   func(t *testing.T, m *Message)
	}{
		{name: "firing with unknown fields", body: "firing.json", check: func(t *testing.T, m *Message) {
			want := Alert{
				Status:       StatusFiring,
				Labels:       map[string]string{"alertname": "ShadowcastScaleUp", "severity": "info", "shadowcast_resource": "checkout", "shadow": "http_requests"},
				Annotations:  map[string]string{"summary": "Forecast upper bound above the upper threshold."},
				StartsAt:     time.Date(2026, 11, 27, 8, 0, 0, 123e6, time.UTC),
				GeneratorURL: "http://127.0.0.1:19090/graph?g0.expr=x",
				Fingerprint:  "c0ffee0123456789",
			}
			if diff := cmp.Diff(want, m.Alerts[0]); diff != "" {
				t.Errorf("alert (-want +got):\n%s", diff)
			}
			if m.GroupKey != `{}:{alertname="ShadowcastScaleUp"}` || len(m.Alerts) != 2 || m.Status != StatusFiring {
				t.Errorf("message = %+v", m)
			}
		}},
		{name: "resolved", body: "resolved.json"},
		{name: "wrong version", body: "version3.json", wantErr: true},
		{name: "not json", body: "{not json", wantErr: true},
		{name: "empty", body: "", wantErr: true},
		{name: "array", body: "[]", wantErr: true},
		{name: "bad alert status", body: `{"version":"4","alerts":[{"status":"pending"}]}`, wantErr: true},
		{name: "wrong type", body: `{"version":4}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if strings.HasSuffix(tc.body, ".json") {
				var err error
				if body, err = os.ReadFile(filepath.Join("testdata", tc.body)); err != nil {
					t.Fatal(err)
				}
			}
			m, err := Decode(bytes.NewReader(body))
			if tc.wantErr {
				if !errors.Is(err, ErrBadPayload) {
					t.Fatalf("Decode() error = %v, want ErrBadPayload", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

// FuzzDecode checks that no input panics the decoder and that whatever it
// accepts is a version 4 message that survives a JSON round trip. CI runs
// the seeds as a normal test; `go test -fuzz=FuzzDecode ./webhook` explores.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "{}", "null", `{"version":"4"}`, `{"version":"4","alerts":null}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"shadowcast_resource":"x"},"startsAt":"bad"}]}`,
		`{"version":"4","alerts":[{"status":"firing","startsAt":"2026-01-01T00:00:00Z"}]}`,
		`{"version":"4","truncatedAlerts":-1}`, `{"version":"4","alerts":[{"status":"resolved","labels":{"a":1}}]}`,
		"\xff\xfe", `{"version":"4"}{"version":"3"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(bytes.NewReader(b))
		if err != nil {
			if m != nil {
				t.Fatal("Decode returned a message with an error")
			}
			return
		}
		if m.Version != PayloadVersion {
			t.Fatalf("accepted version %q", m.Version)
		}
		for _, a := range m.Alerts {
			if a.Status != StatusFiring && a.Status != StatusResolved {
				t.Fatalf("accepted alert status %q", a.Status)
			}
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := Decode(bytes.NewReader(again))
		if err != nil {
			t.Fatalf("re-decode of %s: %v", again, err)
		}
		if diff := cmp.Diff(m, m2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
