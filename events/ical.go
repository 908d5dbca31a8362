package events

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ICalOptions bounds what ParseICal returns.
type ICalOptions struct {
	// From and To bound the window: occurrences that do not overlap
	// [From, To) are left out. A zero From or To leaves that side open,
	// except that recurrences without COUNT or UNTIL need To.
	From, To time.Time
	// MaxEvents bounds the occurrences returned; more is an error. 0 means
	// DefaultMaxEvents.
	MaxEvents int
	// MaxExpansions bounds the occurrences one RRULE may step through
	// (including those before From); 0 means 100,000.
	MaxExpansions int
}

// ParseError is an iCal error located at a line of the input (the first
// physical line of an unfolded content line).
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

func errAt(line int, format string, args ...any) error {
	return &ParseError{Line: line, Err: fmt.Errorf(format, args...)}
}

// maxLineBytes bounds one physical line.
const maxLineBytes = 1 << 20

// contentLine is one unfolded iCal content line.
type contentLine struct {
	line   int
	name   string            // upper case
	params map[string]string // upper-case names; multiple values joined by ","
	value  string
}

// ParseICal reads an iCalendar stream (RFC 5545 subset) and returns its
// events within the window, sorted by start. Supported: VEVENT with
// DTSTART and DTEND or DURATION (DATE and DATE-TIME values, UTC, TZID
// through the IANA database, floating times read as UTC), SUMMARY (the
// name), CATEGORIES (the first is the kind), STATUS:CANCELLED (skipped),
// EXDATE, and RRULE with FREQ=DAILY, WEEKLY, MONTHLY or YEARLY and
// INTERVAL, COUNT, UNTIL, WKST. Other components (VTIMEZONE, VTODO, VALARM...)
// and informational properties are ignored; anything that would change
// when an event happens and is not supported (RDATE, RECURRENCE-ID, BY*
// rule parts, other frequencies) is an error naming its line.
func ParseICal(r io.Reader, opts ICalOptions) ([]Event, error) {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	if opts.MaxExpansions <= 0 {
		opts.MaxExpansions = 100000
	}
	lines, err := unfold(r)
	if err != nil {
		return nil, err
	}
	type open struct {
		name string
		line int
	}
	var (
		stack    []open
		vevent   []contentLine
		calendar bool
		out      []Event
	)
	for _, raw := range lines {
		cl, err := parseContentLine(raw.text, raw.line)
		if err != nil {
			return nil, err
		}
		switch cl.name {
		case "BEGIN":
			comp := strings.ToUpper(cl.value)
			if comp == "" {
				return nil, errAt(cl.line, "BEGIN without a component name")
			}
			switch {
			case len(stack) == 0 && comp != "VCALENDAR":
				return nil, errAt(cl.line, "BEGIN:%s outside VCALENDAR", comp)
			case len(stack) > 0 && comp == "VCALENDAR":
				return nil, errAt(cl.line, "nested VCALENDAR")
			case comp == "VEVENT" && len(stack) != 1:
				return nil, errAt(cl.line, "VEVENT nested in %s", stack[len(stack)-1].name)
			}
			if comp == "VCALENDAR" {
				calendar = true
			}
			if comp == "VEVENT" {
				vevent = vevent[:0]
			}
			stack = append(stack, open{comp, cl.line})
			continue
		case "END":
			comp := strings.ToUpper(cl.value)
			if len(stack) == 0 {
				return nil, errAt(cl.line, "END:%s without BEGIN", comp)
			}
			top := stack[len(stack)-1]
			if top.name != comp {
				return nil, errAt(cl.line, "END:%s does not close BEGIN:%s of line %d", comp, top.name, top.line)
			}
			stack = stack[:len(stack)-1]
			if comp == "VEVENT" {
				evs, err := buildEvents(top.line, vevent, opts)
				if err != nil {
					return nil, err
				}
				out = append(out, evs...)
				if len(out) > opts.MaxEvents {
					return nil, errAt(cl.line, "more than %d events in the window", opts.MaxEvents)
				}
			}
			continue
		}
		if len(stack) == 0 {
			return nil, errAt(cl.line, "property %s outside VCALENDAR", cl.name)
		}
		if stack[len(stack)-1].name == "VEVENT" {
			vevent = append(vevent, cl)
		}
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return nil, errAt(top.line, "BEGIN:%s is never closed", top.name)
	}
	if !calendar {
		return nil, errors.New("no VCALENDAR found")
	}
	// Duplicates (the same UID and start twice) collapse into one.
	slices.SortFunc(out, func(a, b Event) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out = slices.CompactFunc(out, func(a, b Event) bool { return a.ID == b.ID })
	return out, nil
}

type physLine struct {
	line int
	text string
}

// unfold joins folded lines (a line starting with a space or a tab continues
// the previous one) and drops blank lines.
func unfold(r io.Reader) ([]physLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLineBytes)
	var out []physLine
	n := 0
	for sc.Scan() {
		n++
		t := strings.TrimSuffix(sc.Text(), "\r")
		if n == 1 {
			t = strings.TrimPrefix(t, "\ufeff")
		}
		if t == "" {
			continue
		}
		if t[0] == ' ' || t[0] == '\t' {
			if len(out) == 0 {
				return nil, errAt(n, "continuation line without a line to continue")
			}
			out[len(out)-1].text += t[1:]
			continue
		}
		out = append(out, physLine{n, t})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, errAt(n+1, "line longer than %d bytes", maxLineBytes)
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	return out, nil
}

// parseContentLine splits `NAME;PARAM=a,"b";P2=c:value`.
func parseContentLine(s string, line int) (contentLine, error) {
	cl := contentLine{line: line}
	i := 0
	for i < len(s) && isNameChar(s[i]) {
		i++
	}
	if i == 0 {
		return cl, errAt(line, "malformed content line %q: no property name", abbreviate(s))
	}
	cl.name = strings.ToUpper(s[:i])
	for i < len(s) && s[i] == ';' {
		i++
		j := i
		for j < len(s) && isNameChar(s[j]) {
			j++
		}
		if j == i || j >= len(s) || s[j] != '=' {
			return cl, errAt(line, "%s: malformed parameter", cl.name)
		}
		pname := strings.ToUpper(s[i:j])
		i = j + 1
		var vals []string
		for {
			if i < len(s) && s[i] == '"' {
				end := strings.IndexByte(s[i+1:], '"')
				if end < 0 {
					return cl, errAt(line, "%s: unterminated quoted parameter %s", cl.name, pname)
				}
				vals = append(vals, s[i+1:i+1+end])
				i += end + 2
			} else {
				j := i
				for j < len(s) && s[j] != ',' && s[j] != ';' && s[j] != ':' && s[j] != '"' {
					j++
				}
				vals = append(vals, s[i:j])
				i = j
			}
			if i < len(s) && s[i] == ',' {
				i++
				continue
			}
			break
		}
		if cl.params == nil {
			cl.params = map[string]string{}
		}
		cl.params[pname] = strings.Join(vals, ",")
	}
	if i >= len(s) || s[i] != ':' {
		return cl, errAt(line, "%s: missing ':' before the value", cl.name)
	}
	cl.value = s[i+1:]
	return cl, nil
}

func isNameChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// icalTime is a parsed DATE or DATE-TIME value.
type icalTime struct {
	t    time.Time
	date bool
}

// parseICalTime parses a DATE or DATE-TIME value with its TZID and VALUE
// parameters.
func parseICalTime(cl contentLine, value string) (icalTime, error) {
	tzid := strings.TrimPrefix(cl.params["TZID"], "/")
	kind := strings.ToUpper(cl.params["VALUE"])
	isDate := kind == "DATE" || (kind == "" && len(value) == 8)
	switch kind {
	case "", "DATE", "DATE-TIME":
	default:
		return icalTime{}, errAt(cl.line, "%s: VALUE=%s is not supported", cl.name, kind)
	}
	if isDate {
		t, err := time.Parse("20060102", value)
		if err != nil {
			return icalTime{}, errAt(cl.line, "%s: %q is not a DATE (YYYYMMDD)", cl.name, value)
		}
		return icalTime{t: t, date: true}, nil
	}
	loc := time.UTC
	if strings.HasSuffix(value, "Z") {
		if tzid != "" {
			return icalTime{}, errAt(cl.line, "%s: a UTC time (ending in Z) cannot have TZID", cl.name)
		}
		value = strings.TrimSuffix(value, "Z")
	} else if tzid != "" {
		l, err := loadLocation(tzid)
		if err != nil {
			return icalTime{}, errAt(cl.line, "%s: unknown TZID %q (want an IANA time zone name): %v", cl.name, tzid, err)
		}
		loc = l
	}
	t, err := time.ParseInLocation("20060102T150405", value, loc)
	if err != nil {
		return icalTime{}, errAt(cl.line, "%s: %q is not a DATE-TIME (YYYYMMDDTHHMMSS[Z])", cl.name, value)
	}
	return icalTime{t: t}, nil
}

// locations caches time.LoadLocation, which reads the zone database at
// every call. It holds at most maxCachedZones zones.
var locations struct {
	sync.Mutex
	m map[string]*time.Location
}

const maxCachedZones = 1000

func loadLocation(name string) (*time.Location, error) {
	locations.Lock()
	defer locations.Unlock()
	if l, ok := locations.m[name]; ok {
		return l, nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	if locations.m == nil || len(locations.m) >= maxCachedZones {
		locations.m = map[string]*time.Location{}
	}
	locations.m[name] = l
	return l, nil
}

// parseICalDuration parses an RFC 5545 duration: [+]P[nW] or
// [+]P[nD][T[nH][nM][nS]]. Negative durations are rejected.
func parseICalDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimPrefix(s, "+")
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("negative duration %q", orig)
	}
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, fmt.Errorf("%q is not a duration (e.g. P1D, PT1H30M, P2W)", orig)
	}
	s = s[1:]
	var d time.Duration
	inTime := false
	units := ""
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime || len(s) == 1 {
				return 0, fmt.Errorf("%q is not a duration", orig)
			}
			inTime = true
			s = s[1:]
			continue
		}
		j := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == 0 || j == len(s) || j > 9 {
			return 0, fmt.Errorf("%q is not a duration", orig)
		}
		n, _ := strconv.Atoi(s[:j])
		unit := s[j]
		var u time.Duration
		switch {
		case unit == 'W' && !inTime:
			u = 7 * 24 * time.Hour
		case unit == 'D' && !inTime:
			u = 24 * time.Hour
		case unit == 'H' && inTime:
			u = time.Hour
		case unit == 'M' && inTime:
			u = time.Minute
		case unit == 'S' && inTime:
			u = time.Second
		default:
			return 0, fmt.Errorf("%q is not a duration (unexpected %q)", orig, string(unit))
		}
		if strings.ContainsRune(units, rune(unit)) {
			return 0, fmt.Errorf("%q repeats %q", orig, string(unit))
		}
		units += string(unit)
		d += time.Duration(n) * u
		s = s[j+1:]
	}
	return d, nil
}

// unescapeText undoes RFC 5545 TEXT escaping.
func unescapeText(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n', 'N':
				b.WriteByte(' ')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// splitText splits a TEXT list on unescaped commas.
func splitText(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case ',':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

type rrule struct {
	freq     string
	interval int
	count    int
	until    time.Time
	line     int
}

func parseRRule(cl contentLine, start icalTime) (*rrule, error) {
	r := &rrule{interval: 1, line: cl.line}
	seen := map[string]bool{}
	for _, part := range strings.Split(cl.value, ";") {
		k, v, ok := strings.Cut(part, "=")
		k = strings.ToUpper(k)
		if !ok || v == "" {
			return nil, errAt(cl.line, "RRULE: malformed part %q", part)
		}
		if seen[k] {
			return nil, errAt(cl.line, "RRULE: %s given twice", k)
		}
		seen[k] = true
		switch k {
		case "FREQ":
			r.freq = strings.ToUpper(v)
			switch r.freq {
			case "DAILY", "WEEKLY", "MONTHLY", "YEARLY":
			default:
				return nil, errAt(cl.line, "RRULE: FREQ=%s is not supported (want DAILY, WEEKLY, MONTHLY or YEARLY)", v)
			}
		case "INTERVAL", "COUNT":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > 1000000 {
				return nil, errAt(cl.line, "RRULE: %s=%s must be a positive integer", k, v)
			}
			if k == "COUNT" {
				r.count = n
			} else {
				r.interval = n
			}
		case "UNTIL":
			cl2 := contentLine{line: cl.line, name: "RRULE UNTIL"}
			t, err := parseICalTime(cl2, v)
			if err != nil {
				return nil, err
			}
			r.until = t.t
			if !t.date && !strings.HasSuffix(v, "Z") {
				// Floating UNTIL is in DTSTART's zone.
				r.until = time.Date(t.t.Year(), t.t.Month(), t.t.Day(), t.t.Hour(), t.t.Minute(), t.t.Second(), 0, start.t.Location())
			}
			if t.date {
				// A DATE UNTIL includes that whole day.
				r.until = time.Date(t.t.Year(), t.t.Month(), t.t.Day(), 23, 59, 59, 0, start.t.Location())
			}
		case "WKST":
			// Only matters with BYWEEKNO/BYDAY, which are not supported.
		default:
			return nil, errAt(cl.line, "RRULE: %s is not supported (supported: FREQ, INTERVAL, COUNT, UNTIL)", k)
		}
	}
	if r.freq == "" {
		return nil, errAt(cl.line, "RRULE: FREQ is required")
	}
	if r.count > 0 && !r.until.IsZero() {
		return nil, errAt(cl.line, "RRULE: COUNT and UNTIL are exclusive")
	}
	return r, nil
}

// occurrence returns the k-th start of the rule and whether that date exists (the 31st of a short
// month, 29 February of a common year do not).
func (r *rrule) occurrence(start time.Time, k int) (time.Time, bool) {
	n := k * r.interval
	var t time.Time
	switch r.freq {
	case "DAILY":
		return start.AddDate(0, 0, n), true
	case "WEEKLY":
		return start.AddDate(0, 0, 7*n), true
	case "MONTHLY":
		t = start.AddDate(0, n, 0)
	default: // YEARLY
		t = start.AddDate(n, 0, 0)
	}
	return t, t.Day() == start.Day()
}

// buildEvents turns one VEVENT's properties into its occurrences.
func buildEvents(begin int, props []contentLine, opts ICalOptions) ([]Event, error) {
	single := map[string]contentLine{}
	var exdates []contentLine
	for _, p := range props {
		switch p.name {
		case "DTSTART", "DTEND", "DURATION", "RRULE", "SUMMARY", "CATEGORIES", "UID", "STATUS":
			if prev, dup := single[p.name]; dup && p.name != "CATEGORIES" {
				return nil, errAt(p.line, "%s given twice in the VEVENT (first at line %d)", p.name, prev.line)
			}
			if _, dup := single[p.name]; !dup {
				single[p.name] = p
			}
		case "EXDATE":
			exdates = append(exdates, p)
		case "RDATE", "RECURRENCE-ID", "EXRULE":
			return nil, errAt(p.line, "%s is not supported", p.name)
		}
	}
	if strings.EqualFold(single["STATUS"].value, "CANCELLED") {
		return nil, nil
	}
	dts, ok := single["DTSTART"]
	if !ok {
		return nil, errAt(begin, "VEVENT has no DTSTART")
	}
	start, err := parseICalTime(dts, dts.value)
	if err != nil {
		return nil, err
	}
	name := unescapeText(single["SUMMARY"].value)
	if name == "" {
		return nil, errAt(begin, "VEVENT has no SUMMARY (the event name)")
	}
	kind := ""
	if c, ok := single["CATEGORIES"]; ok {
		kind = strings.TrimSpace(unescapeText(splitText(c.value)[0]))
	}

	// The length of each occurrence: DTEND - DTSTART, DURATION, or one day
	// for a DATE start with neither.
	dte, hasEnd := single["DTEND"]
	dur, hasDur := single["DURATION"]
	var length time.Duration
	days := 0 // calendar days for DATE events (DST-proof)
	switch {
	case hasEnd && hasDur:
		return nil, errAt(dur.line, "VEVENT has both DTEND and DURATION")
	case hasEnd:
		end, err := parseICalTime(dte, dte.value)
		if err != nil {
			return nil, err
		}
		if end.date != start.date {
			return nil, errAt(dte.line, "DTEND and DTSTART must both be DATE or both DATE-TIME")
		}
		if !end.t.After(start.t) {
			return nil, errAt(dte.line, "DTEND %s is not after DTSTART %s", end.t.Format(time.RFC3339), start.t.Format(time.RFC3339))
		}
		length = end.t.Sub(start.t)
	case hasDur:
		d, err := parseICalDuration(dur.value)
		if err != nil {
			return nil, errAt(dur.line, "DURATION: %v", err)
		}
		if d <= 0 {
			return nil, errAt(dur.line, "DURATION must be positive")
		}
		length = d
	case start.date:
		days = 1
	default:
		return nil, errAt(dts.line, "VEVENT with a DATE-TIME DTSTART needs DTEND or DURATION (an event must last)")
	}

	excluded := map[int64]bool{}
	for _, ex := range exdates {
		for _, v := range strings.Split(ex.value, ",") {
			t, err := parseICalTime(ex, v)
			if err != nil {
				return nil, err
			}
			excluded[t.t.UnixNano()] = true
		}
	}

	uid := single["UID"].value
	if uid == "" {
		uid = name
	}
	mk := func(s time.Time) (Event, bool) {
		e := s.Add(length)
		if days > 0 {
			e = s.AddDate(0, 0, days)
		}
		if !opts.From.IsZero() && !e.After(opts.From) {
			return Event{}, false
		}
		return Event{
			ID:     derivedID(SourceICal, uid, strconv.FormatInt(s.UnixNano(), 10)),
			Name:   name,
			Kind:   kind,
			Start:  s.UTC(),
			End:    e.UTC(),
			Source: SourceICal,
		}, true
	}

	rr, hasRule := single["RRULE"]
	if !hasRule {
		if !opts.To.IsZero() && !start.t.Before(opts.To) {
			return nil, nil
		}
		if excluded[start.t.UnixNano()] {
			return nil, nil
		}
		if e, ok := mk(start.t); ok {
			return []Event{e}, nil
		}
		return nil, nil
	}
	rule, err := parseRRule(rr, start)
	if err != nil {
		return nil, err
	}
	if rule.count == 0 && rule.until.IsZero() && opts.To.IsZero() {
		return nil, errAt(rr.line, "RRULE without COUNT or UNTIL needs a bounded window")
	}
	var out []Event
	emitted := 0
	for k := 0; ; k++ {
		if k >= opts.MaxExpansions {
			return nil, errAt(rr.line, "RRULE expands to more than %d occurrences; add COUNT or UNTIL, or move DTSTART closer", opts.MaxExpansions)
		}
		s, exists := rule.occurrence(start.t, k)
		if !exists {
			continue
		}
		if !rule.until.IsZero() && s.After(rule.until) {
			break
		}
		if rule.count > 0 && emitted == rule.count {
			break
		}
		if !opts.To.IsZero() && !s.Before(opts.To) {
			break
		}
		emitted++
		if excluded[s.UnixNano()] {
			continue
		}
		if e, ok := mk(s); ok {
			out = append(out, e)
			if len(out) > opts.MaxEvents {
				return nil, errAt(rr.line, "RRULE yields more than %d events in the window", opts.MaxEvents)
			}
		}
	}
	return out, nil
}
