package sqlconn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

func allKeys(t *testing.T, s *Source, entity string, page int) []string {
	t.Helper()
	var out []string
	after := ""
	for i := 0; ; i++ {
		keys, err := s.Keys(context.Background(), entity, after, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > page {
			t.Fatalf("page of %d keys, limit %d", len(keys), page)
		}
		out = append(out, keys...)
		if len(keys) < page {
			return out
		}
		after = keys[len(keys)-1]
		if i > 1000 {
			t.Fatal("keys never ended")
		}
	}
}

// reconcileScenario: twelve rows (ids 1..12, so numeric and text order
// differ), two soft-deleted, one hard-deleted: Count and Keys agree with
// what Read hands out as live.
func reconcileScenario(t *testing.T, b backend) {
	for i := 1; i <= 12; i++ {
		b.insert(t, i, fmt.Sprintf("name %d", i), t1)
	}
	b.exec(t, fmt.Sprintf("UPDATE customers SET deleted = %s WHERE id IN (3, 4)", b.ph(1)), true)
	b.exec(t, "DELETE FROM customers WHERE id = 11")
	s := newSource(t, b, nil, 5, nil)
	ctx := context.Background()

	n, err := s.Count(ctx, "customers")
	if err != nil || n != 9 {
		t.Fatalf("count = %d, %v; want 9 (12 rows, 2 soft-deleted, 1 deleted)", n, err)
	}
	var live []string
	for _, r := range drain(t, s, 100) {
		if r.Op == sdk.OpUpsert {
			live = append(live, r.ID)
		}
	}
	slices.SortFunc(live, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
	for _, page := range []int{1, 2, 4, 100} {
		if got := allKeys(t, s, "customers", page); !slices.Equal(got, live) {
			t.Errorf("keys in pages of %d = %v, want the live ids in key order %v", page, got, live)
		}
	}
	if _, err := s.Count(ctx, "orders"); !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("count of an entity that is not configured: want ErrNotSupported, got %v", err)
	}

	// A query entity without a soft-delete column, keyed by a text column.
	q := newSource(t, b, nil, 5, map[string]any{"table": "", "query": "SELECT name, updated_at FROM customers WHERE id <> 12;", "key": "name", "cursor": "", "deleted": ""})
	if n, err := q.Count(ctx, "customers"); err != nil || n != 10 {
		t.Fatalf("query count = %d, %v; want 10", n, err)
	}
	got := allKeys(t, q, "customers", 3)
	if len(got) != 10 || !slices.IsSorted(got) || slices.Contains(got, "name 12") {
		t.Errorf("query keys = %v, want the 10 names in order", got)
	}
}

func TestReconcileSQLite(t *testing.T)              { reconcileScenario(t, sqliteBackend(t)) }
func TestReconcilePostgresIntegration(t *testing.T) { reconcileScenario(t, postgresBackend(t)) }
func TestReconcileMariaDBIntegration(t *testing.T)  { reconcileScenario(t, mariadbBackend(t)) }
