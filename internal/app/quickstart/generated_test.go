package quickstart_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/internal/app/quickstart"
)

// TestQualityGenerated generates the demo's systems, reads their customer
// records through the quickstart's connectors and mappings in-process
// (quickstart.ReadCustomers: no Kafka, no store) and scores the quickstart's
// resolver against the generator's ground truth. It takes seconds where
// `crmhub bench sync` takes minutes; the store resolves incrementally to
// the same clusters. CRMHUB_QUALITY_PEOPLE and CRMHUB_QUALITY_SEED choose
// the data set (default 1000 people, seed 1, as the bench's seed);
// CRMHUB_QUALITY_DATA names a directory to generate into once and reuse
// after (an older generator's output can be scored that way);
// CRMHUB_QUALITY_VERBOSE=1 breaks the lost pairs down by cause (=all
// lists every lost pair, not two of each cause):
//
//	CRMHUB_QUALITY_PEOPLE=20000 CRMHUB_QUALITY_VERBOSE=1 go test ./hub/identity -run QualityGenerated -v
func TestQualityGenerated(t *testing.T) {
	people, seed := 1000, int64(1)
	if v := os.Getenv("CRMHUB_QUALITY_PEOPLE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("CRMHUB_QUALITY_PEOPLE: %v", err)
		}
		people = n
	} else if testing.Short() {
		people = 300
	}
	if v := os.Getenv("CRMHUB_QUALITY_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("CRMHUB_QUALITY_SEED: %v", err)
		}
		seed = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := os.Getenv("CRMHUB_QUALITY_DATA")
	if dir == "" {
		dir = t.TempDir()
	}
	if m, err := demo.LoadManifest(dir); err == nil {
		people, seed = m.People, m.Seed
		t.Logf("scoring the data generated before in %s", dir)
	} else if _, err := demo.Generate(ctx, demo.Options{Dir: dir, Seed: seed, People: people}); err != nil {
		t.Fatal(err)
	}
	cs, err := quickstart.ReadCustomers(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := demo.LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	res := identity.New(cs.Identity)
	start := time.Now()
	out := res.Resolve(cs.Records, nil)
	elapsed := time.Since(start)
	assign := assignment(out.Clusters)
	s := tr.Score(assign)
	t.Logf("people %d seed %d: %d records, %d clusters, %d reviews, resolved in %s", people, seed, len(cs.Records), len(out.Clusters), len(out.Reviews), elapsed.Round(time.Millisecond))
	t.Logf("precision %.4f recall %.4f F1 %.4f false merges %d splits %d tax-id conflicts %d",
		s.Precision, s.Recall, s.F1, s.FalseMerges, s.Splits, s.TaxIDConflicts)
	det := tr.Deterministic().Score(assign)
	t.Logf("deterministic records: precision %.4f recall %.4f F1 %.4f", det.Precision, det.Recall, det.F1)
	if s.Missing > 0 {
		t.Errorf("%d truth records never reached the resolver", s.Missing)
	}
	if s.TaxIDConflicts > 0 {
		t.Errorf("%d golden customers hold different tax ids", s.TaxIDConflicts)
	}
	if det.Recall < 1 {
		t.Errorf("deterministic recall %.4f: records sharing a strong key were left apart", det.Recall)
	}
	if s.Precision < 0.995 || s.F1 < 0.99 {
		t.Errorf("precision %.4f F1 %.4f, want precision >= 0.995 and F1 >= 0.99", s.Precision, s.F1)
	}
	reviewsTrue := 0
	personOf := map[string]string{}
	for _, r := range tr.Records {
		personOf[r.Key()] = r.PersonID
	}
	for _, c := range out.Reviews {
		if personOf[c.A] == personOf[c.B] {
			reviewsTrue++
		}
	}
	t.Logf("review queue: %d pairs, %d of them the same real customer", len(out.Reviews), reviewsTrue)
	if os.Getenv("CRMHUB_QUALITY_VERBOSE") != "" {
		t.Log("lost pairs by cause:\n" + lostPairs(res, cs.Records, tr, assign, out.Reviews))
		t.Log("review queue:\n" + reviewQueue(cs.Records, personOf, out.Reviews))
		for _, c := range out.Clusters {
			ps := map[string]bool{}
			for _, r := range c.Records {
				ps[personOf[r.Key()]] = true
			}
			if len(ps) > 1 {
				var b strings.Builder
				for _, r := range c.Records {
					fmt.Fprintf(&b, "\n  %s %-28s %s", personOf[r.Key()], r.Key(), foldedName(r.Customer)+" "+contacts(r.Customer))
				}
				t.Logf("false merge %s:%s", c.ID, b.String())
			}
		}
	}
}

func assignment(cs []identity.Cluster) map[string]string {
	out := map[string]string{}
	for _, c := range cs {
		for _, r := range c.Records {
			out[r.Key()] = c.ID
		}
	}
	return out
}

// lostPairs counts the true pairs the resolution left apart by the systems
// of the two records and the evidence they have in common.
func lostPairs(res *identity.Resolver, recs []identity.Record, tr *demo.Truth, assign map[string]string, reviews []identity.Candidate) string {
	byKey := map[string]identity.Record{}
	for _, r := range recs {
		byKey[r.Key()] = r
	}
	inReview := map[[2]string]bool{}
	for _, c := range reviews {
		inReview[[2]string{c.A, c.B}] = true
	}
	person := map[string][]string{}
	for _, r := range tr.Records {
		person[r.PersonID] = append(person[r.PersonID], r.Key())
	}
	counts := map[string]int{}
	examples := map[string][]string{}
	total := 0
	for p, ks := range person {
		sort.Strings(ks)
		for i := range ks {
			for j := i + 1; j < len(ks); j++ {
				if assign[ks[i]] == assign[ks[j]] {
					continue
				}
				total++
				a, b := byKey[ks[i]], byKey[ks[j]]
				cause := fmt.Sprintf("%c %s-%s %s", p[0], a.System, b.System, evidence(res, a, b, inReview[[2]string{ks[i], ks[j]}]))
				counts[cause]++
				if len(examples[cause]) < 2 || os.Getenv("CRMHUB_QUALITY_VERBOSE") == "all" {
					examples[cause] = append(examples[cause], fmt.Sprintf("      %s\n        %s\n        %s", p, (foldedName(a.Customer)+" "+contacts(a.Customer)), (foldedName(b.Customer)+" "+contacts(b.Customer))))
				}
			}
		}
	}
	causes := make([]string, 0, len(counts))
	for c := range counts {
		causes = append(causes, c)
	}
	slices.SortFunc(causes, func(x, y string) int { return counts[y] - counts[x] })
	var sb strings.Builder
	fmt.Fprintf(&sb, "  %d lost pairs\n", total)
	for _, c := range causes {
		fmt.Fprintf(&sb, "  %6d  %s\n", counts[c], c)
		for _, e := range examples[c] {
			sb.WriteString(e + "\n")
		}
	}
	return sb.String()
}

// evidence says what two records of one real customer have in common
// besides the name.
func evidence(res *identity.Resolver, a, b identity.Record, reviewed bool) string {
	var parts []string
	ka := map[string]bool{}
	for _, k := range res.MatchKeys(a) {
		ka[k] = true
	}
	shared := false
	for _, k := range res.MatchKeys(b) {
		if ka[k] && !strings.Contains(k, "|"+identity.ClassBlock+":") {
			shared = true
		}
	}
	if shared {
		parts = append(parts, "SHARED-KEY")
	}
	switch na, nb := len(a.Customer.Addresses) > 0, len(b.Customer.Addresses) > 0; {
	case na && nb:
		parts = append(parts, "both-addr")
	case na || nb:
		parts = append(parts, "one-addr")
	default:
		parts = append(parts, "no-addr")
	}
	parts = append(parts, contacts(a.Customer)+"/"+contacts(b.Customer))
	if res.ShareBlock(a, b) {
		parts = append(parts, "same-block")
	}
	if reviewed {
		parts = append(parts, "in-review")
	}
	return strings.Join(parts, " ")
}

// contacts flags what of e-mail, phone and cross reference a record has:
// "ep-" has an e-mail and a phone, no cross reference.
func contacts(c hub.Customer) string {
	b := []byte("---")
	if len(c.Emails) > 0 {
		b[0] = 'e'
	}
	if len(c.Phones) > 0 {
		b[1] = 'p'
	}
	if len(c.ExternalIDs) > 0 {
		b[2] = 'x'
	}
	return string(b)
}

// reviewQueue counts the review candidates by whether they are the same
// real customer, the systems and what the two records carry.
func reviewQueue(recs []identity.Record, personOf map[string]string, reviews []identity.Candidate) string {
	byKey := map[string]identity.Record{}
	for _, r := range recs {
		byKey[r.Key()] = r
	}
	counts := map[string]int{}
	examples := map[string][]string{}
	for _, c := range reviews {
		a, b := byKey[c.A], byKey[c.B]
		same := "different"
		if personOf[c.A] == personOf[c.B] {
			same = "same"
		}
		addr := "one-addr"
		switch na, nb := len(a.Customer.Addresses) > 0, len(b.Customer.Addresses) > 0; {
		case na && nb:
			addr = "both-addr"
		case !na && !nb:
			addr = "no-addr"
		}
		names := "other-name"
		if foldedName(a.Customer) == foldedName(b.Customer) {
			names = "same-name"
		}
		cause := fmt.Sprintf("%-9s %s-%s %s %s %s/%s", same, a.System, b.System, addr, names, contacts(a.Customer), contacts(b.Customer))
		counts[cause]++
		if len(examples[cause]) < 2 {
			examples[cause] = append(examples[cause], fmt.Sprintf("      %.3f %s %s\n        %s\n        %s", c.Score, personOf[c.A], personOf[c.B], (foldedName(a.Customer)+" "+contacts(a.Customer)), (foldedName(b.Customer)+" "+contacts(b.Customer))))
		}
	}
	causes := make([]string, 0, len(counts))
	for c := range counts {
		causes = append(causes, c)
	}
	slices.SortFunc(causes, func(x, y string) int { return counts[y] - counts[x] })
	var sb strings.Builder
	for _, c := range causes {
		fmt.Fprintf(&sb, "  %6d  %s\n", counts[c], c)
		for _, e := range examples[c] {
			sb.WriteString(e + "\n")
		}
	}
	return sb.String()
}

func foldedName(c hub.Customer) string {
	n := c.GivenName + " " + c.FamilyName
	if c.Kind == "organization" {
		n = c.OrganizationName
	}
	return identity.NormalizeName(strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss").Replace(strings.ToLower(n)))
}
