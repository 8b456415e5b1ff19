package funcs

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

var regions = phonenumbers.GetSupportedRegions()

// PhoneRegion is the region Phone takes for r: "ZZ" (no region: numbers
// must carry their country prefix) for an empty r, the upper-cased code of
// a region libphonenumber knows, the code of a country name, or "" for a
// region nobody knows.
func PhoneRegion(r string) string {
	r = strings.TrimSpace(r)
	if r == "" {
		return "ZZ"
	}
	if u := strings.ToUpper(r); regions[u] {
		return u
	}
	if c := CountryCode(r); c != "" && regions[c] {
		return c
	}
	return ""
}

// Phone is s as E.164 when it is a valid number in region (a PhoneRegion
// answer), "" otherwise: libphonenumber's answer, mostly without running
// it (the compact form and fastPhone answer most numbers; the rest are
// cached by region and text).
func Phone(s, region string) string {
	if c, ok := compactPhone(s); ok {
		s = c
		// Most numbers are answered here, without libphonenumber's
		// regular expressions (see fastPhone); the rest go on to it.
		if e164, ok := fastPhone(s, region); ok {
			return e164
		}
	}
	if phoneCacheOff.Load() {
		return ParsePhone(s, region)
	}
	var buf [64]byte
	key := append(append(append(buf[:0], region...), 0), s...)
	e164, ok := phoneCache.get(key)
	if !ok {
		e164 = ParsePhone(s, region)
		phoneCache.put(key, e164)
	}
	return e164
}

// SetPhoneCache turns Phone's cache of libphonenumber answers on (the
// default) or off, for a benchmark of the engine as it was before it.
func SetPhoneCache(on bool) { phoneCacheOff.Store(!on) }

// ParsePhone is libphonenumber's answer alone, without the fast path
// and the cache: E.164 for a valid number, "" otherwise.
func ParsePhone(s, region string) string {
	n, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return ""
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

// PhoneCacheSize is how many answers Phone's cache holds at most.
const PhoneCacheSize = phoneCacheShards * phoneCacheShardSize
