package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// page is a response body whose top-level object is decoded at most once:
// the record array, the total-pages field and the next cursor are all
// looked up in it, and each lookup from the raw body would scan all of it.
type page struct {
	body json.RawMessage
	obj  map[string]json.RawMessage
	err  error
	done bool
}

// at returns the value at a dot path; the whole body for "".
func (p *page) at(path string) (json.RawMessage, bool) {
	if path == "" {
		return p.body, true
	}
	if !p.done {
		p.done = true
		p.err = json.Unmarshal(p.body, &p.obj)
	}
	if p.err != nil {
		return nil, false
	}
	first, rest, nested := strings.Cut(path, ".")
	v, ok := p.obj[first]
	if !ok || !nested {
		return v, ok
	}
	return rawAt(v, rest)
}

// value returns the scalar at a dot path as text; false when absent or null.
func (p *page) value(path string) (string, bool) {
	raw, ok := p.at(path)
	if !ok {
		return "", false
	}
	return scalar(raw)
}

// recordsAt returns the elements of the array at the dot path in the page.
func recordsAt(p *page, path string) ([]json.RawMessage, error) {
	v, ok := p.at(path)
	if !ok {
		return nil, fmt.Errorf("response has no %q", path)
	}
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, fmt.Errorf("%q is not an array of records", path)
	}
	return items, nil
}

// rawAt walks a dot path of object keys.
func rawAt(v json.RawMessage, path string) (json.RawMessage, bool) {
	for _, part := range strings.Split(path, ".") {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v, &obj); err != nil {
			return nil, false
		}
		next, ok := obj[part]
		if !ok {
			return nil, false
		}
		v = next
	}
	return v, true
}

// pathValue returns the scalar at a dot path as text; false when absent or null.
func pathValue(v json.RawMessage, path string) (string, bool) {
	raw, ok := rawAt(v, path)
	if !ok {
		return "", false
	}
	return scalar(raw)
}

func scalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	}
	return string(raw), true
}

// field reads a (possibly dotted) field of a record object.
func field(obj map[string]json.RawMessage, path string) (string, bool) {
	first, rest, nested := strings.Cut(path, ".")
	raw, ok := obj[first]
	if !ok {
		return "", false
	}
	if nested {
		return pathValue(raw, rest)
	}
	return scalar(raw)
}

// parseTime reads an updated_at value: RFC 3339, or Unix seconds.
func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or Unix seconds", v)
}

// linkNext finds rel="next" in Link headers.
func linkNext(values []string) string {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			segs := strings.Split(part, ";")
			if len(segs) < 2 {
				continue
			}
			target := strings.Trim(strings.TrimSpace(segs[0]), "<>")
			for _, p := range segs[1:] {
				p = strings.ReplaceAll(strings.TrimSpace(p), " ", "")
				if p == `rel="next"` || p == "rel=next" {
					return target
				}
			}
		}
	}
	return ""
}
