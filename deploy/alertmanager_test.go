package deploy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAlertmanagerExample checks examples/alertmanager/alertmanager.yml with
// the real amtool, when there is one: the configuration loads, and the
// generated scaling alerts (and only they) route to shadowcast's webhook.
func TestAlertmanagerExample(t *testing.T) {
	amtool := findTool("AMTOOL", "amtool")
	if amtool == "" {
		t.Skip("amtool not found (run scripts/components.sh install_alertmanager)")
	}
	const cfg = "examples/alertmanager/alertmanager.yml"
	if out, err := exec.Command(amtool, "check-config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=ShadowcastScaleUp", "shadowcast_action=scale_up", "shadowcast_resource=checkout_api"}, "shadowcast"},
		{[]string{"alertname=ShadowcastScaleDown", "shadowcast_action=scale_down", "shadowcast_resource=checkout_api"}, "shadowcast"},
		{[]string{"alertname=ShadowcastShadowStale", "severity=warning"}, "default"},
		{[]string{"alertname=Other", "shadowcast_action=restart"}, "default"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=" + cfg}, tc.labels...)
		out, err := exec.Command(amtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("amtool %v: %v\n%s", args, err, out)
			continue
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%v routes to %q, want %q", tc.labels, got, tc.want)
		}
	}
}
