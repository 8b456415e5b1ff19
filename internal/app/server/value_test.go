package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/value"
	"github.com/crmhub/crmhub/internal/app/demohub"
)

// TestValueSegmentsAfterFirstSync starts a hub on an empty store (its
// connectors off), waits for the refresh at start, which cuts RFM/ABC from
// no customer, and only then publishes customers and orders to the
// canonical topics. Within a bounded wait every customer with orders must
// have a segment and an ABC class: before the re-cut on a changed
// population they stayed unsegmented until the hourly refresh. An
// overdue invoice after that shows on the overdue balance gauge without a
// refresh.
func TestValueSegmentsAfterFirstSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := demohub.Start(ctx, demohub.RunOptions{Dir: t.TempDir(), Seed: 5, People: 5, InProcess: true, Logger: quiet(),
		Configure: func(c *config.Config) {
			for i := range c.Connectors {
				c.Connectors[i].Disabled = true
			}
			c.Value.Delay = config.Duration(100 * time.Millisecond)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitUntil(ctx, t, "the value refresh at start", func() error {
		mfs, err := r.Server.Registry().Gather()
		if err != nil {
			return err
		}
		for _, mf := range mfs {
			if mf.GetName() == "crmhub_value_refreshed_timestamp_seconds" && mf.GetMetric()[0].GetGauge().GetValue() > 0 {
				return nil
			}
		}
		return fmt.Errorf("not refreshed yet")
	})

	asOf, err := time.Parse(time.DateOnly, r.Config.Value.AsOf)
	if err != nil {
		t.Fatal(err)
	}
	const customers = 12
	var evs []hub.Envelope
	for c := range customers {
		id := fmt.Sprintf("V%02d", c)
		evs = append(evs, envelope(t, hub.EntityCustomer, "crm", "contacts", id, hub.Customer{Kind: "person",
			GivenName: "Given" + id, FamilyName: fmt.Sprintf("Family%c", 'A'+c), Emails: []string{fmt.Sprintf("v%d@example%d.com", c, c)}}))
		for o := range 1 + c%4 {
			no := fmt.Sprintf("%s-O%d", id, o)
			evs = append(evs, envelope(t, hub.EntityOrder, "erp", "orders", no, hub.Order{OrderNumber: no,
				CustomerRef: hub.Ref{System: "crm", ID: id}, OrderDate: asOf.AddDate(0, 0, -(20*c + 35*o)).Format(time.DateOnly),
				Status: "delivered", Total: &hub.Money{Amount: fmt.Sprintf("%d.00", 100*(c+1)), Currency: "EUR"}}))
		}
	}
	publish(ctx, t, r, evs)

	waitUntil(ctx, t, "every customer with orders segmented", func() error {
		groups, err := r.Server.Store().Segments(ctx)
		if err != nil {
			return err
		}
		n := int64(0)
		for _, g := range groups {
			if g.Stage == string(value.StageNone) {
				continue
			}
			if g.Segment == "" || g.ABC == "" {
				return fmt.Errorf("%d customers in stage %s without segment (%q) or ABC class (%q)", g.Customers, g.Stage, g.Segment, g.ABC)
			}
			n += g.Customers
		}
		if n != customers {
			return fmt.Errorf("%d customers with orders segmented, want %d", n, customers)
		}
		return nil
	})

	// An invoice falling due moves no cut (the customers with orders
	// stay the same); the business gauges follow the rollups all the same.
	publish(ctx, t, r, []hub.Envelope{envelope(t, hub.EntityPayment, "erp", "invoices", "I-1", hub.Payment{DocumentNumber: "I-1",
		Type: "invoice", CustomerRef: hub.Ref{System: "crm", ID: "V03"}, Date: asOf.AddDate(0, 0, -60).Format(time.DateOnly),
		DueDate: asOf.AddDate(0, 0, -30).Format(time.DateOnly), Amount: hub.Money{Amount: "123.45", Currency: "EUR"}})})
	waitUntil(ctx, t, "the overdue balance gauge", func() error {
		mfs, err := r.Server.Registry().Gather()
		if err != nil {
			return err
		}
		for _, mf := range mfs {
			if mf.GetName() != "crmhub_value_overdue_balance" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if v := m.GetGauge().GetValue(); len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "EUR" && v == 123.45 {
					return nil
				}
			}
			return fmt.Errorf("crmhub_value_overdue_balance: %v", mf.GetMetric())
		}
		return fmt.Errorf("no crmhub_value_overdue_balance series")
	})
}

// envelope is a canonical record as a connector would publish it.
func envelope(t *testing.T, entity, system, srcEntity, id string, data any) hub.Envelope {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	e := hub.Envelope{System: system, SourceEntity: srcEntity, SourceID: id, Entity: entity, SourceUpdatedAt: time.Now().UTC(),
		SchemaVersion: hub.SchemaVersion, Op: hub.OpUpsert, Mapping: system + "_" + srcEntity, MappingVersion: 1, Connector: system, Data: b}
	e.ComputeEventID()
	return e
}

// publish puts the envelopes on the hub's canonical topics, where its
// applier reads them.
func publish(ctx context.Context, t *testing.T, r *demohub.Running, evs []hub.Envelope) {
	t.Helper()
	topics := r.Server.Bus().Topics()
	msgs := make([]bus.Message, 0, len(evs))
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.Message{Topic: topics.Canonical(e.Entity), Key: e.Key(), Value: b})
	}
	if err := r.Server.Bus().Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls check until it succeeds or ctx ends (a bound on the
// wait, not an assertion of speed).
func waitUntil(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
