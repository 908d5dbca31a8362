package simulate

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// SVGOptions selects what WriteSVG plots.
type SVGOptions struct {
	// From and To bound the plotted time range; zero values mean the
	// evaluation part (From) and From + 2 days (To), clipped to the trace.
	From, To time.Time
	// Width and Height of the image in pixels (default 1200 × 500).
	Width, Height int
	// Title is drawn at the top.
	Title string
}

var policyColors = map[string]string{
	PolicyReactive:   "#d62728",
	PolicyPredictive: "#1f77b4",
	PolicyLearned:    "#2ca02c",
	PolicyOracle:     "#9467bd",
}

// WriteSVG plots the load, the ready capacity of each policy and the
// shadow band (forecast bounds at the lead horizon, drawn at their target
// time). When the range holds more steps than the image has pixels,
// samples are bucketed: maxima for load, capacity and upper bound, minima
// for the lower bound.
func (r *Result) WriteSVG(w io.Writer, o SVGOptions) error {
	if o.Width <= 0 {
		o.Width = 1200
	}
	if o.Height <= 0 {
		o.Height = 500
	}
	from := r.evalOffset
	if !o.From.IsZero() {
		from = clampIdx(int(o.From.Sub(r.Start)/r.Step), len(r.load))
	}
	to := from + int(48*time.Hour/r.Step)
	if !o.To.IsZero() {
		to = int(o.To.Sub(r.Start) / r.Step)
	}
	to = clampIdx(to, len(r.load))
	if to-from < 2 {
		return fmt.Errorf("svg: empty time range")
	}
	const left, right, top, bottom = 70, 220, 30, 40
	pw, ph := float64(o.Width-left-right), float64(o.Height-top-bottom)
	cols := min(to-from, int(pw))
	bucket := func(v []float64, c int, agg func(a, b float64) float64) float64 {
		lo := from + c*(to-from)/cols
		hi := from + (c+1)*(to-from)/cols
		out := math.NaN()
		for i := lo; i < hi; i++ {
			if math.IsNaN(v[i]) {
				continue
			}
			if math.IsNaN(out) {
				out = v[i]
			} else {
				out = agg(out, v[i])
			}
		}
		return out
	}
	type line struct {
		name, color string
		y           []float64
	}
	load := make([]float64, cols)
	lower := make([]float64, cols)
	upper := make([]float64, cols)
	ymax := 0.0
	for c := range cols {
		load[c] = bucket(r.load, c, math.Max)
		lower[c] = bucket(r.lower, c, math.Min)
		upper[c] = bucket(r.upper, c, math.Max)
		ymax = math.Max(ymax, nz(load[c]))
		ymax = math.Max(ymax, nz(upper[c]))
	}
	var lines []line
	for _, p := range r.Policies {
		y := make([]float64, cols)
		for c := range cols {
			y[c] = bucket(p.capacity, c, math.Max)
			ymax = math.Max(ymax, nz(y[c]))
		}
		lines = append(lines, line{p.Name, policyColors[p.Name], y})
	}
	if ymax <= 0 {
		ymax = 1
	}
	ymax *= 1.05
	x := func(c int) float64 { return left + pw*float64(c)/float64(max(cols-1, 1)) }
	y := func(v float64) float64 { return top + ph*(1-v/ymax) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", o.Width, o.Height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	if o.Title != "" {
		fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">%s</text>`+"\n", left, html.EscapeString(o.Title))
	}
	// Axes and grid.
	for k := 0; k <= 4; k++ {
		v := ymax * float64(k) / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, left, left+pw, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-5, y(v)+4, axisLabel(v))
	}
	for k := 0; k <= 6; k++ {
		c := k * (cols - 1) / 6
		i := from + c*(to-from)/cols
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(c), o.Height-bottom+18,
			r.Start.Add(time.Duration(i)*r.Step).Format("01-02 15:04"))
	}
	// Shadow band.
	var poly []string
	for c := range cols {
		if !math.IsNaN(upper[c]) {
			poly = append(poly, fmt.Sprintf("%.1f,%.1f", x(c), y(upper[c])))
		}
	}
	for c := cols - 1; c >= 0; c-- {
		if !math.IsNaN(lower[c]) {
			poly = append(poly, fmt.Sprintf("%.1f,%.1f", x(c), y(math.Max(lower[c], 0))))
		}
	}
	if len(poly) > 2 {
		fmt.Fprintf(&b, `<polygon points="%s" fill="#9ecae1" fill-opacity="0.5" stroke="none"/>`+"\n", strings.Join(poly, " "))
	}
	path := func(v []float64) string {
		var p strings.Builder
		pen := false
		for c := range cols {
			if math.IsNaN(v[c]) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&p, "%s%.1f,%.1f ", cmd, x(c), y(v[c]))
			pen = true
		}
		return p.String()
	}
	fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#444" stroke-width="1"/>`+"\n", path(load))
	for _, l := range lines {
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.2" stroke-opacity="0.85"/>`+"\n", path(l.y), l.color)
	}
	// Legend.
	legend := append([]line{{"load", "#444", nil}, {"shadow band", "#9ecae1", nil}}, lines...)
	for k, l := range legend {
		ly := top + 10 + 18*k
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="14" height="4" fill="%s"/>`, left+pw+10, ly, l.color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", left+pw+30, ly+6, html.EscapeString(l.name+labelSuffix(l.name)))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func labelSuffix(name string) string {
	switch name {
	case "load", "shadow band":
		return ""
	}
	return " capacity"
}

func axisLabel(v float64) string {
	if math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func nz(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

func clampIdx(i, n int) int { return max(0, min(i, n)) }
