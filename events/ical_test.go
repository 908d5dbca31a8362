package events

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

type span struct {
	Name, Kind string
	Start, End time.Time
}

func spans(evs []Event) []span {
	var out []span
	for _, e := range evs {
		out = append(out, span{e.Name, e.Kind, e.Start, e.End})
	}
	return out
}

func TestParseICalFile(t *testing.T) {
	f, err := os.Open("testdata/holidays.ics")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := ParseICal(f, ICalOptions{From: utc("2026-11-01T00:00:00Z"), To: utc("2028-01-01T00:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	want := []span{
		// 08:00 Paris (UTC+1 in November) to midnight Paris.
		{"Black Friday, EU", "campaign", utc("2026-11-27T07:00:00Z"), utc("2026-11-27T23:00:00Z")},
		{"DB maintenance", "maintenance", utc("2026-12-01T22:00:00Z"), utc("2026-12-02T00:00:00Z")},
		// 2026-12-15 is excluded by EXDATE but still counted by COUNT=3.
		{"DB maintenance", "maintenance", utc("2026-12-29T22:00:00Z"), utc("2026-12-30T00:00:00Z")},
		{"Christmas", "holiday", utc("2026-12-25T00:00:00Z"), utc("2026-12-26T00:00:00Z")},
		{"Christmas", "holiday", utc("2027-12-25T00:00:00Z"), utc("2027-12-26T00:00:00Z")},
	}
	sortSpans := cmpopts.SortSlices(func(a, b span) bool { return a.Start.Before(b.Start) })
	if diff := cmp.Diff(want, spans(evs), sortSpans); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	ids := map[string]bool{}
	for _, e := range evs {
		if e.Source != SourceICal || e.ID == "" || ids[e.ID] {
			t.Errorf("bad source or duplicate id: %+v", e)
		}
		ids[e.ID] = true
	}
}

func cal(body string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + strings.ReplaceAll(strings.TrimSpace(body), "\n", "\r\n") + "\r\nEND:VCALENDAR\r\n"
}

func TestParseICal(t *testing.T) {
	from, to := utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z")
	tests := []struct {
		name string
		in   string
		want []span
	}{
		{"utc", cal(`
BEGIN:VEVENT
DTSTART:20260301T100000Z
DTEND:20260301T120000Z
SUMMARY:Launch
END:VEVENT`), []span{{"Launch", "", utc("2026-03-01T10:00:00Z"), utc("2026-03-01T12:00:00Z")}}},
		{"floating is UTC", cal(`
BEGIN:VEVENT
DTSTART:20260301T100000
DURATION:P1DT2H
SUMMARY:Float
END:VEVENT`), []span{{"Float", "", utc("2026-03-01T10:00:00Z"), utc("2026-03-02T12:00:00Z")}}},
		{"tzid quoted and DST", cal(`
BEGIN:VEVENT
DTSTART;TZID="America/New_York":20260701T090000
DURATION:PT1H
SUMMARY:Summer
END:VEVENT`), []span{{"Summer", "", utc("2026-07-01T13:00:00Z"), utc("2026-07-01T14:00:00Z")}}},
		{"all-day without end lasts a day", cal(`
BEGIN:VEVENT
DTSTART;VALUE=DATE:20260501
SUMMARY:Labour day
CATEGORIES:holiday
END:VEVENT`), []span{{"Labour day", "holiday", utc("2026-05-01T00:00:00Z"), utc("2026-05-02T00:00:00Z")}}},
		{"folded summary, lower-case names, LF endings", "begin:VCALENDAR\nbegin:VEVENT\ndtstart:20260301T100000Z\nduration:PT1H\nsummary:Spring\n  sale\ncategories:\"x\"\nend:VEVENT\nend:VCALENDAR\n",
			[]span{{"Spring sale", `"x"`, utc("2026-03-01T10:00:00Z"), utc("2026-03-01T11:00:00Z")}}},
		{"daily interval until", cal(`
BEGIN:VEVENT
DTSTART:20260301T000000Z
DURATION:PT1H
RRULE:FREQ=DAILY;INTERVAL=2;UNTIL=20260305T000000Z
SUMMARY:D
END:VEVENT`), []span{
			{"D", "", utc("2026-03-01T00:00:00Z"), utc("2026-03-01T01:00:00Z")},
			{"D", "", utc("2026-03-03T00:00:00Z"), utc("2026-03-03T01:00:00Z")},
			{"D", "", utc("2026-03-05T00:00:00Z"), utc("2026-03-05T01:00:00Z")},
		}},
		{"weekly keeps wall time across DST", cal(`
BEGIN:VEVENT
DTSTART;TZID=Europe/Paris:20260322T100000
DURATION:PT1H
RRULE:FREQ=WEEKLY;COUNT=2
SUMMARY:W
END:VEVENT`), []span{
			{"W", "", utc("2026-03-22T09:00:00Z"), utc("2026-03-22T10:00:00Z")},
			{"W", "", utc("2026-03-29T08:00:00Z"), utc("2026-03-29T09:00:00Z")},
		}},
		{"yearly skips 29 February", cal(`
BEGIN:VEVENT
DTSTART;VALUE=DATE:20240229
RRULE:FREQ=YEARLY
SUMMARY:Leap
END:VEVENT`), nil},
		{"window clips the past", cal(`
BEGIN:VEVENT
DTSTART:20251230T000000Z
DURATION:P1D
RRULE:FREQ=DAILY;COUNT=4
SUMMARY:NY
END:VEVENT`), []span{
			{"NY", "", utc("2026-01-01T00:00:00Z"), utc("2026-01-02T00:00:00Z")},
			{"NY", "", utc("2026-01-02T00:00:00Z"), utc("2026-01-03T00:00:00Z")},
		}},
		{"open rule bounded by window", cal(`
BEGIN:VEVENT
DTSTART;VALUE=DATE:20261229
RRULE:FREQ=DAILY
SUMMARY:End of year
END:VEVENT`), []span{
			{"End of year", "", utc("2026-12-29T00:00:00Z"), utc("2026-12-30T00:00:00Z")},
			{"End of year", "", utc("2026-12-30T00:00:00Z"), utc("2026-12-31T00:00:00Z")},
			{"End of year", "", utc("2026-12-31T00:00:00Z"), utc("2027-01-01T00:00:00Z")},
		}},
		{"duplicate UID and start collapse", cal(`
BEGIN:VEVENT
UID:a
DTSTART:20260301T100000Z
DURATION:PT1H
SUMMARY:A
END:VEVENT
BEGIN:VEVENT
UID:a
DTSTART:20260301T100000Z
DURATION:PT1H
SUMMARY:A
END:VEVENT`), []span{{"A", "", utc("2026-03-01T10:00:00Z"), utc("2026-03-01T11:00:00Z")}}},
		{"other components ignored", cal(`
BEGIN:VTODO
DTSTART:20260301T100000Z
SUMMARY:todo
END:VTODO`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseICal(strings.NewReader(tt.in), ICalOptions{From: from, To: to})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, spans(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseICalErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		msg  string
	}{
		{"no calendar", "", 0, "no VCALENDAR"},
		{"outside calendar", "SUMMARY:x\n", 1, "outside VCALENDAR"},
		{"unclosed", "BEGIN:VCALENDAR\nBEGIN:VEVENT\n", 2, "never closed"},
		{"mismatched end", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR\n", 3, "does not close BEGIN:VEVENT of line 2"},
		{"continuation first", " x\nBEGIN:VCALENDAR\n", 1, "continuation"},
		{"no colon", cal("BEGIN:VEVENT\nSUMMARY x\nEND:VEVENT"), 4, "missing ':'"},
		{"bad param", cal("BEGIN:VEVENT\nDTSTART;TZID:x\nEND:VEVENT"), 4, "malformed parameter"},
		{"unterminated quote", cal("BEGIN:VEVENT\nDTSTART;TZID=\"Europe/Paris:20260101T000000\nEND:VEVENT"), 4, "unterminated"},
		{"no dtstart", cal("BEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT"), 3, "no DTSTART"},
		{"no summary", cal("BEGIN:VEVENT\nDTSTART:20260101T000000Z\nDURATION:PT1H\nEND:VEVENT"), 3, "no SUMMARY"},
		{"bad date", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:2026-01-01\nEND:VEVENT"), 5, "not a DATE-TIME"},
		{"bad tzid", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART;TZID=Mars/Olympus:20260101T000000\nDURATION:PT1H\nEND:VEVENT"), 5, `unknown TZID "Mars/Olympus"`},
		{"utc with tzid", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART;TZID=UTC:20260101T000000Z\nEND:VEVENT"), 5, "cannot have TZID"},
		{"end before start", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260102T000000Z\nDTEND:20260101T000000Z\nEND:VEVENT"), 6, "not after DTSTART"},
		{"mixed types", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART;VALUE=DATE:20260101\nDTEND:20260102T000000Z\nEND:VEVENT"), 6, "both DATE"},
		{"end and duration", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260101T000000Z\nDTEND:20260102T000000Z\nDURATION:PT1H\nEND:VEVENT"), 7, "both DTEND and DURATION"},
		{"zero length", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260101T000000Z\nEND:VEVENT"), 5, "needs DTEND or DURATION"},
		{"bad duration", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260101T000000Z\nDURATION:PT1X\nEND:VEVENT"), 6, "DURATION"},
		{"negative duration", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260101T000000Z\nDURATION:-PT1H\nEND:VEVENT"), 6, "negative"},
		{"duplicate dtstart", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260101T000000Z\nDTSTART:20260101T000000Z\nEND:VEVENT"), 6, "given twice"},
		{"unsupported freq", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260101T000000Z\nDURATION:PT1H\nRRULE:FREQ=HOURLY\nEND:VEVENT"), 7, "FREQ=HOURLY is not supported"},
		{"unsupported part", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260101T000000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;BYDAY=MO\nEND:VEVENT"), 7, "BYDAY is not supported"},
		{"count and until", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260101T000000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=2;UNTIL=20260201T000000Z\nEND:VEVENT"), 7, "exclusive"},
		{"bad count", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260101T000000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=0\nEND:VEVENT"), 7, "positive integer"},
		{"rdate", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:20260101T000000Z\nDURATION:PT1H\nRDATE:20260105T000000Z\nEND:VEVENT"), 7, "RDATE is not supported"},
		{"recurrence-id", cal("BEGIN:VEVENT\nSUMMARY:x\nRECURRENCE-ID:20260105T000000Z\nEND:VEVENT"), 5, "RECURRENCE-ID is not supported"},
		{"period value", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART;VALUE=PERIOD:20260101T000000Z/PT1H\nEND:VEVENT"), 5, "VALUE=PERIOD"},
		{"nested vevent", cal("BEGIN:VEVENT\nBEGIN:VEVENT\nEND:VEVENT\nEND:VEVENT"), 4, "nested"},
		{"runaway rule", cal("BEGIN:VEVENT\nSUMMARY:x\nDTSTART:19000101T000000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\nEND:VEVENT"), 7, "more than 1000 occurrences"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseICal(strings.NewReader(tt.in), ICalOptions{From: utc("2026-01-01T00:00:00Z"), To: utc("2027-01-01T00:00:00Z"), MaxExpansions: 1000})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			var pe *ParseError
			if tt.line == 0 {
				if errors.As(err, &pe) {
					t.Errorf("unexpected line in %q", err)
				}
				return
			}
			if !errors.As(err, &pe) || pe.Line != tt.line {
				t.Errorf("error %q: want line %d", err, tt.line)
			}
		})
	}
}

func TestParseICalDuration(t *testing.T) {
	good := map[string]time.Duration{
		"P1D": 24 * time.Hour, "PT1H30M": 90 * time.Minute, "P2W": 14 * 24 * time.Hour,
		"+P1DT1S": 24*time.Hour + time.Second, "PT0S": 0,
	}
	for in, want := range good {
		if got, err := parseICalDuration(in); err != nil || got != want {
			t.Errorf("%s: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "P", "PT", "1D", "P1H", "PT1D", "P1D1D", "PT1HT", "P1DT", "-P1D", "P1.5D"} {
		if _, err := parseICalDuration(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func BenchmarkParseICal1000(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("BEGIN:VCALENDAR\r\n")
	base := utc("2026-01-01T00:00:00Z")
	for i := range 1000 {
		fmt.Fprintf(&sb, "BEGIN:VEVENT\r\nUID:%d\r\nDTSTART;TZID=Europe/Paris:%s\r\nDURATION:PT2H\r\nSUMMARY:Event %d\r\nCATEGORIES:campaign\r\nEND:VEVENT\r\n",
			i, base.Add(time.Duration(i)*time.Hour).Format("20060102T150405"), i)
	}
	sb.WriteString("END:VCALENDAR\r\n")
	in := sb.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseICal(strings.NewReader(in), ICalOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
