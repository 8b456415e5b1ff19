package demo

import (
	"math"
	"testing"
)

func TestScore(t *testing.T) {
	truth := &Truth{Records: []TruthRecord{
		{"F1", "erp", "customers", "1", true, "DE111111111"},
		{"F1", "finance", "debtors", "D-1", true, "DE111111111"},
		{"F2", "erp", "customers", "2", true, "DE222222222"},
		{"P1", "erp", "customers", "3", true, ""},
		{"P1", "crm", "contacts", "C-1", true, ""},
		{"P1", "finance", "debtors", "D-2", false, ""},
		{"E1", "crm", "contacts", "C-2", false, ""},
	}}
	perfect := map[string]string{
		"erp/customers/1": "g1", "finance/debtors/D-1": "g1", "erp/customers/2": "g2",
		"erp/customers/3": "g3", "crm/contacts/C-1": "g3", "finance/debtors/D-2": "g3", "crm/contacts/C-2": "g4",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range perfect {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		truth  *Truth
		assign map[string]string
		p, r   float64
		check  func(Score) bool
	}{
		{"perfect", truth, perfect, 1, 1, func(s Score) bool { return s.FalseMerges == 0 && s.Splits == 0 && s.TruePairs == 4 }},
		// the fuzzy debtor left alone: 2 of 4 true pairs lost
		{"fuzzy missed", truth, with("finance/debtors/D-2", "g9"), 1, 0.5, func(s Score) bool { return s.Splits == 1 }},
		{"missing record", truth, with("finance/debtors/D-2", ""), 1, 0.5, func(s Score) bool { return s.Missing == 1 }},
		// two firms merged: a cross-tax-id merge
		{"firms merged", truth, with("erp/customers/2", "g1"), 4.0 / 6, 1, func(s Score) bool { return s.TaxIDConflicts == 1 && s.FalseMerges == 1 }},
		// the employee merged into the person: 3 wrong pairs of 7
		{"employee merged", truth, with("crm/contacts/C-2", "g3"), 4.0 / 7, 1, func(s Score) bool { return s.TaxIDConflicts == 0 && s.FalseMerges == 1 }},
		// restricted to the deterministic records, missing the fuzzy one costs nothing
		{"deterministic only", truth.Deterministic(), with("finance/debtors/D-2", "g9"), 1, 1, func(s Score) bool { return s.Records == 5 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.truth.Score(c.assign)
			if math.Abs(s.Precision-c.p) > 1e-9 || math.Abs(s.Recall-c.r) > 1e-9 || !c.check(s) {
				t.Errorf("got %v, want precision %.3f recall %.3f", s, c.p, c.r)
			}
			if want := 2 * s.Precision * s.Recall / (s.Precision + s.Recall); math.Abs(s.F1-want) > 1e-9 {
				t.Errorf("F1 %f, want %f", s.F1, want)
			}
		})
	}
}

// TestScoreGroundTruth scores the obvious baselines on a generated set: the
// truth itself, and every record alone.
func TestScoreGroundTruth(t *testing.T) {
	dir, _ := mustGenerate(t, 42, 400)
	truth, err := LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	self, alone := map[string]string{}, map[string]string{}
	for _, r := range truth.Records {
		self[r.Key()] = r.PersonID
		alone[r.Key()] = r.Key()
	}
	if s := truth.Score(self); s.F1 != 1 || s.TaxIDConflicts != 0 {
		t.Errorf("truth scored against itself: %v", s)
	}
	if s := truth.Score(alone); s.Recall != 0 || s.Precision != 1 || s.TruePairs == 0 {
		t.Errorf("singletons: %v", s)
	}
}
