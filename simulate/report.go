package simulate

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable writes a human-readable report.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "trace: %d samples at %v from %s; evaluated %s → %s (the learned policy trained before)\n",
		r.Samples, r.Step, r.Start.Format("2006-01-02 15:04"), r.EvalFrom.Format("2006-01-02 15:04"), r.EvalTo.Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "service: %s; min %d max %d replicas\n", r.Options, r.Options.MinReplicas, r.Options.MaxReplicas)
	f := r.Forecast
	if r.Options.Smooth > 0 {
		fmt.Fprintf(&b, "forecasts of the trailing %v mean of the load (--smooth)\n", r.Options.Smooth)
	}
	fmt.Fprintf(&b, "forecast: %s at lead %v, %d refits, %d evaluated steps without forecast (%d implausible forecasts rejected); MAE %.3g MASE %.3f sMAPE %.3f coverage %.3f (nominal %.2f)\n",
		f.Model, f.Lead, f.Refits, f.Missing, f.Unusable, f.MAE, f.MASE, f.SMAPE, f.Coverage, f.Level)
	if len(r.SmoothTuning) > 0 {
		fmt.Fprintf(&b, "smoothing chosen on the validation part (best candidate per --smooth span):\n")
		for _, row := range r.SmoothTuning {
			mark := " "
			if row.Smooth == r.Options.Smooth {
				mark = "*"
			}
			fmt.Fprintf(&b, "  %s smooth=%-8v %-36s Δunder %s  Δreplica-h %s\n", mark, row.Smooth, row.Best.Candidate, pct(row.Best.UnderVsReactive), pct(row.Best.HoursVsReactive))
		}
	}
	if t := r.Tuning; t != nil {
		fmt.Fprintf(&b, "tuning (training part only): candidates trained on %s → %s, validated on %s → %s; rule: %s\n",
			t.TrainFrom.Format("2006-01-02 15:04"), t.TrainTo.Format("2006-01-02 15:04"),
			t.ValidFrom.Format("2006-01-02 15:04"), t.ValidTo.Format("2006-01-02 15:04"), t.Rule)
		for _, row := range t.Rows {
			mark := " "
			if row.Candidate == t.Chosen {
				mark = "*"
			}
			if row.Err != "" {
				fmt.Fprintf(&b, "  %s %-24s %s\n", mark, row.Candidate, row.Err)
				continue
			}
			fmt.Fprintf(&b, "  %s %-24s Δunder %s  Δreplica-h %s (validation)\n", mark, row.Candidate, pct(row.UnderVsReactive), pct(row.HoursVsReactive))
		}
	}
	fmt.Fprintf(&b, "learned policy: %d training epochs (λ %.2g, arms %s, epoch %v, %d passes, uncertainty edges %.3g); arms chosen in evaluation: %s\n\n",
		r.Learned.TrainEpochs, r.Options.Lambda, r.Options.Arms, r.Options.Epoch, r.Options.Passes, r.Options.UncertaintyEdges, armsSummary(r.Learned.ArmsChosen))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tunder-prov min\tunder-prov %\tunserved %\treplica-h\tcost\tactions\tΔunder vs reactive\tΔreplica-h vs reactive\t")
	for _, p := range r.Policies {
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.3f\t%.1f\t%.1f\t%d\t%s\t%s\t\n", p.Name, p.UnderProvisionedMinutes,
			100*p.UnderProvisionedRatio, 100*p.UnservedRatio, p.ReplicaHours, p.Cost, p.ScalingActions,
			pct(p.UnderVsReactive), pct(p.HoursVsReactive))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", 100*v)
}

func armsSummary(m map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	total := 0
	for k, v := range m {
		all = append(all, kv{k, v})
		total += v
	}
	if total == 0 {
		return "none"
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || (all[i].v == all[j].v && all[i].k < all[j].k) })
	var parts []string
	for i, e := range all {
		if i == 4 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", e.k, 100*float64(e.v)/float64(total)))
	}
	return strings.Join(parts, ", ")
}

// WriteJSON writes the result as indented JSON. Durations are in seconds;
// values that are not finite (e.g. a change relative to zero) are null.
func (r *Result) WriteJSON(w io.Writer) error {
	type jsonPolicy struct {
		Name                    string   `json:"policy"`
		UnderProvisionedMinutes float64  `json:"under_provisioned_minutes"`
		UnderProvisionedRatio   float64  `json:"under_provisioned_ratio"`
		UnservedRatio           float64  `json:"unserved_ratio"`
		ReplicaHours            float64  `json:"replica_hours"`
		Cost                    float64  `json:"cost"`
		ScalingActions          int      `json:"scaling_actions"`
		UnderVsReactive         *float64 `json:"under_provisioned_vs_reactive"`
		HoursVsReactive         *float64 `json:"replica_hours_vs_reactive"`
	}
	o, f := r.Options, r.Forecast
	out := map[string]any{
		"start":        r.Start.Format(timeFormat),
		"step_seconds": r.Step.Seconds(),
		"samples":      r.Samples,
		"eval_from":    r.EvalFrom.Format(timeFormat),
		"eval_to":      r.EvalTo.Format(timeFormat),
		"options": map[string]any{
			"capacity": o.Capacity, "startup_seconds": o.Startup.Seconds(), "target_utilization": o.TargetUtilization,
			"stabilization_seconds": o.Stabilization.Seconds(), "min_replicas": o.MinReplicas, "max_replicas": o.MaxReplicas,
			"headroom": o.Headroom, "policy_lambda": o.Lambda, "policy_epoch_seconds": o.Epoch.Seconds(), "policy_passes": o.Passes,
			"policy_uncertainty_edges": o.UncertaintyEdges, "policy_arms": o.Arms, "smooth_seconds": o.Smooth.Seconds(),
		},
		"forecast": map[string]any{
			"model": f.Model, "lead_seconds": f.Lead.Seconds(), "refits": f.Refits, "steps_without_forecast": f.Missing, "forecasts_rejected": f.Unusable,
			"mae": nullable(f.MAE), "mase": nullable(f.MASE), "smape": nullable(f.SMAPE), "coverage": nullable(f.Coverage), "level": f.Level,
		},
		"learned_policy": map[string]any{
			"train_from": r.Learned.TrainFrom.Format(timeFormat), "train_to": r.Learned.TrainTo.Format(timeFormat),
			"train_epochs": r.Learned.TrainEpochs, "arms_chosen_in_evaluation": r.Learned.ArmsChosen,
			"example_decisions": r.Learned.Examples,
		},
	}
	var ps []jsonPolicy
	for _, p := range r.Policies {
		ps = append(ps, jsonPolicy{
			Name: p.Name, UnderProvisionedMinutes: p.UnderProvisionedMinutes, UnderProvisionedRatio: p.UnderProvisionedRatio,
			UnservedRatio: p.UnservedRatio, ReplicaHours: p.ReplicaHours, Cost: p.Cost, ScalingActions: p.ScalingActions,
			UnderVsReactive: nullable(p.UnderVsReactive), HoursVsReactive: nullable(p.HoursVsReactive),
		})
	}
	out["policies"] = ps
	if len(r.SmoothTuning) > 0 {
		var rows []map[string]any
		for _, row := range r.SmoothTuning {
			rows = append(rows, map[string]any{
				"smooth_seconds": row.Smooth.Seconds(), "lambda": row.Best.Candidate.Lambda, "arms": row.Best.Candidate.Arms,
				"epoch_seconds": row.Best.Candidate.Epoch.Seconds(), "under_provisioned_vs_reactive": nullable(row.Best.UnderVsReactive),
				"replica_hours_vs_reactive": nullable(row.Best.HoursVsReactive), "chosen": row.Smooth == r.Options.Smooth,
			})
		}
		out["smoothing"] = rows
	}
	if t := r.Tuning; t != nil {
		type jsonRow struct {
			Lambda          float64  `json:"lambda"`
			Arms            string   `json:"arms"`
			EpochSeconds    float64  `json:"epoch_seconds,omitempty"`
			UnderVsReactive *float64 `json:"under_provisioned_vs_reactive"`
			HoursVsReactive *float64 `json:"replica_hours_vs_reactive"`
			Chosen          bool     `json:"chosen"`
			Error           string   `json:"error,omitempty"`
		}
		var rows []jsonRow
		for _, row := range t.Rows {
			rows = append(rows, jsonRow{
				Lambda: row.Candidate.Lambda, Arms: row.Candidate.Arms, EpochSeconds: row.Candidate.Epoch.Seconds(), Chosen: row.Candidate == t.Chosen, Error: row.Err,
				UnderVsReactive: nullable(row.UnderVsReactive), HoursVsReactive: nullable(row.HoursVsReactive),
			})
		}
		out["tuning"] = map[string]any{
			"train_from": t.TrainFrom.Format(timeFormat), "train_to": t.TrainTo.Format(timeFormat),
			"validate_from": t.ValidFrom.Format(timeFormat), "validate_to": t.ValidTo.Format(timeFormat),
			"rule": t.Rule, "candidates": rows,
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

const timeFormat = "2006-01-02T15:04:05Z07:00"

// nullable returns nil for values JSON cannot carry (NaN, ±Inf).
func nullable(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
