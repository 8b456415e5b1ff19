package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/testenv"
)

// BenchmarkApplyFloor measures the least this store (its schema and its
// statements, not any store) must do per record to resolve records against
// what it holds, on SQLite with the same file settings as Open and on
// PostgreSQL with the same set-based statements:
// look up the records holding a batch's match keys (a blocking key's up
// to the block cap), write each record and its match keys, and one golden
// customer row per person (the ERP record's data: what a golden store
// holds, without the work of deciding it). No search values, change feed,
// duplicate check, lineage or scoring: whatever BenchmarkApplyScale
// reports above this floor is resolution and bookkeeping, and a goal above
// the floor cannot be met by changing those without changing the schema.
// It fills to CRMHUB_BENCH_CUSTOMERS people (benchPerson, four records each) in
// batches of CRMHUB_BENCH_BATCH (500) records and logs each tenth:
//
//	CRMHUB_BENCH_CUSTOMERS=1000000 go test -run '^$' -bench ApplyFloor/SQLite -benchtime 1x -timeout 1h ./hub/store
func BenchmarkApplyFloor(b *testing.B) {
	people, _ := strconv.Atoi(os.Getenv("CRMHUB_BENCH_CUSTOMERS"))
	if people <= 0 {
		b.Skip("set CRMHUB_BENCH_CUSTOMERS=N (people, 4 records each)")
	}
	b.Run("SQLite", func(b *testing.B) {
		db, err := sql.Open(DriverSQLite, sqliteDSN(filepath.Join(b.TempDir(), "floor.db"), true, DefaultSQLiteMmapMB, DefaultSQLiteCacheMB*1024/2))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		benchFloor(b, &Store{db: db, stmts: newStmtCache(db)}, people) // its statements prepared as Apply's
	})
	b.Run("Postgres", func(b *testing.B) {
		db, err := sql.Open("pgx", testenv.Postgres(b))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		benchFloor(b, &Store{db: db, pg: true}, people)
	})
}

func benchFloor(b *testing.B, s *Store, people int) {
	ctx := context.Background()
	defer s.stmts.close()
	withoutRowid := " WITHOUT ROWID" // as the store's own tables on SQLite
	if s.pg {
		withoutRowid = ""
	}
	for _, q := range []string{
		`CREATE TABLE records (rkey TEXT PRIMARY KEY, data TEXT NOT NULL)` + withoutRowid,
		`CREATE TABLE goldens (id TEXT PRIMARY KEY, data TEXT NOT NULL)`,
		`CREATE TABLE match_keys (mkey TEXT NOT NULL, rkey TEXT NOT NULL, PRIMARY KEY (mkey, rkey))` + withoutRowid,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	res := identity.New(fuzzyOpts.Identity)
	per := max(benchBatch()/4, 1)
	var (
		evs        []hub.Envelope
		total      int
		phase      int
		phaseRecs  int
		lastRate   float64
		owners     int
		start, cpu = time.Now(), cpuTime()
		phaseStart = start
		phaseCPU   = cpu
	)
	b.ResetTimer()
	for p := 0; p < people; p += per {
		evs = evs[:0]
		for i := p; i < min(p+per, people); i++ {
			evs = benchPerson(evs, i)
		}
		var recRows, keyRows, goldenRows [][]any
		var keys, blocks []string
		for i := range evs {
			ev := &evs[i]
			rkey := identity.RecordKey(ev.System, ev.SourceEntity, ev.SourceID)
			recRows = append(recRows, []any{rkey, string(ev.Data)})
			if ev.System == "erp" && ev.Entity == hub.EntityCustomer {
				goldenRows = append(goldenRows, []any{identity.GoldenID(rkey), string(ev.Data)})
			}
			if ev.Entity != hub.EntityCustomer {
				continue
			}
			var c hub.Customer
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				b.Fatal(err)
			}
			for _, k := range res.MatchKeys(identity.Record{System: ev.System, SourceEntity: ev.SourceEntity, SourceID: ev.SourceID, Customer: c}) {
				if identity.IsBlockKey(k) {
					blocks = append(blocks, k)
				} else {
					keys = append(keys, k)
				}
				keyRows = append(keyRows, []any{k, rkey})
			}
		}
		// One transaction a batch, begun and ended as Apply's are.
		if err := s.inTx(ctx, func(tx *sql.Tx) error {
			if err := s.eachChunk(ctx, tx, `SELECT rkey FROM match_keys WHERE mkey IN (%s)`, uniq(keys), func(rows *sql.Rows) error {
				var r string
				owners++
				return rows.Scan(&r)
			}); err != nil {
				return err
			}
			// A block is read up to its cap, as relinking does.
			members, err := s.blockMembers(ctx, tx, uniq(blocks), res.MaxBlock()+1)
			if err != nil {
				return err
			}
			for _, m := range members {
				owners += len(m)
			}
			if err := s.insertRows(ctx, tx, `INSERT INTO goldens (id, data) `, "text,text", ``, goldenRows); err != nil {
				return err
			}
			if err := s.insertRows(ctx, tx, `INSERT INTO records (rkey, data) `, "text,text", ``, recRows); err != nil {
				return err
			}
			return s.insertRows(ctx, tx, `INSERT INTO match_keys (mkey, rkey) `, "text,text", ``, keyRows)
		}); err != nil {
			b.Fatal(err)
		}
		total += len(evs)
		phaseRecs += len(evs)
		if next := (p + per) * 10 / people; next > phase || p+per >= people {
			lastRate = float64(phaseRecs) / time.Since(phaseStart).Seconds()
			b.Logf("people %8d..%8d: %7.0f records/s, %5.1f cpu-µs/record", phase*people/10, min(p+per, people),
				lastRate, float64((cpuTime()-phaseCPU).Microseconds())/float64(phaseRecs))
			phase, phaseRecs, phaseStart, phaseCPU = next, 0, time.Now(), cpuTime()
		}
	}
	el := time.Since(start)
	b.StopTimer()
	if owners == 0 {
		b.Fatal("no match key found an owner: the lookups read nothing")
	}
	b.ReportMetric(float64(total)/el.Seconds(), "records/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(total), "cpu-µs/record")
	b.ReportMetric(lastRate, "end-records/s")
}
