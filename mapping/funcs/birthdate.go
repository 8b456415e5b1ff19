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
	reYearMon  = regexp.MustCompile(`^(\d{4})-(\d{1,2})$`)
	reYear     = regexp.MustCompile(`^(\d{4})$`)
	reCompact  = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})$`)
	reDotted   = regexp.MustCompile(`^(\d{1,2})\.(\d{1,2})\.(\d{4})$`)
	reSlashed  = regexp.MustCompile(`^(\d{1,2})/(\d{1,2})/(\d{4})$`)
	reExcelDay = regexp.MustCompile(`^\d{4,5}$`)
)

// BirthDate returns YYYY-MM-DD, YYYY-MM or YYYY, or "" for a value it
// cannot read. order ("dmy" or "mdy") decides slashed dates; without it a
// slashed date is read only when one part exceeds 12.
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
	if m := reCompact.FindStringSubmatch(s); m != nil {
		return full(m[1], m[2], m[3])
	}
	if m := reDotted.FindStringSubmatch(s); m != nil {
		return full(m[3], m[2], m[1])
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

// SlashOrder tells from a column's values which order its slashed dates
// are written in: "dmy" where some value's first part exceeds 12 and none's
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
