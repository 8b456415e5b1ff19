package sqlconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// rereadScenario: rows read and acknowledged; one is changed with an
// updated_at behind the position (never read by polling). VersionsBehind
// lists every live row behind the acknowledged position with the version
// Read gave it (so the hub's copy compares equal) and the moved row with its
// new one; Reread hands it out again, at the position as it stands.
func rereadScenario(t *testing.T, b backend) {
	ctx := context.Background()
	for i := 1; i <= 6; i++ {
		b.insert(t, i, fmt.Sprintf("name %d", i), fmt.Sprintf("2024-03-01 10:0%d:00", i))
	}
	b.exec(t, "UPDATE customers SET deleted = "+map[bool]string{true: "true", false: "1"}[b.driver == "postgres"]+" WHERE id = 6")
	s := newSource(t, b, nil, 4, nil)
	read := drain(t, s, 100)
	if len(read) != 6 {
		t.Fatalf("read %v", ids(read))
	}
	if got, _, _, err := s.VersionsBehind(ctx, "customers", "", 100); err != nil || len(got) != 0 {
		t.Fatalf("before any ack: %v, %v; want nothing behind", got, err)
	}
	// The hub has everything up to row 5; row 6 is a soft delete.
	s.Ack(ctx, read[4].Position)
	hubHas := map[string]time.Time{}
	for _, r := range read[:5] {
		hubHas[r.ID] = r.UpdatedAt
	}

	b.exec(t, fmt.Sprintf("UPDATE customers SET name = 'moved', updated_at = %s WHERE id = 2", b.ph(1)), "2024-03-01 10:03:30")
	var moved []string
	after := ""
	for {
		ids, versions, last, err := s.VersionsBehind(ctx, "customers", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if !versions[i].Equal(hubHas[id]) {
				moved = append(moved, id)
			}
		}
		if last == "" {
			break
		}
		after = last
	}
	// Row 5 holds the position (not behind it), row 6 is deleted.
	if !slices.Equal(moved, []string{"2"}) {
		t.Fatalf("moved %v, want [2]", moved)
	}
	if got := drain(t, s, 100); len(got) != 0 {
		t.Fatalf("polling read %v; the scenario needs a row it cannot read", ids(got))
	}
	if err := s.Reread(ctx, "customers", []string{"2", "404"}); err != nil {
		t.Fatal(err)
	}
	at := string(s.pos.encode())
	got := drain(t, s, 100)
	if len(got) != 1 || got[0].ID != "2" || string(got[0].Position) != at {
		t.Fatalf("re-read %v (position %s, want %s)", ids(got), got[0].Position, at)
	}
	var p map[string]any
	if err := json.Unmarshal(got[0].Payload, &p); err != nil || p["name"] != "moved" {
		t.Errorf("re-read payload %s", got[0].Payload)
	}
	if want := time.Date(2024, 3, 1, 10, 3, 30, 0, mustLoc(t)); !got[0].UpdatedAt.Equal(want) {
		t.Errorf("re-read UpdatedAt %v, want %v", got[0].UpdatedAt, want)
	}
	if err := s.Reread(ctx, "orders", []string{"1"}); err == nil {
		t.Error("re-read of an unknown entity accepted")
	}
	if _, _, _, err := s.VersionsBehind(ctx, "orders", "", 1); err == nil || !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("unknown entity: %v", err)
	}
}

func TestRereadSQLite(t *testing.T)              { rereadScenario(t, sqliteBackend(t)) }
func TestRereadPostgresIntegration(t *testing.T) { rereadScenario(t, postgresBackend(t)) }
func TestRereadMariaDBIntegration(t *testing.T)  { rereadScenario(t, mariadbBackend(t)) }
