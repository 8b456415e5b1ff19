package httpapi_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/store/deadletters"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// reconcilerFor reconciles connector "erp" (system erp): the real sql
// connector on a SQLite table holding customers 1, 2 and 3, against s.
func reconcilerFor(t *testing.T, s *store.Store) *pipeline.Reconciler {
	t.Helper()
	ctx := context.Background()
	dsn := "file:" + filepath.Join(t.TempDir(), "erp.db")
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'a'), (2, 'b'), (3, 'c')`); err != nil {
		t.Fatal(err)
	}
	src := sqlconn.Connector.NewSource()
	if err := src.Configure(ctx, sdk.Config{"driver": "sqlite", "dsn": dsn, "entities": []any{
		map[string]any{"name": "customers", "table": "customers", "key": "id"}}}); err != nil {
		t.Fatal(err)
	}
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Teardown(context.Background()) })
	return &pipeline.Reconciler{Store: s, DeadLetters: deadletters.New(s.DB()), Targets: []pipeline.ReconcileTarget{
		{Name: "erp", System: "erp", Source: src, Entities: []string{"customers", "orders"}, Interval: time.Hour}}}
}

func erpCustomer(id string) hub.Envelope {
	e := hub.Envelope{System: "erp", SourceEntity: "customers", SourceID: id, Entity: hub.EntityCustomer, Op: hub.OpUpsert,
		SourceUpdatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), SchemaVersion: hub.SchemaVersion, Connector: "erp",
		Data: []byte(`{"kind":"person","family_name":"N` + id + `"}`)}
	e.ComputeEventID()
	return e
}

func TestReconciliationRoutes(t *testing.T) {
	f := newFixture(t)
	// The hub has 1, 2 and 9; the source has 1, 2 and 3.
	f.apply(t, erpCustomer("1"), erpCustomer("2"), erpCustomer("9"))

	var before struct{ Items []hub.ReconcileResult }
	if resp := f.get(t, "/v1/reconciliation", &before); resp.StatusCode != 200 || before.Items == nil || len(before.Items) != 0 {
		t.Fatalf("before any round: %d %+v, want 200 and an empty list", resp.StatusCode, before)
	}
	if err := f.rec.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	var list struct{ Items []hub.ReconcileResult }
	if resp := f.get(t, "/v1/reconciliation", &list); resp.StatusCode != 200 || len(list.Items) != 2 {
		t.Fatalf("results: %d %+v", resp.StatusCode, list)
	}
	c := list.Items[0]
	if c.Connector != "erp" || c.Entity != "customers" || c.SourceRecords != 3 || c.HubRecords != 3 || c.Drift != 0 || c.Error != "" || c.At.IsZero() {
		t.Errorf("customers = %+v; want 3 and 3, no drift (equal counts hide a swap)", c)
	}
	if o := list.Items[1]; o.Entity != "orders" || o.Error == "" {
		t.Errorf("orders = %+v; want the reason it could not be compared", o)
	}

	var miss hub.MissingIDs
	if resp := f.get(t, "/v1/reconciliation/erp/customers/missing?limit=10", &miss); resp.StatusCode != 200 {
		t.Fatalf("missing: %d", resp.StatusCode)
	}
	if !slices.Equal(miss.MissingInHub, []string{"3"}) || !slices.Equal(miss.GoneFromSource, []string{"9"}) || miss.Truncated {
		t.Errorf("missing = %+v; want 3 missing in the hub, 9 gone from the source", miss)
	}
	for _, tc := range []struct {
		path string
		code int
		err  string
	}{
		{"/v1/reconciliation/erp/invoices/missing", http.StatusNotFound, "not_found"},
		{"/v1/reconciliation/crm/customers/missing", http.StatusNotFound, "not_found"},
		{"/v1/reconciliation/erp/orders/missing", http.StatusNotImplemented, "unsupported"},
		{"/v1/reconciliation/erp/customers/missing?limit=0", http.StatusBadRequest, "invalid_argument"},
	} {
		var e errBody
		if resp := f.get(t, tc.path, &e); resp.StatusCode != tc.code || e.Error.Code != tc.err {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, e.Error.Code, tc.code, tc.err)
		}
	}
}
