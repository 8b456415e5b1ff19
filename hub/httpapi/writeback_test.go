package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/store/ledger"
)

// Write-back conflicts the writer left in the store are listed for a
// steward, the steward tasks alone on request, with both values.
func TestWritebackConflicts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	seen := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := ledger.New(f.store.DB()).SetConflicts(ctx, "erp-writeback", []hub.WritebackConflict{
		{GoldenID: "g1", Seen: seen, Tries: 2},
		{GoldenID: "g2", Seen: seen, Tries: 8, Steward: true, Detail: `{"email":{"hub":"fin@example.com","system":"clerk@example.com"}}`},
	}, nil); err != nil {
		t.Fatal(err)
	}
	var page struct {
		Items []hub.WritebackConflict `json:"items"`
	}
	if resp := f.get(t, "/v1/writeback/conflicts", &page); resp.StatusCode != 200 || len(page.Items) != 2 {
		t.Fatalf("conflicts: %d %+v", resp.StatusCode, page.Items)
	}
	page.Items = nil
	if resp := f.get(t, "/v1/writeback/conflicts?steward=true&target=erp-writeback", &page); resp.StatusCode != 200 || len(page.Items) != 1 {
		t.Fatalf("steward tasks: %d %+v", resp.StatusCode, page.Items)
	}
	if c := page.Items[0]; c.GoldenID != "g2" || c.Target != "erp-writeback" || !c.Seen.Equal(seen) || c.Detail == "" {
		t.Errorf("steward task = %+v", c)
	}
	if resp := f.get(t, "/v1/writeback/conflicts?stewart=true", nil); resp.StatusCode != 400 {
		t.Errorf("unknown parameter: %d, want 400", resp.StatusCode)
	}
}
