package quality_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/hub/identity"
)

// TestQualityOffline re-resolves the customer records a `crmhub bench sync
// --dir DIR` run left in DIR/hub/crmhub.db with the current resolver and
// scores the result against DIR/truth.csv, without re-running the pipeline.
// It lists the split pairs when CRMHUB_QUALITY_VERBOSE is set. Run:
//
//	crmhub bench sync --people 2000 --in-process --dir /tmp/q
//	CRMHUB_QUALITY_DIR=/tmp/q go test ./hub/quality -run QualityOffline -v
func TestQualityOffline(t *testing.T) {
	dir := os.Getenv("CRMHUB_QUALITY_DIR")
	if dir == "" {
		t.Skip("CRMHUB_QUALITY_DIR not set: no bench output to score")
	}
	recs := loadBenchRecords(t, filepath.Join(dir, "hub", "crmhub.db"))
	tr, err := demo.LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	res := identity.New(identity.Config{DefaultRegion: "DE", Fuzzy: &identity.FuzzyConfig{AutoMerge: 0.93, Review: 0.85}})
	start := time.Now()
	out := res.Resolve(recs, nil)
	elapsed := time.Since(start)
	assign := map[string]string{}
	for _, c := range out.Clusters {
		for _, r := range c.Records {
			assign[r.Key()] = c.ID
		}
	}
	s := tr.Score(assign)
	t.Logf("records %d, clusters %d, reviews %d, resolved in %s", len(recs), len(out.Clusters), len(out.Reviews), elapsed)
	t.Logf("precision %.4f recall %.4f F1 %.4f false merges %d splits %d tax-id conflicts %d",
		s.Precision, s.Recall, s.F1, s.FalseMerges, s.Splits, s.TaxIDConflicts)
	c := tr.Score(evidenceCeiling(res, recs, tr))
	t.Logf("evidence ceiling (records without an address join only by a shared key): precision %.4f recall %.4f F1 %.4f splits %d",
		c.Precision, c.Recall, c.F1, c.Splits)
	t.Logf("true pairs %d, found %d, lost %d", s.TruePairs, s.CorrectPairs, s.TruePairs-s.CorrectPairs)
	nameOnlyRule(t, out.Clusters, tr)
	if s.TaxIDConflicts > 0 {
		t.Errorf("%d golden customers hold different tax ids", s.TaxIDConflicts)
	}
	if os.Getenv("CRMHUB_QUALITY_VERBOSE") == "" {
		return
	}
	byKey := map[string]identity.Record{}
	for _, r := range recs {
		byKey[r.Key()] = r
	}
	person := map[string][]string{}
	personOf := map[string]string{}
	for _, r := range tr.Records {
		person[r.PersonID] = append(person[r.PersonID], r.Key())
		personOf[r.Key()] = r.PersonID
	}
	ids := make([]string, 0, len(person))
	for p := range person {
		ids = append(ids, p)
	}
	sort.Strings(ids)
	reviewed := map[[2]string]float64{}
	for _, c := range out.Reviews {
		reviewed[[2]string{c.A, c.B}] = c.Score
	}
	for _, p := range ids {
		ks := person[p]
		split := false
		for _, k := range ks[1:] {
			if assign[k] != assign[ks[0]] {
				split = true
			}
		}
		if !split {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "SPLIT %s\n", p)
		for _, k := range ks {
			fmt.Fprintf(&b, "  %-8s %-28s %s\n", assign[k][:8], k, brief(byKey[k].Customer))
		}
		for i := range ks {
			for j := i + 1; j < len(ks); j++ {
				if assign[ks[i]] == assign[ks[j]] {
					continue
				}
				a, c := byKey[ks[i]], byKey[ks[j]]
				sc, _ := identity.DefaultFuzzy().Score(a.Customer, c.Customer)
				fmt.Fprintf(&b, "    %s <> %s score %.3f blockshare %v\n", ks[i], ks[j], sc, res.ShareBlock(a, c))
			}
		}
		t.Log(b.String())
	}
	// false merges
	goldens := map[string][]string{}
	for k, g := range assign {
		goldens[g] = append(goldens[g], k)
	}
	for g, ks := range goldens {
		ps := map[string]bool{}
		for _, k := range ks {
			ps[personOf[k]] = true
		}
		if len(ps) > 1 {
			var b strings.Builder
			fmt.Fprintf(&b, "FALSE MERGE %s\n", g)
			for _, k := range ks {
				fmt.Fprintf(&b, "  %s %-28s %s\n", personOf[k], k, brief(byKey[k].Customer))
			}
			t.Log(b.String())
		}
	}
}

func brief(c hub.Customer) string {
	var addr []string
	for _, a := range c.Addresses {
		addr = append(addr, a.Street+","+a.PostalCode+" "+a.City+","+a.Country)
	}
	name := c.GivenName + "|" + c.FamilyName
	if c.Kind == "organization" {
		name = c.OrganizationName
	}
	return fmt.Sprintf("%s %q full=%q tax=%s em=%v ph=%v addr=%v x=%v", c.Kind[:3], name, c.FullName, c.TaxID, c.Emails, c.Phones, addr, c.ExternalIDs)
}

func loadBenchRecords(t *testing.T, path string) []identity.Record {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT system, source_entity, source_id, updated_at, data FROM records WHERE entity = 'customer' AND deleted = 0`)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	defer rows.Close()
	var out []identity.Record
	for rows.Next() {
		var r identity.Record
		var ns int64
		var data string
		if err := rows.Scan(&r.System, &r.SourceEntity, &r.SourceID, &ns, &data); err != nil {
			t.Fatal(err)
		}
		r.UpdatedAt = time.Unix(0, ns)
		if err := json.Unmarshal([]byte(data), &r.Customer); err != nil {
			t.Fatalf("%s: record %s: %v", path, r.Key(), err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// evidenceCeiling is the best assignment a resolver can justify: within
// each real entity, records join when they share a deterministic match key
// or when both carry an address (name and address to compare); a record
// without an address and without a shared key carries only a name, which
// namesakes share too.
func evidenceCeiling(res *identity.Resolver, recs []identity.Record, tr *demo.Truth) map[string]string {
	personOf := map[string]string{}
	for _, r := range tr.Records {
		personOf[r.Key()] = r.PersonID
	}
	parent := map[string]string{}
	var find func(string) string
	find = func(k string) string {
		for parent[k] != k {
			parent[k] = parent[parent[k]]
			k = parent[k]
		}
		return k
	}
	byPerson := map[string][]identity.Record{}
	for _, r := range recs {
		parent[r.Key()] = r.Key()
		byPerson[personOf[r.Key()]] = append(byPerson[personOf[r.Key()]], r)
	}
	for _, rs := range byPerson {
		owner := map[string]string{}
		for _, r := range rs {
			for _, k := range res.MatchKeys(r) {
				if strings.Contains(k, "|"+identity.ClassBlock+":") {
					continue
				}
				if o, ok := owner[k]; ok {
					parent[find(r.Key())] = find(o)
				} else {
					owner[k] = r.Key()
				}
			}
		}
		for i := range rs {
			for j := i + 1; j < len(rs); j++ {
				if len(rs[i].Customer.Addresses) > 0 && len(rs[j].Customer.Addresses) > 0 {
					parent[find(rs[j].Key())] = find(rs[i].Key())
				}
			}
		}
	}
	out := map[string]string{}
	for _, r := range recs {
		out[r.Key()] = personOf[r.Key()] + "/" + find(r.Key())
	}
	return out
}

// nameOnlyRule measures what a term-frequency rule would do ("a person
// record without an address joins the one cluster with an address that
// has exactly its name, if there is exactly one"): how many singleton
// records it would attach, how many of those attachments are wrong.
func nameOnlyRule(t *testing.T, clusters []identity.Cluster, tr *demo.Truth) {
	personOf := map[string]string{}
	for _, r := range tr.Records {
		personOf[r.Key()] = r.PersonID
	}
	fold := func(c hub.Customer) string {
		return identity.NormalizeName(strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss").Replace(strings.ToLower(c.GivenName + " " + c.FamilyName)))
	}
	withAddr := map[string][]int{}
	for i, c := range clusters {
		names := map[string]bool{}
		for _, r := range c.Records {
			if r.Customer.Kind != "organization" && len(r.Customer.Addresses) > 0 && r.Customer.GivenName != "" {
				names[fold(r.Customer)] = true
			}
		}
		for n := range names {
			withAddr[n] = append(withAddr[n], i)
		}
	}
	var attach, wrong, ambiguous, none int
	for _, c := range clusters {
		if len(c.Records) != 1 || c.Records[0].Customer.Kind == "organization" || len(c.Records[0].Customer.Addresses) > 0 {
			continue
		}
		r := c.Records[0]
		switch cand := withAddr[fold(r.Customer)]; len(cand) {
		case 0:
			none++
		case 1:
			attach++
			if personOf[clusters[cand[0]].Records[0].Key()] != personOf[r.Key()] {
				wrong++
			}
		default:
			ambiguous++
		}
	}
	t.Logf("name-only rule: %d address-less singletons would attach (%d wrongly), %d have several namesakes, %d none", attach, wrong, ambiguous, none)
}
