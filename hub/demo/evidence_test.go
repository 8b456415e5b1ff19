package demo

import (
	"fmt"
	"strings"
	"testing"
)

// TestTruthEvidence checks the ground truth's rule of evidence from the
// written files alone: the records of one real entity are connected by
// evidence besides the name (a shared e-mail, phone, tax id or cross
// reference once normalized, an address on both records, or an e-mail or
// phone mistyped by one letter or digit), and some records are connected
// only through a mistyped one, so fuzzy matching has work to do.
func TestTruthEvidence(t *testing.T) {
	for _, seed := range []int64{42, 7} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			dir, _ := mustGenerate(t, seed, 400)
			truth, err := LoadTruth(dir)
			if err != nil {
				t.Fatal(err)
			}
			byKey := map[string]sourceRecord{}
			for _, rs := range [][]sourceRecord{readERP(t, dir), readDebtors(t, dir), readCRM(t, dir)} {
				for _, r := range rs {
					byKey[r.key] = r
				}
			}
			members := map[string][]sourceRecord{}
			var order []string
			for _, tr := range truth.Records {
				r, ok := byKey[tr.Key()]
				if !ok {
					t.Fatalf("%s is in truth.csv but not in the files", tr.Key())
				}
				if members[tr.PersonID] == nil {
					order = append(order, tr.PersonID)
				}
				members[tr.PersonID] = append(members[tr.PersonID], r)
			}
			nearOnly := 0
			for _, p := range order {
				rs := members[p]
				exact, all := components(t, rs, false), components(t, rs, true)
				if all > 1 {
					var b strings.Builder
					for _, r := range rs {
						fmt.Fprintf(&b, "\n  %s %q e=%v p=%v x=%s street=%q", r.key, r.name, r.emails, r.phones, r.xref, r.street)
					}
					t.Errorf("%s: records in %d groups without shared evidence:%s", p, all, b.String())
				}
				if exact > all {
					nearOnly++
				}
			}
			if nearOnly == 0 {
				t.Error("no entity is held together only by a mistyped e-mail or phone")
			}
			t.Logf("%d entities, %d held together only by a mistyped e-mail or phone", len(order), nearOnly)
		})
	}
}

// components counts the groups the records fall into when records sharing
// evidence join; near lets mistyped e-mails and phones count.
func components(t *testing.T, rs []sourceRecord, near bool) int {
	parent := make([]int, len(rs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			i = parent[i]
		}
		return i
	}
	n := len(rs)
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			if find(i) != find(j) && evidenceBetween(t, rs[i], rs[j], near) {
				parent[find(j)] = find(i)
				n--
			}
		}
	}
	return n
}

func evidenceBetween(t *testing.T, a, b sourceRecord, near bool) bool {
	if a.street != "" && b.street != "" {
		return true
	}
	if a.taxID != "" && normTax(a.taxID) == normTax(b.taxID) {
		return true
	}
	if a.xref != "" && (a.xref == b.xref || a.xref == b.key) || b.xref != "" && b.xref == a.key {
		return true
	}
	for _, x := range a.emails {
		for _, y := range b.emails {
			x, y := normEmail(x), normEmail(y)
			if x == y || near && oneLetterApart(x, y) {
				return true
			}
		}
	}
	for _, x := range a.phones {
		for _, y := range b.phones {
			x, y := e164(t, a.key, x), e164(t, b.key, y)
			if x == y || near && oneDigitApart(x, y) {
				return true
			}
		}
	}
	return false
}

// oneLetterApart: same domain, local parts one letter dropped, doubled or
// swapped with its neighbour apart.
func oneLetterApart(x, y string) bool {
	lx, dx, _ := strings.Cut(x, "@")
	ly, dy, _ := strings.Cut(y, "@")
	if dx != dy || lx == ly {
		return false
	}
	if len(lx) > len(ly) {
		lx, ly = ly, lx
	}
	switch len(ly) - len(lx) {
	case 1: // ly has one letter more
		for i := 0; i < len(ly); i++ {
			if ly[:i]+ly[i+1:] == lx {
				return ly[i] >= 'a' && ly[i] <= 'z'
			}
		}
	case 0:
		for i := 0; i+1 < len(lx); i++ {
			if lx[i] != ly[i] {
				return lx[i] == ly[i+1] && lx[i+1] == ly[i] && lx[i+2:] == ly[i+2:]
			}
		}
	}
	return false
}

// oneDigitApart: same length, one digit another or two neighbours swapped.
func oneDigitApart(x, y string) bool {
	if len(x) != len(y) || x == y {
		return false
	}
	var diff []int
	for i := 0; i < len(x); i++ {
		if x[i] != y[i] {
			diff = append(diff, i)
		}
	}
	switch len(diff) {
	case 1:
		return true
	case 2:
		i, j := diff[0], diff[1]
		return j == i+1 && x[i] == y[j] && x[j] == y[i]
	}
	return false
}
