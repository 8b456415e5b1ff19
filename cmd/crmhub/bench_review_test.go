package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/store"
)

// The review tally reads the store's real queue and counts the pairs the
// truth says are one entity.
func TestTallyReviews(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.DriverSQLite, filepath.Join(t.TempDir(), "hub.db"),
		store.Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := func(street string) []hub.Address {
		return []hub.Address{{Street: street, PostalCode: "10115", City: "Berlin", Country: "DE"}}
	}
	var evs []hub.Envelope
	for _, c := range []struct {
		system, id string
		cust       hub.Customer
	}{
		{"crm", "1", hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Meier", Addresses: at("Hauptstraße 5")}},
		{"shop", "3", hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Meier", Addresses: at("Gartenweg 19")}},
	} {
		data, _ := json.Marshal(c.cust)
		e := hub.Envelope{System: c.system, SourceEntity: "customers", SourceID: c.id, Entity: hub.EntityCustomer,
			SourceUpdatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), SchemaVersion: hub.SchemaVersion, Op: hub.OpUpsert,
			Mapping: c.system + "_customers", MappingVersion: 1, Connector: c.system, Data: data}
		e.ComputeEventID()
		evs = append(evs, e)
	}
	if _, err := s.Apply(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		second     string // entity of shop/3
		wantSame   int
		wantQueued int
	}{
		{"same person", "P1", 1, 1},
		{"namesakes", "P2", 0, 1},
	} {
		tr := &demo.Truth{Records: []demo.TruthRecord{
			{PersonID: "P1", System: "crm", Entity: "customers", SourceID: "1"},
			{PersonID: c.second, System: "shop", Entity: "customers", SourceID: "3"},
		}}
		got, err := tallyReviews(ctx, s, tr)
		if err != nil {
			t.Fatal(err)
		}
		if got.Pairs != c.wantQueued || got.SameEntity != c.wantSame {
			t.Errorf("%s: tally %+v, want %d pairs, %d same entity", c.name, got, c.wantQueued, c.wantSame)
		}
	}
}
