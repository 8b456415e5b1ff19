package identity

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

// memStore is a ResolveStore over maps: Recluster's decisions need
// nothing of a store but these calls, and they are checked here without
// SQL (the store's tests check the same decisions through its tables).
type memStore struct {
	recs  map[string]Record // live records
	state map[string]State
	rules []Rule
	links []Link

	written   []Golden
	reviews   []Candidate
	retired   []Retirement
	clusterOf map[string]string
}

type stored struct {
	rec     Record
	golden  string
	deleted bool
}

func newMemStore(r *Resolver, recs ...stored) *memStore {
	m := &memStore{recs: map[string]Record{}, state: map[string]State{}}
	for _, s := range recs {
		k := s.rec.Key()
		st := State{Golden: s.golden, Deleted: s.deleted, Version: "v1"}
		if !s.deleted {
			m.recs[k] = s.rec
			st.Keys = r.MatchKeys(s.rec)
		}
		m.state[k] = st
	}
	return m
}

func (m *memStore) States(_ context.Context, rkeys []string) (map[string]State, error) {
	out := map[string]State{}
	for _, k := range rkeys {
		if st, ok := m.state[k]; ok {
			out[k] = st
		}
	}
	return out, nil
}

func (m *memStore) sortedKeys() []string {
	var ks []string
	for k := range m.state {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (m *memStore) Members(_ context.Context, goldens []string) ([]Member, error) {
	var out []Member
	for _, k := range m.sortedKeys() {
		if st := m.state[k]; st.Golden != "" && slices.Contains(goldens, st.Golden) {
			out = append(out, Member{Key: k, State: st})
		}
	}
	return out, nil
}

func (m *memStore) Joined(_ context.Context, rkeys []string) ([]string, error) {
	var out []string
	for _, r := range m.rules {
		if r.Kind == RuleForceMerge && slices.Contains(rkeys, r.A) {
			out = append(out, r.B)
		}
		if r.Kind == RuleForceMerge && slices.Contains(rkeys, r.B) {
			out = append(out, r.A)
		}
	}
	for _, l := range m.links {
		if l.Auto && slices.Contains(rkeys, l.A) {
			out = append(out, l.B)
		}
		if l.Auto && slices.Contains(rkeys, l.B) {
			out = append(out, l.A)
		}
	}
	return out, nil
}

func (m *memStore) Holders(_ context.Context, keys []string) ([]string, error) {
	var out []string
	for _, k := range m.sortedKeys() {
		for _, mk := range m.state[k].Keys {
			if slices.Contains(keys, mk) {
				out = append(out, k)
				break
			}
		}
	}
	return out, nil
}

func (m *memStore) Load(_ context.Context, states map[string]State) (map[string]Record, error) {
	out := map[string]Record{}
	for k, st := range states {
		if r, ok := m.recs[k]; ok && !st.Deleted {
			out[k] = r
		}
	}
	return out, nil
}

func (m *memStore) Rules(_ context.Context, rkeys []string) ([]Rule, error) {
	var out []Rule
	for _, r := range m.rules {
		if slices.Contains(rkeys, r.A) || slices.Contains(rkeys, r.B) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) Links(_ context.Context, rkeys []string) ([]Link, error) {
	var out []Link
	for _, l := range m.links {
		if slices.Contains(rkeys, l.A) || slices.Contains(rkeys, l.B) {
			out = append(out, l)
		}
	}
	return out, nil
}

func (m *memStore) WriteReviews(_ context.Context, _ []string, reviews []Candidate) error {
	m.reviews = reviews
	return nil
}

func (m *memStore) WriteGoldens(_ context.Context, gs []Golden, _ map[string]string) error {
	m.written = append(m.written, gs...)
	return nil
}

func (m *memStore) Retire(_ context.Context, gone []Retirement) error {
	m.retired = append(m.retired, gone...)
	return nil
}

func (m *memStore) Assign(_ context.Context, clusterOf map[string]string) error {
	m.clusterOf = clusterOf
	return nil
}

// TestReclusterDecides runs Recluster over memStore: which records it
// looks at (through keys, golden ids and rules), the goldens it has
// written, and which old golden ids merge or retire.
func TestReclusterDecides(t *testing.T) {
	res := New(Config{})
	a := rec("crm", "1", 1, hub.Customer{FullName: "Anna Schmidt", Emails: []string{"anna@example.de"}})
	b := rec("erp", "2", 2, hub.Customer{FullName: "Anna Schmidt", Emails: []string{"anna@example.de"}})
	bMoved := rec("erp", "2", 3, hub.Customer{FullName: "Anna Schmidt", Emails: []string{"anna.s@example.com"}})
	c := rec("web", "3", 4, hub.Customer{FullName: "Bernd Maier", Emails: []string{"bernd@example.de"}})
	gA, gB, gC := GoldenID(a.Key()), GoldenID(b.Key()), GoldenID(c.Key())
	tests := []struct {
		name    string
		recs    []stored
		rules   []Rule
		seedR   []string
		seedG   []string
		golden  map[string][]string // written golden id -> its record keys
		retired []Retirement
		assign  map[string]string
	}{
		{
			name:    "a shared e-mail address merges two goldens into the smallest record's",
			recs:    []stored{{rec: a, golden: gA}, {rec: b, golden: gB}},
			seedR:   []string{b.Key()},
			seedG:   []string{gB},
			golden:  map[string][]string{gA: {a.Key(), b.Key()}},
			retired: []Retirement{{ID: gB, Survivor: gA}},
			assign:  map[string]string{a.Key(): gA, b.Key(): gA},
		},
		{
			name:   "a record leaving its golden: the component still holds the other member",
			recs:   []stored{{rec: a, golden: gA}, {rec: bMoved, golden: gA}},
			seedR:  []string{b.Key()},
			seedG:  []string{gA},
			golden: map[string][]string{gA: {a.Key()}, gB: {b.Key()}},
			assign: map[string]string{a.Key(): gA, b.Key(): gB},
		},
		{
			name:    "the last live record deleted retires its golden",
			recs:    []stored{{rec: c, golden: gC, deleted: true}},
			seedR:   []string{c.Key()},
			seedG:   []string{gC},
			golden:  map[string][]string{},
			retired: []Retirement{{ID: gC}},
			assign:  map[string]string{},
		},
		{
			name:    "a force-merge rule is followed to a record sharing nothing",
			recs:    []stored{{rec: a, golden: gA}, {rec: c, golden: gC}},
			rules:   []Rule{{A: a.Key(), B: c.Key(), Kind: RuleForceMerge}},
			seedR:   []string{c.Key()},
			seedG:   []string{gC},
			golden:  map[string][]string{gA: {a.Key(), c.Key()}},
			retired: []Retirement{{ID: gC, Survivor: gA}},
			assign:  map[string]string{a.Key(): gA, c.Key(): gA},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore(res, tt.recs...)
			st.rules = tt.rules
			if _, err := res.Recluster(context.Background(), st, tt.seedR, tt.seedG, 100); err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, g := range st.written {
				for _, r := range g.Records {
					got[g.ID] = append(got[g.ID], r.Key())
				}
				if want, _ := res.Survive(g.Records); !reflect.DeepEqual(g.Customer, want) {
					t.Errorf("golden %s: customer is not the survivorship of its records", g.ID)
				}
			}
			if !reflect.DeepEqual(got, tt.golden) {
				t.Errorf("goldens written = %v, want %v", got, tt.golden)
			}
			if !reflect.DeepEqual(st.retired, tt.retired) {
				t.Errorf("retired = %v, want %v", st.retired, tt.retired)
			}
			if !reflect.DeepEqual(st.clusterOf, tt.assign) {
				t.Errorf("assigned = %v, want %v", st.clusterOf, tt.assign)
			}
		})
	}
}

// TestReclusterCap: the component stops growing at its cap and says so.
func TestReclusterCap(t *testing.T) {
	res := New(Config{})
	var recs []stored
	for _, id := range []string{"1", "2", "3", "4"} {
		recs = append(recs, stored{rec: rec("crm", id, 1, hub.Customer{Emails: []string{"same@example.de"}})})
	}
	st := newMemStore(res, recs...)
	out, err := res.Recluster(context.Background(), st, []string{recs[0].rec.Key()}, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Capped {
		t.Error("Capped is false with 4 connected records and a cap of 2")
	}
	if len(st.clusterOf) != 2 {
		t.Errorf("%d records resolved, want the cap's 2", len(st.clusterOf))
	}
}

// TestReclusterSplitsSharedMailbox: spouses an older matcher merged by
// their shared e-mail address are split when their component is
// re-clustered (as a store does after the fingerprint changed), and the
// pair waits in review.
func TestReclusterSplitsSharedMailbox(t *testing.T) {
	res := New(Config{Fuzzy: DefaultFuzzy()})
	home := []hub.Address{{Street: "Hauptstr. 5", PostalCode: "10115", City: "Berlin", Country: "DE"}}
	mail := []string{"familie.schmidt@example.de"}
	a := rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", BirthDate: "1980-03-12", Addresses: home, Emails: mail})
	b := rec("shop", "1", 2, hub.Customer{GivenName: "Peter", FamilyName: "Schmidt", BirthDate: "1977-07-01", Addresses: home, Emails: mail})
	gA, gB := GoldenID(a.Key()), GoldenID(b.Key())
	st := newMemStore(res, stored{rec: a, golden: gA}, stored{rec: b, golden: gA})
	if _, err := res.Recluster(context.Background(), st, []string{a.Key()}, []string{gA}, 100); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{a.Key(): gA, b.Key(): gB}; !reflect.DeepEqual(st.clusterOf, want) {
		t.Errorf("assigned = %v, want %v", st.clusterOf, want)
	}
	if len(st.reviews) != 1 || st.reviews[0].A != a.Key() || st.reviews[0].B != b.Key() {
		t.Errorf("reviews = %v, want the pair %s, %s", st.reviews, a.Key(), b.Key())
	}
}
