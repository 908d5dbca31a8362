package backtest

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
)

// Panel is one plot: the actual series and forecasts with bounds, on a
// common x axis of sample indices.
type Panel struct {
	Title  string
	Actual []float64
	// Split is the index of the first forecast sample (a vertical line);
	// negative for none.
	Split int
	Lines []Line
}

// Line is a forecast: Point[i], Lower[i], Upper[i] are at x = X0 + i.
type Line struct {
	Name                string
	X0                  int
	Point, Lower, Upper []float64
}

// M4Panels plots the last three days of training and the 48 test hours of
// up to n series (spread over the set), with every method's forecast.
func M4Panels(data []M4Series, methods []Method, fcs [][]M4Forecast, n int) []Panel {
	if len(data) == 0 {
		return nil
	}
	n = min(n, len(data))
	var panels []Panel
	for j := range n {
		i := j * len(data) / n
		d := data[i]
		tail := min(len(d.Train), 3*M4Period)
		p := Panel{Title: "M4 " + d.ID, Split: tail}
		p.Actual = append(append([]float64(nil), d.Train[len(d.Train)-tail:]...), d.Test...)
		for k, m := range methods {
			if i >= len(fcs[k]) {
				continue
			}
			f := fcs[k][i].Forecast
			p.Lines = append(p.Lines, Line{Name: m.Name, X0: tail, Point: f.Point, Lower: f.Lower, Upper: f.Upper})
		}
		panels = append(panels, p)
	}
	return panels
}

// RollingPanels plots the last three days (144 origins when the step does
// not divide a day) of a rolling backtest: the actual series and each
// method's forecast made `horizon` steps earlier, with its bounds.
func RollingPanels(s forecast.Series, methods []Method, traces [][]RollingTrace, horizon int) []Panel {
	if len(traces) == 0 || len(traces[0]) == 0 || horizon < 1 {
		return nil
	}
	span := 3 * forecast.StepsPerDay(s.Step)
	if span == 0 {
		span = 144
	}
	tr0 := traces[0]
	from := max(0, len(tr0)-span)
	x0 := tr0[from].Origin + 1 // first sample plotted
	end := min(s.Len(), tr0[len(tr0)-1].Origin+horizon+1)
	p := Panel{
		Title:  fmt.Sprintf("forecasts %s ahead (from %s)", time.Duration(horizon)*s.Step, s.TimeAt(x0).Format(time.RFC3339)),
		Actual: s.Values[x0:end],
		Split:  -1,
	}
	for k, m := range methods {
		if k >= len(traces) {
			break
		}
		l := Line{Name: m.Name, X0: horizon - 1}
		for _, tr := range traces[k][from:] {
			f := tr.Forecast
			l.Point = append(l.Point, f.Point[horizon-1])
			l.Lower = append(l.Lower, f.Lower[horizon-1])
			l.Upper = append(l.Upper, f.Upper[horizon-1])
		}
		p.Lines = append(p.Lines, l)
	}
	return []Panel{p}
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"}

// WriteSVG draws the panels stacked vertically.
func WriteSVG(w io.Writer, panels []Panel) error {
	const (
		width  = 900.0
		height = 260.0
		left   = 84.0
		right  = 150.0
		top    = 28.0
		bottom = 24.0
	)
	bw := bufio.NewWriter(w)
	total := height * float64(max(len(panels), 1))
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", width, total)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for pi, p := range panels {
		y0 := float64(pi) * height
		n := len(p.Actual)
		lo, hi := math.Inf(1), math.Inf(-1)
		see := func(v []float64) {
			for _, x := range v {
				if !math.IsNaN(x) && !math.IsInf(x, 0) {
					lo, hi = math.Min(lo, x), math.Max(hi, x)
				}
			}
		}
		see(p.Actual)
		for _, l := range p.Lines {
			see(l.Point)
			see(l.Lower)
			see(l.Upper)
			n = max(n, l.X0+len(l.Point))
		}
		if math.IsInf(lo, 0) {
			lo, hi = 0, 1
		}
		if hi == lo {
			hi = lo + 1
		}
		px := func(i int) float64 { return left + (width-left-right)*float64(i)/float64(max(n-1, 1)) }
		py := func(v float64) float64 { return y0 + top + (height-top-bottom)*(1-(v-lo)/(hi-lo)) }
		fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" font-weight="bold">%s</text>`+"\n", left, y0+16, html.EscapeString(p.Title))
		fmt.Fprintf(bw, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#ccc"/>`+"\n",
			left, y0+top, width-left-right, height-top-bottom)
		fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" text-anchor="end">%.4g</text>`+"\n", left-4, py(hi)+4, hi)
		fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" text-anchor="end">%.4g</text>`+"\n", left-4, py(lo)+4, lo)
		if p.Split >= 0 && p.Split < n {
			fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/>`+"\n",
				px(p.Split), y0+top, px(p.Split), y0+height-bottom)
		}
		for li, l := range p.Lines {
			col := palette[li%len(palette)]
			// Band: upper left to right, lower right to left.
			var band []string
			for i, v := range l.Upper {
				if !math.IsNaN(v) {
					band = append(band, fmt.Sprintf("%.1f,%.1f", px(l.X0+i), py(v)))
				}
			}
			for i := len(l.Lower) - 1; i >= 0; i-- {
				if v := l.Lower[i]; !math.IsNaN(v) {
					band = append(band, fmt.Sprintf("%.1f,%.1f", px(l.X0+i), py(v)))
				}
			}
			if len(band) > 2 {
				fmt.Fprintf(bw, `<polygon points="%s" fill="%s" fill-opacity="0.15" stroke="none"/>`+"\n", strings.Join(band, " "), col)
			}
			writePolyline(bw, l.Point, l.X0, px, py, col, 1.5)
			fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", width-right+8, y0+top+14*float64(li+2), col, html.EscapeString(l.Name))
		}
		writePolyline(bw, p.Actual, 0, px, py, "#000", 1.2)
		fmt.Fprintf(bw, `<text x="%.1f" y="%.1f">actual</text>`+"\n", width-right+8, y0+top+14)
	}
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

// writePolyline draws v as polylines broken at NaNs.
func writePolyline(w io.Writer, v []float64, x0 int, px func(int) float64, py func(float64) float64, col string, sw float64) {
	var pts []string
	flush := func() {
		if len(pts) > 1 {
			fmt.Fprintf(w, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"/>`+"\n", strings.Join(pts, " "), col, sw)
		}
		pts = pts[:0]
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			flush()
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(x0+i), py(x)))
	}
	flush()
}
