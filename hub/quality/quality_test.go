package quality

import (
	"reflect"
	"testing"

	"github.com/crmhub/crmhub/hub/identity"
)

func TestEvaluate(t *testing.T) {
	truth := map[string]string{"a": "1", "b": "1", "c": "1", "d": "2", "e": "2"}
	tests := []struct {
		name         string
		assign       map[string]string
		wantP, wantR float64
	}{
		{"perfect", map[string]string{"a": "x", "b": "x", "c": "x", "d": "y", "e": "y"}, 1, 1},
		{"all singletons", map[string]string{}, 1, 0},
		// found ab, cd, ce, de: ab and de are true (2 of 4); true ab, ac, bc, de: 2 of 4 found.
		{"one split one merge", map[string]string{"a": "x", "b": "x", "c": "y", "d": "y", "e": "y"}, 0.5, 0.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Evaluate(truth, tc.assign)
			if s.Precision != tc.wantP || s.Recall != tc.wantR {
				t.Fatalf("got P %.3f R %.3f, want P %.3f R %.3f", s.Precision, s.Recall, tc.wantP, tc.wantR)
			}
		})
	}
}

func TestGenerateDeterministic(t *testing.T) {
	a := Generate(200, 7, true, true)
	b := Generate(200, 7, true, true)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different records")
	}
	if reflect.DeepEqual(a, Generate(200, 8, true, true)) {
		t.Fatal("different seeds gave the same records")
	}
	kinds := map[string]bool{}
	for _, r := range a {
		kinds[r.Corruption] = true
	}
	if len(kinds) < len(Corruptions) {
		t.Errorf("only %d corruption kinds in 200 people", len(kinds)-1)
	}
}

func TestRunScoresRealResolver(t *testing.T) {
	cfg := identity.Config{DefaultRegion: "DE", Fuzzy: &identity.FuzzyConfig{AutoMerge: 0.93, Review: 0.85}}
	for _, v := range []struct {
		name             string
		contact, withIDs bool
	}{{"contact+ids", true, true}, {"contact", true, false}, {"ids", false, true}, {"names only", false, false}} {
		res := Run(cfg, Generate(300, 1, v.contact, v.withIDs))
		if res.Score.TruePairs == 0 {
			t.Fatalf("%s: no true pairs generated", v.name)
		}
		t.Logf("%-12s P %.3f R %.3f F1 %.3f (true pairs %d)", v.name, res.Score.Precision, res.Score.Recall, res.Score.F1, res.Score.TruePairs)
		for _, k := range Corruptions {
			t.Logf("   %-15s recall %.2f (n=%d)", k, res.KindRecall[k], res.KindCount[k])
		}
	}
}

func TestGenerateFirms(t *testing.T) {
	a, b := GenerateFirms(300, 4, 0.2), GenerateFirms(300, 4, 0.2)
	if len(a) != len(b) || a[len(a)-1].Customer.OrganizationName != b[len(b)-1].Customer.OrganizationName {
		t.Fatal("not deterministic per seed")
	}
	kinds := map[string]bool{}
	byEntity := map[string]string{}
	sisters := 0
	for _, r := range a {
		kinds[r.Corruption] = true
		if r.Customer.Kind != "organization" {
			t.Fatalf("%s is a %s", r.Key, r.Customer.Kind)
		}
		if r.Corruption == "" {
			addr := r.Customer.Addresses[0].Street + "|" + r.Customer.Addresses[0].PostalCode
			if other, ok := byEntity[addr]; ok && other != r.EntityID {
				sisters++
			}
			byEntity[addr] = r.EntityID
		}
	}
	for _, k := range FirmCorruptions {
		if !kinds[k] {
			t.Errorf("no %s corruption in 300 firms", k)
		}
	}
	if sisters < 20 {
		t.Errorf("%d sister companies at one address, want about 60", sisters)
	}
	res := Run(identity.Config{Fuzzy: identity.DefaultFuzzy()}, a)
	if res.Score.Precision < 0.99 {
		t.Errorf("firms: %+v: sister companies merged", res.Score)
	}
}

// Twins live together and share family name, birth date and address: only
// the given name tells them apart, and the resolver must not merge them
// (a steward may see them in review).
func TestTwinsStayApart(t *testing.T) {
	recs := GenerateWith(1500, 5, Options{Households: 0.3, Twins: 1})
	res := Run(identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()}, recs)
	twins, merged := 0, 0
	firstOf := map[string]Record{}
	for _, r := range recs {
		if r.Corruption == "" {
			firstOf[r.EntityID] = r
		}
	}
	for _, r := range recs {
		if r.Corruption != "" {
			continue
		}
		for _, o := range firstOf {
			if o.EntityID < r.EntityID && o.Customer.BirthDate == r.Customer.BirthDate &&
				o.Customer.FamilyName == r.Customer.FamilyName && o.Customer.Addresses[0] == r.Customer.Addresses[0] {
				twins++
				if res.Assign[o.Key] == res.Assign[r.Key] {
					merged++
				}
			}
		}
	}
	if twins < 100 {
		t.Fatalf("%d twin pairs generated, want about 450", twins)
	}
	// A few twins still meet through a record with its names swapped
	// and a typo, or a married name that crosses the twin's given name
	// (William Jones, James Williams), or a typo in a sister's form of
	// her brother's name (Robert and Rboerta, Philippe and Philipipne:
	// no longer the pair of forms, one typo from his): want under 4%
	// (under 3% before the generator gave twins the two forms of one
	// name; 12% when it first did, before the hold covered those forms).
	if merged*100 > 4*twins {
		t.Errorf("%d of %d twin pairs merged (precision %.4f)", merged, twins, res.Score.Precision)
	}
	if res.Score.Recall < 0.99 {
		t.Errorf("recall %.4f with twins about", res.Score.Recall)
	}
}

// The review score joins exactly the true items: a false item changes
// nothing, a true one joins its two clusters, and a record the clustering
// never saw counts as a cluster of its own.
func TestReviewScore(t *testing.T) {
	truth := map[string]string{"a1": "A", "a2": "A", "a3": "A", "b1": "B", "c1": "C"}
	assign := map[string]string{"a1": "g1", "a2": "g2", "b1": "g3", "c1": "g4"} // a3 unassigned
	rs := reviewScore(truth, assign, []identity.Candidate{
		{A: "a1", B: "a2"}, // true: joins g1 and g2
		{A: "a2", B: "b1"}, // false: rejected
		{A: "a3", B: "a1"}, // true: joins the singleton a3
		{A: "c1", B: "x9"}, // a record outside the truth: rejected
	})
	if rs.Pairs != 4 || rs.TruePairs != 2 {
		t.Fatalf("pairs %d true %d, want 4 and 2", rs.Pairs, rs.TruePairs)
	}
	if rs.After.CorrectPairs != 3 || rs.After.FoundPairs != 3 || rs.After.Recall != 1 {
		t.Fatalf("after the review: %+v, want the three A pairs found and nothing else", rs.After)
	}
	if before := Evaluate(truth, assign); before.Recall != 0 {
		t.Fatalf("before the review recall %v, want 0", before.Recall)
	}
}
