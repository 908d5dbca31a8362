package config

import (
	"strings"
	"testing"
)

func TestFullRetrainEvery(t *testing.T) {
	c, err := Load([]byte(base), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Shadows[0].FullRetrainEvery; got != DefaultFullRetrainEvery {
		t.Errorf("default full_retrain_every %d, want %d", got, DefaultFullRetrainEvery)
	}
	c, err = Load([]byte(strings.Replace(base, "name: a", "name: a\n    full_retrain_every: 1", 1)), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Shadows[0].FullRetrainEvery; got != 1 {
		t.Errorf("full_retrain_every %d, want 1", got)
	}
	// Reported together with the other problems.
	_, err = Load([]byte(strings.Replace(base, "name: a", "name: a\n    full_retrain_every: -2\n    confidence: 2", 1)), "")
	for _, want := range []string{"full_retrain_every -2 must not be negative", "confidence 2 must be in (0, 1)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
