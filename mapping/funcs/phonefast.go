package funcs

import (
	"fmt"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// fastPhone is phonenumbers.Parse + IsValidNumber + Format(E164) for a
// number written as digits only or '+' and digits (what compactPhone
// leaves of the usual shapes), without the library's regular expressions.
//
// Why: on a first sync every number is new, so the phone cache cannot
// help, and libphonenumber spends most of a parse in Go's backtracking
// regexp engine (an extension pattern over the text, then the region's
// number patterns one after another). Every pattern it matches here is a
// question of membership (a digit string in the pattern's language, or a
// prefix of it), whose answer does not depend on the engine, so the
// patterns are compiled once into deterministic automata over the ten
// digits: one table step per digit.
//
// It follows the library's parseHelper, maybeExtractCountryCode,
// maybeStripNationalPrefixAndCarrierCode, getRegionCodeForNumber and
// getNumberTypeHelper step by step, for the metadata the library itself
// uses (phonenumbers.MetadataCollection). Where the library's answer
// would depend on where a match ends (an international or national prefix
// that is a pattern rather than a literal and does match) or on a
// transformation rule, or where its error path retries, ok is false and
// the caller asks the library. TestFastPhoneEquivalence and
// FuzzFastPhone hold every answer to phonenumbers'.
//
// s is digits, or '+' and digits; region is a supported region or "ZZ".
// e164 is "" for a number the library would reject or call invalid.
func fastPhone(s, region string) (e164 string, ok bool) {
	md := phoneMetadata()
	if md.err != nil || len(s) == 0 || len(s) > 250 {
		return "", false
	}
	plus := s[0] == '+'
	digits := s
	if plus {
		digits = s[1:]
	}
	if !AllDigits(digits) || len(digits) < 2 {
		return "", false
	}
	var def *fastMeta
	if region != "ZZ" {
		var known bool
		if def, known = md.region(region); def == nil || !known {
			return "", false
		}
	}
	if !plus && def == nil {
		return "", true // no region and no '+': ErrInvalidCountryCode
	}

	// maybeExtractCountryCode
	var national string
	cc := 0
	meta := def
	// extracted: the calling code came from the text (a '+', an
	// international prefix, or the region's own code in front), and the
	// library takes the metadata of the code's main region.
	extracted := true
	switch {
	case plus:
		if len(digits) <= 2 {
			return "", true // ErrTooShortAfterIDD
		}
		c, rest := md.CountryCode(digits)
		if c == 0 {
			// The library strips the '+' and tries again as a national
			// number: rare enough to leave to it.
			return "", false
		}
		cc, national = c, rest
	default:
		idd, known := def.iddEnd(digits)
		if !known {
			return "", false
		}
		if idd >= 0 {
			rest := digits[idd:]
			if len(rest) <= 2 {
				return "", true // ErrTooShortAfterIDD
			}
			c, nat := md.CountryCode(rest)
			if c == 0 {
				return "", true // ErrInvalidCountryCode, no '+' to retry without
			}
			cc, national = c, nat
			break
		}
		national = digits
		cc, extracted = def.cc, false
		if len(digits) >= len(def.ccStr) && digits[:len(def.ccStr)] == def.ccStr {
			pot, known := def.stripNationalPrefix(digits[len(def.ccStr):])
			if !known {
				return "", false
			}
			fullValid := def.general.dfa.full(digits)
			nationalValid := def.general.dfa.full(pot)
			if (!fullValid && nationalValid) || def.testLength(digits) == phonenumbers.TOO_LONG {
				national, extracted = pot, true
			}
		}
	}
	if extracted {
		r := phonenumbers.GetRegionCodeForCountryCode(cc)
		if def == nil || r != def.id {
			if m, known := md.regionOrCallingCode(cc, r); m != nil && known {
				meta = m
			} else {
				return "", false
			}
		}
	}
	if len(national) < 2 { // MIN_LENGTH_FOR_NSN
		return "", true
	}
	pot, known := meta.stripNationalPrefix(national)
	if !known {
		return "", false
	}
	switch meta.testLength(pot) {
	case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY, phonenumbers.INVALID_LENGTH:
	default:
		national = pot
	}
	if len(national) < 2 || len(national) > 17 { // MIN_ and MAX_LENGTH_FOR_NSN
		return "", true
	}

	// IsValidNumber: the region of the number, then its type.
	regions := phonenumbers.GetRegionCodesForCountryCode(cc)
	var rmeta *fastMeta
	switch len(regions) {
	case 0:
		return "", true
	case 1:
		var known bool
		if rmeta, known = md.regionOrCallingCode(cc, regions[0]); !known {
			return "", false
		}
	default:
		for _, r := range regions {
			m, known := md.region(r)
			if m == nil || !known {
				return "", false
			}
			if m.leading != nil {
				if m.leading.prefix(national) {
					rmeta = m
					break
				}
			} else if m.valid(national) {
				rmeta = m
				break
			}
		}
	}
	if rmeta == nil || rmeta.cc != cc || !rmeta.valid(national) {
		return "", true
	}
	return "+" + strconv.Itoa(cc) + national, true
}

// fastMeta is one region's (or non-geographical calling code's) metadata
// with its patterns compiled.
type fastMeta struct {
	id    string
	cc    int
	ccStr string

	// The international prefix: literals tried in order (a pattern
	// "00|011" is that: the regexp engine takes the first alternative
	// that matches), or an automaton for its pattern when it is not.
	iddLit []string
	idd    *digitDFA
	// The national prefix for parsing, likewise; "" and nil when the
	// region has none. transform: a rule rewrites what it matched.
	npLit     []string
	np        *digitDFA
	transform bool
	// npUnknown: the national prefix pattern has assertions (those with
	// a transformation rule do), so stripping it is left to the library;
	// the rest of the metadata still serves (finding a number's region
	// among those sharing its calling code).
	npUnknown bool

	general       fastDesc
	types         []fastDesc // premium rate .. voicemail, in getNumberTypeHelper's order
	fixed, mobile fastDesc
	sameMobile    bool
	leading       *digitDFA // leading digits, nil when the metadata has none

	lengths, localLengths []int32 // the general description's
}

type fastDesc struct {
	lengths []int32
	dfa     *digitDFA
}

// matches is isNumberMatchingDesc.
func (d *fastDesc) matches(nsn string) bool {
	if len(d.lengths) > 0 && !slices.Contains(d.lengths, int32(len(nsn))) {
		return false
	}
	return d.dfa.full(nsn)
}

// valid is getNumberTypeHelper(nsn) != UNKNOWN.
func (m *fastMeta) valid(nsn string) bool {
	if !m.general.matches(nsn) {
		return false
	}
	for i := range m.types {
		if m.types[i].matches(nsn) {
			return true
		}
	}
	if m.fixed.matches(nsn) {
		return true
	}
	return !m.sameMobile && m.mobile.matches(nsn)
}

// testLength is testNumberLength(number, metadata, UNKNOWN).
func (m *fastMeta) testLength(number string) phonenumbers.ValidationResult {
	possible := m.lengths
	if len(possible) == 0 || possible[0] == -1 {
		return phonenumbers.INVALID_LENGTH
	}
	n := int32(len(number))
	if slices.Contains(m.localLengths, n) {
		return phonenumbers.IS_POSSIBLE_LOCAL_ONLY
	}
	switch {
	case possible[0] == n:
		return phonenumbers.IS_POSSIBLE
	case possible[0] > n:
		return phonenumbers.TOO_SHORT
	case possible[len(possible)-1] < n:
		return phonenumbers.TOO_LONG
	}
	if slices.Contains(possible[1:], n) {
		return phonenumbers.IS_POSSIBLE
	}
	return phonenumbers.INVALID_LENGTH
}

// iddEnd is where an international prefix at the start of digits ends,
// -1 when there is none (or the library would not strip it: a 0 after
// it). known is false when a pattern prefix matches and where it ends
// would take the regexp engine's leftmost-first rules to say.
func (m *fastMeta) iddEnd(digits string) (end int, known bool) {
	switch {
	case m.iddLit != nil:
		if end = literalPrefix(m.iddLit, digits); end < 0 {
			return -1, true
		}
	case m.idd == nil || !m.idd.prefix(digits):
		return -1, true
	default:
		return 0, false
	}
	if end < len(digits) && digits[end] == '0' {
		return -1, true // country calling codes do not begin with 0
	}
	return end, true
}

// stripNationalPrefix is maybeStripNationalPrefixAndCarrierCode.
func (m *fastMeta) stripNationalPrefix(number string) (string, bool) {
	if len(number) == 0 {
		return number, true
	}
	if m.npUnknown {
		return "", false
	}
	end := 0
	switch {
	case m.npLit != nil:
		if end = literalPrefix(m.npLit, number); end < 0 {
			return number, true
		}
	case m.np == nil || !m.np.prefix(number):
		return number, true
	default:
		return "", false // where the match ends is the engine's to say
	}
	if m.transform {
		return "", false
	}
	if m.general.dfa.full(number) && !m.general.dfa.full(number[end:]) {
		return number, true
	}
	return number[end:], true
}

// literalPrefix is the length of the first of alts that s starts with, -1
// when none.
func literalPrefix(alts []string, s string) int {
	for _, a := range alts {
		if len(s) >= len(a) && s[:len(a)] == a {
			return len(a)
		}
	}
	return -1
}

// phoneMetadataSet is the library's metadata, compiled on first use per
// region.
type phoneMetadataSet struct {
	err      error
	byRegion map[string]*phonenumbers.PhoneMetadata
	nonGeo   map[int]*phonenumbers.PhoneMetadata
	ccs      [1000]bool // calling codes the library knows

	mu       sync.RWMutex
	compiled map[*phonenumbers.PhoneMetadata]*fastMeta
}

var phoneMetadata = sync.OnceValue(func() *phoneMetadataSet {
	set := &phoneMetadataSet{
		byRegion: map[string]*phonenumbers.PhoneMetadata{},
		nonGeo:   map[int]*phonenumbers.PhoneMetadata{},
		compiled: map[*phonenumbers.PhoneMetadata]*fastMeta{},
	}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		set.err = fmt.Errorf("phone metadata: %w", err)
		return set
	}
	supported := phonenumbers.GetSupportedRegions()
	for _, md := range coll.GetMetadata() {
		if md.GetId() == "001" {
			set.nonGeo[int(md.GetCountryCode())] = md
		} else if supported[md.GetId()] {
			set.byRegion[md.GetId()] = md
		}
	}
	for cc := 1; cc < len(set.ccs); cc++ {
		set.ccs[cc] = len(phonenumbers.GetRegionCodesForCountryCode(cc)) > 0
	}
	return set
})

// countryCode is extractCountryCode: the first one to three digits that
// are a calling code, and the rest; 0 when there is none.
func (set *phoneMetadataSet) CountryCode(digits string) (int, string) {
	if digits[0] == '0' {
		return 0, ""
	}
	c := 0
	for i := 0; i < 3 && i < len(digits); i++ {
		c = c*10 + int(digits[i]-'0')
		if set.ccs[c] {
			return c, digits[i+1:]
		}
	}
	return 0, ""
}

// region is getMetadataForRegion compiled: nil when the library has no
// metadata for r; known is false when it has but a pattern of it is
// outside what digitDFA handles (the caller then asks the library).
func (set *phoneMetadataSet) region(r string) (m *fastMeta, known bool) {
	md := set.byRegion[r]
	if md == nil {
		return nil, true
	}
	return set.compile(md)
}

// regionOrCallingCode is getMetadataForRegionOrCallingCode, as region.
func (set *phoneMetadataSet) regionOrCallingCode(cc int, r string) (*fastMeta, bool) {
	if r == "001" {
		if md := set.nonGeo[cc]; md != nil && set.ccs[cc] {
			return set.compile(md)
		}
		return nil, true
	}
	return set.region(r)
}

func (set *phoneMetadataSet) compile(md *phonenumbers.PhoneMetadata) (*fastMeta, bool) {
	set.mu.RLock()
	m, done := set.compiled[md]
	set.mu.RUnlock()
	if !done {
		var err error
		if m, err = compileMeta(md); err != nil {
			m = nil
		}
		set.mu.Lock()
		set.compiled[md] = m
		set.mu.Unlock()
	}
	return m, m != nil
}

func compileMeta(md *phonenumbers.PhoneMetadata) (*fastMeta, error) {
	m := &fastMeta{
		id:           md.GetId(),
		cc:           int(md.GetCountryCode()),
		sameMobile:   md.GetSameMobileAndFixedLinePattern(),
		transform:    md.GetNationalPrefixTransformRule() != "",
		lengths:      md.GetGeneralDesc().GetPossibleLength(),
		localLengths: md.GetGeneralDesc().GetPossibleLengthLocalOnly(),
	}
	m.ccStr = strconv.Itoa(m.cc)
	var err error
	if m.iddLit, m.idd, err = compilePrefix(md.GetInternationalPrefix()); err != nil {
		return nil, fmt.Errorf("international prefix: %w", err)
	}
	if m.npLit, m.np, err = compilePrefix(md.GetNationalPrefixForParsing()); err != nil {
		m.npUnknown = true
	}
	if ld := md.GetLeadingDigits(); ld != "" {
		if m.leading, err = compileDigitDFA(ld); err != nil {
			return nil, fmt.Errorf("leading digits: %w", err)
		}
	}
	desc := func(d *phonenumbers.PhoneNumberDesc) (fastDesc, error) {
		dfa, err := compileDigitDFA(d.GetNationalNumberPattern())
		return fastDesc{lengths: d.GetPossibleLength(), dfa: dfa}, err
	}
	if m.general, err = desc(md.GetGeneralDesc()); err != nil {
		return nil, err
	}
	for _, d := range []*phonenumbers.PhoneNumberDesc{md.GetPremiumRate(), md.GetTollFree(), md.GetSharedCost(),
		md.GetVoip(), md.GetPersonalNumber(), md.GetPager(), md.GetUan(), md.GetVoicemail()} {
		fd, err := desc(d)
		if err != nil {
			return nil, err
		}
		m.types = append(m.types, fd)
	}
	if m.fixed, err = desc(md.GetFixedLine()); err != nil {
		return nil, err
	}
	if m.mobile, err = desc(md.GetMobile()); err != nil {
		return nil, err
	}
	return m, nil
}

// compilePrefix compiles a prefix pattern: its alternatives when it is
// literals of digits separated by '|', an automaton otherwise; neither
// when it is empty.
func compilePrefix(p string) ([]string, *digitDFA, error) {
	if p == "" {
		return nil, nil, nil
	}
	alts := strings.Split(p, "|")
	literal := true
	for _, a := range alts {
		literal = literal && a != "" && AllDigits(a)
	}
	if literal {
		return alts, nil, nil
	}
	d, err := compileDigitDFA(p)
	return nil, d, err
}

// digitDFA is a deterministic automaton over the digits 0-9 for a regular
// expression without assertions, built by the subset construction from
// regexp/syntax's program. State 0 is the start; -1 is dead.
type digitDFA struct {
	next   [][10]int32
	accept []bool
}

// maxDFAStates bounds one pattern's automaton; no pattern of the
// library's metadata comes near it.
const maxDFAStates = 1 << 14

func compileDigitDFA(pattern string) (*digitDFA, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	for _, in := range prog.Inst {
		if in.Op == syntax.InstEmptyWidth {
			return nil, fmt.Errorf("pattern %q: assertions are not supported", pattern)
		}
	}
	// closure adds pc and what it reaches without consuming a digit; the
	// result holds only instructions that consume or match.
	var closure func(set []uint32, seen []bool, pc uint32) []uint32
	closure = func(set []uint32, seen []bool, pc uint32) []uint32 {
		if seen[pc] {
			return set
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			set = closure(set, seen, in.Out)
			return closure(set, seen, in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			return closure(set, seen, in.Out)
		case syntax.InstFail:
			return set
		}
		return append(set, pc)
	}
	key := func(set []uint32) string {
		slices.Sort(set)
		b := make([]byte, 0, 4*len(set))
		for _, pc := range set {
			b = strconv.AppendUint(b, uint64(pc), 36)
			b = append(b, ',')
		}
		return string(b)
	}
	d := &digitDFA{}
	ids := map[string]int32{}
	var sets [][]uint32
	add := func(set []uint32) int32 {
		if len(set) == 0 {
			return -1
		}
		k := key(set)
		if id, ok := ids[k]; ok {
			return id
		}
		id := int32(len(sets))
		ids[k] = id
		sets = append(sets, set)
		acc := false
		for _, pc := range set {
			acc = acc || prog.Inst[pc].Op == syntax.InstMatch
		}
		d.next = append(d.next, [10]int32{})
		d.accept = append(d.accept, acc)
		return id
	}
	add(closure(nil, make([]bool, len(prog.Inst)), uint32(prog.Start)))
	if len(sets) == 0 { // matches nothing at all
		d.next = append(d.next, [10]int32{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1})
		d.accept = append(d.accept, false)
		return d, nil
	}
	for i := 0; i < len(sets); i++ {
		for c := range 10 {
			seen := make([]bool, len(prog.Inst))
			var next []uint32
			for _, pc := range sets[i] {
				in := &prog.Inst[pc]
				var ok bool
				switch in.Op {
				case syntax.InstMatch:
				case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
					ok = true
				default:
					ok = in.MatchRune(rune('0' + c))
				}
				if ok {
					next = closure(next, seen, in.Out)
				}
			}
			d.next[i][c] = add(next)
			if len(sets) > maxDFAStates {
				return nil, fmt.Errorf("pattern %q: more than %d states", pattern, maxDFAStates)
			}
		}
	}
	return d, nil
}

// full says whether all of s (digits) is in the pattern's language: what
// MatchString of "^(?:pattern)$" says.
func (d *digitDFA) full(s string) bool {
	st := int32(0)
	for i := 0; i < len(s); i++ {
		if st = d.next[st][s[i]-'0']; st < 0 {
			return false
		}
	}
	return d.accept[st]
}

// prefix says whether some prefix of s (the empty one included) is in the
// language: what MatchString of "^(?:pattern)" says.
func (d *digitDFA) prefix(s string) bool {
	st := int32(0)
	for i := 0; ; i++ {
		if d.accept[st] {
			return true
		}
		if i == len(s) {
			return false
		}
		if st = d.next[st][s[i]-'0']; st < 0 {
			return false
		}
	}
}
