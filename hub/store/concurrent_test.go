package store

import (
	"context"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/testenv"
)

// Two hub instances on one PostgreSQL, fed one stream concurrently (as two
// consumers of one group would be, plus redeliveries), end in the same
// golden state as one instance applying it in order: never two golden
// customers for one person.
func TestTwoInstancesOnePostgresIntegration(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	open := func() *Store {
		s, err := Open(ctx, DriverPostgres, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	// Both open (and migrate) at once.
	var a, b *Store
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a = open() }()
	go func() { defer wg.Done(); b = open() }()
	wg.Wait()
	if t.Failed() {
		return
	}

	rng := rand.New(rand.NewPCG(5, 5))
	evs := stream(rng, 30)
	ref := MustOpenSQLite(t, Options{})
	mustApply(t, ref, evs...)
	want := snapshot(t, ref)

	sh := append([]hub.Envelope(nil), evs...)
	rng.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
	var parts [2][]hub.Envelope
	for i, e := range sh {
		parts[i%2] = append(parts[i%2], e)
		if i%7 == 0 { // a redelivery to the other instance
			parts[(i+1)%2] = append(parts[(i+1)%2], e)
		}
	}
	errs := make(chan error, 2)
	for i, s := range []*Store{a, b} {
		r := rand.New(rand.NewPCG(uint64(i), 9)) // rand.Rand is not safe for concurrent use
		go func() {
			p := parts[i]
			for len(p) > 0 {
				k := min(len(p), 1+r.IntN(10))
				if _, err := s.Apply(ctx, p[:k]); err != nil {
					errs <- err
					return
				}
				p = p[k:]
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := snapshot(t, a)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("two instances: %d golden customers, want %d (same as in order)", len(got), len(want))
	}
}
