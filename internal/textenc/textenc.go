package textenc

import (
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// known are the names in the order documentation lists them; a nil
// encoding is UTF-8, which needs no decoder.
var known = []struct {
	name string
	enc  encoding.Encoding
}{
	{"utf-8", nil}, {"utf8", nil},
	{"windows-1252", charmap.Windows1252}, {"cp1252", charmap.Windows1252},
	{"iso-8859-1", charmap.ISO8859_1}, {"latin-1", charmap.ISO8859_1}, {"latin1", charmap.ISO8859_1},
	{"iso-8859-15", charmap.ISO8859_15},
	{"gb18030", simplifiedchinese.GB18030},
	{"shift-jis", japanese.ShiftJIS}, {"shift_jis", japanese.ShiftJIS}, {"sjis", japanese.ShiftJIS},
}

// Names lists the accepted names, aliases included, in a fixed order.
func Names() []string {
	out := make([]string, len(known))
	for i, k := range known {
		out[i] = k.name
	}
	return out
}

// Lookup returns the encoding of name, compared without regard to case;
// a nil encoding with ok means UTF-8.
func Lookup(name string) (enc encoding.Encoding, ok bool) {
	name = strings.ToLower(name)
	for _, k := range known {
		if k.name == name {
			return k.enc, true
		}
	}
	return nil, false
}
