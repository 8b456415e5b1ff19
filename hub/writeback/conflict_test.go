package writeback

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/store/ledger"
	"github.com/crmhub/crmhub/hub/testenv"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

const erpForward = `mapping: erp_customers
version: 1
source: {system: erp, entity: customers}
target: {entity: customer, schema: v1}
unknown_fields: ignore
fields:
  kind: '"person"'
  full_name: trim(name)
  emails[]: email(email)
  segment: trim(segment)
`

const erpReverse = `mapping: erp_wb
version: 1
source: {entity: customer}
target: {system: erp, entity: customers}
fields:
  segment: segment
  updated_at: format_time(updated_at, "YYYY-MM-DD HH:mm:ss", "Europe/Berlin")
`

// erpDB is an ERP customers table in one of the databases the sql
// connector supports.
type erpDB struct {
	driver, dsn string
	ddl         string
	db          *sql.DB
	// policy is the write-back target's OnConflict.
	policy string
	// reverse and fields, when set, replace the segment write-back.
	reverse string
	fields  []string
	// maxTries is the target's MaxConflictTries.
	maxTries int
}

// berlinAt is the ERP's wall clock (Europe/Berlin) d from now, as the ERP
// writes its updated_at. Edits made in the ERP carry the time they happen,
// and crmhub's writes the database's clock, so tests time edits from now.
func berlinAt(d time.Duration) string {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	return time.Now().Add(d).In(berlin).Format(time.DateTime)
}

func (e *erpDB) exec(t *testing.T, q string) {
	t.Helper()
	if _, err := e.db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *erpDB) segment(t *testing.T) (seg, upd string) {
	t.Helper()
	var u any
	if err := e.db.QueryRow(`SELECT segment, updated_at FROM customers WHERE custno = 'K1'`).Scan(&seg, &u); err != nil {
		t.Fatal(err)
	}
	if b, ok := u.([]byte); ok {
		u = string(b)
	}
	return seg, fmt.Sprint(u)
}

// loop is the hub around one write-back target: the ERP read by the sql
// source and mapped into a SQLite store (survivorship: the CRM's segment
// wins), the golden stream publishing changes to the embedded broker, and
// a writer writing them back through the sql destination with
// version_column.
type loop struct {
	t       *testing.T
	erp     *erpDB
	store   *store.Store
	src     sdk.Source
	forward *mapping.Mapping
	metrics *Metrics
	mu      sync.Mutex
	writes  []sdk.Record
	// restartWriter stops the writer and starts a new one on the same
	// consumer group and store, as a hub restart does.
	restartWriter func()
}

func startLoop(ctx context.Context, t *testing.T, erp *erpDB) *loop {
	t.Helper()
	db, err := sql.Open(map[string]string{"sqlite": "sqlite", "postgres": "pgx", "mysql": "mysql"}[erp.driver], erp.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	erp.db = db
	erp.exec(t, erp.ddl)
	// The row was last changed an hour ago: the ERP's reader will hold a
	// position later than any business time of 2024.
	erp.exec(t, `INSERT INTO customers (custno, name, email, segment, updated_at) VALUES ('K1', 'Anna Berg', 'anna@example.com', 'retail', '`+berlinAt(-time.Hour)+`')`)

	l := &loop{t: t, erp: erp}
	if l.forward, err = mapping.Parse("erp_customers.yaml", []byte(erpForward)); err != nil {
		t.Fatal(err)
	}
	rev, fields := erpReverse, []string{"segment"}
	if erp.reverse != "" {
		rev, fields = erp.reverse, erp.fields
	}
	reverse, err := mapping.Parse("erp_wb.yaml", []byte(rev))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l.store, err = store.Open(ctx, store.DriverSQLite, filepath.Join(dir, "hub.db"),
		store.Options{Identity: identity.Config{FieldPriority: map[string][]string{"segment": {"crm"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.store.Close() })

	settings := func(dest bool) sdk.Config {
		ent := map[string]any{"name": "customers", "table": "customers", "key": "custno"}
		cfg := sdk.Config{"driver": erp.driver, "dsn": erp.dsn, "timezone": "Europe/Berlin", "entities": []any{ent}}
		if dest {
			ent["columns"], ent["version_column"] = []any{"segment", "email", "updated_at"}, "updated_at"
		} else {
			ent["cursor"] = "updated_at"
		}
		v, err := sqlconn.Connector.Spec.Validate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	l.src = sqlconn.Connector.NewSource()
	if err := l.src.Configure(ctx, settings(false)); err != nil {
		t.Fatal(err)
	}
	if err := l.src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.src.Teardown(context.Background()) })
	dest := sqlconn.Connector.NewDestination()
	if err := dest.Configure(ctx, settings(true)); err != nil {
		t.Fatal(err)
	}
	if err := dest.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dest.Teardown(context.Background()) })

	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	b, err := bus.Open(ctx, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "wb", Partitions: 1}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	topics := hub.Topics{Prefix: "wb"}
	l.metrics = NewMetrics(reg)
	consumer := b.NewConsumer("crmhub-writeback-erp", []string{topics.GoldenChanges()})
	t.Cleanup(func() { consumer.Close() })
	newWriter := func() *Writer {
		return &Writer{Target: Target{Name: "erp", System: "erp", Entity: "customers", Mapping: reverse, Fields: fields, Touch: []string{"updated_at"}, OnConflict: erp.policy, MaxConflictTries: erp.maxTries},
			Destination: dest, Consumer: consumer, Ledger: ledger.New(l.store.DB()), States: l.store, Publisher: b, Topics: topics, Metrics: l.metrics, Logger: log,
			BatchWait: 20 * time.Millisecond,
			OnBatch:   func(r []sdk.Record) { l.mu.Lock(); l.writes = append(l.writes, r...); l.mu.Unlock() }}
	}
	stream := &pipeline.GoldenStream{Feed: l.store, Customers: l.store, Positions: l.store, Publisher: b, Topics: topics,
		Interval: 20 * time.Millisecond, Logger: log}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = stream.Run(rctx) }()
	var (
		wctx, stopWriter = context.WithCancel(rctx)
		writerDone       = make(chan struct{})
	)
	startWriter := func() {
		w, done := newWriter(), writerDone
		go func() { defer close(done); _ = w.Run(wctx) }()
	}
	startWriter()
	l.restartWriter = func() {
		stopWriter()
		<-writerDone
		wctx, stopWriter = context.WithCancel(rctx)
		writerDone = make(chan struct{})
		startWriter()
	}
	t.Cleanup(func() { stop(); wg.Wait(); stopWriter(); <-writerDone })
	return l
}

// readERP is the ERP's source connector delivering what changed.
func (l *loop) readERP(ctx context.Context) int {
	l.t.Helper()
	var envs []hub.Envelope
	for {
		recs, err := l.src.Read(ctx, 100)
		if err != nil {
			l.t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			out, err := l.forward.Apply(mapping.Input{System: "erp", Entity: r.Entity, SourceID: r.ID, UpdatedAt: r.UpdatedAt, Payload: r.Payload})
			if err != nil {
				l.t.Fatal(err)
			}
			entity, sv := l.forward.Target()
			e := hub.Envelope{System: "erp", SourceEntity: r.Entity, SourceID: r.ID, SourceUpdatedAt: r.UpdatedAt.UTC(), Entity: entity,
				SchemaVersion: sv, Op: hub.OpUpsert, Mapping: l.forward.Name(), MappingVersion: l.forward.Version(), Connector: "erp", Data: out.Data}
			e.ComputeEventID()
			envs = append(envs, e)
		}
	}
	l.apply(ctx, envs...)
	return len(envs)
}

// crm is the CRM's contact C1 with a segment, changed at (Berlin) local.
func (l *loop) crm(ctx context.Context, segment, local string) {
	l.t.Helper()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at, err := time.ParseInLocation(time.DateTime, local, berlin)
	if err != nil {
		l.t.Fatal(err)
	}
	data, _ := json.Marshal(hub.Customer{Kind: "person", FullName: "Anna Berg", Emails: []string{"anna@example.com"}, Segment: segment})
	e := hub.Envelope{System: "crm", SourceEntity: "contacts", SourceID: "C1", SourceUpdatedAt: at.UTC(), Entity: hub.EntityCustomer,
		SchemaVersion: hub.SchemaVersion, Op: hub.OpUpsert, Mapping: "crm_contacts", MappingVersion: 1, Connector: "crm", Data: data}
	e.ComputeEventID()
	l.apply(ctx, e)
}

// source delivers one record of another system, changed at (Berlin) local.
func (l *loop) source(ctx context.Context, system, entity, id string, c hub.Customer, local string) {
	l.t.Helper()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at, err := time.ParseInLocation(time.DateTime, local, berlin)
	if err != nil {
		l.t.Fatal(err)
	}
	data, _ := json.Marshal(c)
	e := hub.Envelope{System: system, SourceEntity: entity, SourceID: id, SourceUpdatedAt: at.UTC(), Entity: hub.EntityCustomer,
		SchemaVersion: hub.SchemaVersion, Op: hub.OpUpsert, Mapping: system + "_" + entity, MappingVersion: 1, Connector: system, Data: data}
	e.ComputeEventID()
	l.apply(ctx, e)
}

func (l *loop) apply(ctx context.Context, envs ...hub.Envelope) {
	l.t.Helper()
	if _, err := l.store.Apply(ctx, envs); err != nil {
		l.t.Fatal(err)
	}
}

func (l *loop) count(result string) float64 {
	if result == "written" || result == "failed" {
		return testutil.ToFloat64(l.metrics.Records.WithLabelValues("erp", result))
	}
	return testutil.ToFloat64(l.metrics.Skipped.WithLabelValues("erp", result))
}

func (l *loop) waitFor(what string, result string, n float64) {
	l.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.count(result) < n {
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: %s = %v, want %v", what, result, l.count(result), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// conflictScenario: an ERP user edits a customer after the hub read it and
// before the write-back of a CRM change reaches the row. The write-back
// does not overwrite the edit (a conflict, not a dead letter); the edit
// comes in through the ERP's source, survivorship (the CRM's segment wins)
// runs, and the next write-back converges with exactly one write.
func conflictScenario(t *testing.T, erp *erpDB) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := startLoop(ctx, t, erp)

	// The ERP's customer arrives: the ERP holds the golden values.
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("read %d ERP rows, want 1", n)
	}
	l.waitFor("initial state", SkipSystemHas, 1)
	// A CRM change: written to the ERP, updated_at touched.
	l.crm(ctx, "premium", "2024-07-01 11:00:00")
	l.waitFor("CRM change", "written", 1)
	if seg, _ := erp.segment(t); seg != "premium" {
		t.Fatalf("ERP segment %q after the write-back, want premium", seg)
	}
	// The ERP reports the written row (no golden change follows). Its
	// updated_at is the ERP database's clock, after the reader's position;
	// the CRM's business time (2024) would sort before it and the row
	// would never be read back.
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("the ERP's reader read %d rows after crmhub's write, want the written row", n)
	}

	// The race: the ERP user edits the row; the hub has not read it when
	// the next CRM change (older than the edit) is written back.
	edit := berlinAt(time.Second)
	erp.exec(t, `UPDATE customers SET segment = 'key-account', updated_at = '`+edit+`' WHERE custno = 'K1'`)
	l.crm(ctx, "gold", berlinAt(-30*time.Minute))
	l.waitFor("write-back over the ERP edit", SkipConflict, 1)
	if seg, upd := erp.segment(t); seg != "key-account" || !strings.Contains(upd, edit[11:]) {
		t.Fatalf("the ERP's edit was overwritten: segment %q updated_at %q", seg, upd)
	}
	if w, f := l.count("written"), l.count("failed"); w != 1 || f != 0 {
		t.Fatalf("after the conflict: written %v failed %v, want 1 and 0 (a conflict is neither)", w, f)
	}
	if h, _, err := ledger.New(l.store.DB()).Written(ctx, "erp", []string{"K1"}); err != nil || h["K1"] != encodeLedger(map[string]string{"segment": valueHash("premium")}) {
		t.Fatalf("ledger after the conflict = %v %v, want the hash of the last write (premium)", h, err)
	}

	// The edit comes in through the source; survivorship keeps the CRM's
	// gold (priority) and the golden change that follows is written once.
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("read %d ERP rows after the edit, want 1", n)
	}
	l.waitFor("converging write", "written", 2)
	if seg, _ := erp.segment(t); seg != "gold" {
		t.Fatalf("ERP segment %q after convergence, want gold", seg)
	}
	views, err := l.store.FindCustomers(ctx, hub.CustomerFilter{System: "erp", SourceID: "K1"})
	if err != nil || len(views) != 1 {
		t.Fatalf("golden of K1: %v %v", views, err)
	}
	if g := views[0]; g.Customer.Segment != "gold" || g.Lineage["segment"].Rule != identity.RulePriority || g.Lineage["segment"].Source != "crm/contacts/C1" {
		t.Errorf("golden segment %q lineage %+v, want gold by priority from crm/contacts/C1", g.Customer.Segment, g.Lineage["segment"])
	}
	// Quiet: the ERP reading again brings nothing; no further write or
	// conflict.
	l.readERP(ctx)
	time.Sleep(500 * time.Millisecond)
	if w, c := l.count("written"), l.count(SkipConflict); w != 2 || c != 1 {
		t.Errorf("after convergence: written %v conflicts %v, want 2 and 1", w, c)
	}
	l.mu.Lock()
	if len(l.writes) != 2 || l.writes[1].ID != "K1" || !strings.Contains(string(l.writes[1].Payload), `"gold"`) {
		t.Errorf("writes = %+v, want premium then gold to K1", l.writes)
	}
	l.mu.Unlock()

	// The same race with an ERP edit older than the CRM change: once the
	// hub reads the edit, survivorship keeps the golden customer as it was
	// (CRM priority, its updated_at the newer CRM one), so no golden change
	// follows. The writer retries the conflicted record from the store and
	// writes the golden value once, even when the hub restarted in between
	// (the conflict waits in the store).
	erp.exec(t, `UPDATE customers SET segment = 'wholesale', updated_at = '`+berlinAt(2*time.Second)+`' WHERE custno = 'K1'`)
	l.crm(ctx, "platinum", berlinAt(30*time.Minute))
	l.waitFor("write-back over the older ERP edit", SkipConflict, 2)
	if seg, _ := erp.segment(t); seg != "wholesale" {
		t.Fatalf("the ERP's older edit was overwritten before the hub read it: segment %q", seg)
	}
	// The restarted writer retries at once: the hub has not read the edit
	// yet, so it conflicts again (only a writer that found the conflict in
	// the store can), and backs off.
	l.restartWriter()
	l.waitFor("retry by the restarted writer", SkipConflict, 3)
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("read %d ERP rows after the older edit, want 1", n)
	}
	l.waitFor("retried write", "written", 3)
	if seg, _ := erp.segment(t); seg != "platinum" {
		t.Fatalf("ERP segment %q after the retry, want platinum", seg)
	}
	l.readERP(ctx)
	time.Sleep(time.Second)
	if w, c := l.count("written"), l.count(SkipConflict); w != 3 || c != 3 {
		t.Errorf("after the retry: written %v conflicts %v, want 3 and 3", w, c)
	}
	if cs, err := ledger.New(l.store.DB()).Conflicts(ctx, "erp"); err != nil || len(cs) != 0 {
		t.Errorf("conflicts still waiting after the retry wrote: %v %v", cs, err)
	}
}

// The conflict scenario runs with the hub-wins policy: once the hub has
// read the system's edit, survivorship's golden value is written.
func TestWriterConflictSQLite(t *testing.T) {
	conflictScenario(t, &erpDB{driver: "sqlite", dsn: "file:" + filepath.Join(t.TempDir(), "erp.db") + "?_pragma=busy_timeout(5000)",
		ddl: `CREATE TABLE customers (custno TEXT PRIMARY KEY, name TEXT, email TEXT, segment TEXT, updated_at TEXT NOT NULL)`, policy: ConflictHub})
}

func TestWriterConflictPostgresIntegration(t *testing.T) {
	conflictScenario(t, &erpDB{driver: "postgres", dsn: testenv.Postgres(t),
		ddl: `CREATE TABLE customers (custno text PRIMARY KEY, name text, email text, segment text, updated_at timestamp(6) NOT NULL)`, policy: ConflictHub})
}

func TestWriterConflictMariaDBIntegration(t *testing.T) {
	conflictScenario(t, &erpDB{driver: "mysql", dsn: testenv.MariaDB(t),
		ddl: "CREATE TABLE customers (custno VARCHAR(20) PRIMARY KEY, name VARCHAR(100), email VARCHAR(100), segment VARCHAR(50), updated_at DATETIME(6) NOT NULL)", policy: ConflictHub})
}

// sharedLedgerScenario: two hub instances on one store, each with its own
// writer for the same target. A state the first wrote is recognised by the
// second (after a rebalance, or a replay) as written: no second write, no
// echo. open opens another handle on the one store database.
func sharedLedgerScenario(t *testing.T, open func() *store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, db, dest, b, reg, log := newTestERP(ctx, t, "Europe/Berlin", `CREATE TABLE customers (custno TEXT PRIMARY KEY, kind TEXT NOT NULL, phone TEXT, email TEXT, updated_at TEXT NOT NULL);
INSERT INTO customers VALUES ('K1', 'P', '030 111', 'old@example.com', '2020-01-01 00:00:00');`)
	topics := hub.Topics{Prefix: "wb"}
	m, err := mapping.Parse("erp_wb.yaml", []byte(reverse))
	if err != nil {
		t.Fatal(err)
	}
	// Each instance has its own metrics registry, as each hub process does.
	metrics := []*Metrics{NewMetrics(reg), NewMetrics(prometheus.NewRegistry())}
	var mu sync.Mutex
	writes := map[int]int{}
	run := func(i int, s *store.Store) {
		consumer := b.NewConsumer(fmt.Sprintf("instance-%d", i), []string{topics.GoldenChanges()})
		t.Cleanup(func() { consumer.Close() })
		w := &Writer{Target: Target{Name: "erp", System: "erp", Entity: "customers", Mapping: m, Fields: []string{"email", "phone"}, Touch: []string{"updated_at"}},
			Destination: dest, Consumer: consumer, Ledger: ledger.New(s.DB()), Publisher: b, Topics: topics, Metrics: metrics[i], Logger: log,
			OnBatch: func(r []sdk.Record) { mu.Lock(); writes[i] += len(r); mu.Unlock() }}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(rctx) }()
		t.Cleanup(func() { stop(); <-done })
	}
	handled := func(i int) float64 {
		n := testutil.ToFloat64(metrics[i].Records.WithLabelValues("erp", "written"))
		for _, r := range []string{SkipUnchanged, SkipSystemHas, SkipConflict} {
			n += testutil.ToFloat64(metrics[i].Skipped.WithLabelValues("erp", r))
		}
		return n
	}
	wait := func(i int, n float64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for handled(i) < n {
			if time.Now().After(deadline) {
				t.Fatalf("instance %d handled %v states, want %v", i, handled(i), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := b.Publish(ctx, bus.Message{Topic: topics.GoldenChanges(), Key: []byte("g-1"),
		Value: state("g-1", "+4930999", erpRef("K1", "+4930111", "old@example.com"))}); err != nil {
		t.Fatal(err)
	}
	first := open()
	run(0, first)
	wait(0, 1)
	// The second instance sees the same state (its group starts at the
	// first offset): the first instance's write is in the shared ledger.
	run(1, open())
	wait(1, 1)
	mu.Lock()
	defer mu.Unlock()
	if writes[0] != 1 || writes[1] != 0 {
		t.Errorf("writes by instance = %v, want one by the first and none by the second", writes)
	}
	if got := testutil.ToFloat64(metrics[1].Skipped.WithLabelValues("erp", SkipUnchanged)); got != 1 {
		t.Errorf("second instance skipped{unchanged} = %v, want 1", got)
	}
	var phone string
	if err := db.QueryRow(`SELECT phone FROM customers WHERE custno = 'K1'`).Scan(&phone); err != nil || phone != "+4930999" {
		t.Errorf("K1 phone = %q %v", phone, err)
	}
	// The totals in the store add up both instances' counts, and a
	// registry that never ran a writer (a restarted instance) reports them.
	fresh := prometheus.NewRegistry()
	RegisterTotals(fresh, ledger.New(first.DB()))
	want := map[string]float64{"crmhub_writeback_records_stored/written": 1, "crmhub_writeback_skipped_stored/unchanged": 1}
	var got map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = gatherStored(t, fresh)
		if maps.Equal(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !maps.Equal(got, want) {
		t.Errorf("stored totals = %v, want %v", got, want)
	}
}

// gatherStored reads the stored-totals gauges of target erp as
// "name/label" -> value.
func gatherStored(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var target, label string
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "target" {
					target = lp.GetValue()
				} else {
					label = lp.GetValue()
				}
			}
			if target == "erp" {
				out[mf.GetName()+"/"+label] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestWritersShareLedgerSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	sharedLedgerScenario(t, func() *store.Store {
		s, err := store.Open(context.Background(), store.DriverSQLite, path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestWritersShareLedgerPostgresIntegration(t *testing.T) {
	dsn := testenv.Postgres(t)
	sharedLedgerScenario(t, func() *store.Store {
		s, err := store.Open(context.Background(), store.DriverPostgres, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

const erpEmailReverse = `mapping: erp_wb
version: 1
source: {entity: customer}
target: {system: erp, entity: customers}
fields:
  email: 'emails != nil && len(emails) > 0 ? emails[0] : nil'
  updated_at: format_time(updated_at, "YYYY-MM-DD HH:mm:ss", "Europe/Berlin")
`

// clerkEditScenario (the default policy): a clerk types an e-mail into the
// ERP row; 2 s later finance changes the customer's e-mail. The write-back
// of finance's e-mail runs into the clerk's edit (a conflict). Once the hub
// has read the edit, the golden customer holds both e-mails (union), and
// the clerk's stays in the ERP: writing finance's over it would drop it from
// the ERP and, at the next read, from the hub too.
func clerkEditScenario(t *testing.T, erp *erpDB) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	erp.reverse, erp.fields = erpEmailReverse, []string{"email"}
	l := startLoop(ctx, t, erp)
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("read %d ERP rows, want 1", n)
	}
	l.waitFor("initial state", SkipSystemHas, 1)
	// Finance holds the customer too, by the ERP's customer number.
	debtor := func(email string) hub.Customer {
		return hub.Customer{Kind: "person", FullName: "Anna Berg", Emails: []string{email},
			ExternalIDs: []hub.Ref{{System: "erp", ID: "K1"}}}
	}
	l.source(ctx, "finance", "debtors", "D1", debtor("anna@example.com"), berlinAt(-time.Hour))
	l.waitFor("finance's record", SkipUnchanged, 1)

	erp.exec(t, `UPDATE customers SET email = 'clerk@example.com', updated_at = '`+berlinAt(time.Second)+`' WHERE custno = 'K1'`)
	l.source(ctx, "finance", "debtors", "D1", debtor("fin@example.com"), berlinAt(3*time.Second))
	l.waitFor("finance's e-mail written over the clerk's", SkipConflict, 1)
	email := func() string {
		var e string
		if err := erp.db.QueryRow(`SELECT email FROM customers WHERE custno = 'K1'`).Scan(&e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	if e := email(); e != "clerk@example.com" {
		t.Fatalf("the clerk's edit was overwritten before the hub read it: %q", e)
	}
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("read %d ERP rows after the clerk's edit, want 1", n)
	}
	l.waitFor("the clerk's edit decided", SkipSystemKept, 1)
	l.readERP(ctx)
	time.Sleep(time.Second)
	if e := email(); e != "clerk@example.com" {
		t.Errorf("ERP e-mail %q after the hub read the clerk's edit, want the clerk's", e)
	}
	views, err := l.store.FindCustomers(ctx, hub.CustomerFilter{System: "erp", SourceID: "K1"})
	if err != nil || len(views) != 1 {
		t.Fatalf("golden of K1: %v %v", views, err)
	}
	if got := views[0].Customer.Emails; !slices.Contains(got, "clerk@example.com") || !slices.Contains(got, "fin@example.com") {
		t.Errorf("golden e-mails %v, want both the clerk's and finance's", got)
	}
	if w := l.count("written"); w != 0 {
		t.Errorf("written %v, want 0: nothing of finance's was to overwrite the clerk's edit", w)
	}
	if cs, err := ledger.New(l.store.DB()).Conflicts(ctx, "erp"); err != nil || len(cs) != 0 {
		t.Errorf("conflicts left after the edit was decided: %+v %v", cs, err)
	}
}

func TestWriterKeepsSystemEditSQLite(t *testing.T) {
	clerkEditScenario(t, &erpDB{driver: "sqlite", dsn: "file:" + filepath.Join(t.TempDir(), "erp.db") + "?_pragma=busy_timeout(5000)",
		ddl: `CREATE TABLE customers (custno TEXT PRIMARY KEY, name TEXT, email TEXT, segment TEXT, updated_at TEXT NOT NULL)`})
}

func TestWriterKeepsSystemEditPostgresIntegration(t *testing.T) {
	clerkEditScenario(t, &erpDB{driver: "postgres", dsn: testenv.Postgres(t),
		ddl: `CREATE TABLE customers (custno text PRIMARY KEY, name text, email text, segment text, updated_at timestamp(6) NOT NULL)`})
}

// TestWriterConflictBounded: an edit the hub never reads (the system's
// reader is stopped, or a future time blinded it) is not retried for ever:
// after the target's tries the conflict is a steward task, and the writer
// stops retrying it.
func TestWriterConflictBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	erp := &erpDB{driver: "sqlite", dsn: "file:" + filepath.Join(t.TempDir(), "erp.db") + "?_pragma=busy_timeout(5000)",
		ddl: `CREATE TABLE customers (custno TEXT PRIMARY KEY, name TEXT, email TEXT, segment TEXT, updated_at TEXT NOT NULL)`, maxTries: 3}
	l := startLoop(ctx, t, erp)
	l.readERP(ctx)
	l.waitFor("initial state", SkipSystemHas, 1)
	erp.exec(t, `UPDATE customers SET segment = 'key-account', updated_at = '`+berlinAt(time.Second)+`' WHERE custno = 'K1'`)
	l.crm(ctx, "gold", berlinAt(2*time.Second))
	l.waitFor("the conflict handed to a steward", SkipSteward, 1)
	if c := l.count(SkipConflict); c != 3 {
		t.Errorf("conflicts before the steward task = %v, want 3 tries", c)
	}
	cs, err := ledger.New(l.store.DB()).Conflicts(ctx, "erp")
	if err != nil || len(cs) != 1 || !cs[0].Steward || cs[0].Tries != 3 {
		t.Fatalf("conflicts after the tries = %+v %v, want one steward task", cs, err)
	}
	time.Sleep(2 * time.Second)
	if c := l.count(SkipConflict); c != 3 {
		t.Errorf("the writer went on retrying a steward task: %v conflicts", c)
	}
	if seg, _ := erp.segment(t); seg != "key-account" {
		t.Errorf("the ERP's edit was overwritten: %q", seg)
	}
}

// TestWriterRewritesFieldTheSystemChanged: crmhub wrote a value into the
// ERP, then an ERP user changed that field, the hub read the edit, and
// survivorship kept the hub's value (the CRM's newer record). The ledger
// still holds the hash of crmhub's write, but the ERP no longer holds the
// value: it is written again, not skipped as "unchanged" (the soak found
// 67 of 1,000 customers left so).
func TestWriterRewritesFieldTheSystemChanged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	erp := &erpDB{driver: "sqlite", dsn: "file:" + filepath.Join(t.TempDir(), "erp.db") + "?_pragma=busy_timeout(5000)",
		ddl: `CREATE TABLE customers (custno TEXT PRIMARY KEY, name TEXT, email TEXT, segment TEXT, updated_at TEXT NOT NULL)`}
	l := startLoop(ctx, t, erp)
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("read %d ERP rows, want 1", n)
	}
	l.waitFor("initial state", SkipSystemHas, 1)
	l.crm(ctx, "premium", berlinAt(-10*time.Minute))
	l.waitFor("CRM change", "written", 1)
	l.readERP(ctx) // crmhub's own write comes back
	// An ERP user changes the segment after crmhub's write; the hub reads
	// it. The CRM's segment has priority: the golden customer keeps
	// premium.
	erp.exec(t, `UPDATE customers SET segment = 'key-account', updated_at = '`+berlinAt(time.Second)+`' WHERE custno = 'K1'`)
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("read %d ERP rows after the edit, want 1", n)
	}
	// The CRM saves its contact again a minute later (another field), so
	// a golden change with segment premium reaches the writer.
	l.source(ctx, "crm", "contacts", "C1", hub.Customer{Kind: "person", FullName: "Anna Berg-Ott", Emails: []string{"anna@example.com"}, Segment: "premium"}, berlinAt(time.Minute))
	l.waitFor("premium written again", "written", 2)
	if seg, _ := erp.segment(t); seg != "premium" {
		t.Errorf("ERP segment %q, want the golden premium written again", seg)
	}
}

// The ledger also remembers values it found in the system (nothing to
// write). When the system later changes such a field and survivorship keeps
// the hub's value, it is written: the found value is no write crmhub waits
// to read back.
func TestWriterRewritesFoundFieldTheSystemChanged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	erp := &erpDB{driver: "sqlite", dsn: "file:" + filepath.Join(t.TempDir(), "erp.db") + "?_pragma=busy_timeout(5000)",
		ddl: `CREATE TABLE customers (custno TEXT PRIMARY KEY, name TEXT, email TEXT, segment TEXT, updated_at TEXT NOT NULL)`}
	l := startLoop(ctx, t, erp)
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("read %d ERP rows, want 1", n)
	}
	l.waitFor("the ERP's own values found", SkipSystemHas, 1)
	// The CRM holds the same segment as the ERP: nothing to write.
	l.crm(ctx, "retail", berlinAt(-10*time.Minute))
	erp.exec(t, `UPDATE customers SET segment = 'key-account', updated_at = '`+berlinAt(time.Second)+`' WHERE custno = 'K1'`)
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("read %d ERP rows after the edit, want 1", n)
	}
	l.source(ctx, "crm", "contacts", "C1", hub.Customer{Kind: "person", FullName: "Anna Berg-Ott", Emails: []string{"anna@example.com"}, Segment: "retail"}, berlinAt(time.Minute))
	l.waitFor("retail written", "written", 1)
	if seg, _ := erp.segment(t); seg != "retail" {
		t.Errorf("ERP segment %q, want the golden retail written", seg)
	}
}

// TestWriterStaleCopyOfTheSystem: crmhub wrote a value into the ERP and
// the hub has not read the row back when the golden value changes to what
// the hub's older copy of the ERP row holds. That copy does not say what
// the ERP holds (crmhub's write), so the golden value is written, not
// skipped as "the system has it" (the soak found ERP rows left with
// crmhub's previous write this way).
func TestWriterStaleCopyOfTheSystem(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	erp := &erpDB{driver: "sqlite", dsn: "file:" + filepath.Join(t.TempDir(), "erp.db") + "?_pragma=busy_timeout(5000)",
		ddl: `CREATE TABLE customers (custno TEXT PRIMARY KEY, name TEXT, email TEXT, segment TEXT, updated_at TEXT NOT NULL)`, policy: ConflictHub}
	l := startLoop(ctx, t, erp)
	if n := l.readERP(ctx); n != 1 {
		t.Fatalf("read %d ERP rows, want 1", n)
	}
	l.waitFor("initial state", SkipSystemHas, 1)
	// A CRM change is written; the ERP's reader does not run.
	l.crm(ctx, "premium", berlinAt(-2*time.Minute))
	l.waitFor("CRM change", "written", 1)
	if seg, _ := erp.segment(t); seg != "premium" {
		t.Fatalf("ERP segment %q, want premium", seg)
	}
	// The CRM goes back to the value the hub's old copy of the ERP row
	// holds: the ERP must get it.
	l.crm(ctx, "retail", berlinAt(-time.Minute))
	l.waitFor("the golden value the stale copy holds", "written", 2)
	if seg, _ := erp.segment(t); seg != "retail" {
		t.Errorf("ERP segment %q after the golden customer went back to retail, want retail", seg)
	}
}
