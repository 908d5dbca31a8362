package rules

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// findPromtool returns $PROMTOOL, the promtool cached by
// scripts/components.sh, or one on $PATH; "" when there is none.
func findPromtool() string {
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache")
		}
	}
	if p := filepath.Join(cache, "shadowcast", "tools", "promtool"); cache != "" {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	return ""
}

func runPromtool(t *testing.T, promtool string, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool, args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %v: %v\n%s", args, err, out)
	}
}
