package sqlconn

import (
	"strconv"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
	"github.com/crmhub/crmhub/plugins/sdk/sdktest"
)

// The sql connector runs the acceptance suites every connector runs
// (plugins/sdk/sdktest) on each database it supports that is reachable:
// as a source over a customers table and as a destination writing it.
func acceptance(t *testing.T, open func(t *testing.T) backend) {
	fresh := func(t *testing.T, cfg sdk.Config) (sdk.Config, backend) {
		b := open(t)
		out := sdk.Config{"driver": b.driver, "dsn": b.dsn}
		for k, v := range cfg {
			out[k] = v
		}
		return out, b
	}
	ent := map[string]any{"name": "customers", "table": "customers", "key": "id", "cursor": "updated_at", "deleted": "deleted"}
	t.Run("Source", func(t *testing.T) {
		sdktest.AcceptSource(t, Connector, sdk.Config{"timezone": "UTC", "entities": []any{ent}}, sdktest.Options{
			MinRecords: 6, BatchSize: 4,
			Prepare: func(t *testing.T, cfg sdk.Config) sdk.Config {
				cfg, b := fresh(t, cfg)
				// Past timestamps, some equal: a page must not split
				// the rows of one cursor value across positions wrongly.
				for i, ts := range []string{"2024-01-01 10:00:00", "2024-01-01 10:00:00", "2024-01-02 10:00:00",
					"2024-01-03 10:00:00", "2024-01-03 10:00:00", "2024-01-04 10:00:00"} {
					b.insert(t, i+1, "name", ts)
				}
				return cfg
			},
		})
	})
	t.Run("Destination", func(t *testing.T) {
		var cur backend // the target of the running sub-test
		dent := map[string]any{"name": "customers", "table": "customers", "key": "id", "columns": []any{"name", "amount", "updated_at"}, "deleted": "deleted"}
		sdktest.AcceptDestination(t, Connector, sdk.Config{"timezone": "UTC", "entities": []any{dent}}, sdktest.DestinationOptions{
			Records: []sdk.Record{
				rec("customers", "1", sdk.OpUpsert, `{"name":"Anna","amount":"1.50","updated_at":"2024-01-01T10:00:00Z"}`),
				rec("customers", "2", sdk.OpUpsert, `{"name":"Ben","amount":"2.50","updated_at":"2024-01-02T10:00:00Z"}`),
			},
			Prepare: func(t *testing.T, cfg sdk.Config) sdk.Config {
				cfg, cur = fresh(t, cfg)
				return cfg
			},
			// The rows not soft-deleted, by id, with their name: the column
			// that reads back as written on every database.
			Target: func(t *testing.T, _ sdk.Config) map[string]map[string]string {
				rows, err := cur.db.Query("SELECT id, name, deleted FROM customers")
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				out := map[string]map[string]string{}
				for rows.Next() {
					var id int
					var name string
					var deleted any
					if err := rows.Scan(&id, &name, &deleted); err != nil {
						t.Fatal(err)
					}
					if !truthy(deleted) {
						out[strconv.Itoa(id)] = map[string]string{"name": name}
					}
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return out
			},
			Update: func(r sdk.Record) sdk.Record {
				r.Payload = []byte(strings.Replace(string(r.Payload), `","amount"`, ` (renamed)","amount"`, 1))
				return r
			},
			Deletes: true,
			Bad: []sdk.Record{
				rec("customers", "8", sdk.OpUpsert, `{"name":"Eve","password":"x","updated_at":"2024-01-01T10:00:00Z"}`), // outside columns
				rec("customers", "9", sdk.OpUpsert, `["not", "an object"]`),
				rec("suppliers", "1", sdk.OpUpsert, `{"name":"Acme"}`), // entity not configured
			},
		})
	})
}

func TestAcceptanceSQLite(t *testing.T)              { acceptance(t, sqliteBackend) }
func TestAcceptancePostgresIntegration(t *testing.T) { acceptance(t, postgresBackend) }
func TestAcceptanceMariaDBIntegration(t *testing.T)  { acceptance(t, mariadbBackend) }
