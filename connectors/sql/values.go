package sqlconn

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// colKind says how a column's values are rendered, decided once per query
// from the database type name.
type colKind int

const (
	kindPlain    colKind = iota
	kindBinary           // base64
	kindTimeNoTZ         // wall clock in the configured zone
	kindTimeTZ           // an instant, shown in the configured zone
	kindDate             // a calendar date, no zone
	kindFloat32          // single precision: drivers widen it to float64
)

func classify(dbType string) colKind {
	switch strings.ToUpper(dbType) {
	case "BYTEA", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY":
		return kindBinary
	case "TIMESTAMPTZ":
		return kindTimeTZ
	case "TIMESTAMP", "DATETIME":
		return kindTimeNoTZ
	case "DATE":
		return kindDate
	case "FLOAT4", "REAL", "FLOAT":
		return kindFloat32
	}
	return kindPlain
}

// mysqlTime is how MySQL sends DATETIME/TIMESTAMP text when parseTime is off.
const mysqlTime = "2006-01-02 15:04:05.999999999"

// toTime interprets v as a timestamp of a column of kind k, in loc when the
// column carries no zone.
func toTime(v any, k colKind, loc *time.Location) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		if k == kindTimeTZ {
			return x.In(loc), true
		}
		return time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), loc), true
	case []byte:
		return toTime(string(x), k, loc)
	case string:
		if k != kindTimeNoTZ && k != kindTimeTZ {
			return time.Time{}, false
		}
		if t, err := time.ParseInLocation(mysqlTime, x, loc); err == nil {
			return t, true
		}
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.In(loc), true
		}
	}
	return time.Time{}, false
}

// appendValue appends v as JSON without losing information.
func appendValue(b []byte, v any, k colKind, loc *time.Location) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return appendString(b, strconv.FormatFloat(x, 'g', -1, 64))
		}
		if k == kindFloat32 {
			// pgx hands a PostgreSQL real over as float64; its shortest
			// 64-bit form shows digits the column never stored
			// (32.38 → 32.380001068115234).
			return strconv.AppendFloat(b, x, 'g', -1, 32)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case float32:
		return strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	case bool:
		return strconv.AppendBool(b, x)
	case time.Time:
		if k == kindDate {
			return appendString(b, x.Format(time.DateOnly))
		}
		t, _ := toTime(x, k, loc)
		return appendTime(b, t)
	case []byte:
		if k == kindBinary {
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, x)
			return append(b, '"')
		}
		if k == kindTimeNoTZ || k == kindTimeTZ {
			if t, ok := toTime(x, k, loc); ok {
				return appendTime(b, t)
			}
		}
		if !utf8.Valid(x) {
			// Text that is not UTF-8 would be mangled by JSON; keep the
			// bytes instead.
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, x)
			return append(b, '"')
		}
		return appendString(b, string(x))
	case string:
		if k == kindTimeNoTZ || k == kindTimeTZ {
			if t, ok := toTime(x, k, loc); ok {
				return appendTime(b, t)
			}
		}
		return appendString(b, x)
	default:
		j, err := json.Marshal(x)
		if err != nil {
			return appendString(b, fmt.Sprint(x))
		}
		return append(b, j...)
	}
}

// appendTime appends t as an RFC 3339 JSON string without an intermediate
// string: the layout yields only digits, letters and punctuation that JSON
// needs no escape for.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString appends s as a JSON string; plain ASCII takes a fast path.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// idString renders a key value as a record ID.
func idString(v any, k colKind) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []byte:
		if k == kindBinary {
			return base64.StdEncoding.EncodeToString(x)
		}
		return string(x)
	case string:
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// truthy reports whether a soft-delete column marks the row deleted: true,
// a non-zero number, a yes-like string or any non-NULL timestamp.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case time.Time:
		return !x.IsZero()
	case []byte:
		return truthyString(string(x))
	case string:
		return truthyString(x)
	}
	return true
}

func truthyString(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "f", "false", "n", "no", "0000-00-00 00:00:00":
		return false
	}
	return true
}

// pval is a cursor or key value kept in the position with its type, so it
// binds back as the same kind of parameter it was read as.
type pval struct {
	T string `json:"t"`
	V string `json:"v,omitempty"`
}

func toPval(v any, k colKind) pval {
	switch x := v.(type) {
	case nil:
		return pval{T: "null"}
	case int64:
		return pval{T: "int", V: strconv.FormatInt(x, 10)}
	case float64:
		return pval{T: "float", V: strconv.FormatFloat(x, 'g', -1, 64)}
	case bool:
		return pval{T: "bool", V: strconv.FormatBool(x)}
	case time.Time:
		return pval{T: "time", V: x.Format(time.RFC3339Nano)}
	case []byte:
		if k == kindBinary {
			return pval{T: "bytes", V: base64.StdEncoding.EncodeToString(x)}
		}
		// Bound as text so the comparison uses the column's collation,
		// the same order as ORDER BY.
		return pval{T: "str", V: string(x)}
	case string:
		return pval{T: "str", V: x}
	}
	return pval{T: "str", V: fmt.Sprint(v)}
}

// appendPval appends the position encoding of v, byte for byte what
// toPval(v, k).append(b) gives, without the intermediate strings for the
// common integer and timestamp keys and cursors: it runs once per record.
func appendPval(b []byte, v any, k colKind) []byte {
	switch x := v.(type) {
	case int64:
		b = append(b, `{"t":"int","v":"`...)
		b = strconv.AppendInt(b, x, 10)
		return append(b, `"}`...)
	case time.Time:
		b = append(b, `{"t":"time","v":`...)
		b = appendTime(b, x)
		return append(b, '}')
	}
	p := toPval(v, k)
	return p.append(b)
}

func (p pval) value() (any, error) {
	switch p.T {
	case "null":
		return nil, nil
	case "int":
		return strconv.ParseInt(p.V, 10, 64)
	case "float":
		return strconv.ParseFloat(p.V, 64)
	case "bool":
		return strconv.ParseBool(p.V)
	case "time":
		return time.Parse(time.RFC3339Nano, p.V)
	case "bytes":
		return base64.StdEncoding.DecodeString(p.V)
	case "str":
		return p.V, nil
	}
	return nil, fmt.Errorf("unknown value type %q", p.T)
}
