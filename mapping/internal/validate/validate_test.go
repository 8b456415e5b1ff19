package validate

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmhub/crmhub/mapping/internal/jsonfast"
	"github.com/crmhub/crmhub/schemas"
)

var canonicalEntities = []string{"customer", "order", "payment", "service_case"}

// seedDocs are the golden outputs of every mapping test case plus a valid
// document of each entity, the starting points of the mutations.
func seedDocs(t testing.TB) []string {
	docs := []string{
		`{"kind":"person","family_name":"Muster","emails":["a@b.de"],"phones":["+49301234567"],"consent":{"email":true},"created_at":"2024-01-02T03:04:05Z"}`,
		`{"kind":"organization","organization_name":"ACME","addresses":[{"type":"billing","country":"DE"}],"credit_limit":{"amount":"10.00","currency":"EUR"},"external_ids":[{"system":"crm","id":"1"}],"custom":{"x":[1,{"y":null}]}}`,
		`{"order_number":"1","customer_ref":{"system":"erp","id":"1"},"order_date":"2024-05-01","status":"open","lines":[{"line_no":1,"quantity":"2","unit_price":{"amount":"1.50","currency":"EUR"}}]}`,
		`{"document_number":"R-1","type":"invoice","customer_ref":{"system":"erp","id":"7"},"amount":{"amount":"-12.50","currency":"EUR"},"date":"2024-01-31","updated_at":"2024-01-31T10:00:00.123+01:00"}`,
		`{"case_number":"C1","customer_ref":{"system":"crm","id":"7"},"status":"open","priority":"high","opened_at":"2024-01-01T00:00:00Z"}`,
	}
	files, _ := filepath.Glob("../../testdata/*/expected.jsonl")
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l struct {
				Data json.RawMessage `json:"data"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && len(l.Data) > 0 {
				docs = append(docs, string(l.Data))
			}
		}
		fh.Close()
	}
	return docs
}

// mutation material: values around every constraint of the schemas.
var (
	mutStrings = []string{"", "x", "person", "organization", "billing", "shipping", "active", "open", "invoice", "low", "email",
		"DE", "de", "D", "DEU", "de-AT", "de-at", "+49301234567", "+0301234567", "+123456", "030/1234567", "a@b.de", "a@b", "a b@c.de",
		"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.999999999+02:00", "2024-01-02", "12:00:00", "12:00:00Z", "2024-13-01T00:00:00Z",
		"2024-02-30", "1234.50", "-1", "12.5.0", "1,5", "EUR", "eur", "EURO", "DE123456789", "ab", "A-1", "Müller", "\u2028", "É"}
	mutKeys = []string{"kind", "given_name", "family_name", "full_name", "organization_name", "tax_id", "emails", "phones", "addresses",
		"type", "street", "country", "language", "status", "segment", "credit_limit", "consent", "created_at", "updated_at", "external_ids",
		"custom", "order_number", "customer_ref", "order_date", "total", "lines", "line_no", "quantity", "unit_price", "amount", "currency",
		"system", "id", "document_number", "date", "due_date", "case_number", "priority", "channel", "opened_at", "colour"}
)

// mutate changes doc in place n times, driven by r.
func mutate(r *rand.Rand, doc any, n int) any {
	for i := 0; i < n; i++ {
		doc = mutateOnce(r, doc, 0)
	}
	return doc
}

func randomValue(r *rand.Rand, depth int) any {
	switch k := r.IntN(12); {
	case k < 6:
		return mutStrings[r.IntN(len(mutStrings))]
	case k == 6:
		return []any{0, 1, -1, 2.0, 1.5, 1e21, 0.5}[r.IntN(7)]
	case k == 7:
		return r.IntN(2) == 0
	case k == 8:
		return nil
	case k == 9 && depth < 3:
		l := []any{}
		for j := r.IntN(3); j > 0; j-- {
			l = append(l, randomValue(r, depth+1))
		}
		if r.IntN(3) == 0 && len(l) > 0 {
			l = append(l, l[0]) // a duplicate for uniqueItems
		}
		return l
	case depth < 3:
		m := map[string]any{}
		for j := r.IntN(3); j > 0; j-- {
			m[mutKeys[r.IntN(len(mutKeys))]] = randomValue(r, depth+1)
		}
		return m
	}
	return "y"
}

func mutateOnce(r *rand.Rand, v any, depth int) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) > 0 && r.IntN(3) > 0 {
			// descend into or change a present key
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			k := keys[r.IntN(len(keys))]
			switch r.IntN(4) {
			case 0:
				delete(x, k)
			case 1:
				x[k] = randomValue(r, depth+1)
			default:
				x[k] = mutateOnce(r, x[k], depth+1)
			}
			return x
		}
		x[mutKeys[r.IntN(len(mutKeys))]] = randomValue(r, depth+1)
		return x
	case []any:
		if len(x) > 0 && r.IntN(3) > 0 {
			i := r.IntN(len(x))
			if r.IntN(2) == 0 {
				x[i] = mutateOnce(r, x[i], depth+1)
			} else {
				x = append(x, x[i])
			}
			return x
		}
		return append(x, randomValue(r, depth+1))
	}
	return randomValue(r, depth)
}

// compareValidators checks doc against every canonical schema with the
// compiled check and with gojsonschema and fails on any disagreement.
func compareValidators(t *testing.T, doc any, src string) (valid int) {
	t.Helper()
	for _, e := range canonicalEntities {
		n := For(e, "v1")
		if n == nil {
			t.Fatalf("no compiled check for %s.v1", e)
		}
		fast := n.Check(doc)
		viol, err := schemas.ValidateValue(e, "v1", doc)
		gjValid := err == nil && len(viol) == 0
		switch {
		case fast == Unknown && encodable(doc):
			t.Fatalf("%s: compiled check cannot judge a JSON document %s", e, src)
		case fast == Valid && !gjValid:
			t.Fatalf("%s: compiled check says valid, gojsonschema says %v %v: %s", e, viol, err, src)
		case fast == Invalid && gjValid:
			t.Fatalf("%s: compiled check says invalid, gojsonschema says valid: %s", e, src)
		}
		if gjValid {
			valid++
		}
	}
	return valid
}

// TestValidateEquivalence runs the compiled check and gojsonschema side by
// side on the golden outputs and on thousands of mutations of them.
func TestValidateEquivalence(t *testing.T) {
	seeds := seedDocs(t)
	if len(seeds) < 10 {
		t.Fatalf("only %d seed documents", len(seeds))
	}
	for _, e := range canonicalEntities {
		if For(e, "v1") == nil {
			t.Fatalf("%s.v1 has no compiled check: a keyword the compiler does not know?", e)
		}
	}
	r := rand.New(rand.NewPCG(5, 7))
	n := 1500
	if testing.Short() {
		n = 300
	}
	valid, total := 0, 0
	for i := 0; i < n; i++ {
		src := seeds[i%len(seeds)]
		doc, err := jsonfast.Decode([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(seeds) {
			doc = mutate(r, doc, 1+r.IntN(3))
		}
		b, _ := json.Marshal(doc)
		if compareValidators(t, doc, string(b)) > 0 {
			valid++
		}
		total++
	}
	// Both outcomes must be well represented, or the test proves little.
	if valid < total/10 || valid > total*9/10 {
		t.Errorf("%d of %d documents valid for some schema: the mutations are unbalanced", valid, total)
	}
	t.Logf("%d documents, %d valid for some schema", total, valid)
}

// FuzzValidateEquivalence: for every JSON document (a seed document
// mutated by the fuzzer's bytes, or the fuzzer's own JSON text), the
// compiled check and gojsonschema agree on valid and invalid.
func FuzzValidateEquivalence(f *testing.F) {
	for i, s := range seedDocs(f) {
		f.Add(s, uint64(i), uint8(i%4))
	}
	f.Add(`{"kind":"organization"}`, uint64(1), uint8(0))
	f.Add(`{"kind":"person","full_name":"x","phones":["+4930123456","+4930123456"]}`, uint64(2), uint8(0))
	f.Fuzz(func(t *testing.T, src string, seed uint64, muts uint8) {
		doc, err := jsonfast.Decode([]byte(src))
		if err != nil {
			return
		}
		doc = mutate(rand.New(rand.NewPCG(seed, seed>>7)), doc, int(muts%6))
		b, _ := json.Marshal(doc)
		compareValidators(t, doc, string(b))
	})
}

// encodable: encoding/json writes doc (a decoded document, mutated: only
// a NaN or an infinity makes it refuse), so it is a JSON document the
// compiled check must judge.
func encodable(doc any) bool {
	_, err := jsonfast.Marshal(doc)
	return err == nil
}
