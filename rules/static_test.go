package rules

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func readRuleFile(t *testing.T, path string) ruleFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := check(f.Groups); err != nil {
		t.Errorf("%s: %v", path, err)
	}
	return f
}

var (
	recordRE = regexp.MustCompile(`^[a-z_]+:[a-z_]+:[a-z0-9_]+$`)
	alertRE  = regexp.MustCompile(`^Shadowcast[A-Z][A-Za-z]+$`)
)

// TestConventions checks the mixin conventions on every rule shipped or
// generated, and that docs/runbooks.md has exactly one section per alert.
func TestConventions(t *testing.T) {
	alerts := map[string]bool{}
	for _, path := range []string{"shadowcast.rules.yml", "shadowcast.alerts.yml", goldenRules} {
		for _, g := range readRuleFile(t, path).Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					if !recordRE.MatchString(r.Record) {
						t.Errorf("%s: recording rule %q is not level:metric:operations", path, r.Record)
					}
					continue
				}
				alerts[r.Alert] = true
				if !alertRE.MatchString(r.Alert) {
					t.Errorf("%s: alert %q is not CamelCase with the Shadowcast prefix", path, r.Alert)
				}
				if r.For == "" {
					t.Errorf("%s: %s has no for", path, r.Alert)
				}
				if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
					t.Errorf("%s: %s severity %q", path, r.Alert, s)
				}
				if s := r.Annotations["summary"]; s == "" || !strings.HasSuffix(s, ".") || strings.ToUpper(s[:1]) != s[:1] {
					t.Errorf("%s: %s summary %q must be a sentence", path, r.Alert, s)
				}
				if r.Annotations["description"] == "" {
					t.Errorf("%s: %s has no description", path, r.Alert)
				}
				if want := DefaultRunbookURL + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
					t.Errorf("%s: %s runbook_url %q, want %q", path, r.Alert, r.Annotations["runbook_url"], want)
				}
			}
		}
	}
	b, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^## (\S+)\s*$`).FindAllStringSubmatch(string(b), -1) {
		sections[m[1]]++
	}
	for a := range alerts {
		if sections[a] != 1 {
			t.Errorf("docs/runbooks.md has %d sections for %s, want 1", sections[a], a)
		}
	}
	for s := range sections {
		if !alerts[s] {
			t.Errorf("docs/runbooks.md has a section %s for no alert", s)
		}
	}
	if len(alerts) < 10 {
		t.Errorf("found %d alerts, want the 7 static and 3 generated ones", len(alerts))
	}
}
