package funcs

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

var locCache sync.Map // tz name -> *time.Location

// Location is the IANA time zone name ("" and "UTC": UTC), loaded once.
func Location(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if v, ok := locCache.Load(name); ok {
		return v.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	locCache.Store(name, l)
	return l, nil
}

var layoutTokens = strings.NewReplacer("YYYY", "2006", "YY", "06", "MM", "01", "DD", "02", "HH", "15", "mm", "04", "ss", "05")

// GoLayout accepts Go layouts and the YYYY/MM/DD token style users know
// from other tools.
func GoLayout(l string) string {
	if strings.Contains(l, "YY") || strings.Contains(l, "DD") {
		return layoutTokens.Replace(l)
	}
	return l
}

// ParseTime reads s with layout (Go layouts or YYYY/MM/DD/HH/mm/ss tokens,
// alternatives separated by |) in loc; ok is false for empty text, and
// text that matches no layout is an error.
func ParseTime(s, layout string, loc *time.Location) (time.Time, bool, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false, nil
	}
	// The alternatives one by one, without strings.Split's slice (one
	// allocation a value).
	for rest, more := layout, true; more; {
		var l string
		l, rest, more = strings.Cut(rest, "|")
		if t, err := time.ParseInLocation(GoLayout(strings.TrimSpace(l)), s, loc); err == nil {
			return t.In(loc), true, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("value does not match layout %q", layout)
}
