package sqlconn

import (
	"errors"
	"testing"
)

func TestResnapshotPosition(t *testing.T) {
	pos := []byte(`{"entities":{"customers":{"c":{"t":"time","v":"2024-01-01T10:00:00Z"},"k":{"t":"str","v":"ERP-3"}},"orders":{"k":{"t":"int","v":"9"}}}}`)
	cases := []struct {
		name, entity string
		pos          []byte
		want         string
		found        bool
		err          error
	}{
		{"one entity", "customers", pos, `{"entities":{"orders":{"k":{"t":"int","v":"9"}}}}`, true, nil},
		{"entity without position", "invoices", pos, string(pos), false, nil},
		{"hash-mode entity", "parties", []byte(`{"entities":{"orders":{"k":{"t":"int","v":"9"}}},"hash":{"parties":3,"x":1}}`),
			`{"entities":{"orders":{"k":{"t":"int","v":"9"}}},"hash":{"x":1}}`, true, nil},
		{"whole source", "", pos, "", true, nil},
		{"no position yet", "customers", nil, "", false, nil},
		{"logical, one entity", "customers", []byte(`{"slot":"s","lsn":"0/16B3748"}`), "", false, ErrWholeSource},
		{"logical, whole source", "", []byte(`{"slot":"s","lsn":"0/16B3748"}`), "", true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := ResnapshotPosition(tc.pos, tc.entity)
			if !errors.Is(err, tc.err) || string(got) != tc.want || found != tc.found {
				t.Fatalf("got %s, %v, %v; want %s, %v, %v", got, found, err, tc.want, tc.found, tc.err)
			}
		})
	}
}
