package demo

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/encoding/charmap"
)

// generated caches one data set per seed and size for the tests that only
// read it.
var generated sync.Map

type genKey struct {
	seed   int64
	people int
}

type genVal struct {
	dir string
	m   *Manifest
}

func mustGenerate(t testing.TB, seed int64, people int) (string, *Manifest) {
	t.Helper()
	if v, ok := generated.Load(genKey{seed, people}); ok {
		return v.(genVal).dir, v.(genVal).m
	}
	dir, err := os.MkdirTemp("", "crmhub-demo-")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Generate(context.Background(), Options{Dir: dir, Seed: seed, People: people})
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	generated.Store(genKey{seed, people}, genVal{dir, m})
	return dir, m
}

func TestMain(m *testing.M) {
	code := m.Run()
	generated.Range(func(_, v any) bool {
		os.RemoveAll(v.(genVal).dir)
		return true
	})
	os.Exit(code)
}

// sourceRecord is a customer record read back from the generated files.
type sourceRecord struct {
	key      string
	emails   []string
	phones   []string // raw, as written
	taxID    string
	xref     string // key of the ERP record it names
	company  string // CRM: employer
	name     string
	street   string // ERP and finance: the address line
	rawCells map[string]string
}

func readERP(t *testing.T, dir string) []sourceRecord {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "erp.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT custno, kind, coalesce(name1,''), coalesce(name2,''), coalesce(vat_id,''), coalesce(phone,''), coalesce(email,''), coalesce(street,''), deleted FROM customers ORDER BY custno`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sourceRecord
	for rows.Next() {
		var no, kind, n1, n2, vat, phone, email, street string
		var del int
		if err := rows.Scan(&no, &kind, &n1, &n2, &vat, &phone, &email, &street, &del); err != nil {
			t.Fatal(err)
		}
		if del == 1 {
			continue
		}
		out = append(out, sourceRecord{key: Key("erp", "customers", no), emails: nonEmpty(email), phones: nonEmpty(phone), taxID: vat, name: n1 + " " + n2, street: street})
	}
	return out
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// readLatin1CSV reads a finance file, checking it is ISO-8859-1 and not UTF-8.
func readLatin1CSV(t *testing.T, path string) [][]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text, err := charmap.ISO8859_1.NewDecoder().Bytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(text))
	r.Comma = ';'
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

func readDebtors(t *testing.T, dir string) []sourceRecord {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "finance", "debtors_*.csv"))
	var out []sourceRecord
	for _, f := range files {
		recs := readLatin1CSV(t, f)
		for _, r := range recs[1:] {
			s := sourceRecord{key: Key("finance", "debtors", r[0]), emails: nonEmpty(r[8]), phones: nonEmpty(r[9]), taxID: r[3], name: r[2], street: r[4]}
			if r[1] != "" {
				s.xref = Key("erp", "customers", r[1])
			}
			out = append(out, s)
		}
	}
	return out
}

func readContacts(t *testing.T, dir string) []Contact {
	t.Helper()
	var cs []Contact
	b, err := os.ReadFile(filepath.Join(dir, "crm", "contacts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func readCRM(t *testing.T, dir string) []sourceRecord {
	var out []sourceRecord
	for _, c := range readContacts(t, dir) {
		s := sourceRecord{key: Key("crm", "contacts", c.ID), emails: nonEmpty(deref(c.Email)), phones: nonEmpty(deref(c.Phone), deref(c.Mobile)),
			company: deref(c.Company), name: deref(c.FirstName) + " " + deref(c.LastName)}
		if c.ERPCustomerNo != nil {
			s.xref = Key("erp", "customers", *c.ERPCustomerNo)
		}
		out = append(out, s)
	}
	return out
}

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// e164 normalizes a phone as the quickstart mappings do (region DE) and
// fails on a number that is not valid.
func e164(t *testing.T, key, raw string) string {
	t.Helper()
	n, err := phonenumbers.Parse(raw, "DE")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		t.Errorf("%s: phone %q is not a valid number (%v)", key, raw, err)
		return ""
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

// TestTruthInvariant checks, from the written files alone, that different
// real entities never share a normalized e-mail, E.164 phone or tax id; that
// cross references point at the same entity except from a firm's employee
// to the firm; and that truth.csv's deterministic flags are what the strong
// keys in the files give.
func TestTruthInvariant(t *testing.T) {
	dir, m := mustGenerate(t, 42, 400)
	truth, err := LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(truth.Records) != m.CustomerRecords {
		t.Fatalf("truth has %d records, manifest says %d", len(truth.Records), m.CustomerRecords)
	}
	person := map[string]string{}
	for _, r := range truth.Records {
		if _, dup := person[r.Key()]; dup {
			t.Fatalf("truth lists %s twice", r.Key())
		}
		person[r.Key()] = r.PersonID
	}
	var recs []sourceRecord
	recs = append(recs, readERP(t, dir)...)
	recs = append(recs, readDebtors(t, dir)...)
	recs = append(recs, readCRM(t, dir)...)

	owner := map[string]string{} // strong key -> person
	keysOf := map[string][]string{}
	broken := 0
	for _, r := range recs {
		p, ok := person[r.key]
		if !ok {
			if strings.HasPrefix(r.key, "crm/") && len(r.emails) == 0 && len(r.phones) == 0 && strings.TrimSpace(r.name) == "" {
				broken++
				continue
			}
			t.Fatalf("%s is in the files but not in truth.csv", r.key)
		}
		var keys []string
		for _, e := range r.emails {
			keys = append(keys, "e:"+normEmail(e))
		}
		for _, ph := range r.phones {
			keys = append(keys, "p:"+e164(t, r.key, ph))
		}
		if r.taxID != "" {
			keys = append(keys, "t:"+normTax(r.taxID))
		}
		if r.xref != "" {
			target, ok := person[r.xref]
			switch {
			case !ok:
				t.Errorf("%s refers to %s, which does not exist", r.key, r.xref)
			case r.company != "":
				if target == p || !strings.HasPrefix(target, "F") {
					t.Errorf("employee %s (%s) refers to %s (%s): want the employer firm", r.key, p, r.xref, target)
				}
			case target != p:
				t.Errorf("%s (%s) refers to %s of another entity %s", r.key, p, r.xref, target)
			default:
				keys = append(keys, "x:"+r.xref)
			}
		}
		if strings.HasPrefix(r.key, "erp/") {
			keys = append(keys, "x:"+r.key)
		}
		for _, k := range keys {
			if o, ok := owner[k]; ok && o != p {
				t.Errorf("strong key %s is shared by %s and %s", k, o, p)
			}
			owner[k] = p
		}
		keysOf[r.key] = keys
	}
	if broken != m.ExpectedDeadLetters["crm/contacts"] {
		t.Errorf("found %d contacts without name, e-mail and phone, manifest says %d", broken, m.ExpectedDeadLetters["crm/contacts"])
	}

	// recompute deterministic flags: largest strong-key component per entity
	byPerson := map[string][]TruthRecord{}
	var order []string
	for _, r := range truth.Records {
		if byPerson[r.PersonID] == nil {
			order = append(order, r.PersonID)
		}
		byPerson[r.PersonID] = append(byPerson[r.PersonID], r)
	}
	det, fuzzy := 0, 0
	for _, p := range order {
		rs := byPerson[p]
		comp := make([]int, len(rs))
		for i := range comp {
			comp[i] = i
		}
		var find func(int) int
		find = func(i int) int {
			for comp[i] != i {
				i = comp[i]
			}
			return i
		}
		seen := map[string]int{}
		for i, r := range rs {
			for _, k := range keysOf[r.Key()] {
				if j, ok := seen[k]; ok {
					comp[find(i)] = find(j)
				} else {
					seen[k] = i
				}
			}
		}
		size := map[int]int{}
		for i := range rs {
			size[find(i)]++
		}
		best, bestN := -1, 1
		for i := range rs {
			if n := size[find(i)]; n > bestN {
				best, bestN = find(i), n
			}
		}
		for i, r := range rs {
			want := best >= 0 && find(i) == best
			if r.Deterministic != want {
				t.Errorf("%s of %s: deterministic=%v in truth.csv, strong keys in the files say %v", r.Key(), p, r.Deterministic, want)
			}
			if want {
				det++
			} else if len(rs) > 1 {
				fuzzy++
			}
		}
	}
	if det != m.DeterministicRecords {
		t.Errorf("deterministic records %d, manifest says %d", det, m.DeterministicRecords)
	}
	// the data set must hold both kinds of duplicates to be worth scoring
	if det < len(truth.Records)/3 || fuzzy == 0 {
		t.Errorf("deterministic %d, fuzzy-only duplicates %d of %d records: too few of one kind", det, fuzzy, len(truth.Records))
	}
	t.Logf("%d customer records: %d deterministic, %d fuzzy-only duplicates", len(truth.Records), det, fuzzy)
}

func TestGenerateDeterministic(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	ctx := context.Background()
	ma, err := Generate(ctx, Options{Dir: a, Seed: 7, People: 150})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(ctx, Options{Dir: b, Seed: 7, People: 150}); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(ctx, Options{Dir: c, Seed: 8, People: 150}); err != nil {
		t.Fatal(err)
	}
	differ := 0
	for _, f := range ma.Files {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed", f)
		}
		if z, err := os.ReadFile(filepath.Join(c, f)); err != nil || !bytes.Equal(x, z) {
			differ++
		}
	}
	if differ < len(ma.Files)-1 {
		t.Errorf("only %d of %d files differ for another seed", differ, len(ma.Files))
	}
	// regenerating into a used directory replaces the old output
	if _, err := Generate(ctx, Options{Dir: a, Seed: 8, People: 150}); err != nil {
		t.Fatal(err)
	}
	for _, f := range ma.Files {
		x, _ := os.ReadFile(filepath.Join(a, f))
		z, _ := os.ReadFile(filepath.Join(c, f))
		if !bytes.Equal(x, z) {
			t.Errorf("%s after regenerating with seed 8 differs from a fresh seed-8 run", f)
		}
	}
	got, err := LoadManifest(a)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seed != 8 || got.Total() == 0 {
		t.Errorf("manifest after regenerating: seed %d, %d records", got.Seed, got.Total())
	}
}

func TestFinanceLatin1(t *testing.T) {
	dir, m := mustGenerate(t, 42, 400)
	wantCols := map[string]int{"debtors": 12, "invoices": 8, "payments": 7}
	lines := map[string]int{}
	badCols := map[string]int{}
	umlauts := 0
	for _, f := range m.Files {
		if !strings.HasPrefix(f, "finance/") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		entity := strings.SplitN(filepath.Base(f), "_", 2)[0]
		if bytes.ContainsAny(raw, "\xe4\xf6\xfc\xdf\xc4\xd6\xdc") { // äöüßÄÖÜ in Latin-1
			umlauts++
			if utf8.Valid(raw) {
				t.Errorf("%s is valid UTF-8: want ISO-8859-1", f)
			}
		}
		if !bytes.Contains(raw, []byte("\r\n")) {
			t.Errorf("%s: want CRLF line ends", f)
		}
		recs := readLatin1CSV(t, filepath.Join(dir, f))
		for i, r := range recs {
			if len(r) != wantCols[entity] {
				if i == 0 {
					t.Fatalf("%s: header has %d columns", f, len(r))
				}
				badCols[entity]++
			}
		}
		lines[entity] += len(recs) - 1
		for _, r := range recs[1:] {
			if entity == "invoices" && r[4] != "n/a" && !deMoney.MatchString(r[4]) {
				t.Errorf("%s: invoice %s amount %q is not a German decimal", f, r[0], r[4])
			}
		}
	}
	if umlauts == 0 {
		t.Error("no finance file contains a Latin-1 umlaut")
	}
	for _, e := range []string{"debtors", "invoices", "payments"} {
		if lines[e] != m.Counts["finance/"+e] {
			t.Errorf("finance %s: %d lines, manifest counts %d", e, lines[e], m.Counts["finance/"+e])
		}
	}
	if badCols["payments"] != m.ExpectedDeadLetters["finance/payments"] || badCols["payments"] != 1 {
		t.Errorf("payments lines with a wrong column count: %d, manifest expects %d", badCols["payments"], m.ExpectedDeadLetters["finance/payments"])
	}
	if badCols["debtors"]+badCols["invoices"] != 0 {
		t.Errorf("unexpected wrong column counts: %v", badCols)
	}
}

func TestCountsMatchFiles(t *testing.T) {
	dir, m := mustGenerate(t, 42, 400)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "erp.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		q    string
		want int
	}{
		{"SELECT count(*) FROM customers", m.Counts["erp/customers"]},
		{"SELECT count(*) FROM customers WHERE deleted = 1", m.Deleted["erp/customers"]},
		{"SELECT count(*) FROM orders", m.Counts["erp/orders"]},
		{"SELECT count(*) FROM order_lines", m.OrderLines},
		{"SELECT count(*) FROM orders WHERE custno NOT IN (SELECT custno FROM customers WHERE deleted = 0)", 0},
		{"SELECT count(*) FROM customers WHERE kind = 'F' AND vat_id IS NULL AND name1 IS NULL", 0},
	} {
		var n int
		if err := db.QueryRow(c.q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("%s = %d, want %d", c.q, n, c.want)
		}
	}
	contacts := readContacts(t, dir)
	if len(contacts) != m.Counts["crm/contacts"] {
		t.Errorf("%d contacts, manifest counts %d", len(contacts), m.Counts["crm/contacts"])
	}
	ids := map[string]bool{}
	for _, c := range contacts {
		ids[c.ID] = true
	}
	var tickets []Ticket
	b, _ := os.ReadFile(filepath.Join(dir, "servicedesk", "tickets.json"))
	if err := json.Unmarshal(b, &tickets); err != nil {
		t.Fatal(err)
	}
	if len(tickets) != m.Counts["servicedesk/tickets"] {
		t.Errorf("%d tickets, manifest counts %d", len(tickets), m.Counts["servicedesk/tickets"])
	}
	for _, tk := range tickets {
		if !ids[tk.ContactID] {
			t.Errorf("ticket %s refers to unknown contact %s", tk.ID, tk.ContactID)
		}
	}
	// invoices and payments name existing debtors; late ones only a later file's
	debtorDay := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "finance", "debtors_*.csv"))
	for _, f := range files {
		for _, r := range readLatin1CSV(t, f)[1:] {
			debtorDay[r[0]] = filepath.Base(f)[len("debtors_"):]
		}
	}
	late := map[string]int{}
	for _, e := range []string{"invoices", "payments"} {
		files, _ := filepath.Glob(filepath.Join(dir, "finance", e+"_*.csv"))
		for _, f := range files {
			for _, r := range readLatin1CSV(t, f)[1:] {
				day, ok := debtorDay[r[1]]
				if !ok {
					t.Errorf("%s: %s refers to unknown debtor %s", f, r[0], r[1])
				}
				if day > filepath.Base(f)[len(e)+1:] {
					late[e]++
				}
			}
		}
	}
	for _, e := range []string{"invoices", "payments"} {
		if late[e] != m.LateReferences["finance/"+e] {
			t.Errorf("finance %s naming a debtor of a later file: %d, manifest says %d", e, late[e], m.LateReferences["finance/"+e])
		}
	}
	if len(m.SampleEmails) == 0 {
		t.Error("no sample e-mails")
	}
}

var deMoney = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{3})*,[0-9]{2}$`)
