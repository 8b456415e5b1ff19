package identity_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/quality"
)

var update = flag.Bool("update", false, "rewrite testdata/compare_golden.txt.gz from the current code")

// goldenPeople are generated people in several locales, households and
// twins among them, with the variations the generator does not make: names
// only in the full name or missing, phones in national format or invalid,
// genders, partial birth dates, second address lines and second
// addresses, missing postal codes and cities, e-mails in capitals or one
// letter off, tax ids.
func goldenPeople() []hub.Customer {
	gen := quality.GenerateWith(1200, 11, quality.Options{Contact: true, IDs: true, Households: 0.2, Twins: 0.3, TwoErrors: 0.2})
	gen = append(gen, quality.Generate(500, 12, false, false)...)
	rng := rand.New(rand.NewPCG(11, 12))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	out := make([]hub.Customer, len(gen))
	for i, r := range gen {
		c := r.Customer
		c.Addresses = append([]hub.Address(nil), c.Addresses...)
		c.Emails = append([]string(nil), c.Emails...)
		c.Phones = append([]string(nil), c.Phones...)
		chance := func(p float64) bool { return rng.Float64() < p }
		switch {
		case chance(0.08):
			c.FullName, c.GivenName, c.FamilyName = c.GivenName+" "+c.FamilyName, "", ""
		case chance(0.04):
			c.FullName, c.GivenName, c.FamilyName = c.FamilyName, "", ""
		case chance(0.04):
			c.FullName, c.FamilyName = c.GivenName, ""
		case chance(0.05):
			c.GivenName = ""
		case chance(0.04):
			c.GivenName = pick("Jean-Luc", "Zoë", "Anna Maria", "J.", "O'Neil", "Hans-Jürgen")
		case chance(0.03):
			c.FamilyName = pick("van der Berg", "Vanderberg", "Müller-Lüdenscheidt", "MEIER", "d'Artagnan")
		}
		for j, p := range c.Phones {
			switch {
			case chance(0.15) && len(p) > 6:
				c.Phones[j] = "0" + p[3:6] + " " + p[6:]
			case chance(0.05):
				c.Phones[j] = pick("12", "n/a", "+44 20 7946 0958", "(030) 1234-567")
			}
		}
		if chance(0.05) {
			c.Phones = append(c.Phones, "+4930123456"+fmt.Sprint(rng.IntN(10)))
		}
		for j, e := range c.Emails {
			switch {
			case chance(0.1):
				c.Emails[j] = " " + strings.ToUpper(e) + " "
			case chance(0.05) && len(e) > 3:
				c.Emails[j] = "x" + e[1:]
			case chance(0.02):
				c.Emails[j] = "no-at-sign"
			}
		}
		if chance(0.15) {
			c.Gender = pick("male", "Female", " unknown ", "F", "M", "", "MALE")
		}
		switch {
		case chance(0.04) && len(c.BirthDate) >= 4:
			c.BirthDate = c.BirthDate[:4]
		case chance(0.03) && len(c.BirthDate) >= 7:
			c.BirthDate = " " + c.BirthDate[:7]
		case chance(0.03):
			c.BirthDate = " " + c.BirthDate + " "
		}
		if chance(0.05) {
			c.TaxID = pick("DE 123 456 789", "DE123456789", "DE123456798", "12/345/67890")
		}
		for j := range c.Addresses {
			a := &c.Addresses[j]
			switch {
			case chance(0.04):
				a.Street2 = pick("Rose Cottage", "Apt 3", "Unit 2", "c/o Meier", "2. OG")
			case chance(0.03):
				a.Street = pick("Rose Cottage", "Haus 4") + "\n" + a.Street
			case chance(0.03):
				a.Street2, a.Street = pick("Rose Cottage", "Rosecottage"), ""
			case chance(0.02):
				a.Street = ""
			}
			switch {
			case chance(0.05):
				a.PostalCode = ""
			case chance(0.03) && len(a.PostalCode) > 1 && a.PostalCode[0] == '0':
				a.PostalCode = a.PostalCode[1:]
			}
			switch {
			case chance(0.05):
				a.City = ""
			case chance(0.04):
				a.City = strings.ToUpper(a.City) + pick("", "-Süd", " (Zürich)")
			}
		}
		if chance(0.05) && i > 0 && len(gen[i-1].Customer.Addresses) > 0 {
			c.Addresses = append(c.Addresses, gen[i-1].Customer.Addresses[0])
		}
		if chance(0.02) {
			c.Addresses = nil
		}
		out[i] = c
	}
	return out
}

// goldenPairs are the copies of one person, neighbours in the generated
// order (households, twins), neighbours by family name (namesakes and
// typos) and random pairs.
func goldenPairs(people []hub.Customer) [][2]int {
	var pairs [][2]int
	for i := 0; i+1 < len(people); i++ {
		pairs = append(pairs, [2]int{i, i + 1})
	}
	byFamily := make([]int, len(people))
	for i := range byFamily {
		byFamily[i] = i
	}
	sort.SliceStable(byFamily, func(i, j int) bool { return people[byFamily[i]].FamilyName < people[byFamily[j]].FamilyName })
	for i := 0; i+1 < len(byFamily); i += 2 {
		pairs = append(pairs, [2]int{byFamily[i], byFamily[i+1]})
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for range 2500 {
		a, b := rng.IntN(len(people)), rng.IntN(len(people))
		if a != b {
			pairs = append(pairs, [2]int{a, b})
		}
	}
	return pairs
}

// goldenParams are the defaults and a model with term frequencies and a
// twin share, so that the common-name and twin paths of MatchPeople run.
func goldenParams(people []hub.Customer) []*identity.Params {
	tf := identity.DefaultParams()
	tf.TF = map[string]map[string]float64{
		identity.CompGiven:  {"anna": 0.02, "hans": 0.03, "john": 0.02, "marie": 0.02, "jean": 0.03},
		identity.CompFamily: {"mueller": 0.02, "smith": 0.03, "martin": 0.02, "schmidt": 0.02},
	}
	share := 0.001
	tf.TwinShare = &share
	return []*identity.Params{identity.DefaultParams(), tf}
}

// goldenLines are the comparison levels, swapped flag and match (weight,
// probability, hold) of every golden pair, one line each.
func goldenLines(t testing.TB) []string {
	people := goldenPeople()
	pairs := goldenPairs(people)
	var lines []string
	for pi, p := range goldenParams(people) {
		for _, tax := range []bool{false, true} {
			gs, swapped := identity.ComparePairs(people, pairs, "DE", tax, p)
			for k, pr := range pairs {
				m := p.MatchPeople(people[pr[0]], people[pr[1]], "DE", tax)
				lines = append(lines, fmt.Sprintf("%d %v %d %d %s %v %.2f %.9g %.24q", pi, tax, pr[0], pr[1],
					strings.Join(gs[k][:], ","), swapped[k], m.Weight, m.Probability, m.Hold))
			}
		}
	}
	return lines
}

// The comparison levels of the estimate and the matches of apply and
// rescore are those the per-pair comparison gave before records were
// prepared once (recorded in testdata/compare_golden.txt.gz; -update
// rewrites it).
func TestCompareGolden(t *testing.T) {
	t.Parallel() // long and self-contained (an estimate on thousands of records): runs beside the others
	path := filepath.Join("testdata", "compare_golden.txt.gz")
	lines := goldenLines(t)
	if *update {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for _, l := range lines {
			fmt.Fprintln(zw, l)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		want = append(want, sc.Text())
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if len(want) != len(lines) {
		t.Fatalf("%d pairs, golden has %d", len(lines), len(want))
	}
	bad := 0
	for i := range lines {
		if lines[i] != want[i] {
			if bad++; bad <= 10 {
				t.Errorf("pair %d:\n got %s\nwant %s", i, lines[i], want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d pairs differ", bad, len(lines))
	}
}

// Links, which prepares each record once for all its blocks' pairs, scores
// every pair as ScorePair does on the two records alone.
func TestLinksPreparedOnce(t *testing.T) {
	people := goldenPeople()
	recs := make([]identity.Record, len(people))
	byKey := map[string]identity.Record{}
	for i, c := range people {
		recs[i] = identity.Record{System: "sys", SourceEntity: "customer", SourceID: fmt.Sprint(i), Customer: c}
		byKey[recs[i].Key()] = recs[i]
	}
	r := identity.New(identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()})
	links := r.Links(recs)
	if len(links) < 1000 {
		t.Fatalf("%d links: want the generated copies linked", len(links))
	}
	for _, l := range links {
		want, ok := r.ScorePair(byKey[l.A], byKey[l.B])
		if !ok || want != l {
			t.Fatalf("Links gave %+v, ScorePair %+v (ok %v)", l, want, ok)
		}
	}
}
