package funcs

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

var compactPhoneRegions = []string{"DE", "AT", "CH", "FR", "GB", "US", "IT", "NL", "ZZ"}

func checkCompactPhone(t *testing.T, raw, region string) {
	t.Helper()
	c, ok := compactPhone(raw)
	if !ok {
		return
	}
	if got, want := ParsePhone(c, region), ParsePhone(raw, region); got != want {
		t.Errorf("phone %q region %s: compacted to %q gives %q, the text as it is %q", raw, region, c, got, want)
	}
}

// TestCompactPhoneEquivalence: compacting a number never changes what
// libphonenumber makes of it, on written shapes and random ones.
func TestCompactPhoneEquivalence(t *testing.T) {
	for _, raw := range []string{
		"030 204-7514", "+49 (0)30 2047514", "+49 30 2047514", "0049 30 2047514", "(030) 2047514", "030/2047514",
		"030.204.75.14", " +41 44 668 18 00", "+ 41 44 668 18 00", "0171 1628374", "+1 (650) 253-0000", "650-253-0000",
		"020 7031 3000", "+44 (0) 20 7031 3000", "01 42 68 53 00", "+33 1 42 68 53 00", "06 12 34 56 78",
		"1-2", "12", "123", "0", "()", "--", "+", "++49 30 2047514", "+49+30", "030 + 2047514", "+39 06 6982",
		"+39 (06) 69 82", "0039 06 698 2", "112", "110", "+49 30 2047514 ", "  030 2047514", "030-", "(030",
		"+49 30 20475141234567890", "00 49 30 2047514", "+(49) 30 2047514", "0 30 2047514", "+49 0 30 2047514",
	} {
		for _, region := range compactPhoneRegions {
			checkCompactPhone(t, raw, region)
		}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	alphabet := "0123456789012345678901234567890123456789 -./()+"
	for range 4000 {
		n := 3 + rng.IntN(16)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if rng.IntN(3) == 0 {
			b[0] = '+'
		}
		checkCompactPhone(t, string(b), compactPhoneRegions[rng.IntN(len(compactPhoneRegions))])
	}
}

func FuzzCompactPhone(f *testing.F) {
	for _, s := range []string{"030 204-7514", "+49 (0)30 2047514", "+1 (650) 253-0000"} {
		f.Add(s, 0)
	}
	f.Fuzz(func(t *testing.T, raw string, r int) {
		if r < 0 {
			r = -r
		}
		checkCompactPhone(t, raw, compactPhoneRegions[r%len(compactPhoneRegions)])
	})
}

func TestCompactPhone(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"030 204-7514", "0302047514", true},
		{" +49 (0)30 2047514", "+490302047514", true},
		{"0302047514", "0302047514", true},
		{"030 2047514 ext 12", "", false},
		{"030 2047514#12", "", false},
		{"030,2047514", "", false},
		{"49+30", "", false},
		{"1-2", "", false},
		{"０３０ 2047514", "", false},
	} {
		got, ok := compactPhone(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("compactPhone(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// BenchmarkPhoneParse: a distinct formatted number per call (a first sync:
// no cache hits), parsed as written and compacted first.
func BenchmarkPhoneParse(b *testing.B) {
	nums := make([]string, 4096)
	for i := range nums {
		nums[i] = fmt.Sprintf("030 %03d-%04d", 200+i%700, (i*7919)%10000)
	}
	b.Run("as-written", func(b *testing.B) {
		i := 0
		for b.Loop() {
			ParsePhone(nums[i%len(nums)], "DE")
			i++
		}
	})
	b.Run("compacted", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s := nums[i%len(nums)]
			if c, ok := compactPhone(s); ok {
				s = c
			}
			ParsePhone(s, "DE")
			i++
		}
	})
}
