package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesCommandMatchesGolden(t *testing.T) {
	out := filepath.Join(t.TempDir(), "generated.rules.yml")
	if rc := run([]string{"rules", "--config.file=../../rules/testdata/shadowcast.yml", "--output=" + out}); rc != 0 {
		t.Fatalf("rc = %d", rc)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../rules/testdata/generated.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	// The golden file names its source by the path the rules test used.
	w := strings.Replace(string(want), `from "testdata/shadowcast.yml"`, `from "shadowcast.yml"`, 1)
	if string(got) != w {
		t.Errorf("shadowcast rules output differs from rules/testdata/generated.rules.yml:\n%s", got)
	}
}

func TestRulesCommandErrors(t *testing.T) {
	for _, args := range [][]string{
		{"rules", "--config.file=does-not-exist.yml"},
		{"rules", "--config.file=../../rules/testdata/shadowcast.yml", "--rules.scale-up-for=soon"},
		{"rules", "--config.file=../../rules/testdata/shadowcast.yml", "--rules.replica-label=shadow"},
	} {
		if rc := run(args); rc == 0 {
			t.Errorf("%v: rc = 0, want failure", args)
		}
	}
}
