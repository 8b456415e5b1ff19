package textenc

import (
	"testing"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name   string
		ok     bool
		isUTF8 bool
		want   any
	}{
		{"utf-8", true, true, nil},
		{"UTF8", true, true, nil},
		{"Windows-1252", true, false, charmap.Windows1252},
		{"latin1", true, false, charmap.ISO8859_1},
		{"SJIS", true, false, japanese.ShiftJIS},
		{"ebcdic", false, false, nil},
		{"", false, false, nil},
	}
	for _, tt := range tests {
		enc, ok := Lookup(tt.name)
		if ok != tt.ok || (ok && (enc == nil) != tt.isUTF8) || (tt.want != nil && enc != tt.want) {
			t.Errorf("Lookup(%q) = %v, %v", tt.name, enc, ok)
		}
	}
	for _, n := range Names() {
		if _, ok := Lookup(n); !ok {
			t.Errorf("listed name %q not found", n)
		}
	}
}
