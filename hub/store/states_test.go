package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

func TestGoldenStatesSQLite(t *testing.T) { testGoldenStates(t, MustOpenSQLite(t, Options{})) }

func TestGoldenStatesPostgresIntegration(t *testing.T) {
	testGoldenStates(t, MustOpenPostgres(t, Options{}))
}

// GoldenStates shows what FindCustomerByID shows, for every active id, and
// nothing for merged or unknown ids.
func testGoldenStates(t *testing.T, s *Store) {
	ctx := context.Background()
	evs := benchEvents(120)
	for i := 0; i < len(evs); i += 40 {
		mustApply(t, s, evs[i:min(i+40, len(evs))]...)
	}
	// The svc record arrives first; the crm record sharing its phone has
	// the smaller key, so the svc golden id is merged into the crm one.
	mustApply(t, s, cust("svc", "late", 51, hub.Customer{FamilyName: "Comer", Phones: []string{"+49301234567"}, Emails: []string{"late@example.org"}}))
	mustApply(t, s, cust("crm", "late", 50, hub.Customer{FullName: "Late Comer", Phones: []string{"+49301234567"}}))
	changes, err := s.Changes(ctx, 0, MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"no-such-golden"}
	merged := 0
	for _, c := range changes {
		ids = append(ids, c.GoldenID)
		if c.Op == hub.ChangeMerged {
			merged++
		}
	}
	if merged == 0 {
		t.Fatal("test data produced no merge; merged ids would go untested")
	}
	got, err := s.GoldenStates(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, id := range uniq(ids) {
		v, err := s.FindCustomerByID(ctx, id)
		if err != nil || v.ID != id {
			if g, ok := got[id]; ok {
				t.Errorf("%s is not active, GoldenStates returned %+v", id, g)
			}
			continue
		}
		active++
		g, ok := got[id]
		if !ok {
			t.Errorf("%s: missing from GoldenStates", id)
			continue
		}
		want := hub.GoldenCustomer{ID: v.ID, Customer: v.Customer, Sources: v.Sources, MergedFrom: v.MergedFrom, UpdatedAt: v.UpdatedAt}
		if !reflect.DeepEqual(string(mustJSON(t, want)), string(mustJSON(t, *g))) {
			t.Errorf("%s: GoldenStates\n%s\nFindCustomerByID\n%s", id, mustJSON(t, *g), mustJSON(t, want))
		}
	}
	if active == 0 || len(got) != active {
		t.Errorf("GoldenStates returned %d states for %d active ids", len(got), active)
	}
}

// BenchmarkGoldenStates compares the golden stream's two ways of reading
// changed customers: one GoldenStates call per 500 changes, or
// FindCustomerByID per change. records/s is golden customers read per second.
func BenchmarkGoldenStates(b *testing.B) {
	s := MustOpenSQLite(b, Options{})
	evs := benchEvents(4000)
	mustApplyBatches(b, s, 500, evs)
	ctx := context.Background()
	var ids []string
	for f := (hub.CustomerFilter{Limit: MaxLimit}); ; {
		page, err := s.FindCustomers(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range page {
			ids = append(ids, v.ID)
		}
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].ID
	}
	read := map[string]func([]string) error{
		"batch": func(part []string) error { _, err := s.GoldenStates(ctx, part); return err },
		"per-id": func(part []string) error {
			for _, id := range part {
				if _, err := s.FindCustomerByID(ctx, id); err != nil {
					return err
				}
			}
			return nil
		},
	}
	for _, name := range []string{"batch", "per-id"} {
		b.Run(name, func(b *testing.B) {
			n := 0
			start := time.Now()
			for i := 0; i < b.N; i++ {
				part := ids[(i*500)%len(ids):]
				part = part[:min(500, len(part))]
				if err := read[name](part); err != nil {
					b.Fatal(err)
				}
				n += len(part)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
		})
	}
}
