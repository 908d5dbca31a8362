package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

func TestRemoteWriteDefaultsAndYAML(t *testing.T) {
	doc := `
- url: http://mimir.example:8080/api/v1/push
  basic_auth:
    username: tenant
    password: secret
- name: vm
  url: https://vm.example/api/v1/write
  interval: 1m
  metrics: [shadowcast_shadow]
  max_retries: -1
`
	var rws []RemoteWrite
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&rws); err != nil {
		t.Fatal(err)
	}
	applyRemoteWriteDefaults(rws)
	if errs := validateRemoteWrite(rws); len(errs) != 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if rws[0].HTTPConfig.BasicAuth == nil || rws[0].HTTPConfig.BasicAuth.Username != "tenant" {
		t.Fatalf("basic_auth not decoded inline: %+v", rws[0].HTTPConfig)
	}
	type summary struct {
		Name                  string
		Interval, Timeout     model.Duration
		Metrics               []string
		Queue, Batch, Retries int
	}
	got := []summary{}
	for _, rw := range rws {
		got = append(got, summary{rw.Name, rw.Interval, rw.Timeout, rw.Metrics, rw.QueueCapacity, rw.MaxSamplesPerRequest, rw.MaxRetries})
	}
	want := []summary{
		{"0", model.Duration(15 * time.Second), model.Duration(10 * time.Second), DefaultRemoteWriteMetrics, 100, 2000, 5},
		{"vm", model.Duration(time.Minute), model.Duration(10 * time.Second), []string{"shadowcast_shadow"}, 100, 2000, -1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestRemoteWriteValidation(t *testing.T) {
	valid := func() RemoteWrite {
		rws := []RemoteWrite{{Name: "a", URL: "http://127.0.0.1:9090/api/v1/write"}}
		applyRemoteWriteDefaults(rws)
		return rws[0]
	}
	for _, tc := range []struct {
		name string
		mod  func(rws []RemoteWrite) []RemoteWrite
		want []string
	}{
		{"valid", func(r []RemoteWrite) []RemoteWrite { return r }, nil},
		{"no url", func(r []RemoteWrite) []RemoteWrite { r[0].URL = ""; return r }, []string{"remote_write[0] (a): url: is required"}},
		{"bad scheme", func(r []RemoteWrite) []RemoteWrite { r[0].URL = "ftp://x/"; return r }, []string{`remote_write[0] (a): url: scheme must be http or https, got "ftp"`}},
		{"credentials in url", func(r []RemoteWrite) []RemoteWrite { r[0].URL = "http://u:p@x/"; return r }, []string{"remote_write[0] (a): url: put credentials in basic_auth, not in the URL"}},
		{"durations", func(r []RemoteWrite) []RemoteWrite { r[0].Interval, r[0].Timeout = -1, -1; return r }, []string{
			"remote_write[0] (a): interval must be positive", "remote_write[0] (a): timeout must be positive"}},
		{"metric name", func(r []RemoteWrite) []RemoteWrite { r[0].Metrics = []string{"bad-name"}; return r }, []string{`remote_write[0] (a): metrics: invalid metric name "bad-name"`}},
		{"sizes", func(r []RemoteWrite) []RemoteWrite { r[0].QueueCapacity, r[0].MaxSamplesPerRequest = -1, -2; return r }, []string{
			"remote_write[0] (a): queue_capacity must be at least 1", "remote_write[0] (a): max_samples_per_request must be at least 1"}},
		{"duplicate", func(r []RemoteWrite) []RemoteWrite { return append(r, r[0]) }, []string{`remote_write[1] (a): duplicate name "a"`}},
		{"two auths", func(r []RemoteWrite) []RemoteWrite {
			r[0].HTTPConfig.BearerToken = "x"
			r[0].HTTPConfig.BasicAuth = nil
			r[0].HTTPConfig.Authorization = nil
			r[0].HTTPConfig.BearerTokenFile = "/f"
			return r
		}, []string{"remote_write[0] (a): at most one of bearer_token & bearer_token_file must be configured"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, err := range validateRemoteWrite(tc.mod([]RemoteWrite{valid()})) {
				got = append(got, err.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
