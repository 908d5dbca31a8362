package web

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/shadowcast/shadowcast/shadow"
)

// plotPoints is how much recent history the plot shows.
const plotPoints = 240

type instanceRow struct {
	Labels    string
	Model     string
	Reason    string
	TrainedAt string
	Updated   string
	Actual    string
	Horizons  []string
	PlotURL   string
	Errors    string
}

type shadowView struct {
	Name     string
	Step     string
	History  string
	Horizons []string
	Conf     string
	Model    string
	Fetched  string
	Err      string
	Rows     []instanceRow
}

var statusTmpl = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>shadowcast</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;text-align:left}
th{background:#f3f3f3}.err{color:#b00}.muted{color:#777}h2{margin-top:1.5em}
</style></head><body>
<h1>shadowcast</h1>
<p class="muted">{{.Version}} · <a href="/metrics">/metrics</a> · <a href="/-/ready">/-/ready</a> · {{len .Shadows}} shadow(s)</p>
{{if .KPIs}}<h2>KPIs</h2>
<table><tr><th>kpi</th><th>series</th><th>value</th><th>evaluated</th><th>error</th></tr>
{{range .KPIs}}<tr><td>{{.Name}}</td><td>{{.Labels}}</td><td>{{.Value}}</td><td>{{.At}}</td><td class="err">{{.Err}}</td></tr>
{{end}}</table>{{end}}
{{range .Shadows}}
<h2 id="{{.Name}}">{{.Name}}</h2>
<p>step {{.Step}} · history {{.History}} · horizons {{range .Horizons}}{{.}} {{end}}· confidence {{.Conf}} · model {{.Model}} · data up to {{.Fetched}}</p>
{{if .Err}}<p class="err">Source error (serving the last good forecasts): {{.Err}}</p>{{end}}
<table><tr><th>instance</th><th>model</th><th>reason</th><th>last training</th><th>updated</th><th>actual</th>{{range .Horizons}}<th>shadow {{.}} [lower, upper]</th>{{end}}<th>error</th><th>plot</th></tr>
{{range .Rows}}<tr><td>{{.Labels}}</td><td>{{.Model}}</td><td>{{.Reason}}</td><td>{{.TrainedAt}}</td><td>{{.Updated}}</td><td>{{.Actual}}</td>{{range .Horizons}}<td>{{.}}</td>{{end}}<td>{{.Errors}}</td><td><a href="{{.PlotURL}}">svg</a></td></tr>
{{end}}</table>
{{range $i, $r := .Rows}}{{if lt $i 4}}<p>{{$r.Labels}}<br><img src="{{$r.PlotURL}}" width="720" height="260" alt="actual vs shadow"></p>{{end}}{{end}}
{{end}}
</body></html>
`))

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func fmtVal(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'g', 5, 64)
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	snap := h.opts.Engine.Snapshot(0)
	var views []shadowView
	for _, s := range snap {
		v := shadowView{
			Name: s.Name, Step: model.Duration(s.Step).String(), History: model.Duration(s.History).String(),
			Conf: fmtVal(s.Confidence), Model: s.Model, Fetched: fmtTime(s.Fetched), Err: s.Err,
		}
		for _, hz := range s.Horizons {
			v.Horizons = append(v.Horizons, model.Duration(hz).String())
		}
		for i, inst := range s.Instances {
			row := instanceRow{
				Labels: inst.Labels.String(), Model: inst.Model, Reason: inst.Reason,
				TrainedAt: fmtTime(inst.TrainedAt), Updated: fmtTime(inst.Updated), Actual: fmtVal(inst.Actual),
				Errors: inst.Errors,
			}
			for _, hz := range s.Horizons {
				k := int(hz / s.Step)
				if k < 1 || k > inst.Forecast.Horizon() {
					row.Horizons = append(row.Horizons, "–")
					continue
				}
				row.Horizons = append(row.Horizons, fmt.Sprintf("%s [%s, %s]",
					fmtVal(inst.Forecast.Point[k-1]), fmtVal(inst.Forecast.Lower[k-1]), fmtVal(inst.Forecast.Upper[k-1])))
			}
			q := url.Values{"shadow": {s.Name}, "instance": {strconv.Itoa(i)}}
			if len(s.Horizons) > 0 {
				q.Set("horizon", model.Duration(s.Horizons[len(s.Horizons)/2]).String())
			}
			row.PlotURL = "/plot.svg?" + q.Encode()
			v.Rows = append(v.Rows, row)
		}
		views = append(views, v)
	}
	type kpiView struct{ Name, Labels, Value, At, Err string }
	var kpis []kpiView
	if h.opts.KPIs != nil {
		for _, k := range h.opts.KPIs() {
			kpis = append(kpis, kpiView{k.Name, k.Labels, fmtVal(k.Value), fmtTime(k.At), k.Err})
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusTmpl.Execute(w, struct {
		Version string
		KPIs    []kpiView
		Shadows []shadowView
	}{h.opts.Version, kpis, views}); err != nil {
		h.logger.Error("Rendering the status page failed", "err", err)
	}
}

// plot draws an instance's recent actuals, the shadow made `horizon` earlier
// for each of those times with its band, and the current forecast fan.
func (h *Handler) plot(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	idx, err := strconv.Atoi(q.Get("instance"))
	if err != nil || idx < 0 {
		http.Error(w, "instance must be a non-negative index", http.StatusBadRequest)
		return
	}
	var hz time.Duration
	if s := q.Get("horizon"); s != "" {
		d, err := model.ParseDuration(s)
		if err != nil {
			http.Error(w, "bad horizon: "+err.Error(), http.StatusBadRequest)
			return
		}
		hz = time.Duration(d)
	}
	for _, s := range h.opts.Engine.Snapshot(plotPoints) {
		if s.Name != q.Get("shadow") {
			continue
		}
		if idx >= len(s.Instances) {
			break
		}
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write([]byte(renderPlot(s, s.Instances[idx], hz)))
		return
	}
	http.Error(w, "no such shadow instance", http.StatusNotFound)
}

type pt struct {
	t time.Time
	v float64
}

// renderPlot returns a self-contained SVG.
func renderPlot(s shadow.ShadowStatus, inst shadow.InstanceStatus, hz time.Duration) string {
	const W, H, padL, padR, padT, padB = 720.0, 260.0, 56.0, 10.0, 22.0, 24.0
	var actual []pt
	for i, v := range inst.History {
		actual = append(actual, pt{inst.HistoryStart.Add(time.Duration(i) * s.Step), v})
	}
	var past, pastLo, pastHi []pt
	for _, p := range inst.Past[hz] {
		past = append(past, pt{p.Target, p.Point})
		pastLo = append(pastLo, pt{p.Target, p.Lower})
		pastHi = append(pastHi, pt{p.Target, p.Upper})
	}
	var fc, fcLo, fcHi []pt
	f := inst.Forecast
	for k := 1; k <= f.Horizon(); k++ {
		t := f.Origin.Add(time.Duration(k) * f.Step)
		fc = append(fc, pt{t, f.Point[k-1]})
		fcLo = append(fcLo, pt{t, f.Lower[k-1]})
		fcHi = append(fcHi, pt{t, f.Upper[k-1]})
	}
	all := [][]pt{actual, past, pastLo, pastHi, fc, fcLo, fcHi}
	var t0, t1 time.Time
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, ser := range all {
		for _, p := range ser {
			if math.IsNaN(p.v) || math.IsInf(p.v, 0) {
				continue
			}
			if t0.IsZero() || p.t.Before(t0) {
				t0 = p.t
			}
			if p.t.After(t1) {
				t1 = p.t
			}
			lo, hi = math.Min(lo, p.v), math.Max(hi, p.v)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="11">`, W, H, W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`)
	if math.IsInf(lo, 1) || !t1.After(t0) {
		fmt.Fprintf(&b, `<text x="20" y="40">no data yet</text></svg>`)
		return b.String()
	}
	if hi == lo {
		hi, lo = hi+1, lo-1
	}
	x := func(t time.Time) float64 {
		return padL + (W-padL-padR)*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v float64) float64 { return padT + (H-padT-padB)*(hi-v)/(hi-lo) }
	line := func(ser []pt, color, extra string) {
		var d strings.Builder
		pen := false
		for _, p := range ser {
			if math.IsNaN(p.v) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(p.t), y(p.v))
			pen = true
		}
		if d.Len() > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.3" %s/>`, d.String(), color, extra)
		}
	}
	band := func(loS, hiS []pt, color string) {
		if len(loS) == 0 {
			return
		}
		var d strings.Builder
		for i, p := range hiS {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(p.t), y(p.v))
		}
		for i := len(loS) - 1; i >= 0; i-- {
			fmt.Fprintf(&d, "L%.1f %.1f ", x(loS[i].t), y(loS[i].v))
		}
		fmt.Fprintf(&b, `<path d="%sZ" fill="%s" fill-opacity="0.25" stroke="none"/>`, d.String(), color)
	}
	band(pastLo, pastHi, "#f39c12")
	band(fcLo, fcHi, "#8e44ad")
	line(past, "#d35400", `stroke-dasharray="4 2"`)
	line(fc, "#8e44ad", "")
	line(actual, "#1f77b4", "")
	// Axes and labels.
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#999"/>`, padL, H-padB, W-padR, H-padB)
	fmt.Fprintf(&b, `<text x="4" y="%.1f">%s</text><text x="4" y="%.1f">%s</text>`, y(hi)+4, fmtVal(hi), y(lo), fmtVal(lo))
	fmt.Fprintf(&b, `<text x="%g" y="%g">%s</text><text x="%g" y="%g" text-anchor="end">%s</text>`,
		padL, H-6, t0.UTC().Format("01-02 15:04"), W-padR, H-6, t1.UTC().Format("01-02 15:04"))
	fmt.Fprintf(&b, `<text x="%g" y="14"><tspan fill="#1f77b4">actual</tspan>  <tspan fill="#d35400">shadow %s ahead (made %s earlier) with band</tspan>  <tspan fill="#8e44ad">current forecast with band</tspan></text>`,
		padL, template.HTMLEscapeString(model.Duration(hz).String()), template.HTMLEscapeString(model.Duration(hz).String()))
	b.WriteString(`</svg>`)
	return b.String()
}
