package main

import (
	"strings"
	"testing"

	"github.com/shadowcast/shadowcast/config"
)

// A reload that only changes a password must rebuild the source: the
// fingerprint sees inline secrets although they marshal as "<secret>".
func TestFingerprintSeesSecrets(t *testing.T) {
	load := func(password, query string) string {
		t.Helper()
		cfg, err := config.Load([]byte(strings.NewReplacer("PW", password, "Q", query).Replace(`
prometheus:
  url: http://localhost:9090
  basic_auth: {username: u, password: PW}
shadows:
  - name: a
    source: {prometheus: {query: Q}}
`)), "")
		if err != nil {
			t.Fatal(err)
		}
		return fingerprint(cfg, cfg.Shadows[0])
	}
	base := load("one", "up")
	if load("one", "up") != base {
		t.Error("the same configuration gave another fingerprint")
	}
	if load("two", "up") == base {
		t.Error("a changed password kept the fingerprint")
	}
	if load("one", "down") == base {
		t.Error("a changed query kept the fingerprint")
	}
}
