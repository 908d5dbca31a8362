package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/rules"
)

func rulesCommand(app *kingpin.Application) command {
	c := app.Command("rules", "Generate the per-resource scaling alerts and per-shadow deviation alerts from the configuration (Prometheus rule file).")
	var (
		configFile    = c.Flag("config.file", "shadowcast configuration file.").Default("shadowcast.yml").String()
		output        = c.Flag("output", "Write the rules to this file instead of standard output.").Short('o').String()
		runbookURL    = c.Flag("rules.runbook-url", "Runbooks document the alerts link to (anchor: lower-cased alert name).").Default(rules.DefaultRunbookURL).String()
		upSeries      = c.Flag("rules.scale-up-series", "Series compared with the upper threshold.").Default(rules.SeriesPeakUpper).Enum(rules.SeriesPeakUpper, rules.SeriesUpper)
		upFor         = c.Flag("rules.scale-up-for", "`for` of the scale-up alerts.").Default("1m").String()
		downFor       = c.Flag("rules.scale-down-for", "`for` of the scale-down alerts.").Default("10m").String()
		outsideFor    = c.Flag("rules.actual-outside-for", "`for` of the actual-outside-interval alerts.").Default("30m").String()
		replicaLabels = c.Flag("rules.replica-label", "Label telling HA replicas of one shadow instance apart (repeatable).").Default("instance", "pod").Strings()
		keepLabels    = c.Flag("rules.keep-label", "Label kept through the aggregation of the scaling rules and joined on (repeatable).").Default("namespace").Strings()
	)
	return command{clause: c, run: func() int {
		if err := generateRules(*configFile, *output, rulesFlags{
			runbookURL: *runbookURL, upSeries: *upSeries, upFor: *upFor, downFor: *downFor,
			outsideFor: *outsideFor, replicaLabels: *replicaLabels, keepLabels: *keepLabels,
		}); err != nil {
			fmt.Fprintf(os.Stderr, "shadowcast rules: %v\n", err)
			return 1
		}
		return 0
	}}
}

type rulesFlags struct {
	runbookURL, upSeries, upFor, downFor, outsideFor string
	replicaLabels, keepLabels                        []string
}

func generateRules(configFile, output string, f rulesFlags) error {
	cfg, err := config.LoadFile(configFile)
	if err != nil {
		return err
	}
	opts := rules.Options{
		Shadows:       cfg.Shadows,
		Resources:     cfg.Resources,
		Source:        filepath.Base(configFile),
		RunbookURL:    f.runbookURL,
		ScaleUpSeries: f.upSeries,
		ReplicaLabels: f.replicaLabels,
		KeepLabels:    f.keepLabels,
	}
	for _, d := range []struct {
		flag, v string
		dst     *model.Duration
	}{
		{"rules.scale-up-for", f.upFor, &opts.ScaleUpFor},
		{"rules.scale-down-for", f.downFor, &opts.ScaleDownFor},
		{"rules.actual-outside-for", f.outsideFor, &opts.ActualOutsideFor},
	} {
		if *d.dst, err = model.ParseDuration(d.v); err != nil {
			return fmt.Errorf("--%s: %w", d.flag, err)
		}
		if *d.dst == 0 {
			// An explicit 0s means "at once", not "the default".
			*d.dst = rules.Immediately
		}
	}
	out, err := rules.Generate(opts)
	if err != nil {
		return err
	}
	if output == "" || output == "-" {
		_, err = os.Stdout.Write(out)
		return err
	}
	// Write beside the target and rename, so Prometheus never reads half
	// a file.
	tmp, err := os.CreateTemp(filepath.Dir(output), ".shadowcast-rules-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), output)
}
