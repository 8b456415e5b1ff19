package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/testenv"
)

const logicalConfig = `data_dir: "{{dir}}/hub"
http: {listen: "{{api}}"}
kafka: {brokers: [], embedded_listen: "{{kafka}}", topic_prefix: crmhub, partitions: 1}
store: {driver: sqlite, dsn: ""}
mappings: {dir: mappings}
auth: {enabled: false}
identity: {default_region: DE}
connectors:
  - name: erp
    plugin: sql
    system: erp
    poll_interval: 200ms
    settings:
      driver: postgres
      dsn: "{{dsn}}"
      slot: {{slot}}
      timezone: UTC
      entities:
        - name: party
          table: party
          key: id
          change_detection: logical
          children:
            - {name: addresses, table: address, key: id, parent_key: party_id}
`

const logicalMapping = `mapping: erp_party
version: 1
source: {system: erp, entity: party}
target: {entity: customer, schema: v1}
unknown_fields: ignore
fields:
  kind: '"person"'
  full_name: trim(name)
  emails[]: email(email)
  segment: 'len(addresses) > 0 ? addresses[0].city : nil'
`

// TestLogicalEndToEnd runs the hub on a PostgreSQL source in
// change_detection logical: an update, a child insert, a child delete and
// a parent delete made while the hub runs reach the golden customers; after
// a kill -9, changes made while it was down arrive from the slot.
func TestLogicalEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	dsn := testenv.Postgres(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // after the slot's clean-up below
	testenv.RequireLogical(t, db)
	buf := make([]byte, 4)
	_, _ = rand.Read(buf)
	slot := "crmhub_e2e_" + hex.EncodeToString(buf)
	exec1 := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec1(`CREATE TABLE party (id text PRIMARY KEY, name text, email text);
		CREATE TABLE address (id bigint PRIMARY KEY, party_id text REFERENCES party ON DELETE CASCADE, city text);
		ALTER TABLE address REPLICA IDENTITY FULL;
		INSERT INTO party VALUES ('P1', 'Anna Berg', 'anna@example.com'), ('P2', 'Bernd Ott', 'bernd@example.com');
		INSERT INTO address VALUES (1, 'P1', 'Lyon')`)

	dir := t.TempDir()
	p := &hubProc{api: freeAddr(t), kafka: freeAddr(t)}
	if err := os.MkdirAll(filepath.Join(dir, "mappings"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mappings", "erp_party.yaml"), []byte(logicalMapping), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("{{dir}}", dir, "{{api}}", p.api, "{{kafka}}", p.kafka, "{{dsn}}", dsn, "{{slot}}", slot).Replace(logicalConfig)
	cfgPath := filepath.Join(dir, "crmhub.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if _, err := db.Exec(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, slot); err == nil {
				var n int
				if db.QueryRow(`SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&n); n == 0 {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		_, _ = db.Exec(`DROP PUBLICATION IF EXISTS ` + slot)
	})
	p.cmd = exec.Command(binPath, "run", "--config", cfgPath)
	p.start(t)
	tw := &twoWay{hubProc: p}
	segment := func(id string) (string, bool) {
		g, ok := tw.golden(t, "erp", id)
		return g.Customer.Segment, ok
	}
	waitFor(t, "the snapshot", 2*time.Minute, func() bool {
		s1, ok1 := segment("P1")
		_, ok2 := segment("P2")
		return ok1 && ok2 && s1 == "Lyon"
	})
	// While the hub streams: a child moves in, another goes, a parent goes.
	exec1(`INSERT INTO address VALUES (2, 'P2', 'Graz')`)
	exec1(`DELETE FROM address WHERE id = 1`)
	exec1(`DELETE FROM party WHERE id = 'P1'`)
	exec1(`UPDATE party SET name = 'Bernd Otto' WHERE id = 'P2'`)
	waitFor(t, "the changes", 2*time.Minute, func() bool {
		g, ok := tw.golden(t, "erp", "P2")
		_, gone := segment("P1")
		return ok && g.Customer.Segment == "Graz" && g.Customer.FullName == "Bernd Otto" && !gone
	})
	// kill -9 while streaming; changes made while the hub is down arrive
	// after the restart, from the slot.
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	exec1(`UPDATE address SET city = 'Wien' WHERE id = 2`)
	exec1(`INSERT INTO party VALUES ('P3', 'Clara Voss', 'clara@example.com')`)
	before := len(p.log())
	p.cmd = exec.Command(binPath, "run", "--config", cfgPath)
	p.start(t)
	waitFor(t, "the changes made while the hub was down", 2*time.Minute, func() bool {
		s2, ok2 := segment("P2")
		_, ok3 := segment("P3")
		return ok2 && ok3 && s2 == "Wien"
	})
	if restarted := p.log()[before:]; !strings.Contains(restarted, "source open") || strings.Contains(restarted, "reading the snapshot") {
		t.Errorf("the restarted hub took a new snapshot instead of resuming from the slot:\n%s", restarted)
	}
	if strings.Contains(p.log(), "read failed") {
		t.Errorf("a read failed:\n%s", p.log())
	}
	p.stop(t)
}
