package scaler

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/shadowcast/shadowcast"
)

// Trigger metadata keys, as written in a ScaledObject's trigger metadata.
const (
	KeyShadow          = "shadow"
	KeyMatchLabels     = "matchLabels"
	KeyHorizon         = "horizon"
	KeyValue           = "value"
	KeyTargetValue     = "targetValue"
	KeyActivationValue = "activationValue"
	KeyAggregate       = "aggregate"
)

// kedaKeys are metadata keys KEDA itself consumes and forwards to every
// external scaler; they are accepted and ignored.
var kedaKeys = map[string]bool{"scalerAddress": true, "enableTLS": true, "unsafeSsl": true}

// fromEnvSuffix marks a key whose value KEDA resolved from the scale
// target's environment; "targetValueFromEnv" sets targetValue.
const fromEnvSuffix = "FromEnv"

// MetricNamePrefix starts every metric name the scaler reports. The full
// name is built by Trigger.MetricName, used by both GetMetricSpec and
// GetMetrics.
const MetricNamePrefix = "shadowcast"

// ValueKind selects which published value of a shadow instance is served.
type ValueKind string

// Value kinds accepted in the `value` key.
const (
	ValuePoint     ValueKind = "point"      // forecast at the horizon
	ValueUpper     ValueKind = "upper"      // upper bound at the horizon
	ValuePeak      ValueKind = "peak"       // max of point over (now, now+horizon]
	ValuePeakUpper ValueKind = "peak_upper" // max of upper over (now, now+horizon]; the default
)

// Aggregate says how several matching instances combine.
type Aggregate string

// Aggregations accepted in the `aggregate` key.
const (
	AggregateNone Aggregate = ""    // exactly one instance must match
	AggregateSum  Aggregate = "sum" // sum of the instances' values
	AggregateMax  Aggregate = "max" // largest of the instances' values
)

// Trigger is the parsed metadata of one ScaledObject trigger.
type Trigger struct {
	Shadow     string
	Match      map[string]string // equality matchers on source labels; nil selects all
	Horizon    time.Duration
	Value      ValueKind
	Target     float64 // activity one replica handles (> 0)
	Activation float64 // active when the served value is above it
	Aggregate  Aggregate
}

// MetadataError reports an invalid trigger metadata key. The gRPC layer
// answers it with InvalidArgument.
type MetadataError struct {
	Key string
	Err error
}

func (e *MetadataError) Error() string {
	return fmt.Sprintf("scaler metadata %q: %v", e.Key, e.Err)
}

func (e *MetadataError) Unwrap() error { return e.Err }

func metaErr(key, format string, args ...any) error {
	return &MetadataError{Key: key, Err: fmt.Errorf(format, args...)}
}

var (
	shadowNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// ParseTrigger validates trigger metadata and applies defaults. Unknown
// keys are errors (a misspelt `activationvalue` must not silently default),
// except the keys KEDA itself uses (scalerAddress, enableTLS, unsafeSsl).
// A key with the suffix "FromEnv" (resolved by KEDA from the workload's
// environment) stands for the key without it. All problems are reported,
// joined; each is a *MetadataError.
func ParseTrigger(md map[string]string) (Trigger, error) {
	vals, errs := normalizeKeys(md)
	t := Trigger{Value: ValuePeakUpper}

	switch s, ok := vals[KeyShadow]; {
	case !ok || s == "":
		errs = append(errs, metaErr(KeyShadow, "required"))
	case !shadowNameRE.MatchString(s):
		errs = append(errs, metaErr(KeyShadow, "invalid shadow name %q", s))
	default:
		t.Shadow = s
	}

	if s := vals[KeyMatchLabels]; s != "" {
		m, err := ParseMatchLabels(s)
		if err != nil {
			errs = append(errs, &MetadataError{Key: KeyMatchLabels, Err: err})
		}
		t.Match = m
	}

	switch s, ok := vals[KeyHorizon]; {
	case !ok || s == "":
		errs = append(errs, metaErr(KeyHorizon, "required (one of the shadow's horizons, e.g. 15m)"))
	default:
		d, err := model.ParseDuration(s)
		switch {
		case err != nil:
			errs = append(errs, metaErr(KeyHorizon, "invalid duration %q", s))
		case d <= 0:
			errs = append(errs, metaErr(KeyHorizon, "must be positive"))
		default:
			t.Horizon = time.Duration(d)
		}
	}

	if s, ok := vals[KeyValue]; ok && s != "" {
		switch v := ValueKind(s); v {
		case ValuePoint, ValueUpper, ValuePeak, ValuePeakUpper:
			t.Value = v
		default:
			errs = append(errs, metaErr(KeyValue, "%q is not one of point, upper, peak, peak_upper", s))
		}
	}

	switch s, ok := vals[KeyTargetValue]; {
	case !ok || s == "":
		errs = append(errs, metaErr(KeyTargetValue, "required (activity one replica handles)"))
	default:
		f, err := parseFloat(s)
		switch {
		case err != nil:
			errs = append(errs, &MetadataError{Key: KeyTargetValue, Err: err})
		case f <= 0:
			errs = append(errs, metaErr(KeyTargetValue, "must be > 0, got %s", s))
		default:
			t.Target = f
		}
	}

	if s, ok := vals[KeyActivationValue]; ok && s != "" {
		f, err := parseFloat(s)
		switch {
		case err != nil:
			errs = append(errs, &MetadataError{Key: KeyActivationValue, Err: err})
		case f < 0:
			errs = append(errs, metaErr(KeyActivationValue, "must be >= 0, got %s", s))
		default:
			t.Activation = f
		}
	}

	if s, ok := vals[KeyAggregate]; ok && s != "" {
		switch a := Aggregate(s); a {
		case AggregateSum, AggregateMax:
			t.Aggregate = a
		default:
			errs = append(errs, metaErr(KeyAggregate, "%q is not one of sum, max", s))
		}
	}

	if err := errors.Join(errs...); err != nil {
		return Trigger{}, err
	}
	return t, nil
}

// normalizeKeys folds "<key>FromEnv" into "<key>", drops KEDA's own keys
// and reports unknown or duplicated keys, in a stable order.
func normalizeKeys(md map[string]string) (map[string]string, []error) {
	known := map[string]bool{
		KeyShadow: true, KeyMatchLabels: true, KeyHorizon: true, KeyValue: true,
		KeyTargetValue: true, KeyActivationValue: true, KeyAggregate: true,
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(md))
	var errs []error
	for _, k := range keys {
		if kedaKeys[k] {
			continue
		}
		name := k
		if base, ok := strings.CutSuffix(k, fromEnvSuffix); ok && known[base] {
			if _, dup := md[base]; dup {
				errs = append(errs, metaErr(k, "set together with %q; use one", base))
				continue
			}
			name = base
		}
		if !known[name] {
			errs = append(errs, metaErr(k, "unknown key (known: shadow, matchLabels, horizon, value, targetValue, activationValue, aggregate)"))
			continue
		}
		out[name] = strings.TrimSpace(md[k])
	}
	return out, errs
}

func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return f, nil
}

// ParseMatchLabels parses the `matchLabels` syntax: comma-separated
// equality matchers `name=value`, optionally wrapped in braces like a
// PromQL selector. A value is either bare (everything up to the next comma,
// surrounding spaces trimmed) or a double-quoted Go/PromQL string, which may
// contain commas. Only `=` is supported: `!=`, `=~` and `!~` are rejected
// because a scaler must select one instance deterministically.
//
//	service=checkout,region=eu
//	{service="checkout", region="eu"}
//	path="/a,b"
func ParseMatchLabels(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		if !strings.HasSuffix(s, "}") {
			return nil, errors.New("missing closing brace")
		}
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	out := map[string]string{}
	p := &matchParser{s: s}
	for {
		p.skipSpace()
		if p.eof() {
			if len(out) == 0 {
				return nil, nil
			}
			return nil, errors.New("trailing comma")
		}
		name := p.name()
		if !labelNameRE.MatchString(name) {
			return nil, fmt.Errorf("invalid label name at offset %d", p.i)
		}
		p.skipSpace()
		switch {
		case p.peekStr("!="), p.peekStr("!~"), p.peekStr("=~"):
			return nil, fmt.Errorf("label %q: only equality (=) matchers are supported", name)
		case !p.peekStr("="):
			return nil, fmt.Errorf("label %q: expected '='", name)
		}
		p.i++
		p.skipSpace()
		val, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("label %q: %w", name, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("label %q given twice", name)
		}
		out[name] = val
		p.skipSpace()
		if p.eof() {
			return out, nil
		}
		if !p.peekStr(",") {
			return nil, fmt.Errorf("label %q: expected ',' after the value", name)
		}
		p.i++
	}
}

type matchParser struct {
	s string
	i int
}

func (p *matchParser) eof() bool { return p.i >= len(p.s) }

func (p *matchParser) peekStr(t string) bool { return strings.HasPrefix(p.s[p.i:], t) }

func (p *matchParser) skipSpace() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *matchParser) name() string {
	start := p.i
	for !p.eof() {
		c := p.s[p.i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *matchParser) value() (string, error) {
	if p.peekStr(`"`) {
		start := p.i
		p.i++
		for !p.eof() {
			switch p.s[p.i] {
			case '\\':
				p.i += 2
				continue
			case '"':
				p.i++
				v, err := strconv.Unquote(p.s[start:p.i])
				if err != nil {
					return "", fmt.Errorf("invalid quoted value %s", p.s[start:p.i])
				}
				return v, nil
			}
			p.i++
		}
		return "", errors.New("unterminated quoted value")
	}
	start := p.i
	for !p.eof() && p.s[p.i] != ',' {
		if p.s[p.i] == '"' {
			return "", errors.New(`quote inside a bare value; quote the whole value`)
		}
		p.i++
	}
	return strings.TrimSpace(p.s[start:p.i]), nil
}

// MetricName is the metric name reported in both GetMetricSpec and
// GetMetrics: "shadowcast-<shadow>-<horizon>", e.g.
// "shadowcast-checkout_rps-15m". KEDA prefixes it with the trigger index
// ("s0-…"), so two triggers on the same shadow and horizon in one
// ScaledObject still get distinct HPA metric names.
func (t Trigger) MetricName() string {
	return MetricNamePrefix + "-" + t.Shadow + "-" + model.Duration(t.Horizon).String()
}

// pick returns the value of v that t serves.
func (t Trigger) pick(v shadowcast.Value) float64 {
	switch t.Value {
	case ValuePoint:
		return v.Point
	case ValueUpper:
		return v.Upper
	case ValuePeak:
		return v.Peak
	default:
		return v.PeakUpper
	}
}

// errStale and errInvalidValue wrap ErrNoForecast: both answer Unavailable.
var (
	errStale        = fmt.Errorf("stale forecast: %w", shadowcast.ErrNoForecast)
	errInvalidValue = fmt.Errorf("non-finite forecast: %w", shadowcast.ErrNoForecast)
)

// Resolve computes the value t serves from the instances a lookup returned.
// It is pure: now and maxAge come from the caller. An empty result, a
// forecast older than maxAge (by Value.Updated) or a non-finite value wrap
// shadowcast.ErrNoForecast; several instances without an aggregation are a
// *MetadataError on matchLabels. Negative forecasts serve as 0: activity is
// never negative, and KEDA would read a negative float as absent.
func Resolve(t Trigger, vals []shadowcast.Value, now time.Time, maxAge time.Duration) (float64, error) {
	if len(vals) == 0 {
		return 0, fmt.Errorf("no instance of shadow %q matches %s: %w", t.Shadow, fmtLabels(t.Match), shadowcast.ErrNoForecast)
	}
	if len(vals) > 1 && t.Aggregate == AggregateNone {
		return 0, metaErr(KeyMatchLabels, "%d instances of shadow %q match; add matchers or set %q to sum or max", len(vals), t.Shadow, KeyAggregate)
	}
	var out float64
	for i, v := range vals {
		if age := now.Sub(v.Updated); maxAge > 0 && age > maxAge {
			return 0, fmt.Errorf("shadow %q %s: forecast made %s ago, limit %s: %w", t.Shadow, fmtLabels(v.Labels), age.Round(time.Second), maxAge, errStale)
		}
		x := t.pick(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("shadow %q %s: %s is %v: %w", t.Shadow, fmtLabels(v.Labels), t.Value, x, errInvalidValue)
		}
		x = max(x, 0)
		switch {
		case i == 0:
			out = x
		case t.Aggregate == AggregateSum:
			out += x
		case t.Aggregate == AggregateMax:
			out = max(out, x)
		}
	}
	return out, nil
}

// fmtLabels renders labels as a sorted PromQL-style selector for messages.
func fmtLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}
