package scaler

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shadowcast/shadowcast"
)

func TestParseTrigger(t *testing.T) {
	tests := []struct {
		name    string
		md      map[string]string
		want    Trigger
		wantErr []string // substrings; each names the key
	}{
		{
			name: "minimal with defaults",
			md:   map[string]string{"shadow": "checkout_rps", "horizon": "15m", "targetValue": "100"},
			want: Trigger{Shadow: "checkout_rps", Horizon: 15 * time.Minute, Value: ValuePeakUpper, Target: 100},
		},
		{
			name: "everything set, KEDA's own keys ignored",
			md: map[string]string{
				"scalerAddress": "shadowcast.monitoring:9095", "enableTLS": "true", "unsafeSsl": "false",
				"shadow": "rps", "matchLabels": "service=checkout, region=eu", "horizon": "1h30m",
				"value": "point", "targetValue": "12.5", "activationValue": "3", "aggregate": "sum",
			},
			want: Trigger{
				Shadow: "rps", Match: map[string]string{"service": "checkout", "region": "eu"},
				Horizon: 90 * time.Minute, Value: ValuePoint, Target: 12.5, Activation: 3, Aggregate: AggregateSum,
			},
		},
		{
			name: "FromEnv keys stand for the plain key",
			md:   map[string]string{"shadow": "rps", "horizon": "5m", "targetValueFromEnv": "40", "valueFromEnv": "peak"},
			want: Trigger{Shadow: "rps", Horizon: 5 * time.Minute, Value: ValuePeak, Target: 40},
		},
		{
			name:    "missing required keys, all reported",
			md:      map[string]string{},
			wantErr: []string{`"shadow": required`, `"horizon": required`, `"targetValue": required`},
		},
		{
			name: "every bad value names its key",
			md: map[string]string{
				"shadow": "no-dashes", "horizon": "soon", "value": "mean", "targetValue": "0",
				"activationValue": "-1", "aggregate": "avg", "matchLabels": "a=~b",
			},
			wantErr: []string{
				`"shadow": invalid shadow name`, `"horizon": invalid duration "soon"`,
				`"value": "mean" is not one of`, `"targetValue": must be > 0`,
				`"activationValue": must be >= 0`, `"aggregate": "avg" is not one of`,
				`"matchLabels": label "a": only equality`,
			},
		},
		{
			name:    "non-numeric and non-finite numbers",
			md:      map[string]string{"shadow": "s", "horizon": "5m", "targetValue": "lots", "activationValue": "NaN"},
			wantErr: []string{`"targetValue": invalid number "lots"`, `"activationValue": invalid number "NaN"`},
		},
		{
			name:    "unknown key is an error (typo)",
			md:      map[string]string{"shadow": "s", "horizon": "5m", "targetValue": "1", "activationvalue": "5"},
			wantErr: []string{`"activationvalue": unknown key`},
		},
		{
			name:    "key and FromEnv together",
			md:      map[string]string{"shadow": "s", "horizon": "5m", "targetValue": "1", "targetValueFromEnv": "2"},
			wantErr: []string{`"targetValueFromEnv": set together with "targetValue"`},
		},
		{
			name:    "zero horizon",
			md:      map[string]string{"shadow": "s", "horizon": "0s", "targetValue": "1"},
			wantErr: []string{`"horizon": must be positive`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTrigger(tc.md)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ParseTrigger() error = %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("ParseTrigger() mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseTrigger() = %+v, want error", got)
			}
			var me *MetadataError
			if !errors.As(err, &me) {
				t.Errorf("error %v is not a *MetadataError", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseMatchLabels(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "  ", want: nil},
		{in: "{}", want: nil},
		{in: "service=checkout", want: map[string]string{"service": "checkout"}},
		{in: " service = checkout , region=eu-west-1 ", want: map[string]string{"service": "checkout", "region": "eu-west-1"}},
		{in: `{service="checkout",region="eu"}`, want: map[string]string{"service": "checkout", "region": "eu"}},
		{in: `path="/a,b=c", x=""`, want: map[string]string{"path": "/a,b=c", "x": ""}},
		{in: `q="say \"hi\""`, want: map[string]string{"q": `say "hi"`}},
		{in: "a=", want: map[string]string{"a": ""}},
		{in: "a!=b", wantErr: "only equality"},
		{in: "a=~b.*", wantErr: "only equality"},
		{in: "a!~b", wantErr: "only equality"},
		{in: "a=b,", wantErr: "trailing comma"},
		{in: "a=b,a=c", wantErr: "given twice"},
		{in: "1a=b", wantErr: "invalid label name"},
		{in: "=b", wantErr: "invalid label name"},
		{in: "a", wantErr: "expected '='"},
		{in: `a="b`, wantErr: "unterminated"},
		{in: `a="b" c=d`, wantErr: "expected ','"},
		{in: `a=b"c"`, wantErr: "quote inside a bare value"},
		{in: `{a=b`, wantErr: "closing brace"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMatchLabels(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseMatchLabels(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMatchLabels(%q) error = %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseMatchLabels(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestMetricName(t *testing.T) {
	tr := Trigger{Shadow: "checkout_rps", Horizon: 900 * time.Second}
	if got, want := tr.MetricName(), "shadowcast-checkout_rps-15m"; got != want {
		t.Errorf("MetricName() = %q, want %q", got, want)
	}
	tr.Horizon = 90 * time.Minute
	if got, want := tr.MetricName(), "shadowcast-checkout_rps-1h30m"; got != want {
		t.Errorf("MetricName() = %q, want %q", got, want)
	}
}

func TestResolve(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	val := func(region string, point, upper, peak, peakUpper float64, age time.Duration) shadowcast.Value {
		return shadowcast.Value{
			Shadow: "rps", Labels: map[string]string{"region": region}, Horizon: 15 * time.Minute,
			Point: point, Upper: upper, Peak: peak, PeakUpper: peakUpper, Updated: now.Add(-age),
		}
	}
	eu := val("eu", 10, 14, 12, 18, time.Minute)
	us := val("us", 20, 25, 30, 36, time.Minute)
	base := Trigger{Shadow: "rps", Horizon: 15 * time.Minute, Value: ValuePeakUpper, Target: 10}
	with := func(f func(*Trigger)) Trigger { tr := base; f(&tr); return tr }

	tests := []struct {
		name    string
		tr      Trigger
		vals    []shadowcast.Value
		want    float64
		wantErr error
		wantKey string // MetadataError key
	}{
		{name: "peak_upper is the default", tr: base, vals: []shadowcast.Value{eu}, want: 18},
		{name: "point", tr: with(func(t *Trigger) { t.Value = ValuePoint }), vals: []shadowcast.Value{eu}, want: 10},
		{name: "upper", tr: with(func(t *Trigger) { t.Value = ValueUpper }), vals: []shadowcast.Value{eu}, want: 14},
		{name: "peak", tr: with(func(t *Trigger) { t.Value = ValuePeak }), vals: []shadowcast.Value{eu}, want: 12},
		{name: "sum", tr: with(func(t *Trigger) { t.Aggregate = AggregateSum }), vals: []shadowcast.Value{eu, us}, want: 54},
		{name: "max", tr: with(func(t *Trigger) { t.Aggregate = AggregateMax }), vals: []shadowcast.Value{eu, us}, want: 36},
		{name: "max of point", tr: with(func(t *Trigger) { t.Aggregate = AggregateMax; t.Value = ValuePoint }), vals: []shadowcast.Value{us, eu}, want: 20},
		{name: "negative serves zero", tr: base, vals: []shadowcast.Value{val("eu", -1, -1, -1, -3, 0)}, want: 0},
		{name: "ambiguous without aggregate", tr: base, vals: []shadowcast.Value{eu, us}, wantKey: KeyMatchLabels},
		{name: "nothing matches", tr: base, vals: nil, wantErr: shadowcast.ErrNoForecast},
		{name: "stale", tr: base, vals: []shadowcast.Value{val("eu", 1, 1, 1, 1, 6*time.Minute)}, wantErr: shadowcast.ErrNoForecast},
		{name: "one stale instance poisons a sum", tr: with(func(t *Trigger) { t.Aggregate = AggregateSum }), vals: []shadowcast.Value{eu, val("us", 1, 1, 1, 1, time.Hour)}, wantErr: shadowcast.ErrNoForecast},
		{name: "exactly max age is fresh", tr: base, vals: []shadowcast.Value{val("eu", 1, 1, 1, 7, 5*time.Minute)}, want: 7},
		{name: "NaN", tr: base, vals: []shadowcast.Value{val("eu", 1, 1, 1, math.NaN(), 0)}, wantErr: shadowcast.ErrNoForecast},
		{name: "Inf", tr: base, vals: []shadowcast.Value{val("eu", 1, 1, 1, math.Inf(1), 0)}, wantErr: shadowcast.ErrNoForecast},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.tr, tc.vals, now, 5*time.Minute)
			switch {
			case tc.wantKey != "":
				var me *MetadataError
				if !errors.As(err, &me) || me.Key != tc.wantKey {
					t.Fatalf("Resolve() error = %v, want MetadataError on %q", err, tc.wantKey)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Resolve() error = %v, want %v", err, tc.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("Resolve() error = %v", err)
				}
				if got != tc.want {
					t.Errorf("Resolve() = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
