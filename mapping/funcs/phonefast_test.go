package funcs

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// checkFastPhone holds fastPhone to the library for one number: when it
// answers, the answer is parsePhone's. It reports whether it answered.
func checkFastPhone(t *testing.T, raw, region string) bool {
	t.Helper()
	s, ok := compactPhone(raw)
	if !ok {
		return false
	}
	got, ok := fastPhone(s, region)
	if !ok {
		return false
	}
	if want := ParsePhone(s, region); got != want {
		t.Errorf("phone %q (%q) region %s: fast path %q, libphonenumber %q", raw, s, region, got, want)
	}
	return true
}

var phoneTypes = []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
	phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
	phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}

// phoneSamples are written numbers of every region and type the library
// has an example of, in national, international and E.164 form, with an
// international prefix, with the calling code but no '+', and mistyped
// (a digit more, less, or changed); region is the example's.
func phoneSamples(rng *rand.Rand) (raws, regs []string) {
	add := func(raw, region string) { raws, regs = append(raws, raw), append(regs, region) }
	regions := make([]string, 0, len(regions))
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	for _, r := range regions {
		for _, typ := range phoneTypes {
			n := phonenumbers.GetExampleNumberForType(r, typ)
			if n == nil {
				continue
			}
			cc := strconv.Itoa(int(n.GetCountryCode()))
			nsn := phonenumbers.GetNationalSignificantNumber(n)
			national := phonenumbers.Format(n, phonenumbers.NATIONAL)
			for _, s := range []string{
				national, phonenumbers.Format(n, phonenumbers.INTERNATIONAL), phonenumbers.Format(n, phonenumbers.E164),
				"00" + cc + nsn, "011" + cc + nsn, cc + nsn, cc + "0" + nsn, "0" + nsn, nsn, "+" + cc + "0" + nsn,
			} {
				add(s, r)
				d := []byte(nsn)
				i := rng.IntN(len(d))
				d[i] = byte('0' + (int(d[i]-'0')+1+rng.IntN(9))%10)
				m := []string{string(d), nsn[:len(nsn)-1], nsn + strconv.Itoa(rng.IntN(10))}[rng.IntN(3)]
				add([]string{"0" + m, "+" + cc + m, m}[rng.IntN(3)], r)
			}
		}
	}
	return raws, regs
}

// TestFastPhoneEquivalence: the fast path gives libphonenumber's E.164
// (or its refusal) on examples of every region and type, written every
// usual way and mistyped, parsed with their own region and others, and
// on random digit strings; and it answers for most of them, the common
// shapes of the usual regions always.
func TestFastPhoneEquivalence(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	raws, regs := phoneSamples(rng)
	others := []string{"DE", "AT", "CH", "FR", "GB", "US", "IT", "NL", "BR", "AR", "MX", "RU", "JP", "ZZ"}
	answered, total := 0, 0
	for i, raw := range raws {
		for _, region := range []string{regs[i], others[rng.IntN(len(others))]} {
			total++
			if checkFastPhone(t, raw, region) {
				answered++
			}
		}
	}
	for range 10000 {
		n := 2 + rng.IntN(16)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		s := string(b)
		switch rng.IntN(4) {
		case 0:
			s = "+" + s
		case 1:
			s = "0" + s
		case 2:
			s = "00" + s
		}
		total++
		if checkFastPhone(t, s, others[rng.IntN(len(others))]) {
			answered++
		}
	}
	t.Logf("fast path answered %d of %d numbers (%.1f%%)", answered, total, 100*float64(answered)/float64(total))
	if answered < total*8/10 { // 86% when written; the rest goes to the library

		t.Errorf("fast path answered only %d of %d numbers", answered, total)
	}
	for _, tt := range []struct{ raw, region string }{
		{"030 2047514", "DE"}, {"0171 1628374", "DE"}, {"+49 30 2047514", "ZZ"}, {"0049 30 2047514", "DE"},
		{"01 5123456", "AT"}, {"044 668 18 00", "CH"}, {"01 42 68 53 00", "FR"}, {"020 7031 3000", "GB"},
		{"(650) 253-0000", "US"}, {"06 6982 1234", "IT"}, {"020 123 4567", "NL"}, {"030 2047514", "AT"},
	} {
		if !checkFastPhone(t, tt.raw, tt.region) {
			t.Errorf("phone %q region %s: the fast path did not answer", tt.raw, tt.region)
		}
	}
}

func FuzzFastPhone(f *testing.F) {
	for _, s := range []string{"030 2047514", "+49 30 2047514", "0049 30 2047514", "+1 650 253 0000", "0039 06 6982"} {
		f.Add(s, 0)
	}
	regions := []string{"DE", "AT", "CH", "FR", "GB", "US", "IT", "NL", "BR", "AR", "RU", "JP", "GG", "ZZ"}
	f.Fuzz(func(t *testing.T, raw string, r int) {
		if r < 0 {
			r = -r
		}
		checkFastPhone(t, raw, regions[r%len(regions)])
	})
}

// TestDigitDFA: an automaton accepts what the regular expression matches,
// in full and as a prefix.
func TestDigitDFA(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []string{"", "0", "00|011", "[1-9]\\d{3,5}", "(?:1[0-2]|3)?4{2}", "8(?:0\\d|9[0-5])\\d{6}", "(?:)", "\\d*", ".5"} {
		d, err := compileDigitDFA(p)
		if err != nil {
			t.Fatal(err)
		}
		full, prefix := regexp.MustCompile("^(?:"+p+")$"), regexp.MustCompile("^(?:"+p+")")
		for range 3000 {
			b := make([]byte, rng.IntN(12))
			for i := range b {
				b[i] = byte('0' + rng.IntN(10))
			}
			s := string(b)
			if got, want := d.full(s), full.MatchString(s); got != want {
				t.Errorf("%q full %q: %v, regexp %v", p, s, got, want)
			}
			if got, want := d.prefix(s), prefix.MatchString(s); got != want {
				t.Errorf("%q prefix %q: %v, regexp %v", p, s, got, want)
			}
		}
	}
	if _, err := compileDigitDFA("\\b1"); err == nil {
		t.Error("a pattern with an assertion compiled")
	}
}

// TestFastPhoneMetadataCompiles: every region's metadata compiles, so the
// fast path is not silently limited to a few.
func TestFastPhoneMetadataCompiles(t *testing.T) {
	set := phoneMetadata()
	if set.err != nil {
		t.Fatal(set.err)
	}
	var failed []string
	for r, md := range set.byRegion {
		if _, err := compileMeta(md); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r, err))
		}
	}
	for cc, md := range set.nonGeo {
		if _, err := compileMeta(md); err != nil {
			failed = append(failed, fmt.Sprintf("+%d: %v", cc, err))
		}
	}
	if len(failed) > 0 {
		t.Errorf("metadata not compiled:\n%v", failed)
	}
}

// BenchmarkPhoneFast: distinct formatted numbers as BenchmarkPhoneParse,
// through the fast path.
func BenchmarkPhoneFast(b *testing.B) {
	nums := make([]string, 4096)
	for i := range nums {
		nums[i] = fmt.Sprintf("030 %03d-%04d", 200+i%700, (i*7919)%10000)
	}
	fastPhone("0302047514", "DE") // compile DE's metadata outside the loop
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s, _ := compactPhone(nums[i%len(nums)])
		if _, ok := fastPhone(s, "DE"); !ok {
			b.Fatal("not answered")
		}
		i++
	}
}
