package funcs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	reISODate  = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})$`)
	reISOStamp = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$`)
	reYearMon  = regexp.MustCompile(`^(\d{4})-(\d{1,2})$`)
	reYear     = regexp.MustCompile(`^(\d{4})$`)
	reCompact  = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})$`)
	reDotted   = regexp.MustCompile(`^(\d{1,2})\.(\d{1,2})\.(\d{4})$`)
	reSlashed  = regexp.MustCompile(`^(\d{1,2})[/-](\d{1,2})[/-](\d{4})$`)
	reYMDSep   = regexp.MustCompile(`^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$`)
	reDayMonth = regexp.MustCompile(`^(\d{1,2})\.?[ -]*(\pL+)\.?[ ,-]*(\d{4})$`)
	reMonthDay = regexp.MustCompile(`^(\pL+)\.?[ -]*(\d{1,2})(?:st|nd|rd|th)?[ ,-]+(\d{4})$`)
	reExcelDay = regexp.MustCompile(`^\d{4,5}$`)
)

// BirthDate returns YYYY-MM-DD, YYYY-MM or YYYY, or "" for a value it
// cannot read: ISO and compact dates (an ISO timestamp's date part), DD.MM.YYYY, YYYY/MM/DD and
// YYYY.MM.DD, a month by its English, German or French name or
// abbreviation ("2 January 1985", "Jan 2, 1985", "02-Jan-1985", "3. März
// 1970"), an Excel serial day. order ("dmy" or "mdy") decides slashed and
// dashed dates with the year last (1/2/1990, 01-02-1990); without it such
// a date is read only when one part exceeds 12. Two-digit years are not
// read: a birth date's century is not to be guessed.
func BirthDate(s, order string) string {
	s = strings.TrimSpace(s)
	full := func(y, m, d string) string {
		yi, _ := strconv.Atoi(y)
		mi, _ := strconv.Atoi(m)
		di, _ := strconv.Atoi(d)
		t := time.Date(yi, time.Month(mi), di, 0, 0, 0, 0, time.UTC)
		if t.Year() != yi || int(t.Month()) != mi || t.Day() != di {
			return "" // 31.02. and the like
		}
		return t.Format("2006-01-02")
	}
	if m := reISODate.FindStringSubmatch(s); m != nil {
		return full(m[1], m[2], m[3])
	}
	if m := reISOStamp.FindStringSubmatch(s); m != nil {
		// A date column exported as a timestamp (1985-01-02 00:00:00,
		// 1985-01-02T00:00:00Z): the date as written; a birth date has
		// no time zone to convert.
		return full(m[1], m[2], m[3])
	}
	if m := reCompact.FindStringSubmatch(s); m != nil {
		return full(m[1], m[2], m[3])
	}
	if m := reDotted.FindStringSubmatch(s); m != nil {
		return full(m[3], m[2], m[1])
	}
	if m := reYMDSep.FindStringSubmatch(s); m != nil {
		return full(m[1], m[2], m[3])
	}
	if m := reDayMonth.FindStringSubmatch(s); m != nil {
		if mi, ok := monthNames[strings.ToLower(m[2])]; ok {
			return full(m[3], strconv.Itoa(mi), m[1])
		}
		return ""
	}
	if m := reMonthDay.FindStringSubmatch(s); m != nil {
		if mi, ok := monthNames[strings.ToLower(m[1])]; ok {
			return full(m[3], strconv.Itoa(mi), m[2])
		}
		return ""
	}
	if m := reSlashed.FindStringSubmatch(s); m != nil {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		switch {
		case order == "mdy" || order == "" && b > 12 && a <= 12:
			return full(m[3], m[1], m[2])
		case order == "dmy" || order == "" && a > 12 && b <= 12:
			return full(m[3], m[2], m[1])
		}
		return ""
	}
	if m := reYearMon.FindStringSubmatch(s); m != nil {
		mi, _ := strconv.Atoi(m[2])
		if mi < 1 || mi > 12 {
			return ""
		}
		return fmt.Sprintf("%s-%02d", m[1], mi)
	}
	if reYear.MatchString(s) && s >= "1800" && s <= "2200" {
		return s
	}
	if reExcelDay.MatchString(s) {
		// Excel serial: days since 1899-12-30 (the 1900 leap-year bug folded in).
		n, _ := strconv.Atoi(s)
		return time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n).Format("2006-01-02")
	}
	return ""
}

// SlashOrder tells from a column's values which order its slashed (or
// dashed, year last) dates are written in: "dmy" where some value's first part exceeds 12 and none's
// second does (31/12/1990), "mdy" for the reverse (12/31/1990), "" where no
// value tells or the values disagree. A file keeps one order, so the values
// that tell read the ambiguous ones (1/2/1990) too: BirthDate without an
// order leaves those out, which in a US file is about a third of them.
func SlashOrder(values []string) string {
	dmy, mdy := 0, 0
	for _, v := range values {
		m := reSlashed.FindStringSubmatch(strings.TrimSpace(v))
		if m == nil {
			continue
		}
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		switch {
		case a > 12 && b <= 12:
			dmy++
		case b > 12 && a <= 12:
			mdy++
		}
	}
	switch {
	case dmy > 0 && mdy == 0:
		return "dmy"
	case mdy > 0 && dmy == 0:
		return "mdy"
	}
	return ""
}

// monthNames are the months by their English, German and French names and
// usual abbreviations, lower case.
var monthNames = func() map[string]int {
	m := map[string]int{}
	for i, names := range [12]string{
		"january jan januar janv janvier jän jänner",
		"february feb februar febr fév févr février fevrier",
		"march mar märz maerz mär mars",
		"april apr avril avr",
		"may mai",
		"june jun juni juin",
		"july jul juli juil juillet",
		"august aug août aout",
		"september sep sept septembre",
		"october oct okt oktober octobre",
		"november nov novembre",
		"december dec dez dezember déc décembre decembre",
	} {
		for _, n := range strings.Fields(names) {
			m[n] = i + 1
		}
	}
	return m
}()
